package incident

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// EvidencePods orders a Release's pods for an evidence bundle and keeps the first
// limit: the pods of the failing revision still there (what a rollback is about to
// replace), then the other pods still running, then failed pods, then succeeded ones
// (the Jobs' finished pods, of this revision and earlier ones); newest first within
// each group, then by name. A Release that has run many Jobs has more finished pods
// than the bound, and sorting by name alone put them before the web pods.
func EvidencePods(pods []corev1.Pod, failingRevision string, limit int) []corev1.Pod {
	rank := func(p *corev1.Pod) int {
		finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		switch {
		case !finished && failingRevision != "" && p.Labels[opsv1alpha1.LabelRevision] == failingRevision:
			return 0
		case !finished:
			return 1
		case p.Status.Phase == corev1.PodFailed:
			return 2
		}
		return 3
	}
	out := slices.Clone(pods)
	slices.SortStableFunc(out, func(a, b corev1.Pod) int {
		if ra, rb := rank(&a), rank(&b); ra != rb {
			return ra - rb
		}
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// TroubledPods picks, for the evidence of an Incident that names no Release, the
// namespace's pods in trouble and keeps the first limit: pods not finished and not
// Ready (crash-looping, failing probes, unschedulable, pulling an image that does not
// exist), then Ready ones whose containers restarted, then failed pods (evicted, out
// of memory); most restarts first within each group, then newest, then by name.
// Healthy running pods and succeeded ones are left out.
func TroubledPods(pods []corev1.Pod, limit int) []corev1.Pod {
	const healthy = -1
	rank := func(p *corev1.Pod) int {
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return healthy
		case corev1.PodFailed:
			return 2
		}
		if !podReady(p) {
			return 0
		}
		if Restarts(p) > 0 {
			return 1
		}
		return healthy
	}
	var out []corev1.Pod
	for i := range pods {
		if rank(&pods[i]) != healthy {
			out = append(out, pods[i])
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Pod) int {
		if ra, rb := rank(&a), rank(&b); ra != rb {
			return ra - rb
		}
		if ra, rb := Restarts(&a), Restarts(&b); ra != rb {
			return int(rb - ra)
		}
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Restarts is the sum of the restarts of p's containers (init containers included).
func Restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.InitContainerStatuses {
		n += c.RestartCount
	}
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
