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
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var _ = Describe("Release rollout checks", func() {
	ctx := context.Background()

	It("rolls back a revision whose new pods answer errors and so never become Ready, after failureThreshold rounds and long before progressDeadline, naming the pod, the status and the body, while a pod refusing connections counts for nothing", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		// What the demo app's health path answers when the schema lags the code.
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status": "error", "checks": {"schema": "ProgrammingError: column \"renewal_reminder_sent\" does not exist"}}` + "\n"))
		}))
		DeferCleanup(broken.Close)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		refused := l.Addr().String()
		Expect(l.Close()).To(Succeed())

		rel := createRelease(ctx, ns, `
version: "1.1.0"
image: saas:1.1.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, healthPath: /health, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 1s, failureThreshold: 2, progressDeadline: 1h}
`)
		rev1 := revisionOf(rel)
		rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.2.0", "saas:1.2.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		Eventually(templateRevision(ctx, ns, "saas-web")).WithTimeout(20 * time.Second).Should(Equal(rev2 + " saas:1.2.0"))
		d := getDeployment(ctx, ns, "saas-web")()

		By("a new pod that runs, is not Ready and refuses connections (gunicorn not bound yet) fails nothing")
		starting := runningPod(ctx, d, "saas-web-starting", false, 0)
		podTargets.Store(ns+"/"+starting.Name, refused)
		DeferCleanup(podTargets.Delete, ns+"/"+starting.Name)
		Consistently(func() string {
			got := getRelease(ctx, rel)
			if got.Status.Progress == nil {
				return string(got.Status.Phase)
			}
			return fmt.Sprintf("%s %d", got.Status.Phase, got.Status.Progress.FailedChecks)
		}).WithTimeout(3 * time.Second).Should(Equal("RollingOut 0"))

		By("a new pod that runs and answers 503 (its readiness probe keeps it unready) is rolled back after two rounds")
		failing := runningPod(ctx, d, "saas-web-failing", false, 0)
		podTargets.Store(ns+"/"+failing.Name, broken.Listener.Addr().String())
		DeferCleanup(podTargets.Delete, ns+"/"+failing.Name)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		for _, c := range []string{"saas-worker", "saas-web"} {
			Expect(templateRevision(ctx, ns, c)()).To(Equal(rev1 + " saas:1.1.0"))
		}
		saysWhy := And(ContainSubstring("saas-web-failing"), ContainSubstring("503 Service Unavailable"),
			ContainSubstring(`ProgrammingError: column \"renewal_reminder_sent\" does not exist`), ContainSubstring("verify.failureThreshold"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledOut)()).To(And(HavePrefix("False HealthCheckFailed"), saysWhy))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(And(HavePrefix("True HealthCheckFailed"), saysWhy))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("True RolledBack"))
		got := getRelease(ctx, rel)
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionRolledBack))
		Expect(got.Status.History[0].Message).To(saysWhy)
	})
})
