/*
Copyright 2026 The runbook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/names"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
)

// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create

// diagnosticOutputKey is the ConfigMap data key of a diagnostic's output.
const diagnosticOutputKey = "output"

// diagnose runs one of spec.response.diagnostics as a Job in the release's image
// (its env, its pull secrets), the command's output (stdout and stderr, the last
// 4 KiB the termination message holds) redacted into a ConfigMap owned by the
// incident. The Job is named for the incident and the diagnostic and created once:
// rec.Object records it, a Job missing after that was deleted and is not run again.
// It reports whether rec changed.
func (r *IncidentReconciler) diagnose(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	name := strings.TrimPrefix(rec.Name, incident.ActionDiagnosticPrefix)
	var d *opsv1alpha1.DiagnosticCommand
	for i := range inc.Spec.Response.Diagnostics {
		if inc.Spec.Response.Diagnostics[i].Name == name {
			d = &inc.Spec.Response.Diagnostics[i]
		}
	}
	fail := func(why string) bool {
		r.actionFailed(s, rec, opsv1alpha1.ConditionDiagnosed, opsv1alpha1.TimelineDiagnostic, "diagnostic/"+name+"/failed", why)
		return true
	}
	if d == nil {
		return fail(fmt.Sprintf("diagnostic %s was removed from the spec before it ran", name))
	}
	rel := &opsv1alpha1.Release{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: inc.Spec.ReleaseRef.Name}, rel); err != nil {
		if apierrors.IsNotFound(err) {
			return fail(fmt.Sprintf("spec.releaseRef: Release %s does not exist; diagnostic %s did not run", inc.Spec.ReleaseRef.Name, name))
		}
		return false
	}
	job := diagnosticJob(inc, rel, d)
	step := jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: inc, Title: "Diagnostic Job " + job.Name, Kind: "Incident",
		Container: release.ContainerName, Limit: "spec.response.diagnostics[].timeout",
		OnTimeout: "its output so far is not kept", OnFailure: "the output above is the command's"}
	redact := evidence.NewRedactor(r.podSecretValues(ctx, inc.Namespace, []corev1.Pod{{Spec: job.Spec.Template.Spec}}))
	created := rec.Object != ""
	ended, err := step.Run(ctx, job, created, nil)
	if st, ok := reconcile.AsStalling(err); ok {
		return fail(redact.Text(st.Message))
	}
	if err != nil {
		if !created && (jobstep.IsRunning(err) || isWaiting(err)) {
			rec.Object = job.Name
			rec.Message = "Job " + job.Name + " runs: " + strings.Join(d.Command, " ")
			return true
		}
		return false // running, or an error talking to the API server: looked at again when the Job changes
	}
	output := ""
	if ended.Term != nil {
		output = redact.Text(ended.Term.Message)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: names.Join(inc.Name, "diag-"+name, names.MaxObjectName), Namespace: inc.Namespace, Labels: incident.Labels(inc)},
		Data:       map[string]string{diagnosticOutputKey: output, "command": strings.Join(d.Command, " ")},
		Immutable:  ptrBool(true),
	}
	if err := controllerutil.SetControllerReference(inc, cm, r.Scheme()); err != nil {
		return fail(err.Error())
	}
	if err := r.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return fail(fmt.Sprintf("storing the output in ConfigMap %s: %v", cm.Name, err))
	}
	msg := fmt.Sprintf("diagnostic %s (Job %s) succeeded; its output (%d bytes, redacted) is in ConfigMap %s; nothing was changed", name, job.Name, len(output), cm.Name)
	rec.State, rec.CompletionTime, rec.Object, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), cm.Name, cutMessage(msg)
	conditions.Set(inc, opsv1alpha1.ConditionDiagnosed, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineDiagnostic, opsv1alpha1.TimelineSucceeded, "diagnostic/"+name, corev1.EventTypeNormal, "Diagnosed", msg)
	return true
}

func isWaiting(err error) bool {
	_, ok := reconcile.AsWaiting(err)
	return ok
}

func ptrBool(b bool) *bool { return &b }

// diagnosticJob builds the Job of diagnostic d: the release's image and env (as its
// migration Jobs get them), the command's output written to the termination log, the
// incident's labels (not the release's: an isolating NetworkPolicy must not select
// it), backoffLimit 0, the diagnostic's timeout.
func diagnosticJob(inc *opsv1alpha1.Incident, rel *opsv1alpha1.Release, d *opsv1alpha1.DiagnosticCommand) *batchv1.Job {
	timeout := d.Timeout.Or(5 * time.Minute)
	cmd := append(append([]string{}, release.PlanShell...), d.Command...)
	j := release.Job(rel, release.SnapshotOf(&rel.Spec), "", "diagnostic", cmd, int64(timeout.Seconds()))
	j.Name = jobs.Name(inc.Name, "diag-"+d.Name)
	j.Namespace = inc.Namespace
	j.Labels = incident.Labels(inc)
	j.Spec.Template.Labels = incident.Labels(inc)
	c := &j.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: release.PlanOutputEnv, Value: corev1.TerminationMessagePathDefault})
	return j
}
