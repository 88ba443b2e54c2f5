//go:build e2e

// Package e2e holds the end-to-end suites: they run against a devcluster (real etcd,
// kube-apiserver, kube-controller-manager, a node agent running pods as host
// processes, PostgreSQL and S3) started once for the whole suite, with the operator's
// manager (cmd/manager) running on the host against it. TestDemo runs `make demo`'s
// program (cmd/demo) on a devcluster of its own.
//
//	go test -tags=e2e ./test/e2e/ -v -ginkgo.v
//
// Environment: KUBEBUILDER_ASSETS (default: hack/test-binaries.sh --print),
// E2E_KEEP_DIR=1 keeps the cluster folder (logs, pod output) after the run.
// Specs use the globals below; add yours in new *_test.go files of this package.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
	"runbook-operator/test/harness"
)

var (
	// cluster is the running devcluster (Kubeconfig, RESTConfig, Postgres, S3).
	cluster *devcluster.Cluster
	// clientset and k8sClient talk to it as cluster admin. Add your API types to
	// scheme in an init function to use k8sClient with them.
	clientset kubernetes.Interface
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	// binaries maps "agent", "manager" (and whatever else was built) to
	// host paths.
	binaries map[string]string
	// manager is the operator's manager process, reconciling every namespace.
	manager *devcluster.HostProcess
	// operatorImage is the OCI layout of the operator's image (make image), tagged
	// devcluster.AgentImage, which the node agent runs the operator's pods from.
	operatorImage string
)

func init() {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = opsv1alpha1.AddToScheme(scheme)
}

func TestE2E(t *testing.T) {
	t.Parallel() // beside TestDemo, which runs a cluster of its own
	RegisterFailHandler(Fail)
	RunSpecs(t, "runbook-operator end-to-end suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logger := zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true))
	root, err := devcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())

	dir, err := os.MkdirTemp("", "devcluster-e2e-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if os.Getenv("E2E_KEEP_DIR") != "" {
			GinkgoWriter.Printf("devcluster folder kept: %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})

	By("building the host programs the images map to")
	binaries, err = devcluster.BuildBinaries(ctx, root, filepath.Join(dir, "bin"),
		map[string]string{"manager": "./cmd/manager"}, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	if _, err := os.Stat(filepath.Join(root, "cmd/agent/main.go")); err == nil {
		agent, err := devcluster.BuildBinaries(ctx, root, filepath.Join(dir, "bin"),
			map[string]string{"agent": "./cmd/agent"}, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred(), "cmd/agent must build: the operator image maps to it")
		binaries["agent"] = agent["agent"]
	}

	By("building the operator's image (make image): the node agent runs its pods from it")
	start := time.Now()
	operatorImage, err = devcluster.BuildImage(ctx, root, devcluster.AgentImage, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("image %s built in %s: %s\n", devcluster.AgentImage, time.Since(start).Round(time.Millisecond), operatorImage)

	rootfs, err := harness.FindRootFS()
	Expect(err).NotTo(HaveOccurred(), "the PostgreSQL 17 server's file system")

	By("starting the devcluster")
	start = time.Now()
	cluster, err = devcluster.Start(ctx, devcluster.Options{
		Dir:              dir,
		OperatorImage:    operatorImage,
		Postgres17Rootfs: rootfs.Server17,
		AgentBinary:      binaries["agent"],
		CRDDirs:          existing(filepath.Join(root, "config/crd/bases")),
		Log:              logger,
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		By("stopping the devcluster")
		Expect(cluster.Stop()).To(Succeed())
	})
	rss, n := devcluster.TotalRSS()
	GinkgoWriter.Printf("devcluster ready in %s; %d processes, %d MiB RSS; kubeconfig %s; pod CIDR %q\n",
		time.Since(start).Round(time.Millisecond), n, rss>>20, cluster.Kubeconfig, cluster.PodCIDR)

	clientset = cluster.Client
	k8sClient, err = client.New(cluster.RESTConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	By("running the operator's manager against the devcluster as its ServiceAccount with config/rbac/role.yaml")
	Expect(cluster.RunManagerAs(ctx, filepath.Join(root, "config/rbac/role.yaml"))).To(Succeed())
	manager, err = cluster.StartManager(ctx, binaries["manager"])
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("manager running, log %s\n", manager.LogPath)
}, NodeTimeout(15*time.Minute)) // a fresh machine compiles the manager, the agent and the image builder cold

// existing returns the folders that exist.
func existing(dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

var _ = AfterEach(func() {
	if cluster != nil {
		select {
		case <-cluster.Failed():
			Fail("devcluster component stopped: " + cluster.Err().Error())
		default:
		}
	}
	if manager != nil {
		select {
		case <-manager.Done():
			log, _ := os.ReadFile(manager.LogPath)
			Fail(fmt.Sprintf("the manager exited (%v); its log:\n%s", manager.Err(), log))
		default:
		}
	}
})
