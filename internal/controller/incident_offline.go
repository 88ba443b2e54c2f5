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
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// +kubebuilder:rbac:groups=apps,resources=deployments/scale,verbs=patch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get;patch

// incidentUndoRetry is how soon an undo that failed (an API error) is tried again.
const incidentUndoRetry = 10 * time.Second

// quiesceHolder is the ops.runbook.dev/quiesced-by value of an incident.
func quiesceHolder(inc *opsv1alpha1.Incident) string { return "Incident/" + inc.Name }

// takeOffline holds the release's component Deployments at zero through the quiesce
// contract a DatabaseRestore uses (opsv1alpha1.AnnotationQuiescedBy): the replica
// counts are recorded in the action first (rec.Replicas, patched before anything
// changes), then the Release is annotated so that its controller leaves them down,
// then each is scaled to zero through its scale subresource. A restart repeats no
// step: counts once recorded are not read again (they would read zero), and the
// annotation and scaling are idempotent. It reports whether rec changed.
func (r *IncidentReconciler) takeOffline(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	fail := func(why string) bool {
		r.actionFailed(s, rec, opsv1alpha1.ConditionTakenOffline, opsv1alpha1.TimelineTakenOffline, "taken-offline/failed", why)
		return true
	}
	relName := inc.Spec.ReleaseRef.Name
	rel := &opsv1alpha1.Release{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: relName}, rel); err != nil {
		if apierrors.IsNotFound(err) {
			return fail(fmt.Sprintf("spec.releaseRef: Release %s does not exist; nothing was taken offline", relName))
		}
		return fail(fmt.Sprintf("cannot read Release %s: %v; nothing was taken offline", relName, err))
	}
	holder := quiesceHolder(inc)
	if by := rel.Annotations[opsv1alpha1.AnnotationQuiescedBy]; by != "" && by != holder {
		return fail(fmt.Sprintf("Release %s is already held at zero by %s (annotation %s); nothing was changed. It stays down until that holder lets it go",
			relName, opsv1alpha1.QuiescedByWords(by), opsv1alpha1.AnnotationQuiescedBy))
	}
	if rec.Replicas == nil { // decide: record the counts before anything changes
		counts := map[string]int32{}
		for _, c := range rel.Spec.Components {
			dep := &appsv1.Deployment{}
			name := opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)
			if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, dep); err != nil {
				if apierrors.IsNotFound(err) {
					continue // not rolled out: nothing of it runs, and the Release creates none while quiesced
				}
				return fail(fmt.Sprintf("reading Deployment %s: %v; nothing was taken offline", name, err))
			}
			counts[name] = 1 // the API default
			if dep.Spec.Replicas != nil {
				counts[name] = *dep.Spec.Replicas
			}
		}
		rec.Replicas, rec.Object = counts, "Release/"+relName
		rec.Message = cutMessage(fmt.Sprintf("recorded the replicas of %s; scaling to zero next", replicaWords(counts)))
		return true
	}
	if err := r.markQuiesced(ctx, inc, true); err != nil {
		return fail(fmt.Sprintf("annotating Release %s with %s=%s: %v; nothing was scaled", relName, opsv1alpha1.AnnotationQuiescedBy, holder, err))
	}
	for _, name := range sortedKeys(rec.Replicas) {
		dep := &appsv1.Deployment{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fail(fmt.Sprintf("reading Deployment %s: %v", name, err))
		}
		if dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 {
			continue
		}
		if err := scaleDeployment(ctx, r.Client, dep, 0); err != nil {
			return fail(fmt.Sprintf("scaling Deployment %s to zero: %v", name, err))
		}
	}
	undo := fmt.Sprintf("they are scaled back when the incident is resolved (takeOffline.restoreOnResolve); to bring them back sooner, remove the annotation (kubectl annotate release %s %s-) and scale each Deployment back to its count above", relName, opsv1alpha1.AnnotationQuiescedBy)
	if !inc.Spec.Response.TakeOffline.RestoreOnResolve {
		undo = fmt.Sprintf("they stay down after the resolution; to bring them back, remove the annotation (kubectl annotate release %s %s-) and scale each Deployment back to its count above", relName, opsv1alpha1.AnnotationQuiescedBy)
	}
	msg := fmt.Sprintf("scaled %s to zero and annotated Release %s %s=%s, so its controller leaves them down; %s",
		replicaWords(rec.Replicas), relName, opsv1alpha1.AnnotationQuiescedBy, holder, undo)
	rec.State, rec.CompletionTime, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), cutMessage(msg)
	conditions.Set(inc, opsv1alpha1.ConditionTakenOffline, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineTakenOffline, opsv1alpha1.TimelineSucceeded, "taken-offline", corev1.EventTypeWarning, "TakenOffline", msg)
	return true
}

// markQuiesced sets or removes the incident's quiesced-by annotation on the Release,
// read from the API server and retried on a conflict (the Release's status changes
// often).
func (r *IncidentReconciler) markQuiesced(ctx context.Context, inc *opsv1alpha1.Incident, on bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		return markQuiesced(ctx, r.Client, r.APIReader, inc.Namespace, inc.Spec.ReleaseRef.Name, quiesceHolder(inc), on)
	})
}

// bringBack scales the recorded Deployments still at zero back to their counts (one
// that someone scaled meanwhile is left as it is), then removes the release's
// quiesced-by annotation if it is still the incident's. Done on resolution when
// takeOffline.restoreOnResolve.
func (r *IncidentReconciler) bringBack(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	var done, notes []string
	for _, name := range sortedKeys(rec.Replicas) {
		want := rec.Replicas[name]
		dep := &appsv1.Deployment{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				notes = append(notes, "Deployment "+name+" no longer exists")
				continue
			}
			return r.bringBackFailed(s, fmt.Sprintf("reading Deployment %s: %v", name, err))
		}
		switch {
		case dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 && want != 0:
			if err := scaleDeployment(ctx, r.Client, dep, want); err != nil {
				return r.bringBackFailed(s, fmt.Sprintf("scaling Deployment %s back to %d: %v", name, want, err))
			}
			done = append(done, fmt.Sprintf("%s to %d", name, want))
		case dep.Spec.Replicas == nil || *dep.Spec.Replicas == want:
			done = append(done, fmt.Sprintf("%s to %d", name, want))
		default:
			notes = append(notes, fmt.Sprintf("%s was already scaled to %d by someone else and was left so", name, *dep.Spec.Replicas))
		}
	}
	if err := r.markQuiesced(ctx, inc, false); err != nil {
		return r.bringBackFailed(s, fmt.Sprintf("removing the annotation %s of Release %s: %v", opsv1alpha1.AnnotationQuiescedBy, inc.Spec.ReleaseRef.Name, err))
	}
	msg := "the incident is resolved: scaled " + strings.Join(done, ", ") + " replicas and removed the Release's " + opsv1alpha1.AnnotationQuiescedBy + " annotation; its controller manages them again"
	if len(done) == 0 {
		msg = "the incident is resolved: no Deployment needed scaling back; the Release's " + opsv1alpha1.AnnotationQuiescedBy + " annotation is removed"
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	rec.State, rec.Message = opsv1alpha1.ActionUndone, cutMessage(msg)
	conditions.Set(inc, opsv1alpha1.ConditionTakenOffline, metav1.ConditionFalse, opsv1alpha1.ReasonResolved, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineBroughtBack, opsv1alpha1.TimelineSucceeded, "brought-back", corev1.EventTypeNormal, "BroughtBack", msg)
	return true
}

// bringBackFailed records a bring-back that could not be done now (once in the
// timeline); it is tried again in incidentUndoRetry.
func (r *IncidentReconciler) bringBackFailed(s *incidentScope, why string) bool {
	s.retryIn = incidentUndoRetry
	r.record(s, opsv1alpha1.TimelineBroughtBack, opsv1alpha1.TimelineFailed, "brought-back/failed", corev1.EventTypeWarning, "NotBroughtBack", why+"; tried again")
	return false
}

// replicaWords lists recorded counts: "saas-web (3 replicas), saas-worker (1 replica)".
func replicaWords(counts map[string]int32) string {
	if len(counts) == 0 {
		return "no Deployment (none rolled out)"
	}
	ws := make([]opsv1alpha1.QuiescedWorkload, 0, len(counts))
	for _, name := range sortedKeys(counts) {
		ws = append(ws, opsv1alpha1.QuiescedWorkload{Name: name, Replicas: counts[name]})
	}
	return workloadCounts(ws, "")
}

func sortedKeys(m map[string]int32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
