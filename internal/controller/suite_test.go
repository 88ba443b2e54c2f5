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

// The envtest suite of every reconciler: one real kube-apiserver and etcd, and one
// manager running every reconciler (NewReconcilers), started in
// BeforeSuite. Jobs do not run here: specs play the Job controller and the kubelet
// with the helpers in this file (finishJob, failJob, terminatedPod).
//
// Adding a kind's specs (e.g. DatabaseRestore): write <kind>_controller_test.go with a
// Describe block; use newNamespace() for isolation, k8sClient for reads and writes,
// and restartManager() to prove crash safety. Nothing here needs to change.

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/jobs"
)

const testAgentImage = "ghcr.io/runbook-operator/runbook-operator:test"

var (
	testEnv *envtest.Environment
	restCfg *rest.Config
	// managerCfg is the manager's: the operator's ServiceAccount with config/rbac/role.yaml.
	managerCfg *rest.Config
	k8sClient  client.Client
	scheme     = runtime.NewScheme()

	mgrCancel context.CancelFunc
	mgrDone   chan struct{}

	// managerLog holds every line the managers logged, for specs that check that no
	// secret value is ever logged.
	managerLog syncBuffer

	// testClock is the BackupSchedule reconciler's clock: specs set and step it.
	testClock = clock.NewFake(time.Now())
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	// One default for every spec, whatever order Ginkgo runs them in: these are
	// process-wide, so a default set in one Describe's BeforeEach leaked into the
	// specs that ran after it and left the others on Gomega's 1s (a spec polling
	// for a phase then failed only when it ran first on a loaded machine).
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultConsistentlyDuration(2 * time.Second)
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, &managerLog)), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(opsv1alpha1.AddToScheme(scheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// blockOwnerDeletion needs `update` on the owner's finalizers (OpenShift's default).
	testEnv.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	var err error
	restCfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	managerCfg = managerConfig(context.Background(), restCfg)

	startManager()
})

var _ = AfterSuite(func() {
	stopManager()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// startManager starts a manager with every reconciler (NewReconcilers), each kind's test clock in place.
func startManager() {
	mgr, err := ctrl.NewManager(managerCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// A restarted manager registers the same controller names again.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:      cache.Options{ByObject: ManagedSecretsCache()},
	})
	Expect(err).NotTo(HaveOccurred())
	rs, err := NewReconcilers(mgr, Config{AgentImage: testAgentImage,
		ProgressInterval: testProgressInterval, ProgressStallAfter: testProgressStallAfter, ProgressLogs: testLogs,
		Checker: releaseTestChecker, PodAddress: testPodAddress})
	Expect(err).NotTo(HaveOccurred())
	// Each kind's specs move their own clock (backups and restores run on the wall clock).
	rs.Schedule.Clock = testClock
	rs.Rotation.Clock = rotationTestClock
	rs.Release.Clock = releaseTestClock
	rs.Release.Logs = releaseTestLogs // envtest runs no kubelet: the specs give the plan Jobs' logs
	setIncidentTestHooks(rs.Incident)
	Expect(rs.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	mgrCancel, mgrDone = cancel, done
}

// stopManager stops the manager and waits until it has stopped.
func stopManager() {
	if mgrCancel != nil {
		mgrCancel()
		<-mgrDone
		mgrCancel = nil
	}
}

// restartManager stops the manager, lets fn change the cluster while no controller
// runs (fn may be nil), and starts a new manager, as after a crash.
func restartManager(fn func()) {
	stopManager()
	if fn != nil {
		fn()
	}
	startManager()
}

// newNamespace creates a namespace for one spec, so specs never share a database lock.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// terminatedPod creates the pod of job as the Job controller would, and sets its
// agent container's terminated state (exit code and termination message) as the
// kubelet would.
func terminatedPod(ctx context.Context, job *batchv1.Job, exitCode int32, message string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          map[string]string{batchv1.JobNameLabel: job.Name, batchv1.ControllerUidLabel: string(job.UID)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase: phase,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:  jobs.ContainerName,
			Image: job.Spec.Template.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Message: message, Reason: map[bool]string{true: "Completed", false: "Error"}[exitCode == 0],
				StartedAt: now, FinishedAt: now,
			}},
		}},
	}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

// finishJob marks job Complete with the conditions and fields kube-apiserver 1.37
// requires of a finished Job.
func finishJob(ctx context.Context, job *batchv1.Job) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		now := metav1.Now()
		start := job.CreationTimestamp
		job.Status.StartTime = &start
		job.Status.CompletionTime = &now
		job.Status.Succeeded = 1
		job.Status.Active = 0
		job.Status.Terminating = ptr.To[int32](0)
		job.Status.Ready = ptr.To[int32](0)
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, Message: "Reached expected number of succeeded pods", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, Message: "Reached expected number of succeeded pods", LastTransitionTime: now, LastProbeTime: now},
		}
		return k8sClient.Status().Update(ctx, job)
	}).Should(Succeed())
}

// failJob marks job Failed with reason (BackoffLimitExceeded, DeadlineExceeded, …).
func failJob(ctx context.Context, job *batchv1.Job, reason, message string) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		now := metav1.Now()
		start := job.CreationTimestamp
		job.Status.StartTime = &start
		job.Status.Failed = 1
		job.Status.Active = 0
		job.Status.Terminating = ptr.To[int32](0)
		job.Status.Ready = ptr.To[int32](0)
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now, LastProbeTime: now},
		}
		return k8sClient.Status().Update(ctx, job)
	}).Should(Succeed())
}

// getJob waits for the Job named name in ns and returns it.
func getJob(ctx context.Context, ns, name string) *batchv1.Job {
	job := &batchv1.Job{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return job
}

// syncBuffer is a bytes.Buffer safe for the manager's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
