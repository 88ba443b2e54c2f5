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
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/release"
)

// The destructive migration guard on the real Django app: 1.4.0's migration drops the
// column `seats` that 1.1.0 reads. With destructiveMigrations Block it stops before
// any change while 1.1.0 serves; set to Warn, it deploys with the warning visible.
const (
	guardDB       = "guard_e2e"
	guardDBSecret = "e2e-guard-db"
	guardName     = "e2e-guard"
)

func guardSpec(tag string, policy opsv1alpha1.DestructiveMigrationPolicy) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	y := demo.ReleaseSpecYAML(tag, guardDBSecret, 1, "{path: /api/v1/health/, interval: 2s, window: 6s, failureThreshold: 2, progressDeadline: 2m}")
	// In the plan Job's shell, `python` is not the devcluster's mapped program: name
	// Debian's Python, as the demo's planCommand does.
	const plan = "showmigrations, --plan]}"
	Expect(y).To(ContainSubstring(plan))
	y = strings.Replace(y, plan, "showmigrations, --plan], sqlCommand: [/usr/bin/python3, manage.py, sqlmigrate], destructiveMigrations: "+string(policy)+"}", 1)
	var spec opsv1alpha1.ReleaseSpec
	Expect(yaml.Unmarshal([]byte(y), &spec)).To(Succeed())
	return spec
}

func setGuardSpec(ctx context.Context, spec opsv1alpha1.ReleaseSpec) {
	GinkgoHelper()
	Eventually(func() error {
		rel := getE2ERelease(ctx, guardName)
		rel.Spec = spec
		return k8sClient.Update(ctx, rel)
	}).Should(Succeed())
}

func guardQuery(ctx context.Context, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(guardDB))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// seatsColumns counts the column seats of subscriptions_subscription (1 or 0).
func seatsColumns(ctx context.Context) int {
	GinkgoHelper()
	var n int
	Expect(guardQuery(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'subscriptions_subscription' AND column_name = 'seats'", &n)).To(Succeed())
	return n
}

func guardCondition(ctx context.Context, t string) string {
	c := conditionIn(getE2ERelease(ctx, guardName).Status.Conditions, t)
	if c.Type == "" {
		return ""
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}

var _ = Describe("Release destructive migration guard on the devcluster", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Exec(ctx, "CREATE DATABASE "+guardDB)
		_ = conn.Close(ctx)
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: guardDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": guardDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}))).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: guardName, Namespace: ns},
			Spec: guardSpec("1.1.0", opsv1alpha1.DestructiveMigrationsBlock)}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
	})

	It("deploys 1.1.0 (a first deploy: no earlier pods to break)", func(ctx SpecContext) {
		Eventually(releasePhaseOf(ctx, guardName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		Expect(guardCondition(ctx, opsv1alpha1.ConditionDestructiveMigration)).To(HavePrefix("False NoPreviousRevision"))
		Expect(seatsColumns(ctx)).To(Equal(1))
	})

	It("with Block, stops 1.4.0 before any change while 1.1.0 still serves", func(ctx SpecContext) {
		setGuardSpec(ctx, guardSpec("1.4.0", opsv1alpha1.DestructiveMigrationsBlock))
		Eventually(releasePhaseOf(ctx, guardName)).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Blocked 1.4.0"))
		rel := getE2ERelease(ctx, guardName)
		stalled := guardCondition(ctx, opsv1alpha1.ConditionStalled)
		Expect(stalled).To(And(HavePrefix("True DestructiveMigrationBlocked"),
			ContainSubstring(`subscriptions.0003_remove_subscription_seats: DropColumn subscriptions_subscription.seats (ALTER TABLE "subscriptions_subscription" DROP COLUMN "seats" CASCADE)`),
			ContainSubstring("(1.1.0) keeps serving"), ContainSubstring("drop it in a later release")))
		Expect(rel.Status.History[0].Migrated).To(BeFalse())

		By("nothing migrated, nothing rolled out: 1.1.0's column is there and its pods answer")
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: release.JobName(rel, release.StepNameMigrate, rel.Status.CurrentRevision)}, &batchv1.Job{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no migration Job: %v", err)
		Expect(seatsColumns(ctx)).To(Equal(1))
		var applied int
		Expect(guardQuery(ctx, "SELECT count(*) FROM django_migrations WHERE app = 'subscriptions' AND name = '0003_remove_subscription_seats'", &applied)).To(Succeed())
		Expect(applied).To(BeZero())
		Consistently(func() []string { return servedVersionsOf(ctx, guardName) }).WithTimeout(5 * time.Second).WithPolling(time.Second).
			Should(Equal([]string{"200 1.1.0"}))
		for _, c := range rel.Status.Components {
			Expect(c.Revision).To(Equal(rel.Status.StableRevision), c.Name)
		}

		By("the real sqlmigrate output is kept in the release's ConfigMap")
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rel.Status.MigrationSQLConfigMap}, cm)).To(Succeed())
		Expect(cm.Data["sql"]).To(ContainSubstring(`ALTER TABLE "subscriptions_subscription" DROP COLUMN "seats" CASCADE;`))

		By("the plan Job read the tables' row estimates through Django's connection")
		rows, read := release.TableRows(cm.Data["sql"])
		Expect(read).To(HavePrefix("row estimates of"), cm.Data["sql"])
		Expect(rows).To(HaveKey("subscriptions_subscription"))
		Expect(rows).To(HaveKey("django_migrations"))
		GinkgoWriter.Printf("Stalled: %s\nConfigMap %s sql:\n%s\n", stalled, cm.Name, cm.Data["sql"])
	})

	It("with Warn, deploys 1.4.0 with the warning visible as a condition and an event", func(ctx SpecContext) {
		setGuardSpec(ctx, guardSpec("1.4.0", opsv1alpha1.DestructiveMigrationsWarn))
		Eventually(releasePhaseOf(ctx, guardName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.4.0"))
		cond := guardCondition(ctx, opsv1alpha1.ConditionDestructiveMigration)
		Expect(cond).To(And(HavePrefix("True Warned"), ContainSubstring("subscriptions.0003_remove_subscription_seats: DropColumn subscriptions_subscription.seats")))
		var events eventsv1.EventList
		Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
		var warned []string
		for _, e := range events.Items {
			if e.Regarding.Name == guardName && e.Type == corev1.EventTypeWarning && e.Reason == opsv1alpha1.ReasonDestructiveMigrationWarned {
				warned = append(warned, e.Note)
			}
		}
		Expect(warned).To(ContainElement(ContainSubstring(`subscriptions.0003_remove_subscription_seats: DropColumn subscriptions_subscription.seats (ALTER TABLE "subscriptions_subscription" DROP COLUMN "seats" CASCADE)`)))
		Expect(seatsColumns(ctx)).To(BeZero())
		Eventually(func() []string { return servedVersionsOf(ctx, guardName) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.4.0"}))
		GinkgoWriter.Printf("DestructiveMigration: %s\nWarning event: %s\n", cond, warned[0])
	})
})
