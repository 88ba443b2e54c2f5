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

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/keyring"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/rotation"
)

// The re-encryption step of an emergency rotation (rotation.StepReencrypt): every
// target encrypts with the new Fernet values and the old ones still decrypt. The
// Reencrypting phase is recorded on the Secret before the Job is created; the Job's
// name derives from the Secret version, so a restarted manager finds it again. Once it
// succeeded the old values are dropped (phase Dropping, in the same write as the
// record) and the targets restart once more. A failed Job stops the rotation with the
// old values still decrypting; deleting the Job runs it again (the command must be
// idempotent, as MultiFernet.rotate is).

// reencryptPoll is how often a running re-encryption Job is looked at; its changes
// wake the reconciler sooner.
const reencryptPoll = 10 * time.Second

func (r *SecretRotationReconciler) reencrypt(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotation.Record, targets []opsv1alpha1.RestartTargetStatus, now time.Time) (ctrl.Result, error) {
	name := rotation.ReencryptJobName(sr.Name, rec.Version)
	kept := strings.Join(rec.DecryptOnly, ", ")
	if rec.Phase != opsv1alpha1.RotationPhaseReencrypting {
		// Decided and recorded before the Job exists: the data is unchanged, so the
		// version (and the Job's name) stays.
		rec.Phase, rec.PhaseStarted = opsv1alpha1.RotationPhaseReencrypting, time.Now()
		secret.Annotations = rec.Write(secret.Annotations)
		if err := r.Update(ctx, secret); err != nil {
			return ctrl.Result{}, secretWriteError(err, secret.Name)
		}
		sr.Status.Phase = rec.Phase
		r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonReencrypting, "Reencrypt", fmt.Sprintf("Every target encrypts with the new values; Job %s re-encrypts the data under the old values of %s, which still decrypt", name, kept))
	}
	if sr.Spec.Reencrypt == nil {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.reencrypt was removed during the emergency rotation; the old values of %s still decrypt and are not dropped before the data is re-encrypted. Set spec.reencrypt again", kept))
	}
	step := jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: sr, Title: "Re-encryption Job " + name, Kind: "SecretRotation",
		Container: rotation.ReencryptContainer, Limit: "spec.reencrypt.timeout", Timeout: rotation.DefaultReencryptTimeout}
	// created is false: a Job deleted after it failed runs again (the command is
	// idempotent), which is how a person retries it.
	job, err := step.EnsureBuilt(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: name}, func(ctx context.Context) (*batchv1.Job, error) {
		return r.reencryptJob(ctx, sr, rec, targets)
	}, false)
	if st, ok := reconcile.AsStalling(err); ok && st.Reason == jobstep.ReasonJobDeleted {
		return ctrl.Result{}, reconcile.Wait(opsv1alpha1.ReasonReencrypting, time.Second, "Re-encryption Job %s is being deleted; it runs again once it is gone", name)
	}
	if err != nil {
		return ctrl.Result{}, err // a foreign Job of that name waits, a refused create is said in a condition (reconcile.Apply)
	}
	re := &opsv1alpha1.ReencryptionStatus{Job: name, Version: rec.Version, State: opsv1alpha1.ReencryptionRunning, StartTime: &job.CreationTimestamp}
	sr.Status.Reencryption = re
	end, err := step.Wait(ctx, job, nil)
	if jobstep.IsRunning(err) {
		conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionTrue, opsv1alpha1.ReasonRestarted, "Every target runs the new values; waiting for the re-encryption")
		return ctrl.Result{}, reconcile.Wait(opsv1alpha1.ReasonReencrypting, reencryptPoll, "%s; Job %s is running", rotation.PhaseSummary(rec), name)
	}
	if end == nil {
		return ctrl.Result{}, err // reading the Job's pods failed: retried
	}
	if c := end.State.Condition; c != nil {
		re.CompletionTime = &c.LastTransitionTime
	}
	if end.Term != nil {
		re.Output = truncateTail(strings.ToValidUTF8(strings.Trim(end.Term.Message, "\x00 \n"), ""), 2048)
	}
	if st, ok := reconcile.AsStalling(err); ok {
		re.State = opsv1alpha1.ReencryptionFailed
		if re.Output == "" {
			re.Output = st.Message
		}
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonReencryptFailed, fmt.Sprintf("%s. The old values of %s still decrypt and nothing was dropped (every pod encrypts with the new values). Fix the cause, then delete the Job (kubectl -n %s delete job %s): it runs again, and the old values are dropped once it succeeds", st.Message, kept, sr.Namespace, name))
	}
	re.State = opsv1alpha1.ReencryptionSucceeded
	out := ""
	if re.Output != "" {
		out = ": " + jobstep.Tail(re.Output, 3, 300)
	}
	r.event(sr, corev1.EventTypeNormal, "Reencrypted", "Reencrypt", fmt.Sprintf("Job %s re-encrypted the data with the new values%s", name, out))
	// Drop the old values and record the phase in one write.
	if err := rotation.Drop(&sr.Spec, secret.Data, rec.DecryptOnly); err != nil {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, err.Error())
	}
	rec.Phase, rec.PhaseStarted, rec.ReencryptedBy = opsv1alpha1.RotationPhaseDropping, time.Now(), name
	rec.Version = keyring.Version(secret.Data, rotation.ManagedKeys(&sr.Spec))
	secret.Annotations = rec.Write(secret.Annotations)
	if err := r.Update(ctx, secret); err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonDroppingOldValues, "Drop", fmt.Sprintf("Dropped the old values of %s (version %s); restarting the targets once more", kept, rec.Version))
	return r.continueRotation(ctx, sr, secret, rec, now)
}

// reencryptJob builds the Job from the source Deployment's pod template, owned by sr.
func (r *SecretRotationReconciler) reencryptJob(ctx context.Context, sr *opsv1alpha1.SecretRotation, rec rotation.Record, targets []opsv1alpha1.RestartTargetStatus) (*batchv1.Job, error) {
	src := rotation.ReencryptSource(&sr.Spec, targets)
	if src == "" {
		return nil, rotationStalled(opsv1alpha1.ReasonInvalidSpec, "the reencrypt Job needs a Deployment to take its image and environment from: set spec.reencrypt.deployment or list a restart target")
	}
	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: src}, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("Deployment %s, whose image and environment the reencrypt Job uses, does not exist; the old values of %s still decrypt. Create it or correct spec.reencrypt.deployment", src, strings.Join(rec.DecryptOnly, ", ")))
		}
		return nil, err
	}
	job, err := rotation.ReencryptJob(sr, dep, rec.Version)
	if err != nil {
		return nil, rotationStalled(opsv1alpha1.ReasonInvalidSpec, err.Error()+"; correct spec.reencrypt.container")
	}
	if err := controllerutil.SetControllerReference(sr, job, r.Scheme()); err != nil {
		return nil, err
	}
	return job, nil
}

// truncateTail keeps the last n bytes of s (cut at the front).
func truncateTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + strings.ToValidUTF8(s[len(s)-n:], "")
}
