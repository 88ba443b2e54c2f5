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
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
)

// Recognisable secret values: no Job argument, status or event may contain them.
const (
	dbPassword = "Pw-7f3c9-DO-NOT-LEAK"
	s3Secret   = "S3k-91ab2-DO-NOT-LEAK"
	testSHA    = "c113a5e8d2b1f0e9c113a5e8d2b1f0e9c113a5e8d2b1f0e9c113a5e8d2b1f0e9"
)

func createSecrets(ctx context.Context, ns, db string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: db, Namespace: ns},
		StringData: map[string]string{"host": "pg.example", "port": "5432", "dbname": "saas", "user": "saas", "password": dbPassword},
	})).To(Succeed())
	err := k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3-creds", Namespace: ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": s3Secret},
	})
	if !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
}

func newBackup(ns, name, db string, mutate ...func(*opsv1alpha1.DatabaseBackup)) *opsv1alpha1.DatabaseBackup {
	b := &opsv1alpha1.DatabaseBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.DatabaseBackupSpec{
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: db}},
			Destination: opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{
				Bucket: "saas-backups", Prefix: "prod", Region: "eu-central-1",
				Endpoint: "http://s3.storage:9000", ForcePathStyle: true,
				CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: "s3-creds"},
			}},
		},
	}
	for _, m := range mutate {
		m(b)
	}
	return b
}

func backupResult(key string) string {
	return fmt.Sprintf(`{"command":"backup","bucket":"saas-backups","key":%q,"location":"s3://saas-backups/%s","sizeBytes":9000713,"sha256":%q,"compression":"zstd","serverVersion":"15.18","durationSeconds":12.4,"database":"saas"}`, key, key, testSHA)
}

func fetch(ctx context.Context, b *opsv1alpha1.DatabaseBackup) *opsv1alpha1.DatabaseBackup {
	out := &opsv1alpha1.DatabaseBackup{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(b), out)).To(Succeed())
	return out
}

func phaseOf(ctx context.Context, b *opsv1alpha1.DatabaseBackup) func() opsv1alpha1.BackupPhase {
	return func() opsv1alpha1.BackupPhase {
		out := &opsv1alpha1.DatabaseBackup{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(b), out); err != nil {
			return "<" + opsv1alpha1.BackupPhase(err.Error()) + ">"
		}
		return out.Status.Phase
	}
}

// runningBackupJob waits until b runs and returns its Job.
func runningBackupJob(ctx context.Context, b *opsv1alpha1.DatabaseBackup) *batchv1.Job {
	GinkgoHelper()
	Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseRunning))
	return getJob(ctx, b.Namespace, jobs.Name(b.Name, "backup"))
}

func kstatusOf(obj client.Object) status.Status {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func eventsFor(ctx context.Context, ns, name string) []eventsv1.Event {
	var list eventsv1.EventList
	ExpectWithOffset(1, k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(ctx context.Context, ns, name string) func() []string {
	return func() []string {
		var r []string
		for _, e := range eventsFor(ctx, ns, name) {
			r = append(r, e.Reason)
		}
		return r
	}
}

func countJobs(ctx context.Context, ns, component string) func() int {
	return func() int {
		var list batchv1.JobList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{jobs.LabelComponent: component})).To(Succeed())
		return len(list.Items)
	}
}

var _ = Describe("DatabaseBackup", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
	})

	It("runs one hardened agent Job and records the agent's result when it succeeds", func() {
		b := newBackup(ns, "manual", "saas-db", func(b *opsv1alpha1.DatabaseBackup) {
			b.Spec.Timeout = opsv1alpha1.DurationOf(45 * time.Minute)
		})
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)

		running := fetch(ctx, b)
		Expect(running.Status.Key).To(MatchRegexp(`^prod/` + ns + `/manual/\d{8}T\d{6}Z\.dump\.zst$`))
		Expect(running.Status.StartTime).NotTo(BeNil())
		Expect(running.Finalizers).To(BeEmpty(), "Retain needs no finalizer")
		Eventually(func() string { return fetch(ctx, b).Status.JobName }).Should(Equal(job.Name))
		Expect(metav1.IsControlledBy(job, running)).To(BeTrue())

		By("building the Job as specified: args, deadline, retries, hardened pod")
		Expect(*job.Spec.ActiveDeadlineSeconds).To(Equal(int64(45 * 60)))
		Expect(*job.Spec.BackoffLimit).To(BeNumerically("<=", 2))
		pod := job.Spec.Template.Spec
		Expect(pod.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal(testAgentImage))
		Expect(c.Command).To(Equal([]string{"/agent"}))
		Expect(c.Args).To(Equal([]string{"backup", "--bucket", "saas-backups", "--key", running.Status.Key,
			"--endpoint", "http://s3.storage:9000", "--region", "eu-central-1", "--path-style",
			"--compression", "zstd", "--progress-interval", "250ms", "--termination-log", "/dev/termination-log"}),
			"the agent prints progress twice per refresh of the suite's 500ms --progress-interval")
		Expect(c.TerminationMessagePolicy).To(Equal(corev1.TerminationMessageFallbackToLogsOnError))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		Expect(c.Resources.Requests).NotTo(BeEmpty())
		Expect(c.Resources.Limits).NotTo(BeEmpty())
		Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", "/tmp")))
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "PG") || strings.HasPrefix(e.Name, "AWS_ACCESS") || strings.HasPrefix(e.Name, "AWS_SECRET") || e.Name == "DATABASE_URL" {
				Expect(e.Value).To(BeEmpty(), e.Name)
				Expect(e.ValueFrom.SecretKeyRef).NotTo(BeNil(), e.Name)
			}
		}
		Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "TMPDIR", Value: "/tmp"}))

		By("the pod terminates with the agent's result and the Job completes")
		terminatedPod(ctx, job, 0, "log line\n"+backupResult(running.Status.Key))
		finishJob(ctx, job)

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		done := fetch(ctx, b)
		Expect(done.Status.Location).To(Equal("s3://saas-backups/" + running.Status.Key))
		Expect(done.Status.SizeBytes).To(Equal(int64(9000713)))
		Expect(done.Status.SHA256).To(Equal(testSHA))
		Expect(done.Status.ServerVersion).To(Equal("15.18"))
		Expect(done.Status.DurationSeconds).To(Equal(int64(12)))
		Expect(done.Status.CompletionTime).NotTo(BeNil())
		Expect(done.Status.Key).To(Equal(running.Status.Key), "the key never changes")
		Expect(meta.IsStatusConditionTrue(done.Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(meta.IsStatusConditionTrue(done.Status.Conditions, opsv1alpha1.ConditionBackupSucceeded)).To(BeTrue())
		Expect(meta.IsStatusConditionFalse(done.Status.Conditions, opsv1alpha1.ConditionReconciling)).To(BeTrue())
		Expect(meta.IsStatusConditionFalse(done.Status.Conditions, opsv1alpha1.ConditionStalled)).To(BeTrue())
		Expect(done.Status.ObservedGeneration).To(Equal(done.Generation))
		Expect(kstatusOf(done)).To(Equal(status.CurrentStatus))
		Eventually(eventReasons(ctx, ns, b.Name)).Should(ContainElements(opsv1alpha1.ReasonBackingUp, opsv1alpha1.ReasonSucceeded))
		Consistently(countJobs(ctx, ns, "backup")).Should(Equal(1), "a finished backup is never re-run")
	})

	It("ends Failed and Stalled with the agent's error message when the agent fails", func() {
		b := newBackup(ns, "broken", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		terminatedPod(ctx, job, 1, `{"command":"backup","error":"PostgreSQL at pg.example:5432 rejected user \"saas\": check PGUSER/PGPASSWORD in the connection Secret","permanent":true,"durationSeconds":0.2}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		failed := fetch(ctx, b)
		stalled := meta.FindStatusCondition(failed.Status.Conditions, opsv1alpha1.ConditionStalled)
		Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		Expect(stalled.Message).To(ContainSubstring(`rejected user "saas"`))
		Expect(stalled.Message).To(ContainSubstring("retrying will not help"))
		Expect(meta.IsStatusConditionFalse(failed.Status.Conditions, opsv1alpha1.ConditionBackupSucceeded)).To(BeTrue())
		Expect(meta.IsStatusConditionFalse(failed.Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(kstatusOf(failed)).To(Equal(status.FailedStatus))
		Eventually(eventReasons(ctx, ns, b.Name)).Should(ContainElement(opsv1alpha1.ReasonJobFailed))
	})

	It("says clearly that the backup timed out when the Job's deadline is exceeded", func() {
		b := newBackup(ns, "slow", "saas-db", func(b *opsv1alpha1.DatabaseBackup) {
			b.Spec.Timeout = opsv1alpha1.DurationOf(45 * time.Minute)
		})
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		failJob(ctx, job, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		c := meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionReady)
		Expect(c.Reason).To(Equal(opsv1alpha1.ReasonDeadlineExceeded))
		Expect(c.Message).To(ContainSubstring("timed out after 45m"))
	})

	It("fails, and does not start a second dump, when its Job is deleted by hand before finishing", func() {
		b := newBackup(ns, "orphaned", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		Eventually(func() string { return fetch(ctx, b).Status.JobName }).ShouldNot(BeEmpty())
		Expect(k8sClient.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		c := meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionStalled)
		Expect(c.Reason).To(Equal(opsv1alpha1.ReasonJobDeleted))
		Expect(c.Message).To(ContainSubstring("was deleted before it finished"))
		Consistently(countJobs(ctx, ns, "backup")).Should(Equal(0))
	})

	It("adopts the running Job after a manager restart instead of starting a second dump", func() {
		b := newBackup(ns, "restarted", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		key := fetch(ctx, b).Status.Key

		restartManager(nil)
		Consistently(countJobs(ctx, ns, "backup")).Should(Equal(1))
		Expect(fetch(ctx, b).Status.Key).To(Equal(key))

		terminatedPod(ctx, job, 0, backupResult(key))
		finishJob(ctx, job)
		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		Expect(fetch(ctx, b).Status.Key).To(Equal(key))
		Expect(countJobs(ctx, ns, "backup")()).To(Equal(1))
	})

	It("uses the recorded key after a crash between recording it and creating the Job, and adopts a Job whose creation was not recorded", func() {
		var first, second *opsv1alpha1.DatabaseBackup
		restartManager(func() {
			// Crash 1: lock and key recorded, no Job yet.
			first = newBackup(ns, "crash-before-job", "saas-db")
			Expect(k8sClient.Create(ctx, first)).To(Succeed())
			first.Status.Phase = opsv1alpha1.BackupPhaseRunning
			first.Status.Key = "prod/recorded/key.dump.zst"
			first.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute).Truncate(time.Second)}
			Expect(k8sClient.Status().Update(ctx, first)).To(Succeed())

			// Crash 2: the Job exists but status.jobName was not written.
			second = newBackup(ns, "crash-after-job", "other-db")
			Expect(k8sClient.Create(ctx, second)).To(Succeed())
			second.Status.Phase = opsv1alpha1.BackupPhaseRunning
			second.Status.Key = "prod/second/key.dump.zst"
			Expect(k8sClient.Status().Update(ctx, second)).To(Succeed())
			Expect(k8sClient.Create(ctx, jobs.Backup(second, second.Status.Key, jobs.Agent{Image: testAgentImage}))).To(Succeed())
		})
		job := getJob(ctx, ns, jobs.BackupJobName(first))
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(ContainElement("prod/recorded/key.dump.zst"))
		Eventually(func() string { return fetch(ctx, second).Status.JobName }).Should(Equal(jobs.BackupJobName(second)))
		Consistently(countJobs(ctx, ns, "backup")).Should(Equal(2))
		Expect(fetch(ctx, first).Status.Key).To(Equal("prod/recorded/key.dump.zst"))
	})

	It("runs two backups of one database one after the other, saying what the second waits for", func() {
		a := newBackup(ns, "first", "saas-db")
		Expect(k8sClient.Create(ctx, a)).To(Succeed())
		jobA := runningBackupJob(ctx, a)
		time.Sleep(1100 * time.Millisecond) // creationTimestamps have one-second resolution
		other := newBackup(ns, "elsewhere", "billing-db")
		bb := newBackup(ns, "second", "saas-db")
		Expect(k8sClient.Create(ctx, bb)).To(Succeed())
		Expect(k8sClient.Create(ctx, other)).To(Succeed())

		Eventually(func() string {
			c := meta.FindStatusCondition(fetch(ctx, bb).Status.Conditions, opsv1alpha1.ConditionReconciling)
			if c == nil {
				return ""
			}
			return c.Message
		}).Should(Equal("Waiting for DatabaseBackup first which is running against database Secret saas-db"))
		Expect(fetch(ctx, bb).Status.Phase).To(Equal(opsv1alpha1.BackupPhasePending))
		Expect(fetch(ctx, bb).Status.Key).To(BeEmpty())
		runningBackupJob(ctx, other) // another database is not blocked
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobs.Name("second", "backup")}, &batchv1.Job{})
		}).Should(Satisfy(apierrors.IsNotFound))

		terminatedPod(ctx, jobA, 0, backupResult(fetch(ctx, a).Status.Key))
		finishJob(ctx, jobA)
		Eventually(phaseOf(ctx, a)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		runningBackupJob(ctx, bb)
	})

	It("waits for a restore of the same database that is running", func() {
		// A real restore (the DatabaseRestore reconciler runs in this suite): S3 source,
		// nothing to quiesce, so it goes straight to its restore Job.
		r := &opsv1alpha1.DatabaseRestore{
			ObjectMeta: metav1.ObjectMeta{Name: "restore-1", Namespace: ns},
			Spec: opsv1alpha1.DatabaseRestoreSpec{
				Source:   opsv1alpha1.RestoreSource{S3: &opsv1alpha1.S3ObjectSource{S3Location: opsv1alpha1.S3Location{Bucket: "saas-backups"}, Key: "a.dump"}},
				Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}},
			},
		}
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		rjob := getJob(ctx, ns, jobs.Name(r.Name, "restore"))

		b := newBackup(ns, "during-restore", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		Eventually(func() string {
			c := meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionReady)
			if c == nil {
				return ""
			}
			return c.Message
		}).Should(ContainSubstring("Waiting for DatabaseRestore restore-1"))
		Expect(countJobs(ctx, ns, "backup")()).To(Equal(0))

		terminatedPod(ctx, rjob, 0, `{"command":"restore","database":"saas","mode":"swap","durationSeconds":1}`)
		finishJob(ctx, rjob)
		runningBackupJob(ctx, b)
	})

	It("verifies the dump with a second Job when verify is true", func() {
		b := newBackup(ns, "verified", "saas-db", func(b *opsv1alpha1.DatabaseBackup) { b.Spec.Verify = true })
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		key := fetch(ctx, b).Status.Key
		terminatedPod(ctx, job, 0, backupResult(key))
		finishJob(ctx, job)

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseVerifying))
		vjob := getJob(ctx, ns, jobs.Name(b.Name, "verify"))
		Expect(vjob.Spec.Template.Spec.Containers[0].Args).To(ContainElements("verify", key, "--sha256", testSHA))
		terminatedPod(ctx, vjob, 0, `{"command":"verify","verified":true,"tables":5,"rows":1008043,"durationSeconds":4.5}`)
		finishJob(ctx, vjob)

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		v := meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionVerified)
		Expect(v.Status).To(Equal(metav1.ConditionTrue))
		Expect(v.Message).To(ContainSubstring("1008043 rows"))
	})

	It("fails a backup whose dump does not pass verification, keeping the root cause", func() {
		b := newBackup(ns, "unverified", "saas-db", func(b *opsv1alpha1.DatabaseBackup) { b.Spec.Verify = true })
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
		finishJob(ctx, job)
		vjob := getJob(ctx, ns, jobs.Name(b.Name, "verify"))
		terminatedPod(ctx, vjob, 1, `{"command":"verify","error":"table public.invoices: 0 rows, manifest estimates 120000","problems":["public.invoices emptied"],"durationSeconds":4.5}`)
		failJob(ctx, vjob, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		got := fetch(ctx, b)
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, opsv1alpha1.ConditionBackupSucceeded)).To(BeTrue())
		v := meta.FindStatusCondition(got.Status.Conditions, opsv1alpha1.ConditionVerified)
		Expect(v.Status).To(Equal(metav1.ConditionFalse))
		Expect(v.Message).To(ContainSubstring("public.invoices"))
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
	})

	Context("deletion", func() {
		completed := func(name string, policy opsv1alpha1.DeletionPolicy) *opsv1alpha1.DatabaseBackup {
			GinkgoHelper()
			b := newBackup(ns, name, "db-"+name, func(b *opsv1alpha1.DatabaseBackup) { b.Spec.DeletionPolicy = policy })
			createSecrets(ctx, ns, "db-"+name)
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			job := runningBackupJob(ctx, b)
			terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
			finishJob(ctx, job)
			Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
			return fetch(ctx, b)
		}
		gone := func(b *opsv1alpha1.DatabaseBackup) func() bool {
			return func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), &opsv1alpha1.DatabaseBackup{}))
			}
		}

		It("leaves the S3 objects alone with deletionPolicy Retain", func() {
			b := completed("retained", opsv1alpha1.DeletionPolicyRetain)
			Expect(k8sClient.Delete(ctx, b)).To(Succeed())
			Eventually(gone(b)).Should(BeTrue())
			Consistently(countJobs(ctx, ns, "delete")).Should(Equal(0))
		})

		It("deletes the dump and manifest through a delete Job with deletionPolicy Delete", func() {
			b := completed("deleted", opsv1alpha1.DeletionPolicyDelete)
			Expect(b.Finalizers).To(ContainElement(opsv1alpha1.FinalizerBackupObjects))
			Expect(k8sClient.Delete(ctx, b)).To(Succeed())
			djob := getJob(ctx, ns, jobs.Name(b.Name, "delete"))
			Expect(djob.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"delete", "--bucket", "saas-backups", "--key", b.Status.Key,
				"--endpoint", "http://s3.storage:9000", "--region", "eu-central-1", "--path-style", "--termination-log", "/dev/termination-log"}))
			for _, e := range djob.Spec.Template.Spec.Containers[0].Env {
				Expect(e.Name).NotTo(HavePrefix("PG"), "a delete Job needs no database credentials")
			}
			Consistently(gone(b)).Should(BeFalse(), "the finalizer holds the object until S3 is clean")
			terminatedPod(ctx, djob, 0, fmt.Sprintf(`{"command":"delete","deleted":[%q],"durationSeconds":0.1}`, b.Status.Key))
			finishJob(ctx, djob)
			Eventually(gone(b)).Should(BeTrue())
			Eventually(eventReasons(ctx, ns, b.Name)).Should(ContainElement(opsv1alpha1.ReasonDeleted))
		})

		It("keeps the finalizer and says why when the delete fails, until the policy becomes Retain", func() {
			b := completed("stuck", opsv1alpha1.DeletionPolicyDelete)
			Expect(k8sClient.Delete(ctx, b)).To(Succeed())
			djob := getJob(ctx, ns, jobs.Name(b.Name, "delete"))
			terminatedPod(ctx, djob, 1, `{"command":"delete","error":"access denied deleting s3://saas-backups/…: the credentials lack s3:DeleteObject","permanent":true,"durationSeconds":0.1}`)
			failJob(ctx, djob, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

			Eventually(func() string {
				c := meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionDeleted)
				if c == nil || c.Status != metav1.ConditionFalse {
					return ""
				}
				return c.Message
			}).Should(ContainSubstring("lack s3:DeleteObject"))
			Eventually(eventReasons(ctx, ns, b.Name)).Should(ContainElement(opsv1alpha1.ReasonDeleteFailed))
			Consistently(gone(b)).Should(BeFalse())

			got := fetch(ctx, b)
			got.Spec.DeletionPolicy = opsv1alpha1.DeletionPolicyRetain
			Expect(k8sClient.Update(ctx, got)).To(Succeed())
			Eventually(gone(b)).Should(BeTrue())
		})

		It("just drops the finalizer of a backup that never produced an object", func() {
			b := newBackup(ns, "never", "saas-db", func(b *opsv1alpha1.DatabaseBackup) { b.Spec.DeletionPolicy = opsv1alpha1.DeletionPolicyDelete })
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			job := runningBackupJob(ctx, b)
			failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
			Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
			Expect(k8sClient.Delete(ctx, b)).To(Succeed())
			Eventually(gone(b)).Should(BeTrue())
			Expect(countJobs(ctx, ns, "delete")()).To(Equal(0))
		})
	})

	It("never puts a secret value in Job arguments or env values, status or events", func() {
		ok := newBackup(ns, "leak-ok", "saas-db", func(b *opsv1alpha1.DatabaseBackup) { b.Spec.Verify = true })
		bad := newBackup(ns, "leak-bad", "other-db")
		createSecrets(ctx, ns, "other-db")
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		job := runningBackupJob(ctx, ok)
		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, ok).Status.Key))
		finishJob(ctx, job)
		vjob := getJob(ctx, ns, jobs.Name(ok.Name, "verify"))
		terminatedPod(ctx, vjob, 0, `{"command":"verify","verified":true,"durationSeconds":1}`)
		finishJob(ctx, vjob)
		badJob := runningBackupJob(ctx, bad)
		terminatedPod(ctx, badJob, 1, "panic: something\ngoroutine 1 [running]:\nPGPASSWORD="+dbPassword) // a raw log tail
		failJob(ctx, badJob, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(phaseOf(ctx, ok)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		Eventually(phaseOf(ctx, bad)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		Eventually(func() int { return len(eventsFor(ctx, ns, bad.Name)) }).Should(BeNumerically(">=", 2))

		leak := regexp.MustCompile(regexp.QuoteMeta(dbPassword) + "|" + regexp.QuoteMeta(s3Secret))
		var everything []any
		var jobList batchv1.JobList
		Expect(k8sClient.List(ctx, &jobList, client.InNamespace(ns))).To(Succeed())
		Expect(jobList.Items).To(HaveLen(3))
		var backups opsv1alpha1.DatabaseBackupList
		Expect(k8sClient.List(ctx, &backups, client.InNamespace(ns))).To(Succeed())
		var evs eventsv1.EventList
		Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		Expect(evs.Items).NotTo(BeEmpty())
		everything = append(everything, jobList, backups, evs)
		for _, obj := range everything {
			raw, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(leak.Find(raw)).To(BeNil(), "secret value found in %T", obj)
		}
		// The test can fail: the values are in the Secrets.
		var secrets corev1.SecretList
		Expect(k8sClient.List(ctx, &secrets, client.InNamespace(ns))).To(Succeed())
		raw, _ := json.Marshal(secrets)
		Expect(strings.Contains(string(raw), "UHctN2YzYzktRE8tTk9ULUxFQUs=")).To(BeTrue())
	})
})
