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

// A rollback that opens an Incident (rollback.openIncident) lets the Incident read the
// failing revision's pods before the stable templates replace them, waiting at most
// release.EvidenceWait. The specs play the Deployment controller and the kubelet (the
// pods stay until a spec deletes them); the Incident controller is the manager's, its
// pods/log the suite's canned logs (envtest has no kubelet).

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/release"
)

const evidenceRelease = `
version: "1.0.0"
image: saas:1.0.0
rollback:
  openIncident: P2
  incidentNotify: [{name: oncall, type: PagerDuty, secretRef: {name: pagerduty, key: routing-key}, url: "http://127.0.0.1:9/v2/enqueue"}]
components:
- {name: web, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 2s, failureThreshold: 2, progressDeadline: 1m}
`

// failingRevision deploys 1.0.0, then 1.1.0 whose pods (one restarted twice) answer
// 503, and returns both revisions. create runs once 1.1.0's revision is known, before
// it fails.
func failingRevision(ctx context.Context, ns string, create func(rel *opsv1alpha1.Release, rev2 string)) (*opsv1alpha1.Release, string, string) {
	GinkgoHelper()
	health := healthServer(ns)
	rel := createRelease(ctx, ns, evidenceRelease)
	rev1 := revisionOf(rel)
	rollOutRevision(ctx, ns, "saas-web", rev1, 0)
	Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))
	updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
	rev2 := revisionOf(getRelease(ctx, rel))
	if create != nil {
		create(rel, rev2)
	}
	health.Store(http.StatusServiceUnavailable)
	rollOutRevision(ctx, ns, "saas-web", rev2, 2)
	return rel, rev1, rev2
}

var _ = Describe("Release rollback evidence", func() {
	ctx := context.Background()

	It("opens the Incident before the rollback, whose evidence holds the failing revision's pods and logs read before the stable templates were written", func() {
		ns := newNamespace(ctx)
		rel, rev1, rev2 := failingRevision(ctx, ns, nil)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.0.0"))

		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: release.IncidentName(rel, rev2)}}
		got := getIncident(ctx, inc)
		Expect(got.Spec.Notify).To(HaveLen(1), "rollback.incidentNotify is the Incident's notify list")
		Expect(got.Spec.Notify[0]).To(And(HaveField("Type", opsv1alpha1.NotifierPagerDuty), HaveField("URL", "http://127.0.0.1:9/v2/enqueue")))
		Expect(got.Status.Evidence).NotTo(BeNil())
		Expect(got.Status.Evidence.PodsCapturedAt).NotTo(BeNil())

		By("the evidence was read while the Deployment still ran the failing template, its pods and their previous containers' logs included")
		bundle := evidenceBundle(ctx, inc)
		Expect(bundle).To(ContainSubstring("deployment saas-web template=" + rev2 + " "))
		Expect(bundle).To(MatchRegexp(`pod saas-web-\S+ phase=Running revision=` + rev2))
		Expect(bundle).To(MatchRegexp(`=== logs/saas-web-\S+/app \(previous\) ===\nPREVIOUS CONTAINER of saas-web-`))
		Expect(incident.HasEntry(&got.Status, "evidence/after-rollback")).To(BeFalse())

		By("the Release says so, and the rollback's record names the Incident")
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(And(HavePrefix("True"),
			ContainSubstring("Incident "+inc.Name+" read the failing pods and their logs first")))
		Expect(getRelease(ctx, rel).Status.History[0].Incident).To(HaveField("Created", true))
		Expect(eventReasons(ctx, ns, "saas")()).NotTo(ContainElement(opsv1alpha1.ReasonEvidenceIncomplete))
	})

	It("rolls back anyway once release.EvidenceWait has passed when the Incident does not read the pods, saying so in the Release and the Incident's timeline", func() {
		ns := newNamespace(ctx)
		DeferCleanup(func() { releaseClockOffset.Store(0) })
		var inc *opsv1alpha1.Incident
		rel, rev1, rev2 := failingRevision(ctx, ns, func(rel *opsv1alpha1.Release, rev2 string) {
			// An Incident of that name that captures no evidence (made beforehand, or
			// broken): the rollback must not wait for it beyond the bound.
			inc = &opsv1alpha1.Incident{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: release.IncidentName(rel, rev2), Labels: release.Labels(rel, "incident", rev2)},
				Spec: opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP2, Title: "made beforehand", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: rel.Name},
					Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: false}},
			}
			Expect(k8sClient.Create(ctx, inc)).To(Succeed())
		})
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionReconciling)).WithTimeout(30 * time.Second).Should(And(
			HavePrefix("True "+opsv1alpha1.ReasonWaitingForEvidence), ContainSubstring(inc.Name)))

		By("within the bound the failing pods stay")
		Consistently(templateRevision(ctx, ns, "saas-web")).WithTimeout(3 * time.Second).Should(Equal(rev2 + " saas:1.1.0"))
		Expect(getRelease(ctx, rel).Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseRollingBack))
		decided := getRelease(ctx, rel).Status.History[0].CompletionTime

		By("a manager restarted while the rollback waits neither opens a second Incident nor starts the bound over nor skips it")
		restartManager(nil)
		Consistently(templateRevision(ctx, ns, "saas-web")).WithTimeout(2 * time.Second).Should(Equal(rev2 + " saas:1.1.0"))
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseRollingBack))
		Expect(got.Status.History[0].CompletionTime).To(Equal(decided), "the bound counts from the recorded decision")
		Expect(incidentsOf(ctx, ns)()).To(HaveLen(1))

		By("past the bound (the reconciler's clock moves on; the annotation wakes it) the rollback is written")
		releaseClockOffset.Store(int64(release.EvidenceWait + 2*time.Second))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Annotations = map[string]string{"example.com/touch": "1"} })
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.0.0"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(And(HavePrefix("True"),
			ContainSubstring("Incident "+inc.Name+" had not read the failing pods within 1m0s"), ContainSubstring("may miss the failing pods' logs")))
		Eventually(eventReasons(ctx, ns, "saas")).Should(ContainElement(opsv1alpha1.ReasonEvidenceIncomplete))

		By("evidence read after the rollback says in the timeline that the failing pods may be missing")
		Eventually(func() error {
			got := getIncident(ctx, inc)
			got.Spec.Response.CaptureEvidence = true
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		Eventually(func() bool {
			st := getIncident(ctx, inc).Status
			return incident.HasEntry(&st, "evidence/after-rollback")
		}).WithTimeout(10 * time.Second).Should(BeTrue())
		Expect(getIncident(ctx, inc).Status.Timeline).To(ContainElement(HaveField("Message",
			ContainSubstring("Release saas rolled revision "+rev2+" back before its pods were read"))))
	})
})
