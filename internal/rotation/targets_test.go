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

package rotation

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

const ann = "ops.runbook.dev/secret.saas-app"

func pod(name, version string, started time.Duration, ready bool, mut ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{ann: version}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{Time: t0.Add(-started)},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready]}}},
	}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func unhealthy(podName, msg string, at time.Duration) corev1.Event {
	return corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: podName}, Reason: "Unhealthy", Message: msg,
		LastTimestamp: metav1.Time{Time: t0.Add(-at)}}
}

func TestStalledPodsNamesThePodsAndTheProbesAnswer(t *testing.T) {
	probe503 := "Readiness probe failed: HTTP probe failed with statuscode: 503"
	for _, tc := range []struct {
		what   string
		pods   []corev1.Pod
		events []corev1.Event
		want   []string // substrings; none: ""
	}{
		{"every new pod Ready", []corev1.Pod{pod("web-1", "v2", 5*time.Minute, true)}, nil, nil},
		{"a new pod not Ready for less than a minute", []corev1.Pod{pod("web-1", "v2", 59*time.Second, false)}, nil, nil},
		{"an old pod not Ready is not the rotation's", []corev1.Pod{pod("web-0", "v1", 10*time.Minute, false)}, nil, nil},
		{"a pod being deleted", []corev1.Pod{pod("web-1", "v2", 10*time.Minute, false, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} })}, nil, nil},
		{"a pod not running yet (pulling, scheduling)", []corev1.Pod{pod("web-1", "v2", 10*time.Minute, false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending })}, nil, nil},
		{"a new pod whose probe answers 503: the newest answer", []corev1.Pod{pod("web-1", "v2", 90*time.Second, false)},
			[]corev1.Event{unhealthy("web-1", "Readiness probe failed: Get http://x: connection refused", 80*time.Second), unhealthy("web-1", probe503, 5*time.Second), unhealthy("web-9", "Readiness probe failed: other pod", time.Second)},
			[]string{"1 new pod(s) run but are not Ready: web-1 (for 1m30s): " + probe503}},
		{"no probe event: says so", []corev1.Pod{pod("web-1", "v2", 2*time.Minute, false)}, nil,
			[]string{"web-1 (for 2m0s): its readiness probe has not passed (no probe failure reported)"}},
		{"a crash-looping container: its exit code and last line", []corev1.Pod{pod("web-1", "v2", 2*time.Minute, false, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "Traceback\nImproperlyConfigured: FIELD_ENCRYPTION_KEY holds a key that is not a Fernet key"}}}}
		})}, nil, []string{"container app is waiting (CrashLoopBackOff), last exit code 1: ImproperlyConfigured: FIELD_ENCRYPTION_KEY holds a key that is not a Fernet key"}},
		{"many pods: three named, the rest counted", []corev1.Pod{pod("a", "v2", 2*time.Minute, false), pod("b", "v2", 2*time.Minute, false), pod("c", "v2", 2*time.Minute, false), pod("d", "v2", 2*time.Minute, false)}, nil,
			[]string{"4 new pod(s)", "a (for", "c (for", "and 1 more"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			got := StalledPods(tc.pods, tc.events, ann, "v2", t0, time.Minute)
			if len(tc.want) == 0 {
				if got != "" {
					t.Fatalf("want no stall, got %q", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("got %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

func TestRolloutStateAsKubectlDecides(t *testing.T) {
	dep := func(gen, observed int64, replicas, updated, available int32, cond ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated, AvailableReplicas: available, Conditions: cond}}
	}
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}
	for _, tc := range []struct {
		what string
		dep  *appsv1.Deployment
		want opsv1alpha1.TargetRestartState
	}{
		{"every replica updated and available", dep(2, 2, 2, 2, 2), opsv1alpha1.TargetRolledOut},
		{"the controller has not seen the new template", dep(3, 2, 2, 2, 2), opsv1alpha1.TargetRollingOut},
		{"an old pod still running", dep(2, 2, 3, 2, 2), opsv1alpha1.TargetRollingOut},
		{"a new pod not available", dep(2, 2, 2, 2, 1), opsv1alpha1.TargetRollingOut},
		{"progress deadline exceeded", dep(2, 2, 3, 1, 2, deadline), opsv1alpha1.TargetFailed},
	} {
		if got := RolloutState(tc.dep); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.what, got, tc.want)
		}
	}
}

func TestPhaseSummaryNamesTheStep(t *testing.T) {
	im := opsv1alpha1.RotationImmediate
	for _, tc := range []struct {
		rec  Record
		want string
	}{
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: im, DecryptOnly: []string{"F"}}, "step 1 of 3 (Replacing): the new values are current and sessions and tokens signed with the old values are invalid; the old values of F decrypt only"},
		{Record{Phase: opsv1alpha1.RotationPhaseReencrypting, Mode: im, DecryptOnly: []string{"F"}}, "step 2 of 3 (Reencrypting)"},
		{Record{Phase: opsv1alpha1.RotationPhaseDropping, Mode: im, DecryptOnly: []string{"F"}}, "step 3 of 3 (Dropping): the data is re-encrypted; the old values of F are dropped"},
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: im}, "every previous value is dropped"},
		{Record{Phase: opsv1alpha1.RotationPhasePublishing}, "Phase 1 of 2"},
		{Record{Phase: opsv1alpha1.RotationPhasePromoting}, "Phase 2 of 2"},
	} {
		if got := PhaseSummary(tc.rec); !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got %q, want %q in it", tc.rec.Mode, tc.rec.Phase, got, tc.want)
		}
	}
}

func TestReencryptJobCopiesTheAppsPodTemplate(t *testing.T) {
	sr := &opsv1alpha1.SecretRotation{ObjectMeta: metav1.ObjectMeta{Name: "saas-keys", Namespace: "shop"}, Spec: *spec(func(s *opsv1alpha1.SecretRotationSpec) {
		s.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"python", "manage.py", "reencrypt"}, Timeout: opsv1alpha1.DurationOf(10 * time.Minute)}
	})}
	app := corev1.Container{Name: "app", Image: "saas:1.1.0", Command: []string{"gunicorn"}, Env: []corev1.EnvVar{{Name: "PGHOST", Value: "db"}},
		EnvFrom:        []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "saas-app"}}}},
		ReadinessProbe: &corev1.Probe{}, Ports: []corev1.ContainerPort{{ContainerPort: 8000}}, VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/saas"}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "saas-web"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		ServiceAccountName: "saas", Containers: []corev1.Container{{Name: "proxy", Image: "nginx"}, app},
		Volumes: []corev1.Volume{{Name: "cfg"}},
	}}}}
	if _, err := ReencryptJob(sr, dep, "0123456789abcdef"); err != nil {
		t.Fatalf("the first container is the default: %v", err)
	}
	sr.Spec.Reencrypt.Container = "worker"
	if _, err := ReencryptJob(sr, dep, "0123456789abcdef"); err == nil || !strings.Contains(err.Error(), "container worker of Deployment saas-web, which has no such container") {
		t.Fatalf("a missing container: got %v", err)
	}
	sr.Spec.Reencrypt.Container = "app"
	job, err := ReencryptJob(sr, dep, "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "saas-keys-reencrypt-0123456789abcdef" || job.Namespace != "shop" {
		t.Fatalf("name %s/%s", job.Namespace, job.Name)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "saas:1.1.0" || c.ReadinessProbe != nil || len(c.Ports) != 0 || c.EnvFrom[0].SecretRef.Name != "saas-app" || c.Env[0].Name != "PGHOST" || c.VolumeMounts[0].Name != "cfg" {
		t.Fatalf("container %+v", c)
	}
	if got := strings.Join(c.Command, " "); !strings.HasSuffix(got, `-- python manage.py reencrypt`) || c.Command[0] != "/bin/sh" {
		t.Fatalf("command %q", got)
	}
	if *job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != 600 || job.Spec.Template.Spec.ServiceAccountName != "saas" || len(job.Spec.Template.Spec.Volumes) != 1 {
		t.Fatalf("job spec %+v", job.Spec)
	}
	if job.Spec.Template.Annotations[opsv1alpha1.SecretVersionAnnotation("saas-app")] != "0123456789abcdef" {
		t.Fatal("the pod does not say which Secret version it runs with")
	}
	if n := ReencryptJobName(strings.Repeat("a", 60), "0123456789abcdef"); len(n) > 63 || !strings.HasSuffix(n, "-reencrypt-0123456789abcdef") {
		t.Fatalf("long name %q", n)
	}
}
