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
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/incident"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=create;delete

// isolate creates the NetworkPolicy, owned by the incident, that denies ingress to the
// release's component pods except from spec.response.isolate.allowFrom. The action
// was recorded Running before.
func (r *IncidentReconciler) isolate(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) {
	inc := s.inc
	rel := &opsv1alpha1.Release{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: inc.Spec.ReleaseRef.Name}, rel); err != nil {
		why := fmt.Sprintf("cannot read Release %s: %v", inc.Spec.ReleaseRef.Name, err)
		if apierrors.IsNotFound(err) {
			why = fmt.Sprintf("spec.releaseRef: Release %s does not exist; nothing was isolated", inc.Spec.ReleaseRef.Name)
		}
		r.actionFailed(s, rec, opsv1alpha1.ConditionIsolated, opsv1alpha1.TimelineIsolated, "isolate/failed", why)
		return
	}
	np := incident.IsolationPolicy(inc, rel)
	if err := controllerutil.SetControllerReference(inc, np, r.Scheme()); err != nil {
		r.actionFailed(s, rec, opsv1alpha1.ConditionIsolated, opsv1alpha1.TimelineIsolated, "isolate/failed", err.Error())
		return
	}
	if err := r.Create(ctx, np); err != nil && !apierrors.IsAlreadyExists(err) {
		r.actionFailed(s, rec, opsv1alpha1.ConditionIsolated, opsv1alpha1.TimelineIsolated, "isolate/failed", fmt.Sprintf("creating NetworkPolicy %s: %v", np.Name, err))
		return
	}
	undo := "it is removed when the incident is resolved; delete it to lift it sooner"
	if inc.Spec.Response.Isolate.KeepIsolation {
		undo = "isolate.keepIsolation keeps it after the resolution; delete it (or the Incident) to lift it"
	}
	msg := fmt.Sprintf("NetworkPolicy %s denies ingress to the pods of release %s (components %s)%s; %s. It is enforced only by a CNI that implements NetworkPolicies",
		np.Name, rel.Name, strings.Join(np.Spec.PodSelector.MatchExpressions[0].Values, ", "), allowedWords(inc.Spec.Response.Isolate), undo)
	rec.State, rec.CompletionTime, rec.Object, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), np.Name, cutMessage(msg)
	conditions.Set(inc, opsv1alpha1.ConditionIsolated, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineIsolated, opsv1alpha1.TimelineSucceeded, "isolated", corev1.EventTypeWarning, "Isolated", msg)
}

func allowedWords(a *opsv1alpha1.IsolateAction) string {
	if a == nil || len(a.AllowFrom) == 0 {
		return " from every source"
	}
	var names []string
	for _, s := range a.AllowFrom {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return " except from " + strings.Join(names, ", ")
}

// liftIsolation deletes the incident's NetworkPolicy on resolution.
func (r *IncidentReconciler) liftIsolation(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) {
	np := &networkingv1.NetworkPolicy{}
	np.Namespace, np.Name = s.inc.Namespace, incident.IsolationPolicyName(s.inc)
	if err := r.Delete(ctx, np); err != nil && !apierrors.IsNotFound(err) {
		r.record(s, opsv1alpha1.TimelineIsolationLifted, opsv1alpha1.TimelineFailed, "isolation-lifted/failed", corev1.EventTypeWarning, "IsolationNotLifted",
			fmt.Sprintf("deleting NetworkPolicy %s: %v; delete it by hand", np.Name, err))
		return
	}
	msg := fmt.Sprintf("the incident is resolved: NetworkPolicy %s deleted, the release's pods take traffic again", np.Name)
	rec.State, rec.Message = opsv1alpha1.ActionUndone, msg
	conditions.Set(s.inc, opsv1alpha1.ConditionIsolated, metav1.ConditionFalse, opsv1alpha1.ReasonResolved, msg)
	r.record(s, opsv1alpha1.TimelineIsolationLifted, opsv1alpha1.TimelineSucceeded, "isolation-lifted", corev1.EventTypeNormal, "IsolationLifted", msg)
}

// actionFailed records an action that failed: its record, condition, timeline entry
// and event. The other actions go on.
func (r *IncidentReconciler) actionFailed(s *incidentScope, rec *opsv1alpha1.IncidentActionRecord, condType, timelineType, key, why string) {
	rec.State, rec.CompletionTime, rec.Message = opsv1alpha1.ActionFailed, ptrTime(s.now), cutMessage(why)
	conditions.Set(s.inc, condType, metav1.ConditionFalse, opsv1alpha1.ReasonFailed, cutMessage(why))
	r.record(s, timelineType, opsv1alpha1.TimelineFailed, key, corev1.EventTypeWarning, timelineType+"Failed", why)
}
