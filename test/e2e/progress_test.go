//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

// progressDB is a database of its own, big enough for a backup of several seconds
// even on an idle machine (3 million rows gave only two values at times),
// so that the other specs' dumps of the demo database stay small.
const progressDB = "e2e_progress"

var _ = Describe("Progress of a backup on the devcluster", func() {
	It("moves status.progress at least twice while a several-second backup runs, read from the pod's log through pods/log", func(ctx SpecContext) {
		By("creating a database of about 800 MiB")
		admin, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+progressDB+" WITH (FORCE)")
		_, err = admin.Exec(ctx, "CREATE DATABASE "+progressDB)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+progressDB+" WITH (FORCE)")
			_ = admin.Close(context.Background())
		})
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(progressDB))
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Exec(ctx, `CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) || md5((g+2)::text) || md5((g+3)::text) AS note
FROM generate_series(1, 5000000) g`)
		_ = conn.Close(context.Background())
		Expect(err).NotTo(HaveOccurred())
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "e2e-progress-db", Namespace: ns}, StringData: map[string]string{
			"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port), "dbname": progressDB,
			"user": cluster.Postgres.User, "password": cluster.Postgres.Password, "sslmode": "disable",
		}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, secret) })

		spec := backupSpec("e2e-progress", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete)
		spec.Database.SecretRef.Name = secret.Name
		createBackup(ctx, "e2e-progress", spec)

		By("watching status.progress while the backup Job runs")
		seen := map[int64]string{}
		var b opsv1alpha1.DatabaseBackup
		Eventually(func(g Gomega) opsv1alpha1.BackupPhase {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "e2e-progress"}, &b)).To(Succeed())
			if p := b.Status.Progress; p != nil && b.Status.Phase == opsv1alpha1.BackupPhaseRunning {
				if _, ok := seen[p.BytesDone]; !ok {
					seen[p.BytesDone] = p.Summary + " · " + conditionIn(b.Status.Conditions, opsv1alpha1.ConditionReconciling).Message
					GinkgoWriter.Printf("progress %s: %s\n", p.Summary, seen[p.BytesDone])
				}
			}
			return b.Status.Phase
		}).WithContext(ctx).WithTimeout(3*time.Minute).WithPolling(200*time.Millisecond).Should(
			Or(Equal(opsv1alpha1.BackupPhaseCompleted), Equal(opsv1alpha1.BackupPhaseFailed)),
			func() string { return "the manager's log: " + manager.LogPath })
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(&b, opsv1alpha1.ConditionReady).Message)
		Expect(len(seen)).To(BeNumerically(">=", 2), "distinct progress values seen while running: %v", seen)
		for _, words := range seen {
			Expect(words).To(MatchRegexp(`\d+% · Job e2e-progress-backup is dumping .*: .* done of about .*\(\d+%\), step dump`))
		}
		Expect(b.Status.Progress).NotTo(BeNil())
		Expect(b.Status.Progress.Summary).To(Equal("100%"))
		Expect(b.Status.Progress.EstimatedCompletionTime).To(BeNil())
	}, SpecTimeout(5*time.Minute))
})
