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
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// releaseScope is what one reconcile of a Release works on.
type releaseScope struct {
	rel      *opsv1alpha1.Release
	snap     release.Snapshot
	revision string
	now      time.Time
}

func (s *releaseScope) input() release.Input {
	return release.Input{
		Spec: &s.rel.Spec, Status: &s.rel.Status, Revision: s.revision, Now: s.now,
		Retry: s.rel.Annotations[opsv1alpha1.AnnotationRetry], Quiesced: s.rel.Annotations[opsv1alpha1.AnnotationQuiescedBy],
	}
}

// record is the history entry of the revision the spec asks for.
func (s *releaseScope) record() *opsv1alpha1.RevisionRecord {
	return release.Find(s.rel.Status.History, s.revision)
}

// holdsWorkloads says the controller may write the workloads: not paused, not quiesced.
func (s *releaseScope) holdsWorkloads() bool {
	return !s.rel.Spec.Paused && s.rel.Annotations[opsv1alpha1.AnnotationQuiescedBy] == ""
}

func (s *releaseScope) nowTime() *metav1.Time {
	t := metav1.NewTime(s.now.UTC().Truncate(time.Second))
	return &t
}

func markReleaseReconciling(rel *opsv1alpha1.Release, reason, msg string) {
	conditions.MarkReconciling(rel, reason, msg)
}

// endRevision records how the current revision ended.
func (r *ReleaseReconciler) endRevision(s *releaseScope, result opsv1alpha1.RevisionResult, msg string) {
	if rec := s.record(); rec != nil {
		rec.Result = result
		rec.CompletionTime = s.nowTime()
		rec.Message = truncate.String(msg, 1024)
		outcome := strings.ToLower(string(result))
		metrics.Releases.WithLabelValues(s.rel.Namespace, s.rel.Name, outcome).Inc()
	}
}

// failRevision ends a revision that failed before its rollout changed anything.
func (r *ReleaseReconciler) failRevision(s *releaseScope, condType, reason, msg string) {
	rel := s.rel
	r.endRevision(s, opsv1alpha1.RevisionFailed, msg)
	rel.Status.Progress = nil
	rel.Status.Phase = opsv1alpha1.ReleasePhaseFailed
	conditions.Set(rel, condType, metav1.ConditionFalse, reason, msg)
	conditions.MarkStalled(rel, reason, msg)
	r.event(rel, corev1.EventTypeWarning, reason, "Release", msg)
}

func (r *ReleaseReconciler) event(rel *opsv1alpha1.Release, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rel, nil, eventType, reason, action, "%s", note)
	}
}

// observeComponents copies each component Deployment's replica counts to status.
func (r *ReleaseReconciler) observeComponents(ctx context.Context, s *releaseScope) {
	rel := s.rel
	out := make([]opsv1alpha1.ComponentStatus, 0, len(rel.Spec.Components))
	for _, c := range rel.Spec.Components {
		cs := opsv1alpha1.ComponentStatus{Name: c.Name}
		d := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)}, d); err == nil {
			cs.Replicas = ptr.Deref(d.Spec.Replicas, 0)
			cs.ReadyReplicas = d.Status.ReadyReplicas
			cs.UpdatedReplicas = d.Status.UpdatedReplicas
			cs.Revision = d.Spec.Template.Labels[opsv1alpha1.LabelRevision]
		}
		out = append(out, cs)
	}
	rel.Status.Components = out
}
