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

// A component dropped from spec.components: it keeps running the stable revision
// until the revision without it is deployed (so a rollback finds it as it was), then
// its Deployment is deleted. As elsewhere, the spec plays the Deployment controller.

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var _ = Describe("Release component removed from the spec", func() {
	ctx := context.Background()

	It("keeps it on the stable revision during the rollout and deletes it once the revision without it is deployed", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}]}
- {name: beat, command: [celery, -A, saas, beat], strategy: Recreate}
`)
		rev1 := revisionOf(rel)
		for _, c := range []string{"saas-worker", "saas-web", "saas-beat"} {
			rollOutRevision(ctx, ns, c, rev1, 0)
		}
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
			r.Spec.Components = r.Spec.Components[:2]
		})
		rev2 := revisionOf(getRelease(ctx, rel))
		Expect(rev2).NotTo(Equal(rev1))
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)

		By("while the revision rolls out, beat still runs the stable revision")
		Consistently(templateRevision(ctx, ns, "saas-beat")).WithTimeout(2 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))

		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		Eventually(getDeployment(ctx, ns, "saas-beat")).WithTimeout(10 * time.Second).Should(BeNil())
		Expect(getDeployment(ctx, ns, "saas-web")()).NotTo(BeNil())
		Expect(getDeployment(ctx, ns, "saas-worker")()).NotTo(BeNil())
		Eventually(eventNotes(ctx, ns, rel.Name)).Should(ContainElement(ContainSubstring("Deployment saas-beat: component beat is no longer in spec.components")))
	})
})
