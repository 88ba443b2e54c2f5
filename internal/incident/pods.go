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
