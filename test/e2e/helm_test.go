//go:build e2e

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

// The chart's release: its own namespace and names (runbook-operator-helm-...), so
// that it never meets install.yaml's (runbook-operator-system, runbook-operator-...),
// whichever of the two specs runs first. The CRDs are the devcluster's: helm install
// skips the chart's crds/ when they exist, and helm uninstall never removes them.
const (
	helmRelease    = "runbook-operator-helm"
	helmNamespace  = "runbook-operator-helm"
	helmDeployment = helmRelease + "-controller-manager"
)

// runHelm runs helm (hack/test-binaries.sh builds it; make exports HELM_BIN) against
// the devcluster, with its own configuration and cache folders.
func runHelm(ctx SpecContext, args ...string) {
	GinkgoHelper()
	root, err := devcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	bin, err := devcluster.HelmBinary(ctx, root)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("helm %s\n", strings.Join(args, " "))
	Expect(cluster.Helm(ctx, bin, root, GinkgoWriter, args...)).To(Succeed())
}

// helmManagerPod is the chart's one manager pod not being deleted.
func helmManagerPod(ctx SpecContext) corev1.Pod {
	GinkgoHelper()
	pods, err := managerPods(ctx, helmNamespace)
	Expect(err).NotTo(HaveOccurred())
	running := notDeleted(pods)
	Expect(running).To(HaveLen(1))
	return running[0]
}

var _ = Describe("installing the operator with its Helm chart", Ordered, func() {
	It("runs the manager from the image as its ServiceAccount with leader election, Ready, and a backup goes through it", func(ctx SpecContext) {
		stopHostManager()

		// The image make image built, tagged devcluster.AgentImage: the node agent runs
		// it from its OCI layout.
		repo, tag, ok := strings.Cut(devcluster.AgentImage, ":")
		Expect(ok).To(BeTrue())
		By("helm install with the devcluster's image " + devcluster.AgentImage)
		start := time.Now()
		runHelm(ctx, "install", helmRelease, "charts/runbook-operator", "--namespace", helmNamespace, "--create-namespace",
			"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "strategy.type=Recreate", "--wait", "--timeout", "3m")
		GinkgoWriter.Printf("helm install --wait returned after %s\n", time.Since(start).Round(time.Millisecond))
		DeferCleanup(func(ctx SpecContext) {
			By("helm uninstall, and the release's namespace removed (the CRDs stay: the suite's objects use them)")
			runHelm(ctx, "uninstall", helmRelease, "--namespace", helmNamespace, "--wait", "--timeout", "2m")
			Eventually(func() bool {
				err := k8sClient.Get(ctx, client.ObjectKey{Namespace: helmNamespace, Name: helmDeployment}, &appsv1.Deployment{})
				return apierrors.IsNotFound(err)
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "the Deployment %s/%s is gone", helmNamespace, helmDeployment)
			deleteAndWait(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNamespace}})
		})

		By("the manager Deployment is Available")
		d := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: helmNamespace, Name: helmDeployment}, d)).To(Succeed())
		Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1), "helm install --wait returned before the Deployment was Available")

		pod := helmManagerPod(ctx)
		Expect(pod.Spec.ServiceAccountName).To(Equal(helmDeployment))
		Expect(pod.Spec.Containers[0].Image).To(Equal(devcluster.AgentImage))
		Expect(pod.Spec.Containers[0].Args).To(ContainElement("--leader-elect"))
		Expect(pod.Status.Conditions).To(ContainElement(And(
			HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		evs, err := clientset.CoreV1().Events(helmNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Started"})
		Expect(err).NotTo(HaveOccurred())
		Expect(evs.Items).NotTo(BeEmpty())
		Expect(evs.Items[0].Message).To(MatchRegexp(`chrooted in image sha256:[0-9a-f]{64} as 65532:65532`), "not root, from the image")

		By("the manager holds the leader election Lease in the release's namespace")
		holdsLease(ctx, helmNamespace, pod.Name)

		By("a backup goes through the in-cluster manager")
		createBackup(ctx, "e2e-helm-backup", backupSpec("e2e-helm-backup", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain))
		b := finishedBackup(ctx, "e2e-helm-backup")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)

		By("helm upgrade with a changed value (an extra manager arg): the manager pod rolls to the new spec and becomes Ready")
		// The devcluster's pods share the host's network (no network namespaces), so the
		// chart's default RollingUpdate would start the new manager beside the old one,
		// unable to bind the health and metrics ports it holds: the install set the
		// chart's strategy value to Recreate, and --reuse-values keeps it.
		const extraArg = "--incident-concurrency=3"
		start = time.Now()
		runHelm(ctx, "upgrade", helmRelease, "charts/runbook-operator", "--namespace", helmNamespace, "--reuse-values",
			"--set-json", `extraArgs=["`+extraArg+`"]`, "--wait", "--timeout", "2m")
		GinkgoWriter.Printf("helm upgrade --wait returned after %s\n", time.Since(start).Round(time.Millisecond))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: helmNamespace, Name: helmDeployment}, d)).To(Succeed())
			g.Expect(devcluster.ManagerAvailable(d)).To(BeTrue(), "rolled out, available, the old pod gone: %+v", d.Status)
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
		upgraded := helmManagerPod(ctx)
		Expect(upgraded.Name).NotTo(Equal(pod.Name), "a new pod")
		Expect(upgraded.Spec.Containers[0].Args).To(ContainElements("--leader-elect", extraArg))
		Expect(upgraded.Spec.Containers[0].Image).To(Equal(devcluster.AgentImage), "--reuse-values kept the image")
		Expect(upgraded.Status.Conditions).To(ContainElement(And(
			HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		holdsLease(ctx, helmNamespace, upgraded.Name)

		By("the backup made before the upgrade stays Completed and Ready, and a new one goes through the upgraded manager")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "e2e-helm-backup"}, b)).To(Succeed())
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted))
		Expect(condition(b, opsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		createBackup(ctx, "e2e-helm-upgraded", backupSpec("e2e-helm-upgraded", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain))
		b = finishedBackup(ctx, "e2e-helm-upgraded")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
	}, SpecTimeout(8*time.Minute))
})
