//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

// The restore specs work on a database and Secret of their own, so that swapping the
// database under its name never touches the one the backup specs and the schedule
// use, and the per-database lock never makes one wait for the other.
const (
	restoreDB       = "restore_e2e"
	restoreDBSecret = "e2e-restore-db"
	restoreApp      = "e2e-restore-app"
	restoreReplicas = 2
	// restoreOrgs is how many organizations the seed command adds (5 users and a
	// subscription each).
	restoreOrgs = 500
)

// restoreConn connects to the named database of the devcluster's PostgreSQL.
func restoreConn(ctx context.Context, dbname string) *pgx.Conn {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(dbname))
	Expect(err).NotTo(HaveOccurred())
	return conn
}

// execSQL runs statements in dbname on a connection of its own, closed at once: the
// restore's swap terminates sessions, and a connection left open would only break.
func execSQL(ctx context.Context, dbname, sql string, args ...any) {
	GinkgoHelper()
	conn := restoreConn(ctx, dbname)
	defer func() { _ = conn.Close(context.Background()) }()
	_, err := conn.Exec(ctx, sql, args...)
	Expect(err).NotTo(HaveOccurred(), sql)
}

// tableChecksums is the md5 of every public table's rows in a fixed order, so two
// databases with the same data have the same map.
func tableChecksums(ctx context.Context, dbname string) map[string]string {
	GinkgoHelper()
	conn := restoreConn(ctx, dbname)
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	Expect(err).NotTo(HaveOccurred())
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	Expect(err).NotTo(HaveOccurred())
	Expect(names).To(ContainElements("accounts_user", "organizations_organization", "subscriptions_subscription"))
	sums := map[string]string{}
	for _, n := range names {
		t := pgx.Identifier{n}.Sanitize()
		var sum string
		Expect(conn.QueryRow(ctx, fmt.Sprintf(
			`SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM %s t`, t)).Scan(&sum)).To(Succeed())
		sums[n] = sum
	}
	return sums
}

func subscriptionCount(ctx context.Context, dbname string) int64 {
	GinkgoHelper()
	conn := restoreConn(ctx, dbname)
	defer func() { _ = conn.Close(context.Background()) }()
	var n int64
	Expect(conn.QueryRow(ctx, "SELECT count(*) FROM subscriptions_subscription").Scan(&n)).To(Succeed())
	return n
}

// databasesLike lists the databases whose name starts with prefix.
func databasesLike(ctx context.Context, prefix string) []string {
	GinkgoHelper()
	conn := restoreConn(ctx, "postgres")
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`, prefix)
	Expect(err).NotTo(HaveOccurred())
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	Expect(err).NotTo(HaveOccurred())
	return names
}

// changeData is the mistake a restore undoes: subscriptions deleted, a user added,
// organizations renamed.
func changeData(ctx context.Context) {
	GinkgoHelper()
	execSQL(ctx, restoreDB, `DELETE FROM subscriptions_subscription WHERE id % 3 = 0;
UPDATE organizations_organization SET name = name || ' (renamed)';
INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
VALUES ('!', false, 'e2e-late', '', '', 'late@e2e.example', false, true, now())`)
}

func appPods(ctx context.Context) ([]corev1.Pod, error) {
	pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + restoreApp})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// expectAppReady waits until the app's Deployment has all its replicas ready.
func expectAppReady(ctx context.Context, within time.Duration) *appsv1.Deployment {
	GinkgoHelper()
	dep := &appsv1.Deployment{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: restoreApp}, dep)).To(Succeed())
		g.Expect(dep.Spec.Replicas).To(HaveValue(BeEquivalentTo(restoreReplicas)))
		g.Expect(dep.Status.ObservedGeneration).To(Equal(dep.Generation))
		g.Expect(dep.Status.ReadyReplicas).To(BeEquivalentTo(restoreReplicas))
		g.Expect(dep.Status.Replicas).To(BeEquivalentTo(restoreReplicas))
	}).WithContext(ctx).WithTimeout(within).WithPolling(250 * time.Millisecond).Should(Succeed())
	return dep
}

// createRestore creates a DatabaseRestore of the specs' database that quiesces the
// app, and deletes it after the spec.
func createRestore(ctx context.Context, name string, source opsv1alpha1.RestoreSource) {
	GinkgoHelper()
	rs := &opsv1alpha1.DatabaseRestore{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source:   source,
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: restoreDBSecret}},
			Quiesce:  &opsv1alpha1.Quiesce{Deployments: []string{restoreApp}},
		},
	}
	Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
}

// restoreWatch is what an observer polling the restore, its Job and the app's pods
// saw while the restore ran.
type restoreWatch struct {
	mu sync.Mutex
	// phases in the order they were first seen.
	phases []opsv1alpha1.RestorePhase
	// zeroWhileRestoring: the app had no pod at all while the phase was Restoring.
	zeroWhileRestoring bool
	// podsDuringJob are the app pods seen while the restore Job existed and had not
	// finished (it must stay empty).
	podsDuringJob []string
	// maxPodsQuiescing is the most app pods seen while the phase was Quiescing.
	maxPodsQuiescing int
	// appPodNames are every app pod seen, by name.
	appPodNames map[string]bool
	// done is closed when the observer saw the restore finished.
	done chan struct{}
}

// seen waits until the observer saw the restore finished, then returns it locked.
func (w *restoreWatch) seen(ctx context.Context) *restoreWatch {
	GinkgoHelper()
	Eventually(w.done).WithContext(ctx).WithTimeout(10*time.Second).Should(BeClosed(), "the observer sees the finished restore")
	w.mu.Lock()
	DeferCleanup(w.mu.Unlock)
	return w
}

// watchRestore polls every 100ms until the restore is finished or ctx ends.
func watchRestore(ctx context.Context, name string) *restoreWatch {
	w := &restoreWatch{appPodNames: map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(w.done)
		jobName := name + "-restore"
		jobState := func() (exists, finished bool) {
			j := &batchv1.Job{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobName}, j); err != nil {
				return false, false
			}
			for _, c := range j.Status.Conditions {
				if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
					return true, true
				}
			}
			return true, false
		}
		for ctx.Err() == nil {
			// Job, pods, Job: a Job that existed before the pods were listed was
			// created after the pods were gone, and one unfinished after the listing
			// had not let the controller scale back up when they were listed.
			existed, _ := jobState()
			pods, perr := appPods(ctx)
			_, finished := jobState()
			rs := &opsv1alpha1.DatabaseRestore{}
			rerr := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs)
			if perr == nil && rerr == nil {
				w.mu.Lock()
				if !slices.Contains(w.phases, rs.Status.Phase) {
					w.phases = append(w.phases, rs.Status.Phase)
				}
				for _, p := range pods {
					w.appPodNames[p.Name] = true
				}
				if existed && !finished {
					for _, p := range pods {
						w.podsDuringJob = append(w.podsDuringJob, p.Name+" ("+string(p.Status.Phase)+")")
					}
				}
				switch rs.Status.Phase {
				case opsv1alpha1.RestorePhaseQuiescing:
					w.maxPodsQuiescing = max(w.maxPodsQuiescing, len(pods))
				case opsv1alpha1.RestorePhaseRestoring:
					if len(pods) == 0 {
						w.zeroWhileRestoring = true
					}
				}
				w.mu.Unlock()
				if rs.Status.Phase == opsv1alpha1.RestorePhaseCompleted || rs.Status.Phase == opsv1alpha1.RestorePhaseFailed {
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	DeferCleanup(func() { <-w.done })
	return w
}

// newDatabase creates database db and its Secret secretName (the demo database's,
// with dbname db), and drops both, and every database whose name starts with db (a
// restore's kept ones), after the spec or container.
func newDatabase(ctx context.Context, db, secretName string) {
	GinkgoHelper()
	By("creating database " + db + " and its Secret " + secretName)
	execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	execSQL(ctx, "postgres", "CREATE DATABASE "+db)
	src, err := clientset.CoreV1().Secrets(ns).Get(ctx, devcluster.DemoDBSecret, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns}, Data: map[string][]byte{}}
	for k, v := range src.Data {
		secret.Data[k] = v
	}
	secret.Data["dbname"] = []byte(db)
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		for _, d := range databasesLike(ctx, db) {
			execSQL(ctx, "postgres", fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", pgx.Identifier{d}.Sanitize()))
		}
	})
}

// seededAppDatabase is newDatabase with the app's migrations and its seed command
// (orgs organizations) run on it by Jobs whose names start with db's.
func seededAppDatabase(ctx context.Context, db, secretName string, orgs int) {
	GinkgoHelper()
	newDatabase(ctx, db, secretName)
	By("running the app's migrations and its seed command")
	for _, j := range []*batchv1.Job{
		demo.MigrateJob(secretName),
		demo.ManageJob("seed", demo.AppTag, secretName, "seed", "--organizations", fmt.Sprint(orgs)),
	} {
		j.Name, j.Namespace = strings.ReplaceAll(db, "_", "-")+"-"+j.Name, ns
		Expect(k8sClient.Create(ctx, j)).To(Succeed())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobComplete))
	}
}

// finishedRestore waits until the restore is Completed or Failed and returns it.
func finishedRestore(ctx context.Context, name string) *opsv1alpha1.DatabaseRestore {
	GinkgoHelper()
	rs := &opsv1alpha1.DatabaseRestore{}
	Eventually(func(g Gomega) opsv1alpha1.RestorePhase {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs)).To(Succeed())
		return rs.Status.Phase
	}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(250*time.Millisecond).Should(
		Or(Equal(opsv1alpha1.RestorePhaseCompleted), Equal(opsv1alpha1.RestorePhaseFailed)),
		managerLog)
	return rs
}

var _ = Describe("DatabaseRestore with the manager on the devcluster", Ordered, ContinueOnFailure, func() {
	var (
		backup     *opsv1alpha1.DatabaseBackup
		atBackup   map[string]string
		oldPods    []string
		backupName = "e2e-restore-source"
	)

	BeforeAll(func(ctx SpecContext) {
		seededAppDatabase(ctx, restoreDB, restoreDBSecret, restoreOrgs)

		By("deploying the demo app with 2 replicas on that database")
		dep := demo.AppDeployment(restoreApp, demo.AppTag, restoreDBSecret, restoreReplicas)
		dep.Namespace = ns
		Expect(k8sClient.Create(ctx, dep)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, dep))).To(Succeed())
			Eventually(func(g Gomega) []corev1.Pod {
				pods, err := appPods(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				return pods
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty(), "the app's pods are gone before its database is dropped")
		})
		expectAppReady(ctx, time.Minute)

		By("backing the database up")
		spec := backupSpec("e2e-restore", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete)
		spec.Database.SecretRef.Name = restoreDBSecret
		createBackup(ctx, backupName, spec)
		backup = finishedBackup(ctx, backupName)
		Expect(backup.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(backup, opsv1alpha1.ConditionReady).Message)
		atBackup = tableChecksums(ctx, restoreDB)
		GinkgoWriter.Printf("checksums at backup time: %v\n", atBackup)
		pods, err := appPods(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, p := range pods {
			oldPods = append(oldPods, p.Name)
		}
		Expect(oldPods).To(HaveLen(restoreReplicas))
	}, NodeTimeout(4*time.Minute))

	It("stops the app, restores the backup by swapping databases, keeps the changed one and brings the app back", func(ctx SpecContext) {
		By("changing data after the backup")
		changeData(ctx)
		changed := tableChecksums(ctx, restoreDB)
		Expect(changed).NotTo(Equal(atBackup))
		changedSubscriptions := subscriptionCount(ctx, restoreDB)
		Expect(changedSubscriptions).To(BeNumerically("<", restoreOrgs))

		By("restoring the backup, quiescing the app")
		const name = "e2e-restore"
		createRestore(ctx, name, opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: backupName}})
		w := watchRestore(ctx, name)
		rs := finishedRestore(ctx, name)
		Expect(rs.Status.Phase).To(Equal(opsv1alpha1.RestorePhaseCompleted), "Ready: %s", conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionReady).Message)

		By("the app had no pods while the restore ran")
		w.seen(ctx)
		GinkgoWriter.Printf("phases seen %v; at most %d pods while Quiescing; app pods seen %v\n", w.phases, w.maxPodsQuiescing, w.appPodNames)
		Expect(w.phases).To(ContainElements(opsv1alpha1.RestorePhaseRestoring, opsv1alpha1.RestorePhaseCompleted))
		Expect(w.zeroWhileRestoring).To(BeTrue(), "the pod count reached 0 while the phase was Restoring")
		Expect(w.podsDuringJob).To(BeEmpty(), "no app pod existed while the restore Job ran")

		By("the app is back at 2 ready replicas, with new pods")
		expectAppReady(ctx, time.Minute)
		pods, err := appPods(ctx)
		Expect(err).NotTo(HaveOccurred())
		var now []string
		for _, p := range pods {
			now = append(now, p.Name)
		}
		Expect(now).To(HaveLen(restoreReplicas))
		for _, p := range oldPods {
			Expect(now).NotTo(ContainElement(p), "the pods from before the restore were stopped")
		}
		job := &batchv1.Job{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rs.Status.JobName}, job)).To(Succeed())
		Expect(job.Status.Succeeded).To(BeEquivalentTo(1))
		Expect(job.Status.CompletionTime).NotTo(BeNil())
		for _, p := range pods {
			Expect(p.CreationTimestamp.Time).To(BeTemporally(">=", job.Status.StartTime.Time),
				"pod %s was created after the restore Job started", p.Name)
		}

		By("the database holds exactly the data of the backup again")
		Expect(tableChecksums(ctx, restoreDB)).To(Equal(atBackup))

		By("the replaced database is kept under status.previousDatabase, with the changed data")
		Expect(rs.Status.PreviousDatabase).To(MatchRegexp("^" + restoreDB + `_pre_restore_\d+$`))
		Expect(databasesLike(ctx, restoreDB+"_pre_restore_")).To(ConsistOf(rs.Status.PreviousDatabase))
		Expect(tableChecksums(ctx, rs.Status.PreviousDatabase)).To(Equal(changed))
		Expect(subscriptionCount(ctx, rs.Status.PreviousDatabase)).To(Equal(changedSubscriptions))
		Expect(databasesLike(ctx, restoreDB+"_restoring_")).To(BeEmpty(), "no half-restored database is left")

		By("status and conditions tell what happened")
		Expect(rs.Status.RestoredDatabase).To(Equal(restoreDB))
		Expect(rs.Status.SourceLocation).To(Equal(backup.Status.Location))
		Expect(rs.Status.TablesRestored).To(BeNumerically(">=", 3))
		Expect(rs.Status.RowsRestored).To(BeNumerically(">=", 7*restoreOrgs))
		Expect(rs.Status.QuiescedWorkloads).To(ConsistOf(opsv1alpha1.QuiescedWorkload{Name: restoreApp, Kind: "Deployment", Replicas: restoreReplicas}))
		Expect(rs.Status.StartTime).NotTo(BeNil())
		Expect(rs.Status.CompletionTime).NotTo(BeNil())
		for _, t := range []string{opsv1alpha1.ConditionQuiesced, opsv1alpha1.ConditionRestored, opsv1alpha1.ConditionResumed, opsv1alpha1.ConditionReady} {
			Expect(conditionIn(rs.Status.Conditions, t).Status).To(Equal(metav1.ConditionTrue), t)
		}
		Expect(conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionRestored).Message).To(ContainSubstring(rs.Status.PreviousDatabase))
		Expect(conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionResumed).Message).To(ContainSubstring(restoreApp + " to 2"))
		Eventually(func(g Gomega) []string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
			return rs.Finalizers
		}).WithContext(ctx).WithTimeout(10*time.Second).Should(BeEmpty(), "a finished restore drops its finalizer: it holds nothing")

		By("events tell the story, the completion included")
		Eventually(func() []string { return eventsAbout(ctx, "DatabaseRestore", name) }).WithContext(ctx).WithTimeout(10 * time.Second).Should(And(
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonQuiescing+": ")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonQuiesced+": ")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonRestoring+": ")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonSucceeded+": Restored ")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonResuming+": ")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonResumed+": Scaled "+restoreApp+" to 2 replicas")),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonSucceeded+": Completed: ")),
		))
		Expect(eventsAbout(ctx, "DatabaseRestore", name)).NotTo(ContainElement(HavePrefix("Warning ")))
	}, SpecTimeout(3*time.Minute))

	It("refuses a directly given S3 object whose sha256 is wrong, leaves the live database as it was and resumes the app", func(ctx SpecContext) {
		Expect(backup).NotTo(BeNil(), "the backup of BeforeAll")
		before := tableChecksums(ctx, restoreDB)
		previous := databasesLike(ctx, restoreDB)
		expectAppReady(ctx, time.Minute)

		By("restoring the backup's object with a wrong sha256")
		wrong := strings.Repeat("0", 64)
		Expect(backup.Status.SHA256).NotTo(Equal(wrong))
		const name = "e2e-restore-wrong-sha"
		dst := backup.Spec.Destination.S3
		dst.Prefix = "" // status.key already starts with the prefix
		createRestore(ctx, name, opsv1alpha1.RestoreSource{S3: &opsv1alpha1.S3ObjectSource{
			S3Location: dst, Key: backup.Status.Key, SHA256: wrong}})
		w := watchRestore(ctx, name)
		rs := finishedRestore(ctx, name)
		Expect(rs.Status.Phase).To(Equal(opsv1alpha1.RestorePhaseFailed))
		Expect(rs.Status.SourceLocation).To(Equal(backup.Status.Location))

		By("the message says the checksum does not match")
		for _, t := range []string{opsv1alpha1.ConditionReady, opsv1alpha1.ConditionRestored} {
			c := conditionIn(rs.Status.Conditions, t)
			Expect(c.Status).To(Equal(metav1.ConditionFalse), t)
			Expect(c.Message).To(ContainSubstring("--sha256 "+wrong+" differs from the manifest's "+backup.Status.SHA256), t)
			Expect(c.Message).To(ContainSubstring("refusing to restore"), t)
		}
		Expect(conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue), "a person must fix the spec")
		Expect(conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionQuiesced).Status).To(Equal(metav1.ConditionTrue))
		Expect(rs.Status.PreviousDatabase).To(BeEmpty())
		Eventually(func() []string { return eventsAbout(ctx, "DatabaseRestore", name) }).WithContext(ctx).WithTimeout(10 * time.Second).Should(And(
			ContainElement(And(HavePrefix("Warning "+opsv1alpha1.ReasonJobFailed+": "), ContainSubstring("differs from the manifest's"))),
			ContainElement(HavePrefix("Normal "+opsv1alpha1.ReasonResumed+": ")),
			ContainElement(HavePrefix("Warning "+opsv1alpha1.ReasonFailed+": Failed: ")),
		))

		By("the live database is untouched and no database was added")
		Expect(tableChecksums(ctx, restoreDB)).To(Equal(before))
		Expect(databasesLike(ctx, restoreDB)).To(Equal(previous))

		By("the app was stopped for the attempt and is back at 2 ready replicas")
		w.seen(ctx)
		Expect(w.phases).To(ContainElements(opsv1alpha1.RestorePhaseRestoring, opsv1alpha1.RestorePhaseFailed))
		Expect(w.zeroWhileRestoring).To(BeTrue(), "the pod count reached 0 while the phase was Restoring")
		Expect(w.podsDuringJob).To(BeEmpty())
		Expect(conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionResumed).Status).To(Equal(metav1.ConditionTrue))
		expectAppReady(ctx, time.Minute)
	}, SpecTimeout(3*time.Minute))
})
