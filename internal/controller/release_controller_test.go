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

// Release specs. Nothing runs pods here: the specs play the Job controller, the
// Deployment controller and the kubelet (Job, Deployment and pod status), and the
// verification's HTTP checks go to an httptest server registered per namespace through
// the reconciler's injectable pod address resolution.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/argocd"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/healthcheck"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/release"
)

// releaseClockOffset moves the Release reconciler's clock forward (a rollout deadline
// of the API's minimum, 1m, passes without waiting for it).
var releaseClockOffset atomic.Int64

// podTargets maps a namespace, or "namespace/pod" for one pod, to the host:port its
// pods' checks go to.
var podTargets sync.Map

// releaseTestClock is the Release reconciler's clock: the wall clock, moved forward by
// releaseClockOffset.
var releaseTestClock = clock.Func(func() time.Time { return time.Now().Add(time.Duration(releaseClockOffset.Load())) })

// releaseTestChecker is the Release reconciler's checker: short timeouts.
var releaseTestChecker = healthcheck.HTTP{Timeout: 300 * time.Millisecond}

// testPodAddress is the Release reconciler's PodAddress: podTargets.
func testPodAddress(pod *corev1.Pod, _ int32) (string, error) {
	if a, ok := podTargets.Load(pod.Namespace + "/" + pod.Name); ok {
		return a.(string), nil
	}
	if a, ok := podTargets.Load(pod.Namespace); ok {
		return a.(string), nil
	}
	return "", fmt.Errorf("pod %s has no address registered", pod.Name)
}

// healthServer answers verify checks of ns with code (changed with Store).
func healthServer(ns string) *atomic.Int32 {
	code := &atomic.Int32{}
	code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(code.Load())) }))
	DeferCleanup(srv.Close)
	podTargets.Store(ns, srv.Listener.Addr().String())
	return code
}

func createRelease(ctx context.Context, ns, specYAML string) *opsv1alpha1.Release {
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: ns}}
	Expect(yaml.Unmarshal([]byte(specYAML), &rel.Spec)).To(Succeed())
	Expect(k8sClient.Create(ctx, rel)).To(Succeed())
	return rel
}

func getRelease(ctx context.Context, rel *opsv1alpha1.Release) *opsv1alpha1.Release {
	got := &opsv1alpha1.Release{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), got)).To(Succeed())
	return got
}

func updateRelease(ctx context.Context, rel *opsv1alpha1.Release, mutate func(*opsv1alpha1.Release)) {
	Eventually(func() error {
		got := getRelease(ctx, rel)
		mutate(got)
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

func releaseCondition(ctx context.Context, rel *opsv1alpha1.Release, t string) func() string {
	return func() string {
		for _, c := range getRelease(ctx, rel).Status.Conditions {
			if c.Type == t {
				return string(c.Status) + " " + c.Reason + ": " + c.Message
			}
		}
		return ""
	}
}

// finishAppJob plays the Job's pod (container "app" exiting with code and message)
// and the Job controller.
func finishAppJob(ctx context.Context, job *batchv1.Job, exitCode int32, message string) {
	finishJobContainer(ctx, job, release.ContainerName, exitCode, message)
}

// finishJobContainer plays the Job's pod (its container exiting with code and
// message) and the Job controller.
func finishJobContainer(ctx context.Context, job *batchv1.Job, container string, exitCode int32, message string) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: job.Name + "-", Namespace: job.Namespace,
			Labels:          map[string]string{batchv1.JobNameLabel: job.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: map[bool]corev1.PodPhase{true: corev1.PodSucceeded, false: corev1.PodFailed}[exitCode == 0],
		ContainerStatuses: []corev1.ContainerStatus{{Name: container, Image: job.Spec.Template.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: message, StartedAt: now, FinishedAt: now}}}}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	if exitCode == 0 {
		finishJob(ctx, job)
	} else {
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
	}
}

// argoHealth runs config/argocd/release.lua on the Release as the API server has it.
func argoHealth(ctx context.Context, rel *opsv1alpha1.Release) string {
	GinkgoHelper()
	script, err := os.ReadFile(filepath.Join("..", "..", "config", "argocd", "release.lua"))
	Expect(err).NotTo(HaveOccurred())
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(getRelease(ctx, rel))
	Expect(err).NotTo(HaveOccurred())
	b, err := json.Marshal(m) // to the plain JSON types Argo CD decodes
	Expect(err).NotTo(HaveOccurred())
	var obj map[string]any
	Expect(json.Unmarshal(b, &obj)).To(Succeed())
	health, msg, err := argocd.Health(string(script), obj)
	Expect(err).NotTo(HaveOccurred())
	return health + ": " + msg
}

func getDeployment(ctx context.Context, ns, name string) func() *appsv1.Deployment {
	return func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return nil
		}
		return d
	}
}

func templateRevision(ctx context.Context, ns, name string) func() string {
	return func() string {
		if d := getDeployment(ctx, ns, name)(); d != nil {
			return d.Spec.Template.Labels[opsv1alpha1.LabelRevision] + " " + d.Spec.Template.Spec.Containers[0].Image
		}
		return ""
	}
}

// rollOut plays the Deployment controller and the kubelet: once the Deployment's
// template has revision, its ReplicaSet, one running Ready pod of it (with restarts)
// and status saying all replicas are updated and available.
func rollOutRevision(ctx context.Context, ns, name, revision string, restarts int32) {
	GinkgoHelper()
	var d *appsv1.Deployment
	Eventually(func() string {
		d = getDeployment(ctx, ns, name)()
		if d == nil {
			return ""
		}
		return d.Spec.Template.Labels[opsv1alpha1.LabelRevision]
	}).WithTimeout(20 * time.Second).Should(Equal(revision))
	runningPod(ctx, d, "", true, restarts)
	markAvailable(ctx, ns, name)
}

// waitJob waits for the Release's Job of step at revision.
func waitJob(ctx context.Context, rel *opsv1alpha1.Release, step, revision string) *batchv1.Job {
	return getJob(ctx, rel.Namespace, release.JobName(rel, step, revision))
}

func revisionOf(rel *opsv1alpha1.Release) string {
	return release.SnapshotOf(&rel.Spec).Revision()
}

const plan1 = "Planned operations:\n[X]  contenttypes.0001_initial\n[ ]  orders.0002_add_status\n"

const fullRelease = `
version: "1.0.0"
image: saas:1.0.0
database: {secretRef: {name: db}}
backup: {enabled: false}
migrations: {command: [python, manage.py, migrate, --noinput], planCommand: [python, manage.py, showmigrations, --plan]}
preDeploy: [{name: collectstatic, command: [python, manage.py, collectstatic, --noinput]}]
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}], service: {port: 80}}
verify: {path: /health, interval: 1s, window: 2s, failureThreshold: 2, progressDeadline: 1m}
`

var _ = Describe("Release", func() {
	ctx := context.Background()

	It("runs plan, migrations, pre-deploy, an ordered rollout and verification, survives a restart, then rolls a failing revision back to the exact earlier templates and pins it until retried", func() {
		ns := newNamespace(ctx)
		health := healthServer(ns)
		rel := createRelease(ctx, ns, fullRelease)
		rev1 := revisionOf(rel)

		By("the plan is recorded before migrations, and nothing is deployed yet")
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNamePlan, rev1), 0, plan1)
		Eventually(func() string { return getRelease(ctx, rel).Status.MigrationPlan }).Should(Equal(plan1))
		migrate := waitJob(ctx, rel, release.StepNameMigrate, rev1)
		Expect(*migrate.Spec.BackoffLimit).To(BeZero())
		Expect(migrate.Spec.Template.Spec.Containers[0].Image).To(Equal("saas:1.0.0"))
		Expect(getDeployment(ctx, ns, "saas-worker")()).To(BeNil())
		Expect(getRelease(ctx, rel).Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseMigrating))
		Eventually(func() string { return argoHealth(ctx, rel) }).Should(HavePrefix("Progressing: Applying migrations"))

		By("a manager restart while migrating finishes the revision without a second Job")
		restartManager(nil)
		finishAppJob(ctx, migrate, 0, "Applying orders.0002_add_status... OK")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionMigrationsApplied)).Should(HavePrefix("True"))
		finishAppJob(ctx, waitJob(ctx, rel, "collectstatic", rev1), 0, "")

		By("components roll out in the order listed, each available before the next")
		rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
		Expect(getDeployment(ctx, ns, "saas-web")()).To(BeNil())
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		svc := &corev1.Service{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "saas-web"}, svc)).To(Succeed())
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(80)))

		By("the verification window passes and the revision becomes stable")
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		got := getRelease(ctx, rel)
		Expect(got.Status.StableRevision).To(Equal(rev1))
		Expect(got.Status.StableVersion).To(Equal("1.0.0"))
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionSucceeded))
		Expect(got.Status.History[0].AppliedMigrations).To(Equal([]string{"orders.0002_add_status"}))
		Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))
		Expect(argoHealth(ctx, rel)).To(HavePrefix("Healthy: Revision " + rev1 + " (1.0.0) is deployed"))
		Expect(eventReasons(ctx, ns, "saas")()).To(ContainElements("Migrating", "RollingOut", "Verifying", "Deployed"))

		By("1.1.0 fails its health checks after the rollout: every component goes back to 1.0.0's templates")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rel2 := getRelease(ctx, rel)
		rev2 := revisionOf(rel2)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNamePlan, rev2), 0, "[X]  orders.0002_add_status\n[ ]  orders.0003_index\n")
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev2), 0, "OK")
		finishAppJob(ctx, waitJob(ctx, rel, "collectstatic", rev2), 0, "")
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		health.Store(http.StatusServiceUnavailable)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		Expect(templateRevision(ctx, ns, "saas-worker")()).To(Equal(rev1 + " saas:1.0.0"))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.0.0"))
		got = getRelease(ctx, rel)
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionRolledBack))
		Expect(got.Status.History[0].Message).To(ContainSubstring("503"))
		Expect(got.Status.History[0].Message).To(ContainSubstring("migrations kept applied: orders.0003_index"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("True RolledBack"))
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		Expect(argoHealth(ctx, rel)).To(And(HavePrefix("Degraded: "), ContainSubstring("rolled back to "+rev1)))

		By("the rolled-back revision is not retried while the spec asks for it")
		Consistently(templateRevision(ctx, ns, "saas-worker")).WithTimeout(3 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))

		By("a new retry annotation runs it again, without its migrations")
		health.Store(http.StatusOK)
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Annotations = map[string]string{opsv1alpha1.AnnotationRetry: "1"}
		})
		Eventually(templateRevision(ctx, ns, "saas-worker")).WithTimeout(20 * time.Second).Should(Equal(rev2 + " saas:1.1.0"))
		Expect(getRelease(ctx, rel).Status.Progress.Revert).To(BeTrue())
	})

	It("stops at a failed migration with the command's error, touching no Deployment", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, fullRelease)
		rev := revisionOf(rel)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNamePlan, rev), 0, plan1)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev), 1,
			"Traceback (most recent call last):\n  ...\ndjango.db.utils.ProgrammingError: column \"status\" of relation \"orders\" already exists\n")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)).Should(And(
			HavePrefix("True MigrationFailed"), ContainSubstring(`column "status" of relation "orders" already exists`)))
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseFailed))
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionFailed))
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		Consistently(getDeployment(ctx, ns, "saas-worker")).WithTimeout(2 * time.Second).Should(BeNil())
		Expect(getDeployment(ctx, ns, "saas-web")()).To(BeNil())
	})

	It("rolls every component back when the rollout passes its deadline, naming the pod's waiting reason", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}]}
- {name: beat, strategy: Recreate, command: [celery, -A, saas, beat]}
verify: {path: /health, interval: 1s, window: 1s, progressDeadline: 1m}
`)
		rev1 := revisionOf(rel)
		for _, c := range []string{"saas-worker", "saas-web", "saas-beat"} {
			rollOutRevision(ctx, ns, c, rev1, 0)
		}
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))
		Expect(getDeployment(ctx, ns, "saas-beat")().Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "2.0.0", "saas:2.0.0-broken" })
		rev2 := revisionOf(getRelease(ctx, rel))
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		// web's new pod cannot pull its image; its Deployment never becomes available.
		Eventually(templateRevision(ctx, ns, "saas-web")).Should(Equal(rev2 + " saas:2.0.0-broken"))
		d := getDeployment(ctx, ns, "saas-web")()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "saas-web-new", Namespace: ns, Labels: playReplicaSet(ctx, d)}, Spec: *d.Spec.Template.Spec.DeepCopy()}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: release.ContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "saas:2.0.0-broken"`}}}}}
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		Consistently(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(2 * time.Second).Should(Equal("RollingOut"))

		By("the deadline passes (the reconciler's clock moves on; the annotation wakes it)")
		releaseClockOffset.Store(int64(2 * time.Minute))
		DeferCleanup(func() { releaseClockOffset.Store(0) })
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Annotations = map[string]string{"example.com/touch": "1"} })
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		for _, c := range []string{"saas-worker", "saas-web", "saas-beat"} {
			Expect(templateRevision(ctx, ns, c)()).To(Equal(rev1 + " saas:1.0.0"))
		}
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(And(
			HavePrefix("True ProgressDeadlineExceeded"), ContainSubstring("ImagePullBackOff")))
	})

	It("applies scaling and restarts without a pipeline, leaves replicas alone while quiesced, and pauses verification on a checker error", func() {
		ns := newNamespace(ctx)
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, replicas: 2, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 2s}
`)
		rev := revisionOf(rel)
		// No address for this namespace's pods: every check is a checker error.
		rollOutRevision(ctx, ns, "saas-web", rev, 0)
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)).WithTimeout(10 * time.Second).Should(HavePrefix("Unknown CheckerError"))
		Consistently(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(3 * time.Second).Should(Equal("Verifying"))
		healthServer(ns)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))

		By("scaling and restartedAt apply directly")
		restarted := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Components[0].Replicas = ptr.To[int32](4)
			r.Spec.RestartedAt = &restarted
		})
		Eventually(func() int32 { return ptr.Deref(getDeployment(ctx, ns, "saas-web")().Spec.Replicas, 0) }).Should(Equal(int32(4)))
		d := getDeployment(ctx, ns, "saas-web")()
		Expect(d.Spec.Template.Annotations[opsv1alpha1.AnnotationRestartedAt]).To(Equal("2026-12-01T10:00:00Z"))
		Expect(d.Spec.Template.Labels[opsv1alpha1.LabelRevision]).To(Equal(rev))
		Expect(getRelease(ctx, rel).Status.History).To(HaveLen(1))

		By("while a DatabaseRestore holds the release, replicas and versions are left alone")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Annotations = map[string]string{opsv1alpha1.AnnotationQuiescedBy: "restore-1"}
			r.Spec.Components[0].Replicas = ptr.To[int32](6)
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
		})
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionReconciling)).Should(ContainSubstring("restore-1"))
		Consistently(func() string {
			d := getDeployment(ctx, ns, "saas-web")()
			return fmt.Sprint(ptr.Deref(d.Spec.Replicas, 0), " ", d.Spec.Template.Spec.Containers[0].Image)
		}).WithTimeout(2 * time.Second).Should(Equal("4 saas:1.0.0"))
		Expect(getRelease(ctx, rel).Status.History).To(HaveLen(1))

		By("autoscaling creates an HPA and the controller stops writing replicas")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			delete(r.Annotations, opsv1alpha1.AnnotationQuiescedBy)
			r.Spec.Version, r.Spec.Image = "1.0.0", "saas:1.0.0"
			r.Spec.Components[0].Autoscaling = &opsv1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 5}
		})
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "saas-web"}, &autoscalingv2.HorizontalPodAutoscaler{})
		}).Should(Succeed())
		Consistently(func() int32 { return ptr.Deref(getDeployment(ctx, ns, "saas-web")().Spec.Replicas, 0) }).WithTimeout(2 * time.Second).Should(Equal(int32(4)))
	})

	It("takes an owned pre-deploy backup first, and a failed backup stops the revision before anything runs", func() {
		ns := newNamespace(ctx)
		createSecrets(ctx, ns, "db")
		rel := createRelease(ctx, ns, strings.Replace(fullRelease, "backup: {enabled: false}",
			"backup: {destination: {s3: {bucket: saas-backups, endpoint: 'http://s3.storage:9000', credentialsSecretRef: {name: s3-creds}}}}", 1))
		rev := revisionOf(rel)
		b := &opsv1alpha1.DatabaseBackup{}
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: release.BackupName(rel, rev)}, b)
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(metav1.IsControlledBy(b, getRelease(ctx, rel))).To(BeTrue())
		Eventually(func() opsv1alpha1.ReleasePhase { return getRelease(ctx, rel).Status.Phase }).Should(Equal(opsv1alpha1.ReleasePhaseBackingUp))
		// The DatabaseBackup controller runs its Job; it fails.
		job := getJob(ctx, ns, jobs.BackupJobName(b))
		terminatedPod(ctx, job, 1, `{"error":"pg_dump: connection refused"}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionBackupSucceeded)).WithTimeout(20 * time.Second).Should(And(
			HavePrefix("False BackupFailed"), ContainSubstring("nothing was changed")))
		Expect(getRelease(ctx, rel).Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseFailed))
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: release.JobName(rel, release.StepNamePlan, rev)}, &batchv1.Job{})).
			To(Satisfy(apierrors.IsNotFound))
		Expect(getDeployment(ctx, ns, "saas-worker")()).To(BeNil())
	})

	It("pauses between steps, and a GitOps revert to a revision in history deploys its templates without migrations", func() {
		ns := newNamespace(ctx)
		healthServer(ns)
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 1s}
`)
		rev1 := revisionOf(rel)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))

		By("paused: a new version waits and the Deployment is left alone")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Paused = true
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
		})
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).Should(Equal("Paused"))
		Expect(argoHealth(ctx, rel)).To(HavePrefix("Suspended"))
		Consistently(templateRevision(ctx, ns, "saas-web")).WithTimeout(2 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Paused = false })
		rev2 := revisionOf(getRelease(ctx, rel))
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev2))

		By("reverting the spec to 1.0.0 brings its templates back as a revert")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.0.0", "saas:1.0.0" })
		Eventually(func() bool {
			p := getRelease(ctx, rel).Status.Progress
			return p != nil && p.Revision == rev1 && p.Revert
		}).Should(BeTrue())
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))
		h := getRelease(ctx, rel).Status.History
		Expect(h).To(HaveLen(2))
		Expect(h[0].Revision).To(Equal(rev1))
		Expect(h[0].Result).To(Equal(opsv1alpha1.RevisionSucceeded))
	})
})
