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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// rollout updates the components in the order listed, each available before the next
// starts, all within verify.progressDeadline; past it every component goes back.
//
// Conditions: RolledOut.
func (r *ReleaseReconciler) rollout(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p := s.rel, s.rel.Status.Progress
	if p.RolloutStartTime == nil {
		p.RolloutStartTime = s.nowTime()
		rel.Status.Phase = opsv1alpha1.ReleasePhaseRollingOut
		msg := fmt.Sprintf("Rolling out revision %s (%s) to %d components in order", s.revision, rel.Spec.Version, len(rel.Spec.Components))
		conditions.Set(rel, opsv1alpha1.ConditionRolledOut, metav1.ConditionUnknown, opsv1alpha1.ReasonRollingOut, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonRollingOut, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonRollingOut, "Rollout", msg)
		return true, nil // recorded before the first template is written
	}
	if !s.holdsWorkloads() {
		return false, nil
	}
	if err := r.syncWorkloads(ctx, s, false); err != nil {
		return false, err
	}
	c := &rel.Spec.Components[p.RolledOut]
	d := &appsv1.Deployment{}
	// From the API server when the cache has not seen it: the Deployment syncWorkloads
	// just created is not an error.
	if err := r.getLive(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)}, d); err != nil {
		return false, err
	}
	ok, msg := release.Available(d, s.revision)
	if ok {
		p.RolledOut++
		p.FailedChecks, p.LastCheckTime = 0, nil // the next component's (or verification's) checks count afresh
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonRollingOut, "Rollout", "Component "+c.Name+" rolled out: "+msg)
		if int(p.RolledOut) == len(rel.Spec.Components) {
			done := fmt.Sprintf("Every component runs revision %s (%s)", s.revision, rel.Spec.Version)
			conditions.Set(rel, opsv1alpha1.ConditionRolledOut, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, done)
			metrics.RecordReleaseStep(rel.Namespace, rel.Name, "rollout", s.now.Sub(p.RolloutStartTime.Time))
		}
		return true, nil
	}
	deadline := p.RolloutStartTime.Add(release.ProgressDeadline(rel.Spec.Verify))
	round, err := r.rolloutRound(ctx, s, c, !s.now.Before(deadline), func() ([]corev1.Pod, error) { return r.revisionPods(ctx, s, c.Name) })
	if err != nil {
		return false, err
	}
	v := rel.Spec.Verify
	if round.failed != "" && p.FailedChecks >= release.FailureThreshold(v) {
		why := fmt.Sprintf("%d consecutive health checks of component %s's new pods failed while it rolled out (verify.failureThreshold): %s",
			p.FailedChecks, c.Name, round.failed)
		conditions.Set(rel, opsv1alpha1.ConditionRolledOut, metav1.ConditionFalse, opsv1alpha1.ReasonHealthCheckFailed, why)
		return r.decideRollback(s, opsv1alpha1.ReasonHealthCheckFailed, why)
	}
	if s.now.Before(deadline) {
		after := min(deadline.Sub(s.now)+time.Second, time.Minute)
		if !round.next.IsZero() { // a pod turning unready wakes nothing: check on time
			after = min(after, max(round.next.Sub(s.now), 10*time.Millisecond))
		}
		switch {
		case round.failed != "":
			markReleaseReconciling(rel, opsv1alpha1.ReasonHealthCheckFailed, fmt.Sprintf("Rolling out component %s: %s; health check failed (%d of %d): %s",
				c.Name, msg, p.FailedChecks, release.FailureThreshold(v), round.failed))
		case round.made || p.FailedChecks == 0: // between rounds a failure's message stays
			markReleaseReconciling(rel, opsv1alpha1.ReasonRollingOut, fmt.Sprintf("Rolling out component %s: %s", c.Name, msg))
		}
		return false, &reconcile.Waiting{After: after}
	}
	why := fmt.Sprintf("Component %s did not become available within %s (verify.progressDeadline): %s",
		c.Name, release.ProgressDeadline(rel.Spec.Verify), msg)
	if problem := r.podProblem(ctx, s, c.Name); problem != "" {
		why += "; " + problem
	}
	if round.failed != "" {
		why += "; health check: " + round.failed
	}
	conditions.Set(rel, opsv1alpha1.ConditionRolledOut, metav1.ConditionFalse, opsv1alpha1.ReasonProgressDeadline, why)
	return r.decideRollback(s, opsv1alpha1.ReasonProgressDeadline, why)
}

// rolloutCheck is what a rollout's round of health checks found.
type rolloutCheck struct {
	failed string    // the first unhealthy pod and its answer
	made   bool      // a round was made now
	next   time.Time // when the next round is due (zero: no checks)
}

// rolloutRound checks component c's new pods that run but are not Ready the same way
// verification checks pods (verify.path on the first port, every verify.interval, a
// refusal from a starting pod counting for nothing), so that a revision whose pods
// answer errors, and so never become Ready when the health path is their readiness
// probe, is rolled back after verify.failureThreshold rounds instead of at
// verify.progressDeadline. A round with an unhealthy pod counts one failure, a round
// where one answered 2xx clears the count. force makes a round whatever the spacing.
// list lists the new pods (of the component's Deployment, or of its canary).
func (r *ReleaseReconciler) rolloutRound(ctx context.Context, s *releaseScope, c *opsv1alpha1.Component, force bool, list func() ([]corev1.Pod, error)) (rolloutCheck, error) {
	p, v := s.rel.Status.Progress, s.rel.Spec.Verify
	if v == nil || v.Path == "" || c == nil || len(c.Ports) == 0 {
		return rolloutCheck{}, nil
	}
	interval := release.Interval(v)
	if next := r.nextRound(s, interval); !force && s.now.Before(next) {
		return rolloutCheck{next: next}, nil
	}
	pods, err := list()
	if err != nil {
		return rolloutCheck{}, err
	}
	pods = release.RunningNotReady(pods)
	if len(pods) == 0 { // none to check yet; pods starting to run wake nothing either
		return rolloutCheck{next: s.now.Add(interval)}, nil
	}
	checkedAt := r.Clock.Now()
	round := r.checkPods(ctx, v.Path, c.Ports[0].ContainerPort, pods)
	r.roundMade(s, checkedAt)
	switch {
	case round.failed != "":
		p.FailedChecks++
	case round.counted > 0:
		p.FailedChecks = 0
	}
	return rolloutCheck{failed: round.failed, made: true, next: checkedAt.Add(interval)}, nil
}

// podProblem names a pod of the new revision that cannot run, or "".
func (r *ReleaseReconciler) podProblem(ctx context.Context, s *releaseScope, component string) string {
	pods, err := r.revisionPods(ctx, s, component)
	if err != nil {
		return ""
	}
	return release.PodProblem(pods)
}

// revisionPods lists the pods of component that run the current revision's template:
// those of the Deployment's current ReplicaSet (by its pod-template-hash), so that a
// pod of the same revision label but an older template (before a restartedAt or a
// resources change) is not taken for one. None while the Deployment does not carry
// the revision or its ReplicaSet does not exist yet. Read from the API server.
func (r *ReleaseReconciler) revisionPods(ctx context.Context, s *releaseScope, component string) ([]corev1.Pod, error) {
	return r.deploymentPods(ctx, s, opsv1alpha1.ComponentDeploymentName(s.rel.Name, component), release.Selector(s.rel, component))
}

// deploymentPods lists the pods of Deployment name's current ReplicaSet when its
// template runs the current revision (revisionPods); sel is the Deployment's selector.
func (r *ReleaseReconciler) deploymentPods(ctx context.Context, s *releaseScope, name string, sel map[string]string) ([]corev1.Pod, error) {
	d := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: s.rel.Namespace, Name: name}, d)
	if err != nil || d.Spec.Template.Labels[opsv1alpha1.LabelRevision] != s.revision {
		return nil, client.IgnoreNotFound(err)
	}
	var rss appsv1.ReplicaSetList
	if err := r.APIReader.List(ctx, &rss, client.InNamespace(s.rel.Namespace), client.MatchingLabels(sel)); err != nil {
		return nil, err
	}
	rs := release.CurrentReplicaSet(d, rss.Items)
	if rs == nil || rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == "" {
		return nil, nil
	}
	sel[appsv1.DefaultDeploymentUniqueLabelKey] = rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(s.rel.Namespace), client.MatchingLabels(sel)); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// decideRollback ends a revision that failed in its rollout or verification, recording
// what follows and changing no workload: with a stable revision and
// rollback.automatic, the rollback (phase RollingBack, RolledBack=Unknown), which
// StepRollingBack writes once this is in status (advanced); otherwise the release
// fails and stays as it is (the returned stall). Either way the revision is pinned
// until the spec or the retry annotation changes, and its follow-ups are named.
//
// Conditions: RolledBack=Unknown, or Stalled and Ready.
func (r *ReleaseReconciler) decideRollback(s *releaseScope, reason, why string) (bool, error) {
	rel := s.rel
	rb := release.PlanRollback(&rel.Spec, &rel.Status, s.revision)
	kept := release.KeptMessage(rb.KeptMigrations)
	if !rb.Possible {
		msg := fmt.Sprintf("Revision %s (%s) failed: %s; not rolled back: %s%s", s.revision, rel.Spec.Version, why, rb.Why, kept)
		if rel.Spec.Rollback.RestoreDatabase {
			msg += "; rollback.restoreDatabase: the database was not restored either"
		}
		r.endRevision(s, opsv1alpha1.RevisionFailed, msg)
		r.decideFollowUps(s, release.RestorePlan{})
		rel.Status.Phase = opsv1alpha1.ReleasePhaseFailed
		r.event(rel, corev1.EventTypeWarning, reason, "Release", msg)
		return false, &reconcile.Stalling{Reason: reason, Message: msg}
	}
	restore := release.PlanRestore(&rel.Spec, &rel.Status, s.revision) // reads the progress cleared below
	switch {
	case restore.Backup != "":
		kept = release.RestoreMessage(release.RestoreName(rel, s.revision), restore.Backup, rb.KeptMigrations)
	case restore.Why != "":
		kept += "; " + restore.Why
	}
	msg := fmt.Sprintf("Revision %s (%s) rolled back to %s (%s): %s%s", s.revision, rel.Spec.Version, rb.To, rel.Status.StableVersion, why, kept)
	rel.Status.Phase = opsv1alpha1.ReleasePhaseRollingBack
	rel.Status.Progress = nil
	r.endRevision(s, opsv1alpha1.RevisionRolledBack, msg)
	r.decideFollowUps(s, restore) // created by StepFollowUps, once this is in status
	conditions.Set(rel, opsv1alpha1.ConditionRolledBack, metav1.ConditionUnknown, reason, msg)
	return true, nil
}

// writeRollback carries out a decided rollback (phase RollingBack, RolledBack=Unknown):
// once the Incident it opens has read the failing pods (at most release.EvidenceWait,
// see evidenceGate), every component goes back to the stable templates at once,
// written last to first without waiting, and the rollback is complete. A refused
// write is retried; the status already says every component goes back.
//
// Conditions: RolledBack=True, Stalled; Reconciling WaitingForEvidence while it waits.
func (r *ReleaseReconciler) writeRollback(ctx context.Context, s *releaseScope) error {
	rel := s.rel
	gate, err := r.evidenceGate(ctx, s)
	if err != nil {
		return err
	}
	if gate.Wait {
		name := s.record().Incident.Name
		return &reconcile.Waiting{Reason: opsv1alpha1.ReasonWaitingForEvidence, After: gate.After, Message: fmt.Sprintf(
			"Rolling back revision %s: waiting for Incident %s to read the failing pods and their logs before the stable templates replace them (at most %s)",
			s.revision, name, release.EvidenceWait)}
	}
	if err := r.syncWorkloads(ctx, s, true); err != nil {
		return err
	}
	c := conditions.Get(rel, opsv1alpha1.ConditionRolledBack)
	if c == nil { // not written by decideRollback (an older manager's status): say it anyway
		c = &metav1.Condition{Reason: opsv1alpha1.ReasonRolledBack, Message: "Rolled back to revision " + rel.Status.StableRevision}
	}
	c.Message = truncate.String(c.Message+gate.Note, 32768)
	if gate.Missing != "" {
		r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonEvidenceIncomplete, "Rollback", "Rolled back revision "+s.revision+" before its Incident's evidence: "+gate.Missing)
	}
	step := "verify" // the step that failed, for the metric
	if ro := conditions.Get(rel, opsv1alpha1.ConditionRolledOut); ro != nil && ro.Status == metav1.ConditionFalse {
		step = "rollout"
	}
	if cv := conditions.Get(rel, opsv1alpha1.ConditionCanaryVerified); cv != nil && cv.Status == metav1.ConditionFalse {
		step = "canary"
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseRolledBack
	conditions.Set(rel, opsv1alpha1.ConditionRolledBack, metav1.ConditionTrue, c.Reason, c.Message)
	metrics.Rollbacks.WithLabelValues(rel.Namespace, rel.Name, step).Inc()
	r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonRolledBack, "Rollback", c.Message)
	return &reconcile.Stalling{Reason: opsv1alpha1.ReasonRolledBack, Message: c.Message}
}

// evidenceGate reads the Incident the pinned revision's rollback opens (if any) and
// decides with release.GateRollback whether the stable templates may be written now.
func (r *ReleaseReconciler) evidenceGate(ctx context.Context, s *releaseScope) (release.EvidenceGate, error) {
	rec := s.record()
	if rec == nil || rec.Incident == nil {
		return release.EvidenceGate{}, nil
	}
	inc := &opsv1alpha1.Incident{}
	if err := r.getLive(ctx, client.ObjectKey{Namespace: s.rel.Namespace, Name: rec.Incident.Name}, inc); err != nil {
		if !apierrors.IsNotFound(err) {
			return release.EvidenceGate{}, err
		}
		inc = nil
	}
	return release.GateRollback(rec, inc, s.now), nil
}

// finish makes the revision stable.
//
// Conditions: Verified=True, Ready=True.
func (r *ReleaseReconciler) finish(ctx context.Context, s *releaseScope) (bool, error) {
	rel := s.rel
	if err := r.pruneRemovedComponents(ctx, s); err != nil {
		return false, err
	}
	msg := fmt.Sprintf("Revision %s (%s) is deployed and verified", s.revision, rel.Spec.Version)
	if rel.Spec.Verify != nil {
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded,
			fmt.Sprintf("Healthy for %s (verify.window)", release.Window(rel.Spec.Verify)))
		if p := rel.Status.Progress; p != nil && p.VerifyStartTime != nil {
			metrics.RecordReleaseStep(rel.Namespace, rel.Name, "verify", s.now.Sub(p.VerifyStartTime.Time))
		}
	}
	r.endRevision(s, opsv1alpha1.RevisionSucceeded, msg)
	rel.Status.StableRevision = s.revision
	rel.Status.StableVersion = rel.Spec.Version
	rel.Status.Progress = nil
	rel.Status.Phase = opsv1alpha1.ReleasePhaseDeployed
	conditions.MarkReady(rel, opsv1alpha1.ReasonDeployed, msg)
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonDeployed, "Deploy", msg)
	return false, nil
}
