//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

// `kubectl runbook` (cmd/kubectl-runbook) as a person on call runs it: the real
// kubectl (built by hack/test-binaries.sh from the same Kubernetes release as the
// devcluster's API server, in $KUBEBUILDER_ASSETS) finds the built plugin on PATH
// and runs it, with KUBECONFIG pointing at the devcluster and the manager doing the
// work. Each command's --wait ends with the controller's outcome.
var _ = Describe("kubectl runbook on the devcluster", Ordered, func() {
	const (
		db       = "plugin_e2e"
		dbSecret = "e2e-plugin-db"
		rows     = 1000
	)
	var (
		kubectl string
		dir     string
	)
	// kubectlRun runs `kubectl ARGS…` with the plugin's folder first on PATH and
	// returns its stdout, stderr and exit status.
	kubectlRun := func(ctx context.Context, args ...string) (string, string, int) {
		GinkgoHelper()
		cmd := exec.CommandContext(ctx, kubectl, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		code := exitCode(cmd.Run())
		GinkgoWriter.Printf("$ kubectl %s\n%s%s(exit %d)\n", strings.Join(args, " "), out.String(), errOut.String(), code)
		return out.String(), errOut.String(), code
	}
	// runbook runs `kubectl runbook ARGS… -n NS`.
	runbook := func(ctx context.Context, args ...string) (string, string, int) {
		GinkgoHelper()
		return kubectlRun(ctx, append(append([]string{"runbook"}, args...), "-n", ns)...)
	}
	count := func(ctx context.Context) int64 {
		GinkgoHelper()
		conn := restoreConn(ctx, db)
		defer func() { _ = conn.Close(context.Background()) }()
		var n int64
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM plugin_orders").Scan(&n)).To(Succeed())
		return n
	}

	BeforeAll(func(ctx SpecContext) {
		dir = kubectlWithPlugin(ctx)
		kubectl = filepath.Join(dir, "kubectl")

		out, errOut, code := kubectlRun(ctx, "plugin", "list", "--name-only")
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("kubectl-runbook"), "kubectl finds the plugin on PATH")

		By("creating database " + db + " with " + fmt.Sprint(rows) + " rows and its Secret " + dbSecret)
		newDatabase(ctx, db, dbSecret)
		execSQL(ctx, db, fmt.Sprintf(`CREATE TABLE plugin_orders (id bigint PRIMARY KEY, note text NOT NULL);
INSERT INTO plugin_orders SELECT g, 'order ' || g FROM generate_series(1, %d) g`, rows))
	}, NodeTimeout(5*time.Minute))

	It("backs up now and restores with --wait, keeping the replaced database", func(ctx SpecContext) {
		d := destination("plugin", devcluster.DemoS3Secret).S3
		out, errOut, code := runbook(ctx, "backup", "now", "--database", dbSecret, "--name", "plugin-b1",
			"--bucket", d.Bucket, "--prefix", d.Prefix, "--region", d.Region, "--endpoint", d.Endpoint, "--force-path-style", "--s3-credentials", devcluster.DemoS3Secret, "--wait")
		DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: "plugin-b1", Namespace: ns}})
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("databasebackup.ops.runbook.dev/plugin-b1 created"))
		Expect(out).To(ContainSubstring("databasebackup/plugin-b1: Completed"))
		Expect(out).To(ContainSubstring("stored s3://" + d.Bucket + "/plugin/"))

		By("deleting half the rows, then restoring")
		execSQL(ctx, db, "DELETE FROM plugin_orders WHERE id % 2 = 0")
		Expect(count(ctx)).To(BeEquivalentTo(rows / 2))
		out, errOut, code = runbook(ctx, "restore", "--from", "plugin-b1", "--name", "plugin-r1", "--wait")
		DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Name: "plugin-r1", Namespace: ns}})
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("databaserestore/plugin-r1: Completed"))
		Expect(out).To(ContainSubstring("kept as " + db + "_pre_restore_"))
		Expect(count(ctx)).To(BeEquivalentTo(rows))

		By("a restore of a backup that does not exist (and cannot tell its database) is refused")
		_, errOut, code = runbook(ctx, "restore", "--from", "no-such-backup")
		Expect(code).To(Equal(1))
		Expect(errOut).To(ContainSubstring("DatabaseBackup no-such-backup not found"))

		By("status shows both")
		out, _, code = runbook(ctx, "status")
		Expect(code).To(BeZero())
		Expect(out).To(MatchRegexp(`DatabaseBackup plugin-b1  Completed`))
		Expect(out).To(MatchRegexp(`DatabaseRestore plugin-r1  Completed  from plugin-b1`))

		By("the report holds the backup Job's log and no value of the database Secret")
		file := filepath.Join(dir, "report.tar.gz")
		_, errOut, code = runbook(ctx, "report", "-f", file)
		Expect(code).To(BeZero(), errOut)
		report := readReport(file)
		Expect(report).To(ContainSubstring("=== objects/DatabaseBackup/plugin-b1 ==="))
		Expect(report).To(ContainSubstring("=== logs/" + ns + "/plugin-b1-backup-"))
		src, err := clientset.CoreV1().Secrets(ns).Get(ctx, dbSecret, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(src.Data["password"]).NotTo(BeEmpty())
		for k, v := range src.Data {
			if len(v) >= 4 && k != "dbname" && k != "host" && k != "port" && k != "user" {
				Expect(report).NotTo(ContainSubstring(string(v)), "Secret key %s", k)
			}
		}
	}, SpecTimeout(5*time.Minute))

	It("rotates a Secret at once with --emergency --wait", func(ctx SpecContext) {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "e2e-plugin-keys", Namespace: ns}, StringData: map[string]string{"API_TOKEN": "before-the-breach"}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, secret) })
		sr := &opsv1alpha1.SecretRotation{ObjectMeta: metav1.ObjectMeta{Name: "e2e-plugin-keys", Namespace: ns},
			Spec: opsv1alpha1.SecretRotationSpec{SecretName: secret.Name, Keys: []opsv1alpha1.RotatedKey{{Key: "API_TOKEN", Generator: opsv1alpha1.GeneratorRandom}}}}
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		DeferCleanup(deleteAndWait, sr)

		out, errOut, code := runbook(ctx, "rotate", sr.Name, "--emergency", "--wait")
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("secretrotation/e2e-plugin-keys: Idle"))
		Expect(out).To(ContainSubstring("rotated (Immediate)"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)).To(Succeed())
		Expect(sr.Spec.Mode).To(Equal(opsv1alpha1.RotationTwoPhase), "the spec is left as Git has it")
		Expect(sr.Status.LastEmergencyRequest).To(HavePrefix("emergency-"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		Expect(string(secret.Data["API_TOKEN"])).NotTo(Equal("before-the-breach"))
		Expect(out + errOut).NotTo(ContainSubstring(string(secret.Data["API_TOKEN"])))
	}, SpecTimeout(3*time.Minute))

	It("opens, acknowledges (as the kubeconfig's user) and resolves an incident", func(ctx SpecContext) {
		_, errOut, code := runbook(ctx, "incident", "open", "--severity", "P3", "--title", "plugin drill", "--name", "plugin-drill")
		Expect(code).To(BeZero(), errOut)
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "plugin-drill", Namespace: ns}}
		DeferCleanup(deleteAndWait, inc)
		_, errOut, code = runbook(ctx, "incident", "ack", "plugin-drill")
		Expect(code).To(BeZero(), errOut)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Acknowledgement).NotTo(BeNil())
			g.Expect(inc.Status.Acknowledgement.By).To(Equal("devcluster-admin"))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		_, errOut, code = runbook(ctx, "incident", "resolve", "plugin-drill", "--resolution", "drill over")
		Expect(code).To(BeZero(), errOut)
		Eventually(func(g Gomega) opsv1alpha1.IncidentPhase {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			return inc.Status.Phase
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(opsv1alpha1.IncidentPhaseResolved))
	}, SpecTimeout(3*time.Minute))

	It("rolls back a revision in verification on request, pauses and resumes the Release", func(ctx SpecContext) {
		const name = "plugin-saas"
		spec := func(tag, window string) opsv1alpha1.ReleaseSpec {
			GinkgoHelper()
			var s opsv1alpha1.ReleaseSpec
			Expect(yaml.Unmarshal([]byte(demo.ReleaseSpecYAML(tag, dbSecret, 1,
				"{path: /api/v1/health/, interval: 2s, window: "+window+", failureThreshold: 3, progressDeadline: 2m}")), &s)).To(Succeed())
			return s
		}
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/instance": "saas-prod"}}, Spec: spec("1.0.0", "10s")}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(deleteAndWait, &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
		Eventually(releasePhaseOf(ctx, name)).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))

		By("1.1.0 with a verification window of 10 minutes: rolled back on request while it verifies")
		Eventually(func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), rel)).To(Succeed())
			rel.Spec = spec("1.1.0", "10m")
			return k8sClient.Update(ctx, rel)
		}).WithContext(ctx).Should(Succeed())
		Eventually(releasePhaseOf(ctx, name)).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Verifying 1.1.0"))
		out, errOut, code := runbook(ctx, "release", "rollback", name, "--wait")
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("Argo CD (application saas-prod)"))
		Expect(out).To(ContainSubstring("release/" + name + ": RolledBack"))
		Eventually(func() []string { return servedVersionsOf(ctx, name) }).WithContext(ctx).WithTimeout(2*time.Minute).Should(
			And(Not(BeEmpty()), HaveEach("200 1.0.0")), "the stable revision serves again")

		By("nothing left to roll back: refused, with what to do")
		_, errOut, code = runbook(ctx, "release", "rollback", name)
		Expect(code).To(Equal(1))
		Expect(errOut).To(ContainSubstring("no revision in progress to roll back"))

		By("pause and resume")
		out, errOut, code = runbook(ctx, "release", "pause", name)
		Expect(code).To(BeZero(), errOut)
		Expect(out).To(ContainSubstring("spec.paused is now different from Git"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), rel)).To(Succeed())
		Expect(rel.Spec.Paused).To(BeTrue())
		_, errOut, code = runbook(ctx, "release", "resume", name)
		Expect(code).To(BeZero(), errOut)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), rel)).To(Succeed())
		Expect(rel.Spec.Paused).To(BeFalse())

		out, _, code = runbook(ctx, "status", name)
		Expect(code).To(BeZero())
		Expect(out).To(MatchRegexp(`Release ` + name + `  RolledBack  1.1.0`))
		Expect(out).To(ContainSubstring("web  1/1 ready"))

		By("kubectl completes the Release's name through plugins/kubectl_complete-runbook")
		out, errOut, code = kubectlRun(ctx, "__complete", "runbook", "release", "rollback", "-n", ns, "plugin-s")
		Expect(code).To(BeZero(), errOut)
		Expect(strings.Split(out, "\n")).To(ContainElement(name))
	}, SpecTimeout(8*time.Minute))
})

// exitCode is the exit status of a command that ran; any other error fails the spec.
func exitCode(err error) int {
	GinkgoHelper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	Expect(err).NotTo(HaveOccurred())
	return 0
}

// kubectlWithPlugin is a new folder holding kubectl (a link to the one
// hack/test-binaries.sh builds into the assets folder), the built plugin and the
// completion script the krew manifest installs beside it (kubectl completes
// `kubectl runbook …` through it): with the folder first on PATH, `kubectl runbook`
// runs as on a machine where the plugin is installed.
func kubectlWithPlugin(ctx context.Context) string {
	GinkgoHelper()
	root, err := devcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	assets, err := devcluster.ResolveAssets("")
	Expect(err).NotTo(HaveOccurred())
	Expect(filepath.Join(assets, "kubectl")).To(BeAnExistingFile(), "hack/test-binaries.sh (make test-binaries) builds kubectl into the assets folder")
	dir := GinkgoT().TempDir()
	Expect(os.Symlink(filepath.Join(assets, "kubectl"), filepath.Join(dir, "kubectl"))).To(Succeed())
	_, err = devcluster.BuildBinaries(ctx, root, dir, map[string]string{"kubectl-runbook": "./cmd/kubectl-runbook"}, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	complete, err := os.ReadFile(filepath.Join(root, "plugins", "kubectl_complete-runbook"))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(dir, "kubectl_complete-runbook"), complete, 0o755)).To(Succeed())
	return dir
}

// readReport is report.txt of a `kubectl runbook report` archive.
func readReport(file string) string {
	GinkgoHelper()
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	Expect(err).NotTo(HaveOccurred())
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		Expect(err).NotTo(HaveOccurred(), "report.txt in the archive")
		if h.Name == "report.txt" {
			b, err := io.ReadAll(tr)
			Expect(err).NotTo(HaveOccurred())
			return string(b)
		}
	}
}
