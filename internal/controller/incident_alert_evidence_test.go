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
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
)

// What an alert-opened Incident's evidence covers when the alert has no `release`
// label: the Release whose label the pod the alert names carries, or else the
// namespace's pods in trouble and its Warning events.
var _ = Describe("Incident opened by an alert without a release label", func() {
	var ctx context.Context
	var ns string
	var post func(labels map[string]string) *opsv1alpha1.Incident

	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		incidentClock.SetNow(time.Now())
		rcv := startAlertReceiver(ctx, ns, alertreceiver.Options{ReleaseLabel: alertreceiver.DefaultReleaseLabel})
		// post sends a firing notification of one alert with labels (and the namespace)
		// and returns the Incident it opened.
		post = func(labels map[string]string) *opsv1alpha1.Incident {
			GinkgoHelper()
			labels["namespace"] = ns
			groupKey := `{}:{alertname="` + labels["alertname"] + `", namespace="` + ns + `"}`
			body, err := json.Marshal(map[string]any{
				"version": "4", "groupKey": groupKey, "truncatedAlerts": 0, "status": "firing", "receiver": "runbook-operator",
				"groupLabels":  map[string]string{"alertname": labels["alertname"], "namespace": ns},
				"commonLabels": labels, "commonAnnotations": map[string]string{"summary": labels["alertname"] + " firing"},
				"externalURL": "http://127.0.0.1:9093",
				"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{},
					"startsAt": "2026-12-07T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": "c58563e7fe732ad8"}},
			})
			Expect(err).NotTo(HaveOccurred())
			postAlerts(rcv, body)
			return &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: alertreceiver.Name(groupKey, 1)}}
		}
	})

	// pod creates a pod with labels and sets its status as the kubelet would: Ready, or
	// not Ready after restarts (its last instance terminated).
	pod := func(name string, labels map[string]string, ready bool, restarts int32) {
		GinkgoHelper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/saas:1.2.0"}}}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		cond := corev1.ConditionTrue
		st := corev1.ContainerStatus{Name: "app", Ready: ready, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		if !ready {
			cond = corev1.ConditionFalse
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}},
			ContainerStatuses: []corev1.ContainerStatus{st}}
		Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())
	}

	It("points at the Release whose label the alert's pod carries, so that the evidence covers it", func() {
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.2.0", Image: "example.com/saas:1.2.0", Components: []opsv1alpha1.Component{{Name: "web"}}}}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		pod("saas-web-7d9f-x2x4l", map[string]string{opsv1alpha1.LabelRelease: "saas", opsv1alpha1.LabelComponent: "web"}, false, 4)
		pod("saas-web-7d9f-h8k2p", map[string]string{opsv1alpha1.LabelRelease: "saas", opsv1alpha1.LabelComponent: "web"}, true, 0)
		pod("unrelated", nil, false, 2)

		inc := post(map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "pod": "saas-web-7d9f-x2x4l", "container": "app"})
		got := getIncident(ctx, inc)
		Expect(got.Spec.ReleaseRef).NotTo(BeNil())
		Expect(got.Spec.ReleaseRef.Name).To(Equal("saas"))
		Expect(got.Spec.Description).To(ContainSubstring("releaseRef saas: the alerts' pod saas-web-7d9f-x2x4l carries the label " + opsv1alpha1.LabelRelease + "=saas"))

		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured), "20s").Should(HavePrefix("True"))
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured)()).To(And(ContainSubstring("evidence captured (2 pods, 3 log tails (1 of previous containers)"), Not(ContainSubstring("()"))))
		bundle := evidenceBundle(ctx, inc)
		Expect(bundle).To(ContainSubstring("pod saas-web-7d9f-x2x4l phase=Running"))
		Expect(bundle).To(ContainSubstring("pod saas-web-7d9f-h8k2p phase=Running"), "the Release's other pods too")
		Expect(bundle).To(ContainSubstring("PREVIOUS CONTAINER of saas-web-7d9f-x2x4l/app"))
		Expect(bundle).To(ContainSubstring("release saas: phase="))
		Expect(bundle).NotTo(ContainSubstring("unrelated"))
	})

	It("names no Release when the pod carries no Release's label, and captures the namespace's pods in trouble and Warning events", func() {
		pod("api-5c8d-abcde", map[string]string{"app": "api"}, false, 7)
		pod("api-5c8d-fghij", map[string]string{"app": "api"}, true, 0)
		pod("cache-0", map[string]string{"app": "cache"}, true, 3)
		for i, e := range []struct{ typ, obj, reason, msg string }{
			{corev1.EventTypeWarning, "api-5c8d-abcde", "BackOff", "Back-off restarting failed container app"},
			{corev1.EventTypeNormal, "api-5c8d-fghij", "Pulled", "Container image already present on machine"},
			{corev1.EventTypeWarning, "cache-0", "Unhealthy", "Readiness probe failed: connection refused"},
		} {
			at := metav1.NewTime(time.Now().Add(time.Duration(i) * time.Second))
			Expect(k8sClient.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: e.obj + ".", Namespace: ns},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: e.obj, Namespace: ns}, Type: e.typ, Reason: e.reason, Message: e.msg,
				Count: 1, FirstTimestamp: at, LastTimestamp: at})).To(Succeed())
		}

		inc := post(map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "pod": "api-5c8d-abcde", "deployment": "api"})
		got := getIncident(ctx, inc)
		Expect(got.Spec.ReleaseRef).To(BeNil())

		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured), "20s").Should(HavePrefix("True"))
		msg := condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured)()
		Expect(msg).To(ContainSubstring("evidence captured (no releaseRef: namespace " + ns + "'s 2 pods not Ready, restarting or failed, 4 log tails (2 of previous containers), 2 Warning events)"))
		Expect(msg).NotTo(ContainSubstring("()"))
		bundle := evidenceBundle(ctx, inc)
		Expect(bundle).To(ContainSubstring("pod api-5c8d-abcde phase=Running"))
		Expect(bundle).To(ContainSubstring("restarts=7 state=waiting(CrashLoopBackOff) last=terminated(Error, exit 1)"))
		Expect(bundle).To(ContainSubstring("pod cache-0 phase=Running"), "Ready, but restarting")
		Expect(bundle).NotTo(ContainSubstring("pod api-5c8d-fghij"), "healthy")
		Expect(bundle).To(ContainSubstring("PREVIOUS CONTAINER of api-5c8d-abcde/app"))
		Expect(bundle).To(ContainSubstring("Pod/api-5c8d-abcde BackOff (x1): Back-off restarting failed container app"))
		Expect(bundle).To(ContainSubstring("Pod/cache-0 Unhealthy (x1): Readiness probe failed"))
		Expect(bundle).NotTo(ContainSubstring("Container image already present"), "Normal events are left out")
		Expect(bundle).NotTo(ContainSubstring("hunter2"), "redacted as ever")
		Expect(strings.Count(bundle, "=== logs/")).To(Equal(4))
	})
})
