//go:build e2e

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

package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
)

// The Release as the README sets it up: the web's readiness probe on the app's health
// path (healthPath), and the migration plan from `python manage.py migrate --plan`.
const (
	probeReleaseDB       = "release_probe_e2e"
	probeReleaseDBSecret = "e2e-release-probe-db"
	probeReleaseName     = "e2e-saas-probe"
)

func probeReleaseSpec(tag string) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	var spec opsv1alpha1.ReleaseSpec
	Expect(yaml.Unmarshal([]byte(demo.ReleaseSpecYAML(tag, probeReleaseDBSecret, 1,
		"{path: /api/v1/health/, interval: 2s, window: 6s, failureThreshold: 2, progressDeadline: 10m}")), &spec)).To(Succeed())
	spec.Migrations.PlanCommand = []string{"python", "manage.py", "migrate", "--plan"}
	for i := range spec.Components {
		if spec.Components[i].Name == "web" {
			spec.Components[i].HealthPath = "/api/v1/health/"
		}
	}
	return spec
}

var _ = Describe("Release with the health path as the web's readiness probe", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+probeReleaseDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+probeReleaseDB)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, probeReleaseDB) })
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: probeReleaseDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": probeReleaseDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}))).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: probeReleaseName, Namespace: ns}, Spec: probeReleaseSpec("1.1.0")}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
	})

	It("deploys 1.1.0 with the README's planCommand [python, manage.py, migrate, --plan]", func(ctx SpecContext) {
		Eventually(releasePhaseOf(ctx, probeReleaseName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel := getE2ERelease(ctx, probeReleaseName)
		Expect(rel.Status.MigrationPlan).To(And(HavePrefix("Planned operations:"), ContainSubstring("subscriptions.0002_subscription_seats")))
		Expect(rel.Status.History[0].AppliedMigrations).To(ContainElement("subscriptions.0002_subscription_seats"))
	})

	It("rolls 1.2.0, whose pods answer 503 and never become Ready, back after failureThreshold checks of the rollout, long before progressDeadline, saying why", func(ctx SpecContext) {
		Eventually(func() error {
			rel := getE2ERelease(ctx, probeReleaseName)
			rel.Spec = probeReleaseSpec("1.2.0")
			return k8sClient.Update(ctx, rel)
		}).Should(Succeed())
		Eventually(releasePhaseOf(ctx, probeReleaseName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("RolledBack 1.2.0"))
		rel := getE2ERelease(ctx, probeReleaseName)
		rec := rel.Status.History[0]
		rolledOut := conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionRolledOut)
		Expect(rolledOut.Reason).To(Equal(opsv1alpha1.ReasonHealthCheckFailed), "rolled back by the rollout's checks: %s", rolledOut.Message)
		Expect(rec.Message).To(And(ContainSubstring("pod "+probeReleaseName+"-web-"), ContainSubstring("503 Service Unavailable"),
			ContainSubstring("renewal_reminder_sent")))
		GinkgoWriter.Printf("history[0]: started %s, rolled back %s: %s\n", rec.StartTime.Format(time.RFC3339), rec.CompletionTime.Format(time.RFC3339), rec.Message)
		Eventually(func() []string { return servedVersionsOf(ctx, probeReleaseName) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.1.0"}))
	})
})
