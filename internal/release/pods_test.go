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
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"runbook-operator/internal/healthcheck"
)

func TestPodVerdictIgnoresOnlyARefusalOfAPodThatIsNotReady(t *testing.T) {
	ready := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	notReady := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}}
	noConditions := &corev1.Pod{}
	ok := healthcheck.Result{Healthy: true, Detail: "200 OK"}
	bad := healthcheck.Result{Detail: "503 Service Unavailable"}
	refused := healthcheck.Result{Refused: true, Detail: "connection refused"}
	timeout := healthcheck.Result{Err: errors.New("context deadline exceeded")}
	cases := []struct {
		name string
		pod  *corev1.Pod
		res  healthcheck.Result
		want Verdict
	}{
		{"a Ready pod answering 2xx is healthy", ready, ok, VerdictHealthy},
		{"a Ready pod answering 503 is unhealthy", ready, bad, VerdictUnhealthy},
		{"a Ready pod refusing the connection is unhealthy: it told the kubelet it serves", ready, refused, VerdictUnhealthy},
		{"a pod not Ready yet that refuses is starting, not failing", notReady, refused, VerdictStarting},
		{"a pod with no Ready condition yet that refuses is starting", noConditions, refused, VerdictStarting},
		{"a pod not Ready that answers 503 is unhealthy (it went unready, it did not just start)", notReady, bad, VerdictUnhealthy},
		{"a pod not Ready that answers 2xx is healthy", notReady, ok, VerdictHealthy},
		{"a check that could not be made is uncheckable, Ready or not", ready, timeout, VerdictUncheckable},
		{"a check that could not be made of a pod not Ready is uncheckable", notReady, timeout, VerdictUncheckable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PodVerdict(c.pod, c.res); got != c.want {
				t.Fatalf("PodVerdict = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCurrentReplicaSetIsTheOneWithTheDeploymentsTemplate(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "saas-web", UID: types.UID("d1")}}
	d.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"ops.runbook.dev/revision": "r1"},
			Annotations: map[string]string{"ops.runbook.dev/restartedAt": "2026-12-01T10:00:00Z"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "saas:1.0.0"}}},
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	rs := func(name, hash string, created time.Time, owner *appsv1.Deployment, mutate func(*corev1.PodTemplateSpec)) appsv1.ReplicaSet {
		tpl := d.Spec.Template.DeepCopy()
		tpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		if mutate != nil {
			mutate(tpl)
		}
		r := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}}}
		r.Spec.Template = *tpl
		if owner != nil {
			r.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
		}
		return r
	}
	beforeRestart := func(t *corev1.PodTemplateSpec) { delete(t.Annotations, "ops.runbook.dev/restartedAt") }
	otherDeployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other", UID: types.UID("d2")}}
	cases := []struct {
		name string
		rss  []appsv1.ReplicaSet
		want string
	}{
		{"none yet: the Deployment controller has not made it", nil, ""},
		{"the same revision label before a restartedAt is an older template",
			[]appsv1.ReplicaSet{rs("old", "aaa", t0, d, beforeRestart)}, ""},
		{"the ReplicaSet with the template, beside the one before the restart",
			[]appsv1.ReplicaSet{rs("old", "aaa", t0, d, beforeRestart), rs("new", "bbb", t0.Add(time.Minute), d, nil)}, "new"},
		{"an older image is an older template",
			[]appsv1.ReplicaSet{rs("img", "ccc", t0, d, func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "saas:0.9.0" })}, ""},
		{"not controlled by the Deployment", []appsv1.ReplicaSet{rs("foreign", "ddd", t0, otherDeployment, nil)}, ""},
		{"two matching: the oldest, as the Deployment controller picks",
			[]appsv1.ReplicaSet{rs("second", "fff", t0.Add(time.Minute), d, nil), rs("first", "eee", t0, d, nil)}, "first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			if r := CurrentReplicaSet(d, c.rss); r != nil {
				got = r.Name
			}
			if got != c.want {
				t.Fatalf("CurrentReplicaSet = %q, want %q", got, c.want)
			}
		})
	}
}

func TestNextCheckCountsFromTheExactTimeOfTheSameRound(t *testing.T) {
	exact := time.Date(2026, 12, 1, 10, 0, 0, 900_000_000, time.UTC) // 10:00:00.9
	recorded := metav1.NewTime(exact.Truncate(time.Second))          // as status keeps it
	cases := []struct {
		name     string
		recorded *metav1.Time
		exact    time.Time
		want     time.Time
	}{
		{"no round yet: due now", nil, time.Time{}, time.Time{}},
		{"the round this manager made: interval after its exact time, not 0.9s early", &recorded, exact, exact.Add(time.Second)},
		{"after a restart only status is known", &recorded, time.Time{}, recorded.Add(time.Second)},
		{"a remembered time of another round (status not written) is not used", &recorded, exact.Add(5 * time.Second), recorded.Add(time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NextCheck(c.recorded, c.exact, time.Second); !got.Equal(c.want) {
				t.Fatalf("NextCheck = %v, want %v", got, c.want)
			}
		})
	}
}

func TestWindowStartNeverShortensTheWindow(t *testing.T) {
	whole := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"a whole second stays", whole, whole},
		{"just after a second: the next one", whole.Add(time.Millisecond), whole.Add(time.Second)},
		{"just before the next second: that one", whole.Add(999 * time.Millisecond), whole.Add(time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := WindowStart(c.now)
			if !got.Equal(&metav1.Time{Time: c.want}) {
				t.Fatalf("WindowStart(%v) = %v, want %v", c.now, got, c.want)
			}
			// What status keeps (whole seconds) is what the window counts from.
			raw, _ := got.MarshalJSON()
			var back metav1.Time
			if err := back.UnmarshalJSON(raw); err != nil || !back.Equal(&got) || back.Before(&metav1.Time{Time: c.now}) {
				t.Fatalf("stored as %s: %v (err %v), before %v", raw, back, err, c.now)
			}
		})
	}
}

func TestRunningNotReadyIsWhatARolloutChecks(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, ready corev1.ConditionStatus, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
		if ready != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}
		}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		return p
	}
	pods := []corev1.Pod{
		pod("running-unready", corev1.PodRunning, corev1.ConditionFalse, false),
		pod("running-no-condition", corev1.PodRunning, "", false),
		pod("ready", corev1.PodRunning, corev1.ConditionTrue, false),
		pod("pending", corev1.PodPending, corev1.ConditionFalse, false),
		pod("deleting", corev1.PodRunning, corev1.ConditionFalse, true),
		pod("failed", corev1.PodFailed, corev1.ConditionFalse, false),
	}
	var got []string
	for _, p := range RunningNotReady(pods) {
		got = append(got, p.Name)
	}
	if len(got) != 2 || got[0] != "running-unready" || got[1] != "running-no-condition" {
		t.Fatalf("RunningNotReady = %v", got)
	}
}
