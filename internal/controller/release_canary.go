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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// canary runs spec.canary's step (see internal/release/canary.go): recorded in
// status first (progress.canary, phase Canary), then the canary Deployment is written
// and its pods are awaited within verify.progressDeadline, their running but not
// Ready pods checked as a rollout checks them; once all are available the window's
// start is recorded before any wait, and every verify.interval a round checks each
// canary pod (verify.path on its first port, a restart or waiting container) and the
// verify.prometheus queries. failureThreshold failing rounds, or the deadline, end the
// revision through the rollback path with only the canary removed (canaryFailed); a
// healthy round at or past the window's end passes it, and the rollout removes it.
//
// Conditions: CanaryVerified.
func (r *ReleaseReconciler) canary(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p, spec := s.rel, s.rel.Status.Progress, s.rel.Spec.Canary
	if p.Canary == nil {
		p.Canary = &opsv1alpha1.CanaryProgress{Component: spec.Component, Deployment: release.CanaryDeploymentName(rel, spec.Component),
			Replicas: release.CanaryReplicas(spec), StartTime: s.nowTime()}
		p.FailedChecks, p.LastCheckTime, p.InconclusiveChecks, p.QueryErrors = 0, nil, 0, 0
		rel.Status.Phase = opsv1alpha1.ReleasePhaseCanary
		msg := fmt.Sprintf("Canary: starting %d pods of revision %s (%s) of component %s beside its stable pods (Deployment %s), checked for %s before any component is rolled out",
			p.Canary.Replicas, s.revision, rel.Spec.Version, spec.Component, p.Canary.Deployment, spec.WindowOrDefault())
		conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonCanaryRunning, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonCanaryRunning, "Canary", msg)
		return true, nil // recorded before the canary Deployment is written
	}
	if p.Canary.StartTime == nil { // started again after a hold (holdCanary)
		p.Canary.StartTime = s.nowTime()
		msg := fmt.Sprintf("Canary: starting %d pods of revision %s of component %s again after the hold on the workloads ended", p.Canary.Replicas, s.revision, p.Canary.Component)
		p.Canary.Message = msg
		conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonCanaryRunning, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
		return true, nil
	}
	if !s.holdsWorkloads() {
		return false, nil
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseCanary
	if err := r.syncCanary(ctx, s); err != nil {
		return false, err
	}
	c := p.Canary
	d := &appsv1.Deployment{}
	if err := r.getLive(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: c.Deployment}, d); err != nil {
		return false, err
	}
	c.ReadyReplicas = d.Status.ReadyReplicas
	stable := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: opsv1alpha1.ComponentDeploymentName(rel.Name, c.Component)}, stable); err == nil {
		c.StableReplicas = stable.Status.ReadyReplicas
	}
	if c.WindowStartTime == nil {
		return r.canaryStarting(ctx, s, d)
	}
	return r.canaryRound(ctx, s)
}

// canaryStarting waits for every canary pod to be available, then records the
// window's start (before any wait). Meanwhile the canary's pods that run but are not
// Ready are checked as a rollout's are (rolloutRound): failureThreshold failing rounds,
// or verify.progressDeadline from the canary's start, fail the canary.
func (r *ReleaseReconciler) canaryStarting(ctx context.Context, s *releaseScope, d *appsv1.Deployment) (bool, error) {
	rel, p, v := s.rel, s.rel.Status.Progress, s.rel.Spec.Verify
	c := p.Canary
	ok, avail := release.Available(d, s.revision)
	if ok {
		start := release.WindowStart(s.now)
		c.WindowStartTime = &start
		p.FailedChecks, p.LastCheckTime = 0, nil // the window's checks count afresh
		msg := fmt.Sprintf("Canary: %s; checked for %s from %s", release.CanaryMessage(c, 0, rel.Spec.Canary.WindowOrDefault()),
			rel.Spec.Canary.WindowOrDefault(), start.UTC().Format(time.RFC3339))
		c.Message = truncate.String(msg, 1024)
		conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonCanaryRunning, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonCanaryRunning, "Canary", msg)
		return true, nil
	}
	comp := componentOf(rel, c.Component)
	deadline := c.StartTime.Add(release.ProgressDeadline(v))
	round, err := r.rolloutRound(ctx, s, comp, !s.now.Before(deadline), func() ([]corev1.Pod, error) { return r.canaryPods(ctx, s) })
	if err != nil {
		return false, err
	}
	if round.failed != "" && p.FailedChecks >= release.FailureThreshold(v) {
		return r.canaryFailed(s, opsv1alpha1.ReasonHealthCheckFailed, fmt.Sprintf("%d consecutive health checks of its pods failed while they started (verify.failureThreshold): %s",
			p.FailedChecks, round.failed))
	}
	if s.now.Before(deadline) {
		after := min(deadline.Sub(s.now)+time.Second, time.Minute)
		if !round.next.IsZero() {
			after = min(after, max(round.next.Sub(s.now), 10*time.Millisecond))
		}
		msg := "Canary: starting: " + avail
		if round.failed != "" {
			msg += fmt.Sprintf("; health check failed (%d of %d): %s", p.FailedChecks, release.FailureThreshold(v), round.failed)
		}
		if round.made || p.FailedChecks == 0 {
			c.Message = truncate.String(msg, 1024)
			markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
		}
		return false, &reconcile.Waiting{After: after}
	}
	why := fmt.Sprintf("its pods did not become available within %s (verify.progressDeadline): %s", release.ProgressDeadline(v), avail)
	if pods, err := r.canaryPods(ctx, s); err == nil {
		if problem := release.PodProblem(pods); problem != "" {
			why += "; " + problem
		}
	}
	if round.failed != "" {
		why += "; health check: " + round.failed
	}
	return r.canaryFailed(s, opsv1alpha1.ReasonProgressDeadline, why)
}

// canaryRound makes one round of checks of the canary's pods per verify.interval
// during the window, which counts from the start recorded in status.
func (r *ReleaseReconciler) canaryRound(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p, v := s.rel, s.rel.Status.Progress, s.rel.Spec.Verify
	c, window, interval := p.Canary, rel.Spec.Canary.WindowOrDefault(), release.Interval(v)
	if next := r.nextRound(s, interval); s.now.Before(next) {
		return false, &reconcile.Waiting{After: next.Sub(s.now)}
	}
	checkedAt := r.Clock.Now()
	failed, checkerErr, err := r.checkCanaryPods(ctx, s)
	if err != nil {
		return false, err
	}
	queries, err := r.queryRound(ctx, s, checkedAt)
	if err != nil {
		return false, err
	}
	r.roundMade(s, checkedAt)
	countQueries(p, queries)
	reason := opsv1alpha1.ReasonHealthCheckFailed
	if failed == "" && queries.Verdict == opsv1alpha1.QueryFail {
		failed, reason = queries.Deciding.Describe(), opsv1alpha1.ReasonQueryFailed
	}
	end := c.WindowStartTime.Add(window)
	var msg string
	condReason := reason
	switch {
	case failed != "":
		p.FailedChecks++
		if p.FailedChecks >= release.FailureThreshold(v) {
			return r.canaryFailed(s, reason, fmt.Sprintf("%d consecutive checks of its pods failed (verify.failureThreshold): %s", p.FailedChecks, failed))
		}
		msg = fmt.Sprintf("Canary: check failed (%d of %d): %s", p.FailedChecks, release.FailureThreshold(v), failed)
	case checkerErr != "" || queries.Verdict == opsv1alpha1.QueryError:
		// Nothing could be checked: the window stands still, as verification's does.
		shifted := metav1.NewTime(c.WindowStartTime.Add(interval))
		c.WindowStartTime = &shifted
		what := checkerErr
		if what == "" {
			what = queries.Deciding.Describe()
		}
		msg = "Canary paused: its checks could not be made (" + truncate.String(what, 512) + "); the window stands still and nothing is removed for it"
		condReason = opsv1alpha1.ReasonCheckerError
	case queries.Verdict == opsv1alpha1.QueryInconclusive:
		p.FailedChecks = 0
		if !checkedAt.Before(end) && rel.Spec.Verify.Prometheus.OnInconclusive == opsv1alpha1.InconclusiveRollback {
			return r.canaryFailed(s, opsv1alpha1.ReasonQueryInconclusive, "the window ended inconclusive (verify.prometheus.onInconclusive Rollback): "+queries.Deciding.Describe())
		}
		msg = "Canary: a query is inconclusive (" + queries.Deciding.Describe() + "); the canary passes only after a round in which every query passes"
		condReason = opsv1alpha1.ReasonQueryInconclusive
	default:
		p.FailedChecks = 0
		healthy := release.CanaryMessage(c, checkedAt.Sub(c.WindowStartTime.Time), window)
		if !checkedAt.Before(end) {
			return r.canaryPassed(s, healthy)
		}
		msg = "Canary: " + healthy
		c.Message = truncate.String(msg, 1024)
		conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonCanaryRunning, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
		return false, &reconcile.Waiting{After: max(min(interval, end.Sub(s.now)), 10*time.Millisecond)}
	}
	c.Message = truncate.String(msg, 1024)
	conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionUnknown, condReason, msg)
	markReleaseReconciling(rel, opsv1alpha1.ReasonCanaryRunning, msg)
	return false, &reconcile.Waiting{After: interval}
}

// checkCanaryPods checks every canary pod as a verification round checks a
// component's pods: a restarted or waiting container, then verify.path on the first
// port. failed names the first unhealthy pod; checkerErr what could not be checked
// (no canary pod, none serving yet, no route).
func (r *ReleaseReconciler) checkCanaryPods(ctx context.Context, s *releaseScope) (failed, checkerErr string, err error) {
	c := s.rel.Status.Progress.Canary
	pods, err := r.canaryPods(ctx, s)
	if err != nil {
		return "", "", err
	}
	if problem := release.PodProblem(pods); problem != "" {
		return problem, "", nil
	}
	comp := componentOf(s.rel, c.Component)
	path := s.rel.Spec.Verify.Path
	if path == "" || comp == nil || len(comp.Ports) == 0 {
		return "", "", nil
	}
	if len(pods) == 0 {
		return "", "no pod of canary Deployment " + c.Deployment + " found", nil
	}
	round := r.checkPods(ctx, path, comp.Ports[0].ContainerPort, pods)
	if round.failed != "" {
		return round.failed, "", nil
	}
	errs := round.errs
	if round.counted == 0 && len(round.starting) > 0 {
		errs = append(errs, "no canary pod serves yet (not Ready, refusing connections: "+strings.Join(round.starting, ", ")+")")
	}
	return "", truncate.String(strings.Join(errs, "; "), 512), nil
}

// canaryPassed records that the canary stayed healthy for its window: the rollout
// that follows removes it before it writes the first component.
func (r *ReleaseReconciler) canaryPassed(s *releaseScope, healthy string) (bool, error) {
	rel, p := s.rel, s.rel.Status.Progress
	p.Canary.Passed = true
	p.FailedChecks, p.LastCheckTime, p.InconclusiveChecks, p.QueryErrors = 0, nil, 0, 0
	msg := fmt.Sprintf("Canary passed: %s; it is removed and every component rolls out", healthy)
	p.Canary.Message = truncate.String(msg, 1024)
	conditions.Set(rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionTrue, opsv1alpha1.ReasonCanaryPassed, msg)
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonCanaryPassed, "Canary", msg)
	return true, nil
}

// canaryFailed ends the revision whose canary failed through the rollback path
// (decideRollback: the Incident first, with its evidence of the canary's pods, then
// the stable templates, unchanged, are written again and the canary is removed):
// nothing else changed, so only the canary's pods go.
//
// Conditions: CanaryVerified=False.
func (r *ReleaseReconciler) canaryFailed(s *releaseScope, reason, why string) (bool, error) {
	c := s.rel.Status.Progress.Canary
	msg := fmt.Sprintf("the canary of component %s failed: %s; %s", c.Component, why, release.CanaryRemoved(c))
	c.Message = truncate.String(msg, 1024)
	conditions.Set(s.rel, opsv1alpha1.ConditionCanaryVerified, metav1.ConditionFalse, reason, truncate.String(msg, 32768))
	r.event(s.rel, corev1.EventTypeWarning, opsv1alpha1.ReasonCanaryFailed, "Canary", truncate.String(msg, 1000))
	return r.decideRollback(s, opsv1alpha1.ReasonCanaryFailed, msg)
}

// canaryPods are the pods of the canary Deployment's current ReplicaSet.
func (r *ReleaseReconciler) canaryPods(ctx context.Context, s *releaseScope) ([]corev1.Pod, error) {
	c := s.rel.Status.Progress.Canary
	return r.deploymentPods(ctx, s, c.Deployment, release.CanarySelector(s.rel, c.Component))
}

// syncCanary writes the canary Deployment while the revision's canary runs
// (release.CanaryRunning) and deletes every other canary Deployment the release owns:
// once the canary passed (the rollout removes it before writing a component), failed
// (the rollback removes it, after the Incident read its pods), or was superseded.
func (r *ReleaseReconciler) syncCanary(ctx context.Context, s *releaseScope) error {
	rel := s.rel
	run := release.CanaryRunning(&rel.Spec, &rel.Status)
	if run != nil && rel.Status.Progress.Revision != s.revision {
		run = nil
	}
	keep := ""
	if run != nil {
		keep = run.Deployment
	}
	if err := r.removeCanaries(ctx, s, keep); err != nil || run == nil {
		return err
	}
	comp := componentOf(rel, run.Component)
	if comp == nil {
		return nil // refused by the API server; a spec read before that rule has none to run
	}
	return r.applyDeployment(ctx, s, release.CanaryDeployment(rel, comp, s.snap, s.revision))
}

// removeCanaries deletes the canary Deployments the release owns but keep.
func (r *ReleaseReconciler) removeCanaries(ctx context.Context, s *releaseScope, keep string) error {
	rel := s.rel
	var list appsv1.DeploymentList
	if err := r.List(ctx, &list, client.InNamespace(rel.Namespace), client.MatchingLabels{opsv1alpha1.LabelRelease: rel.Name, opsv1alpha1.LabelCanary: "true"}); err != nil {
		return err
	}
	for i := range list.Items {
		d := &list.Items[i]
		if !metav1.IsControlledBy(d, rel) || !d.DeletionTimestamp.IsZero() || d.Name == keep {
			continue
		}
		if err := r.Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonCanaryRunning, "RemoveCanary",
			fmt.Sprintf("Deleted canary Deployment %s (revision %s); the stable pods were not touched", d.Name, d.Labels[opsv1alpha1.LabelRevision]))
	}
	return nil
}

// holdCanary removes a running canary while a DatabaseRestore or an Incident's
// takeOffline holds the release's workloads (they scale the components' Deployments,
// not the canary's, so its pods would go on serving and writing), and starts the
// canary over once the hold ends: recorded first (a new start, no window yet), then
// deleted.
func (r *ReleaseReconciler) holdCanary(ctx context.Context, s *releaseScope) error {
	if c := release.CanaryRunning(&s.rel.Spec, &s.rel.Status); c != nil && c.StartTime != nil && s.rel.Status.Progress.Revision == s.revision {
		p := s.rel.Status.Progress
		c.StartTime, c.WindowStartTime, c.ReadyReplicas = nil, nil, 0
		p.FailedChecks, p.LastCheckTime, p.InconclusiveChecks, p.QueryErrors = 0, nil, 0, 0
		c.Message = "Canary removed while " + opsv1alpha1.QuiescedByWords(s.rel.Annotations[opsv1alpha1.AnnotationQuiescedBy]) + " holds the workloads; it starts again, with a new window, once the hold ends"
	}
	return r.removeCanaries(ctx, s, "")
}

// componentOf is the spec's component named name, or nil.
func componentOf(rel *opsv1alpha1.Release, name string) *opsv1alpha1.Component {
	for i := range rel.Spec.Components {
		if rel.Spec.Components[i].Name == name {
			return &rel.Spec.Components[i]
		}
	}
	return nil
}
