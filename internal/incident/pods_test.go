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

func TestTroubledPods(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	pod := func(name string, phase corev1.PodPhase, ready bool, restarts int32, age time.Duration) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-age))},
			Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: restarts, Ready: ready}}}}
		if phase == corev1.PodRunning || phase == corev1.PodPending {
			st := corev1.ConditionFalse
			if ready {
				st = corev1.ConditionTrue
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		}
		return p
	}
	pods := []corev1.Pod{
		pod("starting", corev1.PodRunning, true, 0, time.Hour),
		pod("job-done", corev1.PodSucceeded, false, 0, time.Hour),
		pod("evicted", corev1.PodFailed, false, 0, time.Minute),
		pod("flapping", corev1.PodRunning, true, 3, time.Hour),
		pod("crashloop-old", corev1.PodRunning, false, 9, 2*time.Hour),
		pod("crashloop-new", corev1.PodRunning, false, 9, time.Hour),
		pod("probe-failing", corev1.PodRunning, false, 0, time.Minute),
		pod("unschedulable", corev1.PodPending, false, 0, 10*time.Second),
		pod("restarted-once", corev1.PodRunning, true, 1, time.Minute),
	}
	pods[0].Status.Conditions = nil // no Ready condition yet: counted not Ready
	names := func(ps []corev1.Pod) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, " ")
	}
	want := "crashloop-new crashloop-old unschedulable probe-failing starting flapping restarted-once evicted"
	if got := names(TroubledPods(pods, -1)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := names(TroubledPods(pods, 3)); got != "crashloop-new crashloop-old unschedulable" {
		t.Fatalf("bound 3: %s", got)
	}
	pods[0].Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if got := names(TroubledPods(pods[:2], 50)); got != "" {
		t.Fatalf("a Ready pod without restarts and a finished Job pod are not in trouble: %s", got)
	}
	if pods[2].Name != "evicted" {
		t.Fatal("the caller's slice was reordered")
	}
}
