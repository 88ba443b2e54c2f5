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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/migrationguard"
	"runbook-operator/internal/release"
)

// releaseJobLogs plays pods/log for the Release's Jobs (envtest runs no kubelet):
// the log a spec stored for a Job, served for its pods ("<job>-…").
type releaseJobLogs struct{ byJob sync.Map }

var releaseTestLogs = &releaseJobLogs{}

func (l *releaseJobLogs) Tail(_ context.Context, _, pod, _ string, _ bool, _, bytes int64) (string, error) {
	var out string
	found := false
	l.byJob.Range(func(k, v any) bool {
		if strings.HasPrefix(pod, k.(string)+"-") {
			out, found = v.(string), true
			return false
		}
		return true
	})
	if !found {
		return "", fmt.Errorf("pod %s has no log", pod)
	}
	if int64(len(out)) > bytes {
		out = out[:bytes]
	}
	return out, nil
}

// sqlSection is what the plan Job prints for migration: the markers around the SQL.
func sqlSection(migration, sql string) string {
	return "-- runbook-operator: sqlmigrate " + migration + "\n" + sql + "-- runbook-operator: end " + migration + " exit 0\n"
}

// djangoSQL is Django 3.2's real `sqlmigrate` output for one of migrationguard's
// captured migrations.
func djangoSQL(name string) string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join("..", "migrationguard", "testdata", "django-3.2-postgresql", "shop."+name+".sql"))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// finishPlanJob plays the plan Job: plan as its termination message, log as its
// container's log.
func finishPlanJob(ctx context.Context, rel *opsv1alpha1.Release, revision, plan, log string) *batchv1.Job {
	GinkgoHelper()
	job := waitJob(ctx, rel, release.StepNamePlan, revision)
	releaseTestLogs.byJob.Store(job.Name, log)
	finishAppJob(ctx, job, 0, plan)
	return job
}

func migrateJobExists(ctx context.Context, rel *opsv1alpha1.Release, revision string) func() bool {
	return func() bool {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: release.JobName(rel, release.StepNameMigrate, revision)}, &batchv1.Job{})
		Expect(client.IgnoreNotFound(err)).To(Succeed())
		return !apierrors.IsNotFound(err)
	}
}

func warningEvents(ctx context.Context, ns, reason string) func() []string {
	return func() []string {
		var out []string
		for _, e := range eventsFor(ctx, ns, "saas") {
			if e.Type == corev1.EventTypeWarning && e.Reason == reason {
				out = append(out, e.Note)
			}
		}
		return out
	}
}

const guardRelease = `
version: "1.1.0"
image: saas:1.1.0
database: {secretRef: {name: db}}
backup: {enabled: false}
migrations: {command: [python, manage.py, migrate, --noinput], planCommand: [python, manage.py, showmigrations, --plan]%s}
components:
- {name: web, ports: [{name: http, containerPort: 8000}]}
`

const (
	safePlan = "[X]  shop.0001_initial\n[ ]  shop.0003_add_field_nullable\n"
	dropPlan = "[X]  shop.0003_add_field_nullable\n[ ]  shop.0004_remove_field\n"
)

var _ = Describe("Release destructive migration guard", func() {
	ctx := context.Background()

	// deployed deploys the release's first revision (a first deploy: its migrations,
	// even one that drops a column, break no earlier pod) and returns it.
	deployed := func(rel *opsv1alpha1.Release) string {
		GinkgoHelper()
		rev := revisionOf(rel)
		plan := finishPlanJob(ctx, rel, rev, dropPlan, sqlSection("shop.0004_remove_field", djangoSQL("0004_remove_field")))
		Expect(plan.Spec.Template.Spec.Containers[0].Command[2]).To(ContainSubstring("'python' 'manage.py' 'sqlmigrate'"))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)).Should(HavePrefix("False NoPreviousRevision"))
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev), 0, "OK")
		rollOutRevision(ctx, rel.Namespace, "saas-web", rev, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		Expect(getRelease(ctx, rel).Status.History[0].DestructiveMigrations).To(BeEmpty())
		return rev
	}

	// upgrade sets version and image to tag and returns the new revision.
	upgrade := func(rel *opsv1alpha1.Release, tag string) string {
		GinkgoHelper()
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = tag, "saas:"+tag })
		return revisionOf(getRelease(ctx, rel))
	}

	It("Block stops a revision whose migration drops a column before migrating, the stable revision serving, until the policy allows it", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fmt.Sprintf(guardRelease, ", destructiveMigrations: Block"))
		rev1 := deployed(rel)

		By("1.4.0 drops a column 1.1.0 reads: blocked after its plan, before any migration")
		rev2 := upgrade(rel, "1.4.0")
		finishPlanJob(ctx, rel, rev2, dropPlan, sqlSection("shop.0004_remove_field", djangoSQL("0004_remove_field")))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)).Should(And(
			HavePrefix("True DestructiveMigrationBlocked"),
			ContainSubstring(`shop.0004_remove_field: DropColumn shop_order.legacy (ALTER TABLE "shop_order" DROP COLUMN "legacy" CASCADE)`),
			ContainSubstring(migrationguard.Advice(migrationguard.DropColumn)),
			ContainSubstring("revision "+rev1+" (1.1.0) keeps serving")))
		Consistently(migrateJobExists(ctx, rel, rev2)).WithTimeout(3 * time.Second).Should(BeFalse())
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.1.0"))
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseBlocked))
		Expect(got.Status.StableRevision).To(Equal(rev1))
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionInProgress))
		Expect(got.Status.History[0].Migrated).To(BeFalse())
		Expect(got.Status.History[0].DestructiveMigrations).To(ConsistOf(opsv1alpha1.MigrationFinding{
			Migration: "shop.0004_remove_field", Kind: "DropColumn", Table: "shop_order", Column: "legacy",
			Statement: `ALTER TABLE "shop_order" DROP COLUMN "legacy" CASCADE`}))
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		Expect(warningEvents(ctx, ns, opsv1alpha1.ReasonDestructiveMigrationBlocked)()).To(ConsistOf(ContainSubstring("shop.0004_remove_field")))
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: got.Status.MigrationSQLConfigMap}, cm)).To(Succeed())
		Expect(cm.Data["sql"]).To(ContainSubstring(`DROP COLUMN "legacy"`))
		Expect(cm.Data["revision"]).To(Equal(rev2))
		Expect(cm.OwnerReferences).To(ConsistOf(HaveField("UID", got.UID)))

		By("a restart keeps it blocked without a second plan or a migration")
		restartManager(nil)
		Consistently(migrateJobExists(ctx, rel, rev2)).WithTimeout(2 * time.Second).Should(BeFalse())
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("True DestructiveMigrationBlocked"))

		By("the policy set to Allow moves the same revision on")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Migrations.DestructiveMigrations = opsv1alpha1.DestructiveMigrationsAllow
		})
		Expect(revisionOf(getRelease(ctx, rel))).To(Equal(rev2))
		Eventually(migrateJobExists(ctx, rel, rev2)).Should(BeTrue())
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)).Should(HavePrefix("True Allowed"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("False"))
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev2), 0, "OK")
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableVersion }).WithTimeout(20 * time.Second).Should(Equal("1.4.0"))
	})

	It("Warn records the condition and a Warning event naming the migration and statement, and deploys", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fmt.Sprintf(guardRelease, ""))
		Expect(getRelease(ctx, rel).Spec.Migrations.DestructiveMigrations).To(Equal(opsv1alpha1.DestructiveMigrationsWarn))
		deployed(rel)

		By("a migration that breaks nothing: NoneFound")
		rev := upgrade(rel, "1.2.0")
		finishPlanJob(ctx, rel, rev, safePlan, sqlSection("shop.0003_add_field_nullable", djangoSQL("0003_add_field_nullable")))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)).Should(HavePrefix("False NoneFound"))
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev), 0, "OK")
		rollOutRevision(ctx, ns, "saas-web", rev, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableVersion }).WithTimeout(20 * time.Second).Should(Equal("1.2.0"))

		By("migrations that drop a default and a table: warned, and deployed")
		rev = upgrade(rel, "1.4.0")
		finishPlanJob(ctx, rel, rev, "[ ]  shop.0002_add_field_default\n[ ]  shop.0009_delete_model\n",
			sqlSection("shop.0002_add_field_default", djangoSQL("0002_add_field_default"))+sqlSection("shop.0009_delete_model", djangoSQL("0009_delete_model")))
		Eventually(migrateJobExists(ctx, rel, rev)).Should(BeTrue())
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)()).To(And(HavePrefix("True Warned"),
			ContainSubstring("shop.0002_add_field_default: NotNullWithoutDefault shop_order.seats"),
			ContainSubstring("shop.0009_delete_model: DropTable shop_old")))
		Eventually(warningEvents(ctx, ns, opsv1alpha1.ReasonDestructiveMigrationWarned)).Should(ConsistOf(And(
			ContainSubstring("shop.0002_add_field_default"), ContainSubstring(`ALTER TABLE "shop_order" ALTER COLUMN "seats" DROP DEFAULT`))))
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev), 0, "OK")
		rollOutRevision(ctx, ns, "saas-web", rev, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableVersion }).WithTimeout(20 * time.Second).Should(Equal("1.4.0"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)()).To(HavePrefix("True Warned"))
		Expect(getRelease(ctx, rel).Status.History[0].DestructiveMigrations).To(HaveLen(2))
	})

	It("reports a unique index built without CONCURRENTLY by the table's row estimate the plan Job read", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fmt.Sprintf(guardRelease, ", destructiveMigrations: Block"))
		deployed(rel)
		uniquePlan := "[X]  shop.0001_initial\n[ ]  shop.0008_unique_index\n"
		unique := sqlSection("shop.0008_unique_index", djangoSQL("0008_unique_index"))
		rows := func(body string, code int) string {
			return fmt.Sprintf("-- runbook-operator: table rows\n%s-- runbook-operator: end table rows exit %d\n", body, code)
		}

		By("largeTableRows out of bounds is refused by the API server")
		for _, bad := range []int64{0, 1_000_000_000_001} {
			// A merge patch without resourceVersion: the controller writes status in the
			// meantime, and an Update of a stale copy would get a conflict instead.
			err := k8sClient.Patch(ctx, rel.DeepCopy(), client.RawPatch(types.MergePatchType,
				fmt.Appendf(nil, `{"spec":{"migrations":{"largeTableRows":%d}}}`, bad)))
			Expect(err).To(MatchError(ContainSubstring("spec.migrations.largeTableRows")), "largeTableRows %d", bad)
		}

		By("a small table: not reported, and the message says the estimate used")
		rev := upgrade(rel, "1.2.0")
		plan := finishPlanJob(ctx, rel, rev, uniquePlan, unique+rows("shop_order 12\nshop_old 7000000\n", 0))
		Expect(plan.Spec.Template.Spec.Containers[0].Command[2]).To(ContainSubstring("'python' 'manage.py' 'shell' '-c'"))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)).Should(And(HavePrefix("False NoneFound"),
			ContainSubstring("(row estimates of 2 tables read): table shop_order, about 12 rows: below 100000, not reported.")))
		Eventually(migrateJobExists(ctx, rel, rev)).Should(BeTrue())
		Expect(getRelease(ctx, rel).Status.History[0].DestructiveMigrations).To(BeEmpty())
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev), 0, "OK")
		rollOutRevision(ctx, ns, "saas-web", rev, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableVersion }).WithTimeout(20 * time.Second).Should(Equal("1.2.0"))

		By("a large table: reported and blocked, with its estimate")
		rev = upgrade(rel, "1.3.0")
		finishPlanJob(ctx, rel, rev, uniquePlan, unique+rows("shop_order 5000000\n", 0))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)).Should(And(HavePrefix("True DestructiveMigrationBlocked"),
			ContainSubstring("shop.0008_unique_index: UniqueIndexLocksTable shop_order"),
			ContainSubstring("table shop_order, about 5000000 rows: from 100000 on, reported")))
		Expect(getRelease(ctx, rel).Status.History[0].DestructiveMigrations).To(ConsistOf(HaveField("Note", "table shop_order, about 5000000 rows: from 100000 on, reported")))
		Consistently(migrateJobExists(ctx, rel, rev)).WithTimeout(2 * time.Second).Should(BeFalse())

		By("estimates that could not be read: every table counts as large, and the message says so")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Migrations.DestructiveMigrations = opsv1alpha1.DestructiveMigrationsWarn
		})
		rev = upgrade(rel, "1.4.0")
		finishPlanJob(ctx, rel, rev, uniquePlan, unique+rows("", 1))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)).Should(And(HavePrefix("True Warned"),
			ContainSubstring("table shop_order, no row estimate: counted as large, reported"),
			ContainSubstring("the table row estimates could not be read (their command exited 1), so every table counts as large")))
	})

	It("Block holds a revision whose planned migration's SQL cannot be read (the guard cannot say it is safe)", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fmt.Sprintf(guardRelease, ", destructiveMigrations: Block"))
		deployed(rel)
		rev := upgrade(rel, "1.4.0")
		// The plan lists a migration the log has no section for (the SQL command printed nothing).
		finishPlanJob(ctx, rel, rev, safePlan, "")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)).Should(And(
			HavePrefix("True DestructiveMigrationBlocked"), ContainSubstring("shop.0003_add_field_nullable: SQLUnknown"),
			ContainSubstring("its SQL is not in the plan Job's log")))
		Consistently(migrateJobExists(ctx, rel, rev)).WithTimeout(2 * time.Second).Should(BeFalse())
	})

	It("Allow runs no check: the plan Job prints no SQL and the migrations run", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fmt.Sprintf(guardRelease, ", destructiveMigrations: Allow"))
		rev := revisionOf(rel)
		plan := waitJob(ctx, rel, release.StepNamePlan, rev)
		Expect(strings.Join(plan.Spec.Template.Spec.Containers[0].Command, " ")).NotTo(ContainSubstring("sqlmigrate"))
		finishAppJob(ctx, plan, 0, dropPlan)
		Eventually(migrateJobExists(ctx, rel, rev)).Should(BeTrue())
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionDestructiveMigration)()).To(BeEmpty())
		Expect(getRelease(ctx, rel).Status.History[0].DestructiveMigrations).To(BeEmpty())
	})
})
