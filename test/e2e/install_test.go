//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

const (
	installNamespace  = "runbook-operator-system"
	installDeployment = "runbook-operator-controller-manager"
)

// applyManifests applies every object of a multi-document YAML as `kubectl apply
// --server-side` does (there is no kubectl here).
func applyManifests(ctx SpecContext, data []byte) []*unstructured.Unstructured {
	GinkgoHelper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		if len(u.Object) == 0 {
			continue
		}
		Expect(k8sClient.Patch(ctx, u, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
		objs = append(objs, u)
	}
	return objs
}

var _ = Describe("installing the operator as users do", Ordered, func() {
	It("runs the manager from the image as its ServiceAccount with leader election, Ready, and a backup goes through it", func(ctx SpecContext) {
		root, err := devcluster.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())

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

		By("building install.yaml for the devcluster's image (make build-installer IMG=...)")
		cmd := exec.CommandContext(ctx, "hack/build-installer.sh", devcluster.AgentImage)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, GinkgoWriter
		Expect(cmd.Run()).To(Succeed())

		By("applying it")
		start := time.Now()
		objs := applyManifests(ctx, out.Bytes())
		DeferCleanup(func(ctx SpecContext) {
			By("removing the installed manager (the CRDs and the namespace stay: the suite's objects use the CRDs, and the devcluster keeps Alertmanager's token Secret in the namespace)")
			for _, o := range objs {
				if k := o.GetKind(); k == "CustomResourceDefinition" || k == "Namespace" {
					continue
				}
				_ = k8sClient.Delete(ctx, o)
			}
			Eventually(func() bool {
				err := k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, &appsv1.Deployment{})
				return apierrors.IsNotFound(err)
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "the Deployment %s/%s is gone", installNamespace, installDeployment)
		})

		By("waiting for the manager Deployment to be Available")
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: installDeployment}, d)).To(Succeed())
			g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		GinkgoWriter.Printf("manager Available %s after apply\n", time.Since(start).Round(time.Millisecond))

		pods := &corev1.PodList{}
		Expect(k8sClient.List(ctx, pods, client.InNamespace(installNamespace), client.MatchingLabels{"control-plane": "controller-manager"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		pod := pods.Items[0]
		Expect(pod.Spec.ServiceAccountName).To(Equal(installDeployment))
		evs, err := clientset.CoreV1().Events(installNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Started"})
		Expect(err).NotTo(HaveOccurred())
		Expect(evs.Items).NotTo(BeEmpty())
		Expect(evs.Items[0].Message).To(MatchRegexp(`chrooted in image sha256:[0-9a-f]{64} as 65532:65532`), "not root, from the image")

		By("the manager holds the leader election Lease")
		Eventually(func(g Gomega) string {
			leases := &coordinationv1.LeaseList{}
			g.Expect(k8sClient.List(ctx, leases, client.InNamespace(installNamespace))).To(Succeed())
			g.Expect(leases.Items).NotTo(BeEmpty())
			return *leases.Items[0].Spec.HolderIdentity
		}).WithContext(ctx).WithTimeout(time.Minute).Should(HavePrefix(pod.Name))

		By("a backup goes through the in-cluster manager")
		createBackup(ctx, "e2e-install-backup", backupSpec("e2e-install-backup", devcluster.DemoS3Secret, opsv1alpha1.DeletionPolicyRetain))
		b := finishedBackup(ctx, "e2e-install-backup")
		Expect(b.Status.Phase).To(Equal(opsv1alpha1.BackupPhaseCompleted), "Ready: %s", condition(b, opsv1alpha1.ConditionReady).Message)
	}, SpecTimeout(6*time.Minute))
})
