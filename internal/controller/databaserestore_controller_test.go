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
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
)

// The specs play the Deployment controller and the kubelet: newDeployment creates a
// Deployment with running pods, stopWorkload deletes its pods and reports zero replicas
// once the restore scaled it down, and the restore Job's pod and status are set by hand.

func newRestore(ns, name, db string, mutate ...func(*opsv1alpha1.DatabaseRestore)) *opsv1alpha1.DatabaseRestore {
	r := &opsv1alpha1.DatabaseRestore{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source: opsv1alpha1.RestoreSource{S3: &opsv1alpha1.S3ObjectSource{
				S3Location: opsv1alpha1.S3Location{
					Bucket: "saas-backups", Prefix: "legacy", Region: "eu-central-1",
					CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: "s3-creds"},
				},
				Key: "saas-2026-11-01.dump.gz", SHA256: testSHA,
			}},
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: db}},
		},
	}
	for _, m := range mutate {
		m(r)
	}
	return r
}

func fromBackup(name string) func(*opsv1alpha1.DatabaseRestore) {
	return func(r *opsv1alpha1.DatabaseRestore) {
		r.Spec.Source = opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: name}}
	}
}

func quiescing(deployments ...string) func(*opsv1alpha1.DatabaseRestore) {
	return func(r *opsv1alpha1.DatabaseRestore) {
		if r.Spec.Quiesce == nil {
			r.Spec.Quiesce = &opsv1alpha1.Quiesce{}
		}
		r.Spec.Quiesce.Deployments = deployments
	}
}

func restoreResult(previous string) string {
	return fmt.Sprintf(`{"command":"restore","bucket":"saas-backups","database":"saas","previousDatabase":%q,"mode":"swap","tables":5,"rows":1008043,"sha256":%q,"serverVersion":"15.18","durationSeconds":4.5}`, previous, testSHA)
}

func fetchRestore(ctx context.Context, r *opsv1alpha1.DatabaseRestore) *opsv1alpha1.DatabaseRestore {
	out := &opsv1alpha1.DatabaseRestore{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(r), out)).To(Succeed())
	return out
}

// watchRestorePhases records every phase the API server stores for r from now on (a
// watch sees each write, however quickly the next one follows).
func watchRestorePhases(ctx context.Context, r *opsv1alpha1.DatabaseRestore) func() map[opsv1alpha1.RestorePhase]bool {
	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &opsv1alpha1.DatabaseRestoreList{}, client.InNamespace(r.Namespace),
		client.MatchingFields{"metadata.name": r.Name})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	seen := map[opsv1alpha1.RestorePhase]bool{}
	go func() {
		for ev := range w.ResultChan() {
			if o, ok := ev.Object.(*opsv1alpha1.DatabaseRestore); ok {
				mu.Lock()
				seen[o.Status.Phase] = true
				mu.Unlock()
			}
		}
	}()
	return func() map[opsv1alpha1.RestorePhase]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

func restorePhase(ctx context.Context, r *opsv1alpha1.DatabaseRestore) func() opsv1alpha1.RestorePhase {
	return func() opsv1alpha1.RestorePhase {
		out := &opsv1alpha1.DatabaseRestore{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r), out); err != nil {
			return "<" + opsv1alpha1.RestorePhase(err.Error()) + ">"
		}
		return out.Status.Phase
	}
}

// restoreCondition returns "Status Reason: Message" of one condition, for Eventually.
func restoreCondition(ctx context.Context, r *opsv1alpha1.DatabaseRestore, condType string) func() string {
	return func() string {
		out := &opsv1alpha1.DatabaseRestore{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r), out); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(out.Status.Conditions, condType)
		if c == nil {
			return "<none>"
		}
		return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
	}
}

func gone(ctx context.Context, obj client.Object) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)))
	}
}

// completedBackup runs a DatabaseBackup to Completed as the backup specs do.
func completedBackup(ctx context.Context, ns, name, db string) *opsv1alpha1.DatabaseBackup {
	GinkgoHelper()
	b := newBackup(ns, name, db)
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	job := runningBackupJob(ctx, b)
	terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
	finishJob(ctx, job)
	Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
	return fetch(ctx, b)
}

// newDeployment creates a Deployment with replicas running pods, as if rolled out.
func newDeployment(ctx context.Context, ns, name string, replicas int32) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/saas/backend:v2.4.0"}}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec},
		},
	}
	Expect(k8sClient.Create(ctx, dep)).To(Succeed())
	for range replicas {
		Expect(k8sClient.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Namespace: ns, Labels: labels},
			Spec:       podSpec,
		})).To(Succeed())
	}
	reportReplicas(ctx, ns, name, replicas)
}

// reportReplicas sets the Deployment's status as its controller would.
func reportReplicas(ctx context.Context, ns, name string, n int32) {
	GinkgoHelper()
	Eventually(func() error {
		dep := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
			return err
		}
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		return k8sClient.Status().Update(ctx, dep)
	}).Should(Succeed())
}

func replicasOf(ctx context.Context, ns, name string) func() int32 {
	return func() int32 {
		dep := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil || dep.Spec.Replicas == nil {
			return -1
		}
		return *dep.Spec.Replicas
	}
}

// stopWorkload waits until the restore scaled name to zero, then removes its pods and
// reports zero replicas, as the Deployment controller and the kubelet would.
func stopWorkload(ctx context.Context, ns, name string) {
	GinkgoHelper()
	Eventually(replicasOf(ctx, ns, name)).Should(BeZero())
	Expect(k8sClient.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{"app": name},
		client.GracePeriodSeconds(0))).To(Succeed())
	reportReplicas(ctx, ns, name, 0)
}

func restoreJob(ctx context.Context, r *opsv1alpha1.DatabaseRestore) *batchv1.Job {
	GinkgoHelper()
	Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseRestoring))
	return getJob(ctx, r.Namespace, jobs.Name(r.Name, "restore"))
}

func newRelease(ns, name string, components ...string) *opsv1alpha1.Release {
	rel := &opsv1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       opsv1alpha1.ReleaseSpec{Version: "v2.4.0", Image: "registry.example.com/saas/backend:v2.4.0"},
	}
	for _, c := range components {
		rel.Spec.Components = append(rel.Spec.Components, opsv1alpha1.Component{Name: c})
	}
	return rel
}

func releaseAnnotation(ctx context.Context, ns, name string) func() string {
	return func() string {
		rel := &opsv1alpha1.Release{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rel); err != nil {
			return err.Error()
		}
		return rel.Annotations[opsv1alpha1.AnnotationQuiescedBy]
	}
}

var _ = Describe("DatabaseRestore", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
	})

	It("quiesces the Release and Deployments, restores with one Job and resumes them at their recorded counts", func() {
		b := completedBackup(ctx, ns, "nightly", "saas-db")
		Expect(k8sClient.Create(ctx, newRelease(ns, "saas", "web", "worker"))).To(Succeed())
		newDeployment(ctx, ns, "saas-web", 3)
		newDeployment(ctx, ns, "saas-worker", 2)
		newDeployment(ctx, ns, "beat", 1)
		r := newRestore(ns, "rollback", "saas-db", fromBackup("nightly"), quiescing("beat", "saas-web"), func(r *opsv1alpha1.DatabaseRestore) {
			r.Spec.Quiesce.ReleaseRef = &opsv1alpha1.LocalObjectReference{Name: "saas"}
		})
		Expect(k8sClient.Create(ctx, r)).To(Succeed())

		By("recording every workload's replica count, then scaling it to zero and marking the Release")
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseQuiescing))
		q := fetchRestore(ctx, r)
		Expect(q.Status.QuiescedWorkloads).To(Equal([]opsv1alpha1.QuiescedWorkload{
			{Kind: opsv1alpha1.WorkloadDeployment, Name: "saas-web", Replicas: 3},
			{Kind: opsv1alpha1.WorkloadDeployment, Name: "saas-worker", Replicas: 2},
			{Kind: opsv1alpha1.WorkloadDeployment, Name: "beat", Replicas: 1},
		}))
		Expect(q.Status.StartTime).NotTo(BeNil())
		Expect(q.Status.SourceLocation).To(Equal(b.Status.Location))
		Expect(q.Finalizers).To(ContainElement(opsv1alpha1.FinalizerRestoreWorkloads))
		for _, d := range []string{"saas-web", "saas-worker", "beat"} {
			Eventually(replicasOf(ctx, ns, d)).Should(BeZero(), d)
		}
		Eventually(releaseAnnotation(ctx, ns, "saas")).Should(Equal("rollback"))
		Expect(kstatusOf(fetchRestore(ctx, r))).To(Equal(status.InProgressStatus))

		By("waiting while any pod of the workloads remains")
		Eventually(restoreCondition(ctx, r, opsv1alpha1.ConditionQuiesced)).Should(SatisfyAll(
			HavePrefix("Unknown Quiescing"), ContainSubstring("saas-web (3 pods left)")))
		stopWorkload(ctx, ns, "saas-web")
		stopWorkload(ctx, ns, "saas-worker")
		Consistently(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseQuiescing))
		Expect(countJobs(ctx, ns, "restore")()).To(Equal(0))
		stopWorkload(ctx, ns, "beat")

		By("running one restore Job of the backup's dump once the pods are gone")
		job := restoreJob(ctx, r)
		Expect(restoreCondition(ctx, r, opsv1alpha1.ConditionQuiesced)()).To(HavePrefix("True Quiesced"))
		Expect(metav1.IsControlledBy(job, fetchRestore(ctx, r))).To(BeTrue())
		Expect(*job.Spec.ActiveDeadlineSeconds).To(Equal(int64(2 * 3600)))
		Expect(*job.Spec.BackoffLimit).To(BeZero())
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"restore", "--bucket", "saas-backups", "--key", b.Status.Key,
			"--endpoint", "http://s3.storage:9000", "--region", "eu-central-1", "--path-style", "--sha256", testSHA,
			"--mode", "swap", "--keep-previous=true", "--progress-interval", "250ms", "--termination-log", "/dev/termination-log"}))
		Eventually(func() string { return fetchRestore(ctx, r).Status.JobName }).Should(Equal(job.Name))

		By("scaling a workload that someone scales up during the restore back to zero")
		Eventually(func() error {
			dep := &appsv1.Deployment{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "beat"}, dep); err != nil {
				return err
			}
			dep.Spec.Replicas = ptr.To[int32](4)
			return k8sClient.Update(ctx, dep)
		}).Should(Succeed())
		Eventually(replicasOf(ctx, ns, "beat")).Should(BeZero())
		Eventually(eventReasons(ctx, ns, r.Name)).Should(ContainElement(opsv1alpha1.ReasonScaledUpDuringRestore))

		By("recording the agent's result and giving every workload its count back, through a Resuming phase a watcher sees")
		phases := watchRestorePhases(ctx, r)
		terminatedPod(ctx, job, 0, "pg_restore: done\n"+restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, job)
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		Eventually(phases).Should(HaveKey(opsv1alpha1.RestorePhaseCompleted))
		Expect(phases()).To(HaveKey(opsv1alpha1.RestorePhaseResuming), "the Resuming phase is written before the workloads are scaled back")
		Expect(replicasOf(ctx, ns, "saas-web")()).To(Equal(int32(3)))
		Expect(replicasOf(ctx, ns, "saas-worker")()).To(Equal(int32(2)))
		Expect(replicasOf(ctx, ns, "beat")()).To(Equal(int32(1)))
		Expect(releaseAnnotation(ctx, ns, "saas")()).To(BeEmpty())

		done := fetchRestore(ctx, r)
		Expect(done.Status.RestoredDatabase).To(Equal("saas"))
		Expect(done.Status.PreviousDatabase).To(Equal("saas_pre_restore_20261128141421"))
		Expect(done.Status.TablesRestored).To(Equal(int64(5)))
		Expect(done.Status.RowsRestored).To(Equal(int64(1008043)))
		Expect(done.Status.CompletionTime).NotTo(BeNil())
		Expect(done.Status.QuiescedWorkloads).To(HaveLen(3), "the record stays for a person to read")
		for _, c := range []string{opsv1alpha1.ConditionReady, opsv1alpha1.ConditionQuiesced, opsv1alpha1.ConditionRestored, opsv1alpha1.ConditionResumed} {
			Expect(meta.IsStatusConditionTrue(done.Status.Conditions, c)).To(BeTrue(), c)
		}
		Expect(meta.IsStatusConditionFalse(done.Status.Conditions, opsv1alpha1.ConditionReconciling)).To(BeTrue())
		Expect(meta.IsStatusConditionFalse(done.Status.Conditions, opsv1alpha1.ConditionStalled)).To(BeTrue())
		ready := meta.FindStatusCondition(done.Status.Conditions, opsv1alpha1.ConditionReady)
		Expect(ready.Message).To(ContainSubstring("kept as saas_pre_restore_20261128141421"))
		Expect(ready.Message).To(ContainSubstring("saas-web to 3, saas-worker to 2, beat to 1"))
		Expect(done.Status.ObservedGeneration).To(Equal(done.Generation))
		Expect(kstatusOf(done)).To(Equal(status.CurrentStatus))
		Eventually(func() []string { return fetchRestore(ctx, r).Finalizers }).Should(BeEmpty())
		Eventually(eventReasons(ctx, ns, r.Name)).Should(ContainElements(opsv1alpha1.ReasonQuiescing, opsv1alpha1.ReasonQuiesced,
			opsv1alpha1.ReasonRestoring, opsv1alpha1.ReasonSucceeded, opsv1alpha1.ReasonResuming, opsv1alpha1.ReasonResumed))
		By("recording the Job's success and the completion as two events (the same reconcile sends both)")
		Eventually(eventNotes(ctx, ns, r.Name)).Should(ContainElements(
			HavePrefix("Restored "), HavePrefix("Completed: Restored ")))
		Consistently(countJobs(ctx, ns, "restore")).Should(Equal(1), "a finished restore is never re-run")
		Expect(fetchRestore(ctx, r).Status.Phase).To(Equal(opsv1alpha1.RestorePhaseCompleted))
	})

	It("resumes the workloads at their recorded counts and stalls with the agent's message when the restore Job fails", func() {
		newDeployment(ctx, ns, "api", 2)
		r := newRestore(ns, "bad-dump", "saas-db", quiescing("api"))
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		stopWorkload(ctx, ns, "api")
		job := restoreJob(ctx, r)
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--key", "legacy/saas-2026-11-01.dump.gz", "--sha256", testSHA))
		terminatedPod(ctx, job, 1, `{"command":"restore","error":"SHA-256 mismatch for s3://saas-backups/legacy/saas-2026-11-01.dump.gz: expected c113…, got 9f2e…: the object is damaged or was replaced; nothing was restored and no database was touched","permanent":true,"durationSeconds":3.1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		Expect(replicasOf(ctx, ns, "api")()).To(Equal(int32(2)))
		failed := fetchRestore(ctx, r)
		stalled := meta.FindStatusCondition(failed.Status.Conditions, opsv1alpha1.ConditionStalled)
		Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		Expect(stalled.Reason).To(Equal(opsv1alpha1.ReasonJobFailed))
		Expect(stalled.Message).To(ContainSubstring("SHA-256 mismatch"))
		Expect(stalled.Message).To(ContainSubstring("retrying will not help"))
		Expect(stalled.Message).To(ContainSubstring("Scaled api to 2 replicas"))
		Expect(meta.FindStatusCondition(failed.Status.Conditions, opsv1alpha1.ConditionRestored).Status).To(Equal(metav1.ConditionFalse))
		Expect(meta.IsStatusConditionTrue(failed.Status.Conditions, opsv1alpha1.ConditionResumed)).To(BeTrue())
		Expect(meta.IsStatusConditionFalse(failed.Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(failed.Status.CompletionTime).NotTo(BeNil())
		Expect(failed.Status.PreviousDatabase).To(BeEmpty())
		Expect(kstatusOf(failed)).To(Equal(status.FailedStatus))
		Eventually(eventReasons(ctx, ns, r.Name)).Should(ContainElements(opsv1alpha1.ReasonJobFailed, opsv1alpha1.ReasonResumed, opsv1alpha1.ReasonFailed))
		Eventually(func() []string { return fetchRestore(ctx, r).Finalizers }).Should(BeEmpty())
		Consistently(countJobs(ctx, ns, "restore")).Should(Equal(1))
	})

	It("keeps the workloads stopped after a failure when asked to, and resumes them when the restore is deleted", func() {
		Expect(k8sClient.Create(ctx, newRelease(ns, "saas", "web"))).To(Succeed())
		newDeployment(ctx, ns, "saas-web", 2)
		r := newRestore(ns, "inspect", "saas-db", func(r *opsv1alpha1.DatabaseRestore) {
			r.Spec.Quiesce = &opsv1alpha1.Quiesce{ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"}, KeepStoppedOnFailure: true}
			r.Spec.Timeout = opsv1alpha1.DurationOf(30 * time.Minute)
		})
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		stopWorkload(ctx, ns, "saas-web")
		job := restoreJob(ctx, r)
		failJob(ctx, job, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")

		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		Eventually(restoreCondition(ctx, r, opsv1alpha1.ConditionResumed)).Should(HavePrefix("False KeptStopped"))
		Expect(restoreCondition(ctx, r, opsv1alpha1.ConditionStalled)()).To(SatisfyAll(
			HavePrefix("True DeadlineExceeded"), ContainSubstring("timed out after 30m"),
			ContainSubstring("delete this DatabaseRestore to scale them back to saas-web (2 replicas)")))
		Expect(kstatusOf(fetchRestore(ctx, r))).To(Equal(status.FailedStatus))
		Consistently(replicasOf(ctx, ns, "saas-web")).Should(BeZero())
		Expect(releaseAnnotation(ctx, ns, "saas")()).To(Equal("inspect"))
		Expect(fetchRestore(ctx, r).Finalizers).To(ContainElement(opsv1alpha1.FinalizerRestoreWorkloads))

		Expect(k8sClient.Delete(ctx, r)).To(Succeed())
		Eventually(gone(ctx, r)).Should(BeTrue())
		Expect(replicasOf(ctx, ns, "saas-web")()).To(Equal(int32(2)))
		Expect(releaseAnnotation(ctx, ns, "saas")()).To(BeEmpty())
	})

	It("resumes correctly after manager restarts while quiesced and while restoring, with exactly one restore Job", func() {
		newDeployment(ctx, ns, "web", 3)
		newDeployment(ctx, ns, "worker", 2)
		r := newRestore(ns, "restarted", "saas-db", quiescing("web", "worker"))
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseQuiescing))
		Eventually(replicasOf(ctx, ns, "web")).Should(BeZero())
		Eventually(replicasOf(ctx, ns, "worker")).Should(BeZero())

		By("the pods going away while no manager runs")
		restartManager(func() {
			stopWorkload(ctx, ns, "web")
			stopWorkload(ctx, ns, "worker")
		})
		job := restoreJob(ctx, r)
		Expect(fetchRestore(ctx, r).Status.QuiescedWorkloads).To(ConsistOf(
			HaveField("Replicas", int32(3)), HaveField("Replicas", int32(2))), "the counts recorded before the scale-down, not zero")

		By("a second restart while the Job runs adopts it")
		restartManager(nil)
		Consistently(countJobs(ctx, ns, "restore")).Should(Equal(1))
		terminatedPod(ctx, job, 0, restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, job)
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		Expect(replicasOf(ctx, ns, "web")()).To(Equal(int32(3)))
		Expect(replicasOf(ctx, ns, "worker")()).To(Equal(int32(2)))
		Expect(countJobs(ctx, ns, "restore")()).To(Equal(1))
	})

	It("gives back the recorded count after a crash between scaling a workload down and the next status write", func() {
		newDeployment(ctx, ns, "cron", 0) // already scaled to zero by the crashed manager
		r := newRestore(ns, "crashed", "saas-db", quiescing("cron"))
		restartManager(func() {
			Expect(k8sClient.Create(ctx, r)).To(Succeed())
			r.Status.Phase = opsv1alpha1.RestorePhaseQuiescing
			r.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute).Truncate(time.Second)}
			r.Status.SourceLocation = "s3://saas-backups/legacy/saas-2026-11-01.dump.gz"
			r.Status.QuiescedWorkloads = []opsv1alpha1.QuiescedWorkload{{Kind: opsv1alpha1.WorkloadDeployment, Name: "cron", Replicas: 4}}
			Expect(k8sClient.Status().Update(ctx, r)).To(Succeed())
		})
		job := restoreJob(ctx, r)
		terminatedPod(ctx, job, 0, restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, job)
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		Expect(replicasOf(ctx, ns, "cron")()).To(Equal(int32(4)))
	})

	It("waits for a source backup that is missing or running, and refuses a failed one without touching the workloads", func() {
		newDeployment(ctx, ns, "web", 2)
		early := newRestore(ns, "early", "saas-db", fromBackup("later"), quiescing("web"))
		Expect(k8sClient.Create(ctx, early)).To(Succeed())
		Eventually(restoreCondition(ctx, early, opsv1alpha1.ConditionReconciling)).Should(Equal(
			"True WaitingForSource: DatabaseBackup later does not exist (yet); the restore starts when it is Completed. Nothing was stopped"))
		Expect(fetchRestore(ctx, early).Status.Phase).To(Equal(opsv1alpha1.RestorePhasePending))
		Expect(kstatusOf(fetchRestore(ctx, early))).To(Equal(status.InProgressStatus))

		By("the backup, created after the restore that waits for it, is not held back by it")
		time.Sleep(1100 * time.Millisecond) // creationTimestamps have one-second resolution
		later := newBackup(ns, "later", "saas-db")
		Expect(k8sClient.Create(ctx, later)).To(Succeed())
		bjob := runningBackupJob(ctx, later)
		Eventually(restoreCondition(ctx, early, opsv1alpha1.ConditionReconciling)).Should(ContainSubstring("DatabaseBackup later is Running"))
		Consistently(replicasOf(ctx, ns, "web")).Should(Equal(int32(2)))
		Expect(fetchRestore(ctx, early).Status.QuiescedWorkloads).To(BeEmpty())

		terminatedPod(ctx, bjob, 0, backupResult(fetch(ctx, later).Status.Key))
		finishJob(ctx, bjob)
		Eventually(restorePhase(ctx, early)).Should(Equal(opsv1alpha1.RestorePhaseQuiescing))
		stopWorkload(ctx, ns, "web")
		job := restoreJob(ctx, early)
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(ContainElements(fetch(ctx, later).Status.Key, testSHA))

		By("a failed backup is refused")
		createSecrets(ctx, ns, "other-db")
		broken := newBackup(ns, "broken", "other-db")
		Expect(k8sClient.Create(ctx, broken)).To(Succeed())
		brokenJob := runningBackupJob(ctx, broken)
		failJob(ctx, brokenJob, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(phaseOf(ctx, broken)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		newDeployment(ctx, ns, "reports", 1)
		refused := newRestore(ns, "refused", "other-db", fromBackup("broken"), quiescing("reports"))
		Expect(k8sClient.Create(ctx, refused)).To(Succeed())
		Eventually(restorePhase(ctx, refused)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		Expect(restoreCondition(ctx, refused, opsv1alpha1.ConditionStalled)()).To(SatisfyAll(
			HavePrefix("True SourceFailed: DatabaseBackup broken failed"), ContainSubstring("nothing was stopped or restored")))
		Expect(kstatusOf(fetchRestore(ctx, refused))).To(Equal(status.FailedStatus))
		Consistently(replicasOf(ctx, ns, "reports")).Should(Equal(int32(1)))
		Expect(fetchRestore(ctx, refused).Status.QuiescedWorkloads).To(BeEmpty())
		Expect(countJobs(ctx, ns, "restore")()).To(Equal(1), "only the first restore's Job")
		Eventually(func() []string { return fetchRestore(ctx, refused).Finalizers }).Should(BeEmpty())
	})

	It("waits for a running backup of the same database, and a backup created meanwhile waits for it", func() {
		newDeployment(ctx, ns, "web", 2)
		running := newBackup(ns, "running", "saas-db")
		Expect(k8sClient.Create(ctx, running)).To(Succeed())
		bjob := runningBackupJob(ctx, running)
		r := newRestore(ns, "queued", "saas-db", quiescing("web"))
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		Eventually(restoreCondition(ctx, r, opsv1alpha1.ConditionReconciling)).Should(Equal(
			"True WaitingForDatabaseLock: Waiting for DatabaseBackup running which is running against database Secret saas-db"))
		Consistently(replicasOf(ctx, ns, "web")).Should(Equal(int32(2)))
		Expect(countJobs(ctx, ns, "restore")()).To(Equal(0))

		terminatedPod(ctx, bjob, 0, backupResult(fetch(ctx, running).Status.Key))
		finishJob(ctx, bjob)
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseQuiescing))
		Eventually(replicasOf(ctx, ns, "web")).Should(BeZero())

		after := newBackup(ns, "after", "saas-db")
		Expect(k8sClient.Create(ctx, after)).To(Succeed())
		Eventually(func() string {
			c := meta.FindStatusCondition(fetch(ctx, after).Status.Conditions, opsv1alpha1.ConditionReady)
			if c == nil {
				return ""
			}
			return c.Message
		}).Should(Equal("Waiting for DatabaseRestore queued which is running against database Secret saas-db"))
		Expect(countJobs(ctx, ns, "backup")()).To(Equal(1))
	})

	It("runs InPlace only with confirmInPlace, which the API server enforces", func() {
		err := k8sClient.Create(ctx, newRestore(ns, "unconfirmed", "saas-db", func(r *opsv1alpha1.DatabaseRestore) {
			r.Spec.Mode = opsv1alpha1.RestoreModeInPlace
		}))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("set confirmInPlace: true"))

		r := newRestore(ns, "confirmed", "saas-db", func(r *opsv1alpha1.DatabaseRestore) {
			r.Spec.Mode, r.Spec.ConfirmInPlace = opsv1alpha1.RestoreModeInPlace, true
		})
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		job := restoreJob(ctx, r)
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--mode", "inplace", "--confirm-inplace"))
		Expect(job.Spec.Template.Spec.Containers[0].Args).NotTo(ContainElement(HavePrefix("--keep-previous")))
		Expect(restoreCondition(ctx, r, opsv1alpha1.ConditionQuiesced)()).To(HavePrefix("True NothingToQuiesce"))
	})

	It("stops the restore Job and resumes the workloads when deleted mid-way", func() {
		newDeployment(ctx, ns, "web", 3)
		r := newRestore(ns, "cancelled", "saas-db", quiescing("web"))
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		stopWorkload(ctx, ns, "web")
		job := restoreJob(ctx, r)

		Expect(k8sClient.Delete(ctx, r)).To(Succeed())
		Eventually(func() bool {
			j := &batchv1.Job{}
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(job), j) == nil && !j.DeletionTimestamp.IsZero()
		}).Should(BeTrue(), "the running restore Job is stopped")
		Consistently(replicasOf(ctx, ns, "web")).Should(BeZero(), "nothing resumes while the agent may still be restoring")
		Expect(gone(ctx, r)()).To(BeFalse())

		By("the garbage collector removing the Job once its pods are gone")
		Eventually(func() error {
			j := &batchv1.Job{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), j); err != nil {
				return err
			}
			j.Finalizers = nil
			return k8sClient.Update(ctx, j)
		}).Should(Succeed())
		Eventually(gone(ctx, r)).Should(BeTrue())
		Expect(replicasOf(ctx, ns, "web")()).To(Equal(int32(3)))
		Expect(eventReasons(ctx, ns, r.Name)()).To(ContainElements(opsv1alpha1.ReasonCancelled, opsv1alpha1.ReasonResumed))
	})

	It("never puts a secret value in Job arguments or env values, status or events", func() {
		newDeployment(ctx, ns, "web", 1)
		ok := newRestore(ns, "leak-ok", "saas-db", quiescing("web"))
		createSecrets(ctx, ns, "other-db")
		bad := newRestore(ns, "leak-bad", "other-db")
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		stopWorkload(ctx, ns, "web")
		okJob := restoreJob(ctx, ok)
		terminatedPod(ctx, okJob, 0, restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, okJob)
		badJob := restoreJob(ctx, bad)
		terminatedPod(ctx, badJob, 1, "panic: something\ngoroutine 1 [running]:\nPGPASSWORD="+dbPassword) // a raw log tail
		failJob(ctx, badJob, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(restorePhase(ctx, ok)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		Eventually(restorePhase(ctx, bad)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		Expect(restoreCondition(ctx, bad, opsv1alpha1.ConditionStalled)()).To(ContainSubstring("without a readable result"))
		Eventually(func() int { return len(eventsFor(ctx, ns, bad.Name)) }).Should(BeNumerically(">=", 3))

		leak := regexp.MustCompile(regexp.QuoteMeta(dbPassword) + "|" + regexp.QuoteMeta(s3Secret))
		var jobList batchv1.JobList
		Expect(k8sClient.List(ctx, &jobList, client.InNamespace(ns))).To(Succeed())
		Expect(jobList.Items).To(HaveLen(2))
		var restores opsv1alpha1.DatabaseRestoreList
		Expect(k8sClient.List(ctx, &restores, client.InNamespace(ns))).To(Succeed())
		var evs eventsv1.EventList
		Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		for _, obj := range []any{jobList, restores, evs} {
			raw, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(leak.Find(raw)).To(BeNil(), "secret value found in %T", obj)
		}
		// The check can fail: the pod's termination message holds the password.
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		raw, _ := json.Marshal(pods)
		Expect(strings.Contains(string(raw), dbPassword)).To(BeTrue())
	})
})

// eventNotes returns the notes of the events about the named object, for Eventually.
func eventNotes(ctx context.Context, ns, name string) func() []string {
	return func() []string {
		var notes []string
		for _, e := range eventsFor(ctx, ns, name) {
			notes = append(notes, e.Note)
		}
		return notes
	}
}
