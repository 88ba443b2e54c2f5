package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestEvidencePods(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	pod := func(name, rev string, phase corev1.PodPhase, age time.Duration) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			Labels: map[string]string{opsv1alpha1.LabelRevision: rev}}, Status: corev1.PodStatus{Phase: phase}}
	}
	// What the benchmark saw: dozens of finished Job pods whose names sort before the
	// web pods of the failing revision.
	var pods []corev1.Pod
	for i := 0; i < 60; i++ {
		pods = append(pods, pod(fmt.Sprintf("saas-a%02d-migrate", i), "old", corev1.PodSucceeded, time.Duration(10+i)*time.Minute))
	}
	pods = append(pods,
		pod("saas-web-new-2", "bad", corev1.PodRunning, time.Minute),
		pod("saas-web-new-1", "bad", corev1.PodRunning, 2*time.Minute),
		pod("saas-web-old-1", "good", corev1.PodRunning, time.Hour),
		pod("saas-bad-migrate", "bad", corev1.PodSucceeded, 3*time.Minute),
		pod("saas-bad-backup", "bad", corev1.PodFailed, 4*time.Minute),
		pod("saas-web-new-3", "bad", corev1.PodPending, 30*time.Second),
	)
	names := func(ps []corev1.Pod) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, " ")
	}
	got := EvidencePods(pods, "bad", 7)
	want := "saas-web-new-3 saas-web-new-2 saas-web-new-1 saas-web-old-1 saas-bad-backup saas-bad-migrate saas-a00-migrate"
	if names(got) != want {
		t.Fatalf("got  %s\nwant %s", names(got), want)
	}
	if n := len(EvidencePods(pods, "bad", 50)); n != 50 {
		t.Errorf("kept %d, want the bound 50", n)
	}
	if n := len(EvidencePods(pods[:3], "", 50)); n != 3 {
		t.Errorf("kept %d of 3", n)
	}
	// No failing revision (an Incident opened by hand): running pods still come first.
	if got := names(EvidencePods(pods, "", 2)); got != "saas-web-new-3 saas-web-new-2" {
		t.Errorf("without a revision: %s", got)
	}
	if pods[0].Name != "saas-a00-migrate" {
		t.Errorf("the caller's slice was reordered")
	}
}
