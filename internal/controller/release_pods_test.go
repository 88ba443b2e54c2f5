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
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/release"
)

// playReplicaSet plays the Deployment controller for d's pod template: its ReplicaSet
// (controlled by d, named by a hash of the template) exists, and the returned labels
// are those its pods carry, pod-template-hash included.
func playReplicaSet(ctx context.Context, d *appsv1.Deployment) map[string]string {
	GinkgoHelper()
	tpl := d.Spec.Template.DeepCopy()
	b, err := json.Marshal(tpl)
	Expect(err).NotTo(HaveOccurred())
	h := fnv.New32a()
	_, _ = h.Write(b)
	hash := fmt.Sprintf("%08x", h.Sum32())
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	tpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: tpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(ptr.Deref(d.Spec.Replicas, 1)), Selector: sel, Template: *tpl},
	}
	if err := k8sClient.Create(ctx, rs); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	return tpl.Labels
}

// runningPod plays the ReplicaSet controller and the kubelet: a running pod of d's
// current template (name "" generates one), Ready or not, with restarts.
func runningPod(ctx context.Context, d *appsv1.Deployment, name string, ready bool, restarts int32) *corev1.Pod {
	GinkgoHelper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, GenerateName: d.Name + "-", Namespace: d.Namespace, Labels: playReplicaSet(ctx, d)},
		Spec: *d.Spec.Template.Spec.DeepCopy()}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	readyStatus := map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready]
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: readyStatus}, {Type: corev1.ContainersReady, Status: readyStatus}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: release.ContainerName, Ready: ready, RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

// markAvailable plays the Deployment controller's status: every replica updated and
// available.
func markAvailable(ctx context.Context, ns, name string) {
	GinkgoHelper()
	Eventually(func() error {
		d := getDeployment(ctx, ns, name)()
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		return k8sClient.Status().Update(ctx, d)
	}).Should(Succeed())
}

var _ = Describe("Release verification", func() {
	ctx := context.Background()

	It("checks only the pods of the Deployment's current template, and a pod that is not Ready and refuses connections pauses the window instead of failing it", func() {
		ns := newNamespace(ctx)
		healthServer(ns) // the Ready pod of the current template answers 200
		var oldHits atomic.Int32
		old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			oldHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		DeferCleanup(old.Close)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		refused := l.Addr().String() // nothing listens there once closed, like gunicorn before it binds
		Expect(l.Close()).To(Succeed())

		// A first deploy with a threshold of one: any failed round fails the release.
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, replicas: 2, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 2s, failureThreshold: 1}
`)
		rev := revisionOf(rel)
		Eventually(templateRevision(ctx, ns, "saas-web")).WithTimeout(20 * time.Second).Should(Equal(rev + " saas:1.0.0"))
		d := getDeployment(ctx, ns, "saas-web")()
		Expect(d.Spec.Template.Spec.Containers[0].ReadinessProbe.TCPSocket).NotTo(BeNil(), "no healthPath: Ready must mean the port accepts connections")

		By("a Ready pod of the same revision label but the template before a restart answers 503; it is not checked")
		before := d.DeepCopy()
		before.Spec.Template.Annotations = map[string]string{opsv1alpha1.AnnotationRestartedAt: "2026-11-30T08:00:00Z"}
		stale := runningPod(ctx, before, "saas-web-before-restart", true, 0)
		podTargets.Store(ns+"/"+stale.Name, old.Listener.Addr().String())
		DeferCleanup(podTargets.Delete, ns+"/"+stale.Name)
		By("the only pod of the current template is not Ready and refuses connections")
		starting := runningPod(ctx, d, "saas-web-starting", false, 0)
		podTargets.Store(ns+"/"+starting.Name, refused)
		DeferCleanup(podTargets.Delete, ns+"/"+starting.Name)
		markAvailable(ctx, ns, "saas-web")

		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)).WithTimeout(20 * time.Second).Should(And(
			HavePrefix("Unknown CheckerError"), ContainSubstring("no pod of component web serves yet"), ContainSubstring(starting.Name)))
		// The window stands still: neither deployed on no evidence nor failed on a pod that starts.
		Consistently(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(3 * time.Second).Should(Equal("Verifying"))

		By("a Ready pod of the current template answers 200: the window runs and the revision is deployed")
		runningPod(ctx, d, "saas-web-ready", true, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		Expect(getRelease(ctx, rel).Status.History[0].Result).To(Equal(opsv1alpha1.RevisionSucceeded))
		Expect(oldHits.Load()).To(BeZero(), "the pod of the older template was checked")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(starting), &corev1.Pod{})).To(Succeed())
	})
})
