//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

const (
	installNamespace  = devcluster.InstallNamespace
	installDeployment = devcluster.InstallDeployment
	// previousInstall is an earlier commit's dist/install.yaml (see its header).
	previousInstall = "testdata/install-1db387f.yaml"
)

// managerLog says where the manager's log is: the suite's host manager's file, or
// the in-cluster manager's pod.
func managerLog() string {
	if manager == nil {
		return "the in-cluster manager's log: the pod's in namespace " + installNamespace
	}
	return "the manager's log: " + manager.LogPath
}

// currentInstaller is dist/install.yaml for the devcluster's image: make
// build-installer IMG=devcluster.AgentImage.
func currentInstaller(ctx context.Context) []*unstructured.Unstructured {
	GinkgoHelper()
	root, err := devcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	objs, err := devcluster.InstallManifests(ctx, root, devcluster.AgentImage, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

// stopHostManager stops the suite's host manager for the container (one manager
// reconciles at a time) and starts it again after it.
func stopHostManager() {
	GinkgoHelper()
	By("stopping the suite's host manager: one manager reconciles at a time")
	host := manager
	manager = nil // the suite's AfterEach checks it is running
	host.Stop(10 * time.Second)
	DeferCleanup(func(ctx SpecContext) {
		By("starting the suite's host manager again")
		var err error
		manager, err = cluster.StartManager(ctx, binaries["manager"])
		Expect(err).NotTo(HaveOccurred())
	})
}

// uninstallAfter removes the installed objects after the container. The CRDs and the
// namespace stay: the suite's objects use the CRDs, and the devcluster keeps
// Alertmanager's token Secret in the namespace.
func uninstallAfter(objs *[]*unstructured.Unstructured) {
	DeferCleanup(func(ctx SpecContext) {
		By("removing the installed manager")
		for _, o := range *objs {
			if k := o.GetKind(); k == "CustomResourceDefinition" || k == "Namespace" {
				continue
			}
			_ = k8sClient.Delete(ctx, o)
		}
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, &appsv1.Deployment{})
			return apierrors.IsNotFound(err)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "the Deployment %s/%s is gone", installNamespace, installDeployment)
		Eventually(func() ([]corev1.Pod, error) { return managerPods(ctx, installNamespace) }).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty(),
			"the manager's pods are gone before the next manager starts")
	})
}

// managerPods are the manager pods in namespace (install.yaml's, or the chart's: both
// label them control-plane=controller-manager).
func managerPods(ctx context.Context, namespace string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	err := k8sClient.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{"control-plane": "controller-manager"})
	return pods.Items, err
}

// notDeleted are the pods not being deleted.
func notDeleted(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp.IsZero() {
			out = append(out, p)
		}
	}
	return out
}

// managerAvailable waits until the manager Deployment has rolled out its current
// template and its one pod is available, and returns that pod.
func managerAvailable(ctx context.Context) corev1.Pod {
	GinkgoHelper()
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, d)).To(Succeed())
		g.Expect(devcluster.ManagerAvailable(d)).To(BeTrue(), "rolled out, available, the old pod gone: %+v", d.Status)
		pods, err := managerPods(ctx, installNamespace)
		g.Expect(err).NotTo(HaveOccurred())
		running := notDeleted(pods)
		g.Expect(running).To(HaveLen(1))
		pod = running[0]
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
	return pod
}

// holdsLease waits until pod holds the manager's leader election Lease in namespace.
func holdsLease(ctx context.Context, namespace, pod string) {
	GinkgoHelper()
	Eventually(func(g Gomega) string {
		leases := &coordinationv1.LeaseList{}
		g.Expect(k8sClient.List(ctx, leases, client.InNamespace(namespace))).To(Succeed())
		g.Expect(leases.Items).NotTo(BeEmpty())
		return ptr.Deref(leases.Items[0].Spec.HolderIdentity, "")
	}).WithContext(ctx).WithTimeout(time.Minute).Should(HavePrefix(pod))
}

// managerProcess is the host pid of the in-cluster manager: the node agent's chrooted
// process running /manager --leader-elect (the suite's host manager runs from a host
// path, without leader election, and is stopped).
func managerProcess() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if argv[0] == "/manager" && slices.Contains(argv, "--leader-elect") {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("want one /manager --leader-elect process, found %v", found)
	}
	return found[0], nil
}

// procStatus is the fields of /proc/<pid>/status.
func procStatus(pid int) map[string]string {
	GinkgoHelper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Expect(err).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// getBody GETs url and returns its status code and body.
func getBody(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// rollManager changes the manager Deployment's pod template with change, rolling it
// out with the Recreate strategy: the devcluster's pods share the host's network (no
// network namespaces), so a second manager pod started beside the first, as a rolling
// update starts it, could not bind the health and metrics ports the first holds.
func rollManager(ctx context.Context, change func(*corev1.PodSpec, map[string]string)) {
	GinkgoHelper()
	Eventually(func() error {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, d); err != nil {
			return err
		}
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		change(&d.Spec.Template.Spec, d.Spec.Template.Annotations)
		return k8sClient.Update(ctx, d)
	}).WithContext(ctx).Should(Succeed())
}

// setReadinessPath sets the manager container's readiness probe path.
func setReadinessPath(ctx context.Context, path string) {
	GinkgoHelper()
	rollManager(ctx, func(spec *corev1.PodSpec, _ map[string]string) {
		spec.Containers[0].ReadinessProbe.HTTPGet.Path = path
	})
}

// waitConditionTrue waits until obj's condition t (conds reads them from obj) is True
// and its observedGeneration is the object's generation.
func waitConditionTrue(ctx context.Context, obj client.Object, conds func() []metav1.Condition, t string, within time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		c := conditionIn(conds(), t)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()))
	}).WithContext(ctx).WithTimeout(within).WithPolling(time.Second).Should(Succeed())
}

// newRelease creates Release name of the Django app at tag on the database of
// dbSecret, with its pre-deploy backups under prefix, deleted after the container.
func newRelease(ctx context.Context, name, tag, dbSecret, prefix string) *opsv1alpha1.Release {
	GinkgoHelper()
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	Expect(yaml.Unmarshal([]byte(backedUpReleaseSpecYAML(tag, dbSecret, prefix)), &rel.Spec)).To(Succeed())
	Expect(k8sClient.Create(ctx, rel)).To(Succeed())
	DeferCleanup(deleteAndWait, &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	return rel
}

var _ = Describe("installing the operator as users do", Ordered, ContinueOnFailure, func() {
	const (
		installDB       = "install_e2e"
		installDBSecret = "e2e-install-db"
		installRelease  = "e2e-install-saas"
	)
	var pod corev1.Pod

	BeforeAll(func(ctx SpecContext) {
		stopHostManager()
		By("kubectl apply --server-side -f install.yaml, built for the devcluster's image (make build-installer IMG=...)")
		objs := currentInstaller(ctx)
		uninstallAfter(&objs)
		start := time.Now()
		Expect(cluster.KubectlApply(ctx, objs, GinkgoWriter)).To(Succeed())
		By("waiting for the manager Deployment to be Available")
		pod = managerAvailable(ctx)
		GinkgoWriter.Printf("manager Available %s after apply\n", time.Since(start).Round(time.Millisecond))
	}, NodeTimeout(4*time.Minute))

	It("runs the manager from the image as its ServiceAccount with leader election, not root, without capabilities", func(ctx SpecContext) {
		Expect(pod.Spec.ServiceAccountName).To(Equal(installDeployment))
		evs, err := clientset.CoreV1().Events(installNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Started"})
		Expect(err).NotTo(HaveOccurred())
		Expect(evs.Items).NotTo(BeEmpty())
		Expect(evs.Items[0].Message).To(MatchRegexp(`chrooted in image sha256:[0-9a-f]{64} as 65532:65532`), "not root, from the image")

		By("the manager holds the leader election Lease")
		holdsLease(ctx, installNamespace, pod.Name)

		By("the process the node agent started runs as 65532 with no capabilities and no way to gain privileges")
		pid, err := managerProcess()
		Expect(err).NotTo(HaveOccurred())
		st := procStatus(pid)
		GinkgoWriter.Printf("manager pid %d: Uid %s, Gid %s, Groups %q, CapEff %s, CapPrm %s, NoNewPrivs %s\n",
			pid, st["Uid"], st["Gid"], st["Groups"], st["CapEff"], st["CapPrm"], st["NoNewPrivs"])
		Expect(st["Uid"]).To(Equal("65532 65532 65532 65532"), "real, effective, saved and file system uid")
		Expect(st["Gid"]).To(Equal("65532 65532 65532 65532"))
		Expect(st["Groups"]).To(BeEmpty(), "no supplementary groups")
		for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			Expect(st[c]).To(Equal("0000000000000000"), c)
		}
		Expect(st["NoNewPrivs"]).To(Equal("1"), "allowPrivilegeEscalation: false")
		root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
		Expect(err).NotTo(HaveOccurred())
		Expect(root).NotTo(Equal("/"), "chrooted")
		By("its root file system is read-only")
		mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mounts", pid))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(mounts)).To(MatchRegexp(`(?m)^overlay / overlay ro[,\s]`))
	})

	It("becomes Ready through its readiness probe on /readyz, and a pod whose probe fails stays unready", func(ctx SpecContext) {
		c := pod.Spec.Containers[0]
		Expect(c.ReadinessProbe).NotTo(BeNil())
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		for _, path := range []string{"/readyz", "/healthz"} {
			code, body, err := getBody(ctx, fmt.Sprintf("http://%s:8081%s", pod.Status.PodIP, path))
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK), path)
			Expect(body).To(Equal("ok"), path)
		}
		By("Ready came after the probe's initial delay, not when the process started")
		started := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
		var ready time.Time
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = cond.LastTransitionTime.Time
			}
		}
		Expect(ready).NotTo(BeZero())
		delay := time.Duration(c.ReadinessProbe.InitialDelaySeconds) * time.Second
		Expect(delay).To(BeNumerically(">", time.Second))
		Expect(ready.Sub(started)).To(BeNumerically(">=", delay-time.Second), "started %s, Ready %s", started, ready)

		By("a readiness probe on a path the manager does not serve keeps the next manager pod unready, saying why")
		setReadinessPath(ctx, "/not-ready")
		DeferCleanup(func(ctx SpecContext) {
			setReadinessPath(ctx, "/readyz")
			pod = managerAvailable(ctx)
			holdsLease(ctx, installNamespace, pod.Name)
		})
		var fresh corev1.Pod
		Eventually(func(g Gomega) {
			pods, err := managerPods(ctx, installNamespace)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods).To(HaveLen(1))
			fresh = pods[0]
			g.Expect(fresh.Name).NotTo(Equal(pod.Name))
			evs, err := clientset.CoreV1().Events(installNamespace).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.name=" + fresh.Name + ",reason=Unhealthy"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(evs.Items).NotTo(BeEmpty())
			g.Expect(evs.Items[0].Message).To(Equal("Readiness probe failed: HTTP probe failed with statuscode: 404"))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&fresh), &fresh)).To(Succeed())
		Expect(fresh.Status.ContainerStatuses).To(HaveLen(1))
		cs := fresh.Status.ContainerStatuses[0]
		Expect(cs.State.Running).NotTo(BeNil(), "its manager runs: %+v", cs.State)
		Expect(cs.RestartCount).To(BeZero(), "an unready container is not restarted")
		Expect(cs.Ready).To(BeFalse())
		code, _, err := getBody(ctx, fmt.Sprintf("http://%s:8081/readyz", fresh.Status.PodIP))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK), "the manager itself is ready: only the probe's path is wrong")
		Consistently(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, d)).To(Succeed())
			g.Expect(d.Status.ReadyReplicas).To(BeZero())
			g.Expect(d.Status.AvailableReplicas).To(BeZero())
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("backs up through the in-cluster manager", func(ctx SpecContext) {
		createBackup(ctx, "e2e-install-backup", backupSpec("e2e-install-backup", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain))
		b := finishedBackup(ctx, "e2e-install-backup")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
	}, SpecTimeout(3*time.Minute))

	It("restores a backup through it, then releases the Django app on the restored database", func(ctx SpecContext) {
		seededAppDatabase(ctx, installDB, installDBSecret, 20)
		By("backing the app's database up")
		spec := backupSpec("e2e-install-restore", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete)
		spec.Database.SecretRef.Name = installDBSecret
		createBackup(ctx, "e2e-install-restore-source", spec)
		b := finishedBackup(ctx, "e2e-install-restore-source")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
		atBackup := tableChecksums(ctx, installDB)
		execSQL(ctx, installDB, "DELETE FROM subscriptions_subscription")
		Expect(tableChecksums(ctx, installDB)).NotTo(Equal(atBackup))

		By("restoring it")
		rs := &opsv1alpha1.DatabaseRestore{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-install-restore", Namespace: ns},
			Spec: opsv1alpha1.DatabaseRestoreSpec{
				Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: b.Name}},
				Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: installDBSecret}},
			},
		}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseRestore{ObjectMeta: rs.ObjectMeta})
		rs = finishedRestore(ctx, rs.Name)
		Expect(rs.Status.Phase).To(Equal(opsv1alpha1.RestorePhaseCompleted), "Ready: %s", conditionIn(rs.Status.Conditions, opsv1alpha1.ConditionReady).Message)
		Expect(tableChecksums(ctx, installDB)).To(Equal(atBackup), "the database holds the backup's data again")

		By("releasing the Django app at 1.0.0 on it")
		newRelease(ctx, installRelease, "1.0.0", installDBSecret, "e2e-install-release")
		Eventually(releasePhaseOf(ctx, installRelease)).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))
		Expect(servedVersionsOf(ctx, installRelease)).To(Equal([]string{"200 1.0.0"}))
		rel := getE2ERelease(ctx, installRelease)
		Expect(conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionBackupSucceeded).Status).To(Equal(metav1.ConditionTrue),
			"its pre-deploy backup went through the in-cluster manager too")
	}, SpecTimeout(8*time.Minute))
})

// previousCommit is the commit the upgrade fixture's header names.
func previousCommit(data []byte) string {
	GinkgoHelper()
	m := regexp.MustCompile(`(?m)^# dist/install\.yaml of commit ([0-9a-f]{7,40})`).FindSubmatch(data)
	Expect(m).NotTo(BeNil(), "the fixture's header names its commit")
	return string(m[1])
}

var _ = Describe("upgrading an install to today's install.yaml", Ordered, ContinueOnFailure, func() {
	const (
		upgradeDB       = "upgrade_e2e"
		upgradeDBSecret = "e2e-upgrade-db"
		upgradeRelease  = "e2e-upgrade-saas"
		upgradeSchedule = "e2e-upgrade-schedule"
	)
	var (
		objs     []*unstructured.Unstructured
		old      corev1.Pod
		schedule *opsv1alpha1.BackupSchedule
	)

	BeforeAll(func(ctx SpecContext) {
		stopHostManager()
		uninstallAfter(&objs)
		data, err := os.ReadFile(previousInstall)
		Expect(err).NotTo(HaveOccurred())
		By("applying the install.yaml of commit " + previousCommit(data) + " (with the devcluster's image)")
		objs, err = devcluster.DecodeManifests(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(devcluster.EditManager(objs, devcluster.AgentImage)).To(Succeed())
		Expect(cluster.KubectlApply(ctx, objs, GinkgoWriter)).To(Succeed())
		old = managerAvailable(ctx)
		holdsLease(ctx, installNamespace, old.Name)

		By("creating a backup, a schedule and a Release under the previous CRDs and RBAC")
		seededAppDatabase(ctx, upgradeDB, upgradeDBSecret, 10)
		spec := backupSpec("e2e-upgrade", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyDelete)
		spec.Database.SecretRef.Name = upgradeDBSecret
		createBackup(ctx, "e2e-upgrade-backup", spec)
		schedule = &opsv1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: upgradeSchedule, Namespace: ns},
			Spec: opsv1alpha1.BackupScheduleSpec{
				Schedule:  "* * * * *",
				Retention: opsv1alpha1.Retention{KeepLast: ptr.To[int32](1)},
				Template:  opsv1alpha1.BackupTemplate{Spec: spec},
			},
		}
		Expect(k8sClient.Create(ctx, schedule)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			deleteAndWait(ctx, &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: upgradeSchedule, Namespace: ns}})
			Eventually(func(g Gomega) []opsv1alpha1.DatabaseBackup {
				var list opsv1alpha1.DatabaseBackupList
				g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{opsv1alpha1.LabelBackupSchedule: upgradeSchedule})).To(Succeed())
				return list.Items
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
		})
		newRelease(ctx, upgradeRelease, "1.0.0", upgradeDBSecret, "e2e-upgrade-release")
	}, NodeTimeout(5*time.Minute))

	It("reconciles them with the previous install", func(ctx SpecContext) {
		b := finishedBackup(ctx, "e2e-upgrade-backup")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
		Eventually(releasePhaseOf(ctx, upgradeRelease)).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))
		waitConditionTrue(ctx, schedule, func() []metav1.Condition { return schedule.Status.Conditions }, opsv1alpha1.ConditionReady, 2*time.Minute)
		Eventually(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(schedule), schedule)).To(Succeed())
			return schedule.Status.LastSuccessfulBackup
		}).WithContext(ctx).WithTimeout(150 * time.Second).WithPolling(time.Second).ShouldNot(BeEmpty())
	}, SpecTimeout(6*time.Minute))

	It("applies today's install.yaml over it: a new manager takes over and the objects keep working", func(ctx SpecContext) {
		By("kubectl apply --server-side -f today's install.yaml")
		current := currentInstaller(ctx)
		objs = append(objs, current...)
		Expect(cluster.KubectlApply(ctx, current, GinkgoWriter)).To(Succeed())
		By("restarting the manager as a new image would (the fixture runs today's image: there is no earlier one to run)")
		rollManager(ctx, func(_ *corev1.PodSpec, annotations map[string]string) {
			annotations["kubectl.kubernetes.io/restartedAt"] = time.Now().Format(time.RFC3339)
		})
		upgraded := managerAvailable(ctx)
		Expect(upgraded.Name).NotTo(Equal(old.Name))
		holdsLease(ctx, installNamespace, upgraded.Name)
		upgradedAt := time.Now()

		By("the backup made before stays Completed and Ready")
		b := &opsv1alpha1.DatabaseBackup{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "e2e-upgrade-backup"}, b)).To(Succeed())
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted))
		Expect(condition(b, opsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))

		By("the schedule's next run completes under the new manager")
		before := schedule.Status.LastSuccessfulBackup
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(schedule), schedule)).To(Succeed())
			g.Expect(schedule.Status.LastSuccessfulBackup).NotTo(Equal(before))
			g.Expect(schedule.Status.LastScheduleTime.Time).To(BeTemporally(">=", upgradedAt.Truncate(time.Minute)))
		}).WithContext(ctx).WithTimeout(150 * time.Second).WithPolling(time.Second).Should(Succeed())
		waitConditionTrue(ctx, schedule, func() []metav1.Condition { return schedule.Status.Conditions }, opsv1alpha1.ConditionReady, time.Minute)

		By("the Release deploys its next version under the new manager")
		Eventually(func() error {
			rel := getE2ERelease(ctx, upgradeRelease)
			if err := yaml.Unmarshal([]byte(backedUpReleaseSpecYAML("1.1.0", upgradeDBSecret, "e2e-upgrade-release")), &rel.Spec); err != nil {
				return err
			}
			return k8sClient.Update(ctx, rel)
		}).WithContext(ctx).Should(Succeed())
		Eventually(releasePhaseOf(ctx, upgradeRelease)).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel := getE2ERelease(ctx, upgradeRelease)
		waitConditionTrue(ctx, rel, func() []metav1.Condition { return rel.Status.Conditions }, opsv1alpha1.ConditionReady, time.Minute)
		Expect(servedVersionsOf(ctx, upgradeRelease)).To(Equal([]string{"200 1.1.0"}))
	}, SpecTimeout(8*time.Minute))
})
