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

// spec.canary: N pods of the new revision beside the stable ones, checked for a
// window before any component is rolled out; a failure removes only them. The specs
// play the Deployment controller and the kubelet (envtest runs neither, nor the
// garbage collector: a deleted Deployment's pods stay, so the specs look at the
// Deployments and at the stable pods' UIDs).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/promcheck/promtest"
	"runbook-operator/internal/release"
)

const canaryRelease = `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, replicas: 3, ports: [{name: http, containerPort: 8000}], service: {port: 80}}
verify: {path: /health, interval: 1s, window: 1s, failureThreshold: 2, progressDeadline: 1m}
canary: {component: web, window: 3s}
`

// deployStable deploys the release's first revision (no canary: no stable pods to
// protect) and returns its revision and the stable web pod.
func deployStable(ctx context.Context, ns, spec string) (*opsv1alpha1.Release, string, *corev1.Pod) {
	GinkgoHelper()
	rel := createRelease(ctx, ns, spec)
	rev1 := revisionOf(rel)
	rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
	Eventually(templateRevision(ctx, ns, "saas-web")).WithTimeout(20 * time.Second).Should(HavePrefix(rev1))
	web := runningPod(ctx, getDeployment(ctx, ns, "saas-web")(), "", true, 0)
	markAvailable(ctx, ns, "saas-web")
	Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))
	Expect(getDeployment(ctx, ns, "saas-web-canary")()).To(BeNil(), "a first deploy has no stable pods to protect: no canary")
	return rel, rev1, web
}

// canaryDeployment waits for the canary Deployment to run revision.
func canaryDeployment(ctx context.Context, ns, revision string) *appsv1.Deployment {
	GinkgoHelper()
	Eventually(templateRevision(ctx, ns, "saas-web-canary")).WithTimeout(20 * time.Second).Should(HavePrefix(revision + " "))
	return getDeployment(ctx, ns, "saas-web-canary")()
}

// stableUntouched checks that the stable Deployments are as they were (generation,
// template revision) and the stable web pod still exists with its UID.
func stableUntouched(ctx context.Context, ns, rev1 string, gens map[string]int64, web *corev1.Pod) {
	GinkgoHelper()
	for name, gen := range gens {
		d := getDeployment(ctx, ns, name)()
		Expect(d.Generation).To(Equal(gen), "Deployment %s was written", name)
		Expect(d.Spec.Template.Labels[opsv1alpha1.LabelRevision]).To(Equal(rev1))
	}
	pod := &corev1.Pod{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(web), pod)).To(Succeed())
	Expect(pod.UID).To(Equal(web.UID))
}

func generations(ctx context.Context, ns string, names ...string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range names {
		out[n] = getDeployment(ctx, ns, n)().Generation
	}
	return out
}

var _ = Describe("Release canary", func() {
	ctx := context.Background()

	It("runs the canary's pods beside the untouched stable pods for the window, records its start, then removes it and rolls out every component", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel, rev1, web := deployStable(ctx, ns, canaryRelease)
		gens := generations(ctx, ns, "saas-worker", "saas-web")

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		d := canaryDeployment(ctx, ns, rev2)
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
		Expect(d.Spec.Template.Labels).To(And(HaveKeyWithValue(opsv1alpha1.LabelComponent, "web"), HaveKeyWithValue(opsv1alpha1.LabelCanary, "true")),
			"the canary's pods carry the Service's selector labels")
		Expect(d.OwnerReferences).To(ContainElement(HaveField("Name", "saas")))
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseCanary))
		Expect(got.Status.Progress.Canary).To(HaveField("Deployment", "saas-web-canary"))
		Expect(got.Status.Progress.Canary.WindowStartTime).To(BeNil(), "the window starts once every canary pod is available")
		stableUntouched(ctx, ns, rev1, gens, web)

		By("once the canary's pod is available the window's start is recorded, and the message counts its pods")
		runningPod(ctx, d, "", true, 0)
		markAvailable(ctx, ns, "saas-web-canary")
		Eventually(func() *metav1.Time { return releaseProgress(ctx, rel)().Canary.WindowStartTime }).ShouldNot(BeNil())
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionReconciling)).Should(ContainSubstring("canary 1 of 4 pods of component web (1 new beside 3 stable) healthy for"))
		Expect(argoHealth(ctx, rel)).To(HavePrefix("Progressing: Canary"))
		stableUntouched(ctx, ns, rev1, gens, web)

		By("after the window the canary passes and is removed, then every component rolls out and verifies")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionCanaryVerified)).WithTimeout(10 * time.Second).Should(And(
			HavePrefix("True "+opsv1alpha1.ReasonCanaryPassed), MatchRegexp(`healthy for [3-9]s of 3s`)))
		Eventually(getDeployment(ctx, ns, "saas-web-canary")).Should(BeNil())
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev2))
		Expect(eventReasons(ctx, ns, "saas")()).To(ContainElements(opsv1alpha1.ReasonCanaryRunning, opsv1alpha1.ReasonCanaryPassed))
	})

	It("removes only the canary when its pods fail, with the stable pods never changed, an Incident whose evidence holds the canary's pods, and the revision pinned", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status": "error"}`))
		}))
		DeferCleanup(bad.Close)
		spec := canaryRelease + "rollback: {openIncident: P2, automatic: false}\n"
		rel, rev1, web := deployStable(ctx, ns, spec)
		gens := generations(ctx, ns, "saas-worker", "saas-web")

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.2.0", "saas:1.2.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		d := canaryDeployment(ctx, ns, rev2)
		By("the canary's pod runs, is not Ready and answers 503 (its health path is its readiness probe)")
		pod := runningPod(ctx, d, "", false, 0)
		podTargets.Store(ns+"/"+pod.Name, bad.Listener.Addr().String())

		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		got := getRelease(ctx, rel)
		Expect(got.Status.History[0]).To(And(HaveField("Revision", rev2), HaveField("Result", opsv1alpha1.RevisionRolledBack)))
		Expect(got.Status.History[0].Message).To(And(
			ContainSubstring("the canary of component web failed: 2 consecutive health checks of its pods failed while they started"),
			ContainSubstring("pod "+pod.Name+": "), ContainSubstring("503"),
			ContainSubstring("only the 1 canary pod (Deployment saas-web-canary) is removed; the 3 stable pods of component web never changed")))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionCanaryVerified)()).To(HavePrefix("False " + opsv1alpha1.ReasonHealthCheckFailed))
		Expect(getDeployment(ctx, ns, "saas-web-canary")()).To(BeNil())
		stableUntouched(ctx, ns, rev1, gens, web)

		By("the Incident read the canary's pods before the canary was removed")
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: release.IncidentName(rel, rev2)}}
		Expect(getIncident(ctx, inc).Status.Evidence).NotTo(BeNil())
		bundle := evidenceBundle(ctx, inc)
		Expect(bundle).To(ContainSubstring("deployment saas-web-canary template=" + rev2 + " "))
		Expect(bundle).To(MatchRegexp(`pod saas-web-canary-\S+ phase=Running revision=` + rev2))
		Expect(eventReasons(ctx, ns, "saas")()).To(ContainElement(opsv1alpha1.ReasonCanaryFailed))

		By("the revision is pinned: no second canary")
		Consistently(getDeployment(ctx, ns, "saas-web-canary")).WithTimeout(2 * time.Second).Should(BeNil())
	})

	It("fails the canary when a Ready canary pod answers 503 during the window", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel, rev1, web := deployStable(ctx, ns, canaryRelease)
		gens := generations(ctx, ns, "saas-worker", "saas-web")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.2.0", "saas:1.2.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		d := canaryDeployment(ctx, ns, rev2)
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
		DeferCleanup(bad.Close)
		pod := runningPod(ctx, d, "", true, 0)
		podTargets.Store(ns+"/"+pod.Name, bad.Listener.Addr().String())
		markAvailable(ctx, ns, "saas-web-canary")
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		Expect(getRelease(ctx, rel).Status.History[0].Message).To(ContainSubstring("2 consecutive checks of its pods failed (verify.failureThreshold): pod " + pod.Name))
		Expect(getDeployment(ctx, ns, "saas-web-canary")()).To(BeNil())
		stableUntouched(ctx, ns, rev1, gens, web)
	})

	It("resumes the canary window from the recorded start after a manager restart", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel, _, _ := deployStable(ctx, ns, canaryRelease)
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
			r.Spec.Canary.Window = &opsv1alpha1.Duration{Duration: 6 * time.Second}
		})
		rev2 := revisionOf(getRelease(ctx, rel))
		d := canaryDeployment(ctx, ns, rev2)
		uid := d.UID
		runningPod(ctx, d, "", true, 0)
		markAvailable(ctx, ns, "saas-web-canary")
		var start *metav1.Time
		Eventually(func() *metav1.Time { start = releaseProgress(ctx, rel)().Canary.WindowStartTime; return start }).ShouldNot(BeNil())

		By("the manager stops in the window and starts again")
		restartManager(func() { time.Sleep(time.Second) })
		Consistently(func() *metav1.Time { return releaseProgress(ctx, rel)().Canary.WindowStartTime }).WithTimeout(2 * time.Second).Should(Equal(start))
		Expect(getDeployment(ctx, ns, "saas-web-canary")().UID).To(Equal(uid), "the same canary Deployment")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionCanaryVerified)).WithTimeout(10 * time.Second).Should(HavePrefix("True"))
		Expect(releaseProgress(ctx, rel)().Canary.WindowStartTime).To(Equal(start))
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev2))
	})

	It("removes a running canary while an Incident's takeOffline holds the workloads, and starts it over with a new window once the hold ends", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel, rev1, web := deployStable(ctx, ns, canaryRelease)
		gens := generations(ctx, ns, "saas-worker", "saas-web")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		d := canaryDeployment(ctx, ns, rev2)
		runningPod(ctx, d, "", true, 0)
		markAvailable(ctx, ns, "saas-web-canary")
		Eventually(func() *metav1.Time { return releaseProgress(ctx, rel)().Canary.WindowStartTime }).ShouldNot(BeNil())

		By("the hold removes the canary, whose pods the hold does not scale")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Annotations = map[string]string{opsv1alpha1.AnnotationQuiescedBy: "Incident/outage"}
		})
		Eventually(getDeployment(ctx, ns, "saas-web-canary")).Should(BeNil())
		Eventually(func() *opsv1alpha1.CanaryProgress { return releaseProgress(ctx, rel)().Canary }).Should(And(HaveField("StartTime", BeNil()), HaveField("WindowStartTime", BeNil())))
		Consistently(getDeployment(ctx, ns, "saas-web-canary")).WithTimeout(2 * time.Second).Should(BeNil())

		// The garbage collector (not in envtest) deletes the old canary's ReplicaSet.
		Expect(k8sClient.DeleteAllOf(ctx, &appsv1.ReplicaSet{}, client.InNamespace(ns), client.MatchingLabels{opsv1alpha1.LabelCanary: "true"})).To(Succeed())

		By("once the hold ends the canary starts over")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { delete(r.Annotations, opsv1alpha1.AnnotationQuiescedBy) })
		d2 := canaryDeployment(ctx, ns, rev2)
		Expect(d2.UID).NotTo(Equal(d.UID))
		runningPod(ctx, d2, "", true, 0)
		markAvailable(ctx, ns, "saas-web-canary")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionCanaryVerified)).WithTimeout(10 * time.Second).Should(HavePrefix("True"))
		stableUntouched(ctx, ns, rev1, gens, web)
	})

	It("fails the canary on a verify.prometheus query over the canary's pods, naming the query, with the stable pods untouched", func() {
		app, target := newAppMetrics()
		prom := promtest.Start(GinkgoT(), promtest.Options{Targets: []string{target}, Log: GinkgoWriter})
		ns := newNamespace(ctx)
		spec := func(version string) string {
			return fmt.Sprintf(`
version: %q
image: saas:%s
components: [{name: web, replicas: 2, ports: [{name: http, containerPort: 8000}]}]
verify:
  interval: 1s
  window: 2s
  failureThreshold: 2
  progressDeadline: 1m
  prometheus:
    address: %s
    queries:
    - name: error-rate
      query: 'sum(rate(app_http_requests_total{revision="{{revision}}",code=~"5.."}[3s])) / sum(rate(app_http_requests_total{revision="{{revision}}"}[3s]))'
      condition: {op: LessThan, value: "0.05"}
canary: {component: web, window: 5s}
`, version, version, prom.URL)
		}
		rel := createRelease(ctx, ns, spec("1.0.0"))
		rev1 := revisionOf(rel)
		app.serve(rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(30 * time.Second).Should(Equal(rev1))
		gen := getDeployment(ctx, ns, "saas-web")().Generation

		By("1.1.0's canary answers 30% 500s")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			var s opsv1alpha1.ReleaseSpec
			Expect(yamlInto(spec("1.1.0"), &s)).To(Succeed())
			r.Spec = s
		})
		rev2 := revisionOf(getRelease(ctx, rel))
		app.serve(rev2, 0.3)
		d := canaryDeployment(ctx, ns, rev2)
		runningPod(ctx, d, "", true, 0)
		markAvailable(ctx, ns, "saas-web-canary")
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		got := getRelease(ctx, rel)
		Expect(got.Status.History[0].Message).To(And(ContainSubstring("the canary of component web failed: 2 consecutive checks of its pods failed (verify.failureThreshold): query error-rate"),
			ContainSubstring(`revision="`+rev2+`"`), ContainSubstring("only the 1 canary pod ")))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionCanaryVerified)()).To(HavePrefix("False " + opsv1alpha1.ReasonQueryFailed))
		Expect(got.Status.Measurements[0]).To(And(HaveField("Revision", rev2), HaveField("Verdict", opsv1alpha1.QueryFail)))
		Expect(getDeployment(ctx, ns, "saas-web")().Generation).To(Equal(gen))
		Expect(getDeployment(ctx, ns, "saas-web-canary")()).To(BeNil())
	})
})
