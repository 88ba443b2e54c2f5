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
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/release"
)

// incidentRollbackPoll is how often a requested rollback is looked at until the
// Release recorded it (the incident does not watch Releases).
const incidentRollbackPoll = 2 * time.Second

// rollback asks the Release to roll its revision in progress back to the stable
// revision, through the Release (annotation opsv1alpha1.AnnotationRollback naming the
// revision), never by editing its Deployments. The revision is recorded in the
// action first (rec.Revision, patched before the annotation is set), so a restart
// asks for the same one; the action ends when the Release's history says how that
// revision ended. A release on its stable revision has nothing to roll back: that is
// said and nothing changed. It reports whether rec changed.
func (r *IncidentReconciler) rollback(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	relName := inc.Spec.ReleaseRef.Name
	fail := func(why string) bool {
		r.actionFailed(s, rec, opsv1alpha1.ConditionRolledBack, opsv1alpha1.TimelineRolledBack, "rolled-back/failed", why)
		return true
	}
	rel := &opsv1alpha1.Release{}
	if why := r.readAsked(ctx, inc, "spec.releaseRef", "Release", relName, rel, "nothing was rolled back"); why != "" {
		return fail(why)
	}
	st := &rel.Status
	if rec.Revision == "" { // decide: the revision to roll back, recorded before asking
		p := st.Progress
		if p == nil || p.Revision == "" || p.Revision == st.StableRevision {
			msg := fmt.Sprintf("Release %s runs its stable revision %s (%s): nothing to roll back, nothing was changed. To go back further, revert the Release's spec (in Git) to an earlier version",
				relName, st.StableRevision, st.StableVersion)
			rec.State, rec.CompletionTime, rec.Object, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), "Release/"+relName, cutMessage(msg)
			conditions.Set(inc, opsv1alpha1.ConditionRolledBack, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
			r.record(s, opsv1alpha1.TimelineRolledBack, opsv1alpha1.TimelineInfo, "rolled-back", corev1.EventTypeNormal, "NothingToRollBack", msg)
			return true
		}
		if st.StableRevision == "" {
			return fail(fmt.Sprintf("Release %s has no stable revision to roll back to (revision %s is its first); nothing was changed. Pause it (spec.paused) or take it offline", relName, p.Revision))
		}
		rec.Revision, rec.Object = p.Revision, "Release/"+relName
		rec.Message = cutMessage(fmt.Sprintf("rolling Release %s back from revision %s (%s) to its stable revision %s (%s)", relName, p.Revision, rel.Spec.Version, st.StableRevision, st.StableVersion))
		return true
	}
	switch h := release.Find(st.History, rec.Revision); {
	case h != nil && h.Result == opsv1alpha1.RevisionRolledBack:
		msg := fmt.Sprintf("Release %s rolled back from revision %s (%s) to its stable revision %s (%s) by annotation %s; the revision stays pinned. To deploy it again, set annotation %s on the Release (any new value); to leave it, revert the spec in Git",
			relName, rec.Revision, h.Version, st.StableRevision, st.StableVersion, opsv1alpha1.AnnotationRollback, opsv1alpha1.AnnotationRetry)
		rec.State, rec.CompletionTime, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), cutMessage(msg)
		conditions.Set(inc, opsv1alpha1.ConditionRolledBack, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
		r.record(s, opsv1alpha1.TimelineRolledBack, opsv1alpha1.TimelineSucceeded, "rolled-back", corev1.EventTypeWarning, "RolledBack", msg)
		return true
	case h == nil:
		return fail(fmt.Sprintf("revision %s is no longer in Release %s's history; nothing was rolled back", rec.Revision, relName))
	case h.Result != opsv1alpha1.RevisionInProgress:
		return fail(fmt.Sprintf("revision %s of Release %s ended %s, not rolled back by this request: %s", rec.Revision, relName, h.Result, h.Message))
	}
	if err := r.ask(ctx, rel, opsv1alpha1.AnnotationRollback, rec.Revision); err != nil {
		return fail(fmt.Sprintf("annotating Release %s with %s=%s: %v; nothing was rolled back", relName, opsv1alpha1.AnnotationRollback, rec.Revision, err))
	}
	s.lookAgainIn(incidentRollbackPoll)
	return false // the Release rolls back; looked at again shortly
}
