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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// verify runs one round of health checks per verify.interval during verify.window,
// which counts from the start time recorded in status (a restarted manager resumes it).
// failureThreshold consecutive failed rounds, or a restarted or crash-looping pod of
// the new revision, roll the release back. A round the checker could not make (no
// route to the pods, a timeout) fails nothing: the window is paused for that round.
// verify.prometheus queries are part of each round (release_query.go): a query that
// breaks its condition fails the round; Prometheus not answering pauses the window
// like a checker error and, errorThreshold rounds in a row, the verification, never
// rolling back nor passing the revision; an inconclusive query neither passes nor
// fails, and a window that ends inconclusive holds the revision (onInconclusive).
//
// Conditions: Verified.
func (r *ReleaseReconciler) verify(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p, v := s.rel, s.rel.Status.Progress, s.rel.Spec.Verify
	interval := release.Interval(v)
	if p.VerifyStartTime == nil {
		start := release.WindowStart(s.now)
		p.VerifyStartTime = &start
		rel.Status.Phase = opsv1alpha1.ReleasePhaseVerifying
		msg := fmt.Sprintf("Verifying revision %s for %s: checks every %s, %d consecutive failures roll back",
			s.revision, release.Window(v), interval, release.FailureThreshold(v))
		if v.Prometheus != nil {
			msg += fmt.Sprintf("; %d Prometheus queries at %s", len(v.Prometheus.Queries), v.Prometheus.Address)
		}
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonVerifying, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonVerifying, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonVerifying, "Verify", msg)
		return true, nil
	}
	if next := r.nextRound(s, interval); s.now.Before(next) {
		return false, &reconcile.Waiting{After: next.Sub(s.now)}
	}
	// The round is stamped with the clock when its checks start, not the reconcile's
	// start: a reconcile slow to get here would otherwise make the next round early.
	checkedAt := r.Clock.Now()
	failed, checkerErr, err := r.checkRound(ctx, s)
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
	switch {
	case failed != "":
		rel.Status.Phase = opsv1alpha1.ReleasePhaseVerifying
		p.FailedChecks++
		what := "health checks"
		if reason == opsv1alpha1.ReasonQueryFailed {
			what = "checks"
		}
		if p.FailedChecks >= release.FailureThreshold(v) {
			why := fmt.Sprintf("%d consecutive %s failed (verify.failureThreshold): %s", p.FailedChecks, what, failed)
			conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionFalse, reason, why)
			return r.decideRollback(s, reason, why)
		}
		msg := fmt.Sprintf("Health check failed (%d of %d): %s", p.FailedChecks, release.FailureThreshold(v), failed)
		if reason == opsv1alpha1.ReasonQueryFailed {
			msg = fmt.Sprintf("Check failed (%d of %d): %s", p.FailedChecks, release.FailureThreshold(v), failed)
		}
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, reason, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonVerifying, msg)
	case checkerErr != "" || queries.Verdict == opsv1alpha1.QueryError:
		// The window stands still while nothing could be checked: a revision is never
		// passed by a window Prometheus did not see.
		shifted := metav1.NewTime(p.VerifyStartTime.Add(interval))
		p.VerifyStartTime = &shifted
		if checkerErr != "" {
			msg := "Verification paused: the health checks could not be made (" + checkerErr + "); nothing is rolled back for it"
			conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonCheckerError, msg)
			markReleaseReconciling(rel, opsv1alpha1.ReasonCheckerError, msg)
			break
		}
		r.prometheusError(s, queries.Deciding)
	case queries.Verdict == opsv1alpha1.QueryInconclusive:
		return r.inconclusive(s, queries.Deciding)
	default:
		rel.Status.Phase = opsv1alpha1.ReleasePhaseVerifying
		p.FailedChecks = 0
		left := p.VerifyStartTime.Add(release.Window(v)).Sub(s.now)
		msg := fmt.Sprintf("Healthy so far; %s of the verification window left", left.Round(time.Second))
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonVerifying, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonVerifying, msg)
		if left < interval {
			return false, &reconcile.Waiting{After: max(left, 10*time.Millisecond)}
		}
	}
	return false, &reconcile.Waiting{After: interval}
}

// checkRound checks every pod of the new revision on its first port and verify.path,
// and verify.url. failed names the first unhealthy target; checkerErr the first check
// that could not be made. What a pod's answer counts for is release.PodVerdict's: a
// pod that is not Ready and refuses the connection is starting and counts for nothing,
// and a component none of whose pods could be counted makes the round a pause.
func (r *ReleaseReconciler) checkRound(ctx context.Context, s *releaseScope) (failed, checkerErr string, err error) {
	v := s.rel.Spec.Verify
	var errs []string
	for _, c := range s.rel.Spec.Components {
		pods, err := r.revisionPods(ctx, s, c.Name)
		if err != nil {
			return "", "", err
		}
		if problem := release.PodProblem(pods); problem != "" {
			return problem, "", nil
		}
		if v.Path == "" || len(c.Ports) == 0 {
			continue
		}
		round := r.checkPods(ctx, v.Path, c.Ports[0].ContainerPort, pods)
		if round.failed != "" {
			return round.failed, "", nil
		}
		errs = append(errs, round.errs...)
		if round.counted == 0 && len(round.starting) > 0 {
			errs = append(errs, fmt.Sprintf("no pod of component %s serves yet (not Ready, refusing connections: %s)", c.Name, strings.Join(round.starting, ", ")))
		}
	}
	if v.URL != "" {
		res := r.Checker.Check(ctx, v.URL)
		switch {
		case res.Err != nil:
			errs = append(errs, res.Err.Error())
		case !res.Healthy:
			return res.Detail, "", nil
		}
	}
	if len(errs) > 0 {
		return "", truncate.String(strings.Join(errs, "; "), 512), nil
	}
	return "", "", nil
}

// podRound is what checking a component's pods found.
type podRound struct {
	failed   string   // the first unhealthy pod and its answer
	counted  int      // pods that answered 2xx
	starting []string // pods not Ready that refuse connections: they count for nothing
	errs     []string // checks that could not be made
}

// checkPods checks pods on port and path, each as release.PodVerdict counts it, and
// stops at the first unhealthy one. Pods being deleted are not checked.
func (r *ReleaseReconciler) checkPods(ctx context.Context, path string, port int32, pods []corev1.Pod) podRound {
	var round podRound
	for i := range pods {
		pod := &pods[i]
		if !pod.DeletionTimestamp.IsZero() {
			continue
		}
		addr, err := r.PodAddress(pod, port)
		if err != nil {
			round.errs = append(round.errs, err.Error())
			continue
		}
		res := r.Checker.Check(ctx, "http://"+addr+path)
		switch release.PodVerdict(pod, res) {
		case release.VerdictUncheckable:
			round.errs = append(round.errs, res.Err.Error())
		case release.VerdictUnhealthy:
			round.failed = fmt.Sprintf("pod %s: %s", pod.Name, res.Detail)
			return round
		case release.VerdictStarting:
			round.starting = append(round.starting, pod.Name)
		case release.VerdictHealthy:
			round.counted++
		}
	}
	return round
}

// nextRound is when the next round of checks of the revision is due (zero: now).
func (r *ReleaseReconciler) nextRound(s *releaseScope, interval time.Duration) time.Time {
	var exact time.Time
	if t, ok := r.lastChecks.Load(s.rel.Namespace + "/" + s.rel.Name); ok {
		exact = t.(time.Time)
	}
	return release.NextCheck(s.rel.Status.Progress.LastCheckTime, exact, interval)
}

// roundMade records that a round of checks started at checkedAt.
func (r *ReleaseReconciler) roundMade(s *releaseScope, checkedAt time.Time) {
	s.rel.Status.Progress.LastCheckTime = &metav1.Time{Time: checkedAt}
	r.lastChecks.Store(s.rel.Namespace+"/"+s.rel.Name, checkedAt)
}
