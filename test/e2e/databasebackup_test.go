//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

// seededRows is how many rows the backup specs put in their table of the demo database.
const seededRows = 5000

// destination is the demo bucket on the devcluster's S3 server under prefix, with the
// credentials of the Secret credsSecret.
func destination(prefix, credsSecret string) opsv1alpha1.BackupDestination {
	return opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{
		Bucket: devcluster.DemoBucket, Prefix: prefix, Region: cluster.S3.Region,
		Endpoint: cluster.S3.Endpoint, ForcePathStyle: true,
		CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: credsSecret},
	}}
}

func backupSpec(prefix, credsSecret string, policy opsv1alpha1.DeletionPolicy) opsv1alpha1.DatabaseBackupSpec {
	return opsv1alpha1.DatabaseBackupSpec{
		Database:       opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: devcluster.DemoDBSecret}},
		Destination:    destination(prefix, credsSecret),
		DeletionPolicy: policy,
	}
}

// createBackup creates a DatabaseBackup of the demo database and deletes it (and
// waits for it to go) after the spec.
func createBackup(ctx context.Context, name string, spec opsv1alpha1.DatabaseBackupSpec) *opsv1alpha1.DatabaseBackup {
	GinkgoHelper()
	b := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	return b
}

// deleteAndWait deletes obj (its name and namespace are enough) and waits until it is
// gone, finalizers done.
func deleteAndWait(ctx SpecContext, obj client.Object) {
	GinkgoHelper()
	err := k8sClient.Delete(ctx, obj)
	if apierrors.IsNotFound(err) {
		return
	}
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj))
	}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "%T %s is deleted", obj, obj.GetName())
}

// finishedBackup waits until the backup is Completed or Failed and returns it.
func finishedBackup(ctx context.Context, name string) *opsv1alpha1.DatabaseBackup {
	GinkgoHelper()
	b := &opsv1alpha1.DatabaseBackup{}
	Eventually(func(g Gomega) opsv1alpha1.BackupPhase {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, b)).To(Succeed())
		return b.Status.Phase
	}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(250*time.Millisecond).Should(
		Or(Equal(opsv1alpha1.BackupPhaseCompleted), Equal(opsv1alpha1.BackupPhaseFailed)),
		managerLog)
	return b
}

// condition returns the backup's condition of type t, failing when it is missing.
func condition(b *opsv1alpha1.DatabaseBackup, t string) metav1.Condition {
	GinkgoHelper()
	return conditionIn(b.Status.Conditions, t)
}

func conditionIn(conds []metav1.Condition, t string) metav1.Condition {
	GinkgoHelper()
	c := meta.FindStatusCondition(conds, t)
	Expect(c).NotTo(BeNil(), "condition %s in %+v", t, conds)
	return *c
}

func objectExists(ctx context.Context, key string) bool {
	GinkgoHelper()
	ok, err := demo.ObjectExists(ctx, cluster.S3.Client(), devcluster.DemoBucket, key)
	Expect(err).NotTo(HaveOccurred())
	return ok
}

// eventsAbout returns "Type Reason: note" of every Event about the named object.
func eventsAbout(ctx context.Context, kind, name string) []string {
	GinkgoHelper()
	list, err := clientset.EventsV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "regarding.kind=" + kind + ",regarding.name=" + name})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type+" "+e.Reason+": "+e.Note)
	}
	return out
}

var _ = Describe("DatabaseBackup with the manager on the devcluster", func() {
	BeforeEach(func(ctx SpecContext) {
		By("putting a table of known size in the demo database")
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(devcluster.DemoDatabase))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close(context.Background()) }()
		_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS e2e_orders (id bigint PRIMARY KEY, note text NOT NULL);
INSERT INTO e2e_orders SELECT g, 'order ' || g FROM generate_series(1, %d) g ON CONFLICT DO NOTHING;
ANALYZE e2e_orders`, seededRows))
		Expect(err).NotTo(HaveOccurred())
	})

	It("runs a real Job that dumps the demo database into the bucket, with the object's sha256 and size in status", func(ctx SpecContext) {
		createBackup(ctx, "e2e-backup", backupSpec("e2e-backup", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain))
		b := finishedBackup(ctx, "e2e-backup")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
		Expect(condition(b, opsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))

		By("the backup Job ran to completion on the devcluster")
		job := &batchv1.Job{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: b.Status.JobName}, job)).To(Succeed())
		Expect(job.Status.Succeeded).To(BeEquivalentTo(1))
		Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal(devcluster.AgentImage))

		By("the status points at the dump in the bucket")
		Expect(b.Status.Key).To(HavePrefix("e2e-backup/" + ns + "/e2e-backup/"))
		Expect(b.Status.Location).To(Equal("s3://" + devcluster.DemoBucket + "/" + b.Status.Key))
		Expect(b.Status.SHA256).To(MatchRegexp("^[0-9a-f]{64}$"))
		Expect(b.Status.ServerVersion).To(HavePrefix("15"))

		By("downloading the object and hashing it")
		size, sum, err := demo.ObjectSHA256(ctx, cluster.S3.Client(), devcluster.DemoBucket, b.Status.Key)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum).To(Equal(b.Status.SHA256))
		Expect(size).To(Equal(b.Status.SizeBytes))
		Expect(size).To(BeNumerically(">", 2_000), "%d rows weigh more than an empty database's dump (about 400 bytes)", seededRows)

		By("the manifest beside it describes the same dump and the seeded table")
		m, err := demo.ReadManifest(ctx, cluster.S3.Client(), devcluster.DemoBucket, agent.ManifestKey(b.Status.Key))
		Expect(err).NotTo(HaveOccurred())
		Expect(m.SHA256).To(Equal(b.Status.SHA256))
		Expect(m.SizeBytes).To(Equal(b.Status.SizeBytes))
		Expect(m.Database).To(Equal(devcluster.DemoDatabase))
		var rows int64 = -1
		for _, t := range m.Tables {
			if t.Name == "e2e_orders" {
				rows = t.Rows
			}
		}
		Expect(rows).To(BeEquivalentTo(seededRows))

		By("the dump was made by the image's PostgreSQL 15 client tools, in a pod run from the image")
		Expect(m.ClientTools).To(Equal("/usr/lib/postgresql/15/bin"))
		Expect(m.PgDumpVersion).To(HavePrefix("15."))
		pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + b.Status.JobName})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).NotTo(BeEmpty())
		evs, err := clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pods.Items[0].Name + ",reason=Started"})
		Expect(err).NotTo(HaveOccurred())
		Expect(evs.Items).NotTo(BeEmpty())
		Expect(evs.Items[0].Message).To(MatchRegexp(`chrooted in image sha256:[0-9a-f]{64} as 65532:65532`))
		GinkgoWriter.Printf("backup %s: clientTools %s, pg_dump %s, server %s\n", b.Name, m.ClientTools, m.PgDumpVersion, m.ServerVersion)
	}, SpecTimeout(3*time.Minute))

	It("deletes the dump and its manifest from the bucket when a backup with deletionPolicy Delete is deleted", func(ctx SpecContext) {
		createBackup(ctx, "e2e-delete", backupSpec("e2e-delete", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete))
		b := finishedBackup(ctx, "e2e-delete")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
		Expect(b.Finalizers).To(ContainElement(opsv1alpha1.FinalizerBackupObjects))
		key := b.Status.Key
		Expect(objectExists(ctx, key)).To(BeTrue())
		Expect(objectExists(ctx, agent.ManifestKey(key))).To(BeTrue())

		By("deleting the DatabaseBackup")
		Expect(k8sClient.Delete(ctx, b)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), &opsv1alpha1.DatabaseBackup{}))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "the finalizer goes once the delete Job succeeded")

		Expect(objectExists(ctx, key)).To(BeFalse(), "the dump is gone")
		Expect(objectExists(ctx, agent.ManifestKey(key))).To(BeFalse(), "the manifest is gone")
		Expect(eventsAbout(ctx, "DatabaseBackup", "e2e-delete")).To(ContainElement(
			"Normal " + opsv1alpha1.ReasonDeleted + ": Deleted " + b.Status.Location + " and its manifest from S3"))
	}, SpecTimeout(3*time.Minute))

	It("fails a backup whose S3 secret key is wrong with a message that says so, and stores nothing", func(ctx SpecContext) {
		wrongKey := fmt.Sprintf("e2e-wrong-secret-%d", time.Now().UnixNano())
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-bad-s3", Namespace: ns},
			StringData: map[string]string{"AWS_ACCESS_KEY_ID": cluster.S3.AccessKey, "AWS_SECRET_ACCESS_KEY": wrongKey},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8sClient.Delete(ctx, secret)).To(Succeed()) })

		createBackup(ctx, "e2e-bad-creds", backupSpec("e2e-bad-creds", secret.Name, opsv1alpha1.DeletionPolicyDelete))
		b := finishedBackup(ctx, "e2e-bad-creds")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseFailed))

		ready := condition(b, opsv1alpha1.ConditionReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Reason).To(Equal(opsv1alpha1.ReasonJobFailed))
		Expect(ready.Message).To(ContainSubstring("no backup was stored"))
		Expect(ready.Message).To(ContainSubstring(
			"the secret access key does not match the access key ID; check AWS_SECRET_ACCESS_KEY in the credentials Secret"))
		Expect(ready.Message).To(ContainSubstring("(HTTP 403, SignatureDoesNotMatch: "), "the store's answer, in a sentence")
		Expect(ready.Message).NotTo(Or(ContainSubstring("RequestID"), ContainSubstring("HostID")), "the SDK's IDs are noise in a condition")
		Expect(condition(b, opsv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue), "a person must fix the Secret")
		Expect(b.Status.SHA256).To(BeEmpty())
		Expect(b.Status.Location).To(BeEmpty())

		By("nothing is in the bucket under the backup's prefix, not even an unfinished upload")
		objects, err := demo.ListObjects(ctx, cluster.S3.Client(), devcluster.DemoBucket, "e2e-bad-creds/")
		Expect(err).NotTo(HaveOccurred())
		Expect(objects).To(BeEmpty())
		uploads, err := cluster.S3.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
			Bucket: aws.String(devcluster.DemoBucket), Prefix: aws.String("e2e-bad-creds/")})
		Expect(err).NotTo(HaveOccurred())
		Expect(uploads.Uploads).To(BeEmpty())

		By("the wrong key appears nowhere: not in status, not in events")
		status, err := json.Marshal(b.Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).NotTo(ContainSubstring(wrongKey))
		evs := eventsAbout(ctx, "DatabaseBackup", "e2e-bad-creds")
		Expect(evs).To(ContainElement(ContainSubstring("the secret access key does not match")))
		Expect(strings.Join(evs, "\n")).NotTo(ContainSubstring(wrongKey))
	}, SpecTimeout(3*time.Minute))
})

var _ = Describe("BackupSchedule with the manager on the devcluster", func() {
	It("fires within a minute on \"* * * * *\" and the DatabaseBackup it creates completes", func(ctx SpecContext) {
		s := &opsv1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-every-minute", Namespace: ns},
			Spec: opsv1alpha1.BackupScheduleSpec{
				Schedule:  "* * * * *",
				Retention: opsv1alpha1.Retention{KeepLast: ptr.To[int32](2)},
				Template: opsv1alpha1.BackupTemplate{
					Spec: backupSpec("e2e-schedule", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete),
				},
			},
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(k8sClient.Delete(ctx, s)).To(Succeed())
			By("waiting for the schedule's backups and their objects to go")
			Eventually(func(g Gomega) []opsv1alpha1.DatabaseBackup {
				var list opsv1alpha1.DatabaseBackupList
				g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns),
					client.MatchingLabels{opsv1alpha1.LabelBackupSchedule: s.Name})).To(Succeed())
				return list.Items
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
			objects, err := demo.ListObjects(ctx, cluster.S3.Client(), devcluster.DemoBucket, "e2e-schedule/")
			Expect(err).NotTo(HaveOccurred())
			Expect(objects).To(BeEmpty(), "deletionPolicy Delete removed the dumps of the garbage-collected backups")
		})

		By("waiting for the first run and its backup")
		got := &opsv1alpha1.BackupSchedule{}
		Eventually(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), got)).To(Succeed())
			return got.Status.LastSuccessfulBackup
		}).WithContext(ctx).WithTimeout(150 * time.Second).WithPolling(time.Second).ShouldNot(BeEmpty())

		Expect(got.Status.LastScheduleTime).NotTo(BeNil())
		Expect(got.Status.LastScheduleTime.Time).To(BeTemporally("~", got.CreationTimestamp.Time, 61*time.Second))
		Expect(got.Status.LastScheduleTime.Second()).To(BeZero(), "runs are on the minute")
		Expect(got.Status.NextScheduleTime.Time).To(BeTemporally(">", got.Status.LastScheduleTime.Time))
		name := s.Name + "-" + got.Status.LastScheduleTime.UTC().Format("200601021504")
		Expect(got.Status.LastSuccessfulBackup).To(Equal(name))
		Expect(conditionIn(got.Status.Conditions, opsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))

		b := &opsv1alpha1.DatabaseBackup{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, b)).To(Succeed())
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted))
		Expect(metav1.IsControlledBy(b, got)).To(BeTrue(), "the schedule owns its backups")
		Expect(b.Spec.DeletionPolicy).To(Equal(opsv1alpha1.DeletionPolicyDelete), "from the template")
		_, sum, err := demo.ObjectSHA256(ctx, cluster.S3.Client(), devcluster.DemoBucket, b.Status.Key)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum).To(Equal(b.Status.SHA256))
		Expect(eventsAbout(ctx, "BackupSchedule", s.Name)).NotTo(ContainElement(ContainSubstring(opsv1alpha1.ReasonRunSkipped)),
			"a run is never skipped because of its own backup")
	}, SpecTimeout(4*time.Minute))
})

var _ = Describe("DatabaseBackup and DatabaseRestore of a PostgreSQL 17 server", func() {
	It("dumps with the image's 17 client tools and restores the dump into the 17 server", func(ctx SpecContext) {
		if cluster.Postgres17 == nil {
			Fail("the devcluster has no PostgreSQL 17 server (hack/rootfs.sh builds its file system)")
		}
		const rows17 = 1000
		exec17 := func(sql string) {
			GinkgoHelper()
			conn, err := pgx.Connect(ctx, cluster.Postgres17.DSN(devcluster.DemoDatabase))
			Expect(err).NotTo(HaveOccurred())
			defer func() { _ = conn.Close(context.Background()) }()
			_, err = conn.Exec(ctx, sql)
			Expect(err).NotTo(HaveOccurred(), sql)
		}
		count17 := func() int64 {
			GinkgoHelper()
			conn, err := pgx.Connect(ctx, cluster.Postgres17.DSN(devcluster.DemoDatabase))
			Expect(err).NotTo(HaveOccurred())
			defer func() { _ = conn.Close(context.Background()) }()
			var n int64
			Expect(conn.QueryRow(ctx, "SELECT count(*) FROM e2e_orders17").Scan(&n)).To(Succeed())
			return n
		}
		exec17(fmt.Sprintf(`CREATE TABLE IF NOT EXISTS e2e_orders17 (id bigint PRIMARY KEY, note text NOT NULL);
INSERT INTO e2e_orders17 SELECT g, 'order ' || g FROM generate_series(1, %d) g ON CONFLICT DO NOTHING`, rows17))

		spec := backupSpec("e2e-backup-17", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain)
		spec.Database.SecretRef.Name = devcluster.DemoDB17Secret
		createBackup(ctx, "e2e-backup-17", spec)
		b := finishedBackup(ctx, "e2e-backup-17")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
		Expect(b.Status.ServerVersion).To(HavePrefix("17."))
		m, err := demo.ReadManifest(ctx, cluster.S3.Client(), devcluster.DemoBucket, agent.ManifestKey(b.Status.Key))
		Expect(err).NotTo(HaveOccurred())
		Expect(m.ClientTools).To(Equal("/usr/lib/postgresql/17/bin"), "the image's 17 tools: the host has none")
		Expect(m.PgDumpVersion).To(HavePrefix("17."))
		GinkgoWriter.Printf("backup %s: clientTools %s, pg_dump %s, server %s\n", b.Name, m.ClientTools, m.PgDumpVersion, m.ServerVersion)

		By("changing the data, then restoring the backup")
		exec17("DELETE FROM e2e_orders17 WHERE id > 600")
		Expect(count17()).To(BeEquivalentTo(600))
		rs := &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Name: "e2e-restore-17", Namespace: ns},
			Spec: opsv1alpha1.DatabaseRestoreSpec{
				Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: b.Name}},
				Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: devcluster.DemoDB17Secret}},
			}}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Name: rs.Name, Namespace: ns}})
		done := finishedRestore(ctx, rs.Name)
		Expect(done.Status.Phase).To(Equal(opsv1alpha1.RestorePhaseCompleted), "%v", done.Status.Conditions)
		Expect(count17()).To(BeEquivalentTo(rows17), "the restored database has the rows of the backup")
	}, SpecTimeout(5*time.Minute))
})
