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

package release

import (
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"runbook-operator/internal/healthcheck"
)

// CurrentReplicaSet is the ReplicaSet of d that runs d's pod template now, as the
// Deployment controller picks it: controlled by d, with d's template apart from the
// pod-template-hash label, the oldest if several match. nil while the Deployment
// controller has not made it yet. Its pods are the ones a verification checks: pods of
// an older template with the same revision label (before a restartedAt, a resources
// change) are not.
func CurrentReplicaSet(d *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var match []*appsv1.ReplicaSet
	for i := range rss {
		rs := &rss[i]
		if metav1.IsControlledBy(rs, d) && rs.DeletionTimestamp.IsZero() && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			match = append(match, rs)
		}
	}
	if len(match) == 0 {
		return nil
	}
	slices.SortFunc(match, func(a, b *appsv1.ReplicaSet) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return match[0]
}

func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}

// PodReady reports whether pod's Ready condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// RunningNotReady are the pods a rollout checks: running, not Ready, not being
// deleted. A pod the readiness probe keeps out (the app's health path answering 503)
// never makes its component available; checking it as verification does tells a
// revision that answers errors from one still starting.
func RunningNotReady(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodRunning && !PodReady(&pod) && pod.DeletionTimestamp.IsZero() {
			out = append(out, pod)
		}
	}
	return out
}

// Verdict is what one pod's health check counts for in a verification round.
type Verdict string

const (
	// VerdictHealthy: the pod answered 2xx.
	VerdictHealthy Verdict = "Healthy"
	// VerdictUnhealthy: the pod answered non-2xx, or refused the connection although
	// it is Ready. Consecutive rounds with one roll the revision back.
	VerdictUnhealthy Verdict = "Unhealthy"
	// VerdictStarting: the pod is not Ready and nothing listens on its port yet (a pod
	// that just started, after a scale-up or a restart). It counts for nothing: a pod
	// that never becomes Ready is a problem of the rollout (its deadline), or shows as a
	// restart or a waiting container.
	VerdictStarting Verdict = "Starting"
	// VerdictUncheckable: the check could not be made (timeout, no route): the round
	// pauses the window, it does not roll back.
	VerdictUncheckable Verdict = "Uncheckable"
)

// PodVerdict decides what a check of pod that returned res counts for. A Ready pod's
// refusal is a failure: it told the kubelet it serves. A not-Ready pod's answer still
// counts when it is an answer (a 503 from a pod that went unready is a failure).
func PodVerdict(pod *corev1.Pod, res healthcheck.Result) Verdict {
	switch {
	case res.Err != nil:
		return VerdictUncheckable
	case res.Healthy:
		return VerdictHealthy
	case res.Refused && !PodReady(pod):
		return VerdictStarting
	}
	return VerdictUnhealthy
}

// NextCheck is when the next verification round is due: interval after the last one.
// recorded is the last round's time in status, which keeps only seconds; exact is the
// time this manager made it (zero when it has none, as after a restart). Counting from
// recorded alone, a reconcile woken by anything else (a Deployment's status) would
// check up to a second early, two rounds of a 1s interval nearly at once.
func NextCheck(recorded *metav1.Time, exact time.Time, interval time.Duration) time.Time {
	if recorded == nil {
		return time.Time{}
	}
	if !exact.IsZero() && exact.Truncate(time.Second).Equal(recorded.Truncate(time.Second)) {
		return exact.Add(interval)
	}
	return recorded.Add(interval)
}

// WindowStart is the verification window's start as status keeps it: now rounded up
// to the whole second, since a metav1.Time keeps only seconds and rounding down would
// make every window up to a second shorter than verify.window.
func WindowStart(now time.Time) metav1.Time {
	if t := now.Truncate(time.Second); !t.Equal(now) {
		return metav1.NewTime(t.Add(time.Second))
	}
	return metav1.NewTime(now)
}
