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
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// historyOf reads status.history as "revision result retry" lines, newest first.
func historyOf(ctx context.Context, rel *opsv1alpha1.Release) func() []string {
	return func() []string {
		var out []string
		for _, h := range getRelease(ctx, rel).Status.History {
			out = append(out, strings.TrimSpace(h.Revision+" "+string(h.Result)+" "+h.Retry))
		}
		return out
	}
}

var _ = Describe("Release history", func() {
	ctx := context.Background()

	It("reads as what happened: a GitOps revert to the stable revision comes first, a revert during a rollout supersedes it and puts every component back, and the retry annotation is recorded only on the entry it ran again", func() {
		ns := newNamespace(ctx)
		health := healthServer(ns)
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: ns,
			Annotations: map[string]string{opsv1alpha1.AnnotationRetry: "a"}}}
		Expect(yaml.Unmarshal([]byte(`
version: "1.0.0"
image: saas:1.0.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 1s, failureThreshold: 1}
`), &rel.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		rev1 := revisionOf(rel)
		rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		for _, l := range strings.Split(managerLog.String(), "\n") {
			Expect(strings.Contains(l, "Reconciler error") && strings.Contains(l, ns) && strings.Contains(l, "not found")).To(BeFalse(),
				"the first rollout read a Deployment it had just created from the cache: %s", l)
		}

		By("1.1.0 fails its checks and is rolled back")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		health.Store(http.StatusServiceUnavailable)
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		Expect(historyOf(ctx, rel)()).To(Equal([]string{rev2 + " RolledBack", rev1 + " Succeeded"}),
			"the annotation's value, set before either revision, is no retry of them")

		By("the spec goes back to 1.0.0 (a GitOps revert): history says so, newest first")
		health.Store(http.StatusOK)
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.0.0", "saas:1.0.0" })
		Eventually(historyOf(ctx, rel)).WithTimeout(20 * time.Second).Should(Equal([]string{rev1 + " Succeeded", rev2 + " RolledBack"}))
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseDeployed))
		Expect(got.Status.History[0].Message).To(And(HavePrefix("Reverted to revision "+rev1+" (1.0.0)"), ContainSubstring(rev2+" (1.1.0) ended RolledBack")))

		By("the annotation runs 1.1.0 again: only that entry records it")
		health.Store(http.StatusServiceUnavailable)
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
			r.Annotations[opsv1alpha1.AnnotationRetry] = "b"
		})
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		Expect(historyOf(ctx, rel)()).To(Equal([]string{rev2 + " RolledBack b", rev1 + " Succeeded"}))

		By("1.2.0 starts rolling out, and the spec goes back to 1.0.0 before it finished")
		health.Store(http.StatusOK)
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.2.0", "saas:1.2.0" })
		rev3 := revisionOf(getRelease(ctx, rel))
		rollOutRevision(ctx, ns, "saas-worker", rev3, 0)
		Eventually(templateRevision(ctx, ns, "saas-web")).WithTimeout(20 * time.Second).Should(Equal(rev3 + " saas:1.2.0"))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.0.0", "saas:1.0.0" })
		Eventually(historyOf(ctx, rel)).WithTimeout(20 * time.Second).Should(Equal([]string{rev1 + " Succeeded", rev3 + " Superseded", rev2 + " RolledBack b"}))
		for _, c := range []string{"saas-worker", "saas-web"} {
			Eventually(templateRevision(ctx, ns, c)).WithTimeout(20 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))
		}
		got = getRelease(ctx, rel)
		Expect(got.Status.Progress).To(BeNil())
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseDeployed))
		Expect(got.Status.History[0].Message).To(ContainSubstring(rev3 + " (1.2.0) was in progress"))
	})
})
