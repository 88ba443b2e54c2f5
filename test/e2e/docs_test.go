//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/docs"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

// docsNamespace is the namespace the docs' examples live in (`metadata: {namespace:
// saas}`); the spec's kubeconfig has it as its context's namespace, so that the
// commands run exactly as the docs write them, without -n.
const docsNamespace = "saas"

// docsOrder is the order the spec runs the docs' `kubectl runbook …` commands in
// (the runbook's: look, back up, restore, deploy and roll back, rotate, incidents,
// report); within a group, in the order of the pages. A command shown in the docs
// that fits no group fails the spec: give it a place here (and what it needs).
var docsOrder = []string{
	"kubectl runbook --help",
	"kubectl runbook status",
	"kubectl runbook backup now --database",
	"kubectl runbook backup now --from-schedule",
	"kubectl runbook restore ",
	"kubectl runbook release pause ",
	"kubectl runbook release resume ",
	"kubectl runbook release rollback ",
	"kubectl runbook release retry ",
	"kubectl runbook rotate ",
	"kubectl runbook incident open ",
	"kubectl runbook incident ack ",
	"kubectl runbook incident resolve ",
	"kubectl runbook report",
}

// docsLiteral are the other commands of the docs the spec runs as written, after
// the `kubectl runbook` command they follow (docs/commands_test.go lists what runs
// the rest). Each must still be shown in the docs.
var docsLiteral = map[string][]string{
	// docs/backup.md, after applying the backup (here made with the devcluster's endpoint).
	"kubectl runbook backup now --from-schedule": {
		`kubectl -n saas wait databasebackup/before-v2-4-0 --for=condition=Reconciling=False --timeout=1h`,
		`kubectl -n saas get databasebackup/before-v2-4-0 -o jsonpath='{.status.phase}: {.status.conditions[?(@.type=="Ready")].message}{"\n"}'`,
	},
	// docs/rotation.md: the same requests by hand.
	"kubectl runbook rotate ": {
		`kubectl patch secretrotation saas-app-secrets --type merge -p "{\"spec\":{\"rotateRequest\":\"$(date -u +%FT%TZ)\"}}"`,
		`kubectl annotate secretrotation saas-app-secrets --overwrite ops.runbook.dev/emergency-rotation=breach-$(date -u +%FT%TZ)`,
	},
	// The demo's tables (docs/demo.md, docs/backup.md, docs/restore.md, README.md).
	"kubectl runbook report": {
		`kubectl -n demo get databasebackups`,
		`kubectl -n demo get databaserestores`,
		`kubectl -n demo get releases`,
		`kubectl -n demo get incidents`,
		`kubectl -n demo get databasebackups,backupschedules,jobs,pods`,
	},
}

// docsNotRun are the docs' `kubectl runbook` commands the spec does not run, and why.
var docsNotRun = map[string]string{
	"kubectl runbook backup now --database saas-db --verify --bucket saas-backups --prefix manual --region eu-central-1 --s3-credentials saas-s3": "its " +
		"destination is a bucket on AWS (no --endpoint): its Job would reach out to AWS; TestBackupNowWritesTheDatabaseBackupAPersonWould " +
		"(internal/plugin, envtest) runs --database --verify --bucket --prefix --s3-credentials and checks the DatabaseBackup written",
}

// The docs' commands as a person on call types them: every `kubectl runbook …`
// line of docs/*.md and README.md, as written (names and all), through sh with the
// real kubectl and the plugin on PATH, in namespace saas holding the objects the
// docs name (Secret saas-db, BackupSchedule nightly, backup before-v2-4-0, Release
// saas, SecretRotation saas-app-secrets, Incident saas-20261207-132500). Each must
// exit 0; what it did is checked where the output says it.
var _ = Describe("the docs' commands on the devcluster", Ordered, func() {
	const db = "docs_saas"
	var (
		bin, work, kubeconfig string
		shown                 []docs.Shown
	)
	sh := func(ctx context.Context, script string) (string, int) {
		GinkgoHelper()
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		code := exitCode(cmd.Run())
		GinkgoWriter.Printf("$ %s\n%s(exit %d)\n", script, out.String(), code)
		return out.String(), code
	}
	copySecret := func(ctx context.Context, from, to string, change map[string]string) {
		GinkgoHelper()
		src, err := clientset.CoreV1().Secrets(ns).Get(ctx, from, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: to, Namespace: docsNamespace}, Data: src.Data}
		for k, v := range change {
			s.Data[k] = []byte(v)
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
	}
	release := func(ctx context.Context) *opsv1alpha1.Release {
		GinkgoHelper()
		r := &opsv1alpha1.Release{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "saas"}, r)).To(Succeed())
		return r
	}
	phase := func(ctx context.Context) func() string {
		return func() string {
			r := release(ctx)
			if r.Status.ObservedGeneration != r.Generation || len(r.Status.History) == 0 || r.Status.History[0].Version != r.Spec.Version {
				return "not yet acted on"
			}
			return string(r.Status.Phase) + " " + r.Status.History[0].Version
		}
	}
	releaseSpec := func(tag, window string) opsv1alpha1.ReleaseSpec {
		GinkgoHelper()
		var s opsv1alpha1.ReleaseSpec
		Expect(yaml.Unmarshal([]byte(demo.ReleaseSpecYAML(tag, "saas-db", 1,
			"{path: /api/v1/health/, interval: 2s, window: "+window+", failureThreshold: 3, progressDeadline: 2m}")), &s)).To(Succeed())
		return s
	}

	BeforeAll(func(ctx SpecContext) {
		bin = kubectlWithPlugin(ctx)
		work = GinkgoT().TempDir()
		dir, err := docsDir()
		Expect(err).NotTo(HaveOccurred())
		pages, err := docs.Pages(dir)
		Expect(err).NotTo(HaveOccurred())
		for _, p := range pages {
			s, err := docs.ShownCommands(p)
			Expect(err).NotTo(HaveOccurred())
			shown = append(shown, s...)
		}

		By("a kubeconfig whose context's namespace is " + docsNamespace)
		cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Contexts).To(HaveKey(cfg.CurrentContext))
		cfg.Contexts[cfg.CurrentContext].Namespace = docsNamespace
		kubeconfig = filepath.Join(work, "kubeconfig")
		Expect(clientcmd.WriteToFile(*cfg, kubeconfig)).To(Succeed())

		By("namespace saas with what the docs name: Secrets saas-db and saas-s3, the app's Secrets")
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: docsNamespace}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, nsObj))).To(Succeed())
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+db)
		copySecret(ctx, devcluster.DemoDBSecret, "saas-db", map[string]string{"dbname": db})
		copySecret(ctx, devcluster.DemoS3Secret, "saas-s3", nil)
		copySecret(ctx, devcluster.DemoAppSecret, devcluster.DemoAppSecret, nil)
		copySecret(ctx, devcluster.DemoRedisSecret, devcluster.DemoRedisSecret, nil)
		DeferCleanup(func(ctx SpecContext) {
			for _, l := range []client.ObjectList{&opsv1alpha1.DatabaseRestoreList{}, &opsv1alpha1.DatabaseBackupList{}, &opsv1alpha1.BackupScheduleList{},
				&opsv1alpha1.ReleaseList{}, &opsv1alpha1.SecretRotationList{}, &opsv1alpha1.IncidentList{}} {
				Expect(k8sClient.List(ctx, l, client.InNamespace(docsNamespace))).To(Succeed())
				items, err := meta.ExtractList(l)
				Expect(err).NotTo(HaveOccurred())
				for _, o := range items {
					deleteAndWait(ctx, o.(client.Object))
				}
			}
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, nsObj))).To(Succeed())
			for _, d := range databasesLike(ctx, db) {
				execSQL(ctx, "postgres", fmt.Sprintf("DROP DATABASE %q WITH (FORCE)", d))
			}
		})

		By("BackupSchedule nightly (once a year: it takes no backup of its own here), SecretRotation saas-app-secrets, Incident saas-20261207-132500")
		Expect(k8sClient.Create(ctx, &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: docsNamespace},
			Spec: opsv1alpha1.BackupScheduleSpec{Schedule: "0 3 1 1 *", Template: opsv1alpha1.BackupTemplate{Spec: opsv1alpha1.DatabaseBackupSpec{
				Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}}, Destination: destination("docs", "saas-s3")}}}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &opsv1alpha1.SecretRotation{ObjectMeta: metav1.ObjectMeta{Name: "saas-app-secrets", Namespace: docsNamespace},
			Spec: opsv1alpha1.SecretRotationSpec{SecretName: "saas-app", Keys: []opsv1alpha1.RotatedKey{{Key: "API_TOKEN", Generator: opsv1alpha1.GeneratorRandom}}}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "saas-20261207-132500", Namespace: docsNamespace},
			Spec: opsv1alpha1.IncidentSpec{Severity: "P1", Title: "checkout returns 500"}})).To(Succeed())

		By("Release saas deployed at 1.0.0, then backup before-v2-4-0 of its database")
		Expect(k8sClient.Create(ctx, &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: docsNamespace}, Spec: releaseSpec("1.0.0", "10s")})).To(Succeed())
		Eventually(phase(ctx)).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))
		Expect(k8sClient.Create(ctx, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: "before-v2-4-0", Namespace: docsNamespace},
			Spec: opsv1alpha1.DatabaseBackupSpec{Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}},
				Destination: destination("docs", "saas-s3")}})).To(Succeed())
	}, NodeTimeout(8*time.Minute))

	It("runs every `kubectl runbook` command of the docs as written, and exits 0", func(ctx SpecContext) {
		var plugin []docs.Shown
		seen := map[string]bool{}
		for _, s := range shown {
			if _, ok := docsNotRun[s.Command]; ok {
				seen[s.Command] = true
				continue
			}
			if s.IsPlugin() && !seen[s.Command] {
				seen[s.Command] = true
				plugin = append(plugin, s)
			}
		}
		Expect(len(plugin)).To(BeNumerically(">=", 20), "the docs' plugin commands")
		group := func(s docs.Shown) int {
			for i, prefix := range docsOrder {
				if strings.HasPrefix(s.Command+" ", prefix) {
					return i
				}
			}
			Fail(fmt.Sprintf("%s:%d: %s has no place in docsOrder (test/e2e/docs_test.go)", s.Page, s.Line, s.Command))
			return -1
		}
		slices.SortStableFunc(plugin, func(a, b docs.Shown) int { return group(a) - group(b) })
		for c := range docsNotRun {
			Expect(seen).To(HaveKey(c), "docsNotRun lists a command the docs no longer show")
		}
		for cmds := range docsLiteral {
			Expect(docsOrder).To(ContainElement(cmds))
		}
		shownCommands := map[string]bool{}
		for _, s := range shown {
			shownCommands[s.Command] = true
		}
		for _, cmds := range docsLiteral {
			for _, c := range cmds {
				Expect(shownCommands).To(HaveKey(c), "a command the spec runs is no longer in the docs")
			}
		}

		prepared := map[string]bool{}
		for i, s := range plugin {
			g := docsOrder[group(s)]
			if !prepared[g] {
				prepared[g] = true
				switch g {
				case "kubectl runbook release rollback ":
					By("1.1.0 with a verification window of 90 s: the rollback comes while it verifies")
					Eventually(func() error {
						r := release(ctx)
						r.Spec = releaseSpec("1.1.0", "90s")
						return k8sClient.Update(ctx, r)
					}).WithContext(ctx).Should(Succeed())
					Eventually(phase(ctx)).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Verifying 1.1.0"))
				}
			}
			By(fmt.Sprintf("%s:%d", s.Page, s.Line))
			out, code := sh(ctx, s.Script())
			Expect(code).To(BeZero(), "%s:%d: %s\n%s", s.Page, s.Line, s.Command, out)
			switch {
			case strings.HasPrefix(s.Command, "kubectl runbook status") && !strings.Contains(s.Command, "-o"):
				Expect(out).To(ContainSubstring("Release saas"))
			case strings.HasPrefix(s.Command, "kubectl runbook backup now") && strings.Contains(s.Command, "--wait") && !strings.Contains(s.Command, "-o json"):
				Expect(out).To(MatchRegexp(`databasebackup/\S+: Completed`))
			case strings.HasPrefix(s.Command, "kubectl runbook restore"):
				Expect(out).To(ContainSubstring(": Completed"))
				Expect(out).To(ContainSubstring("kept as " + db + "_pre_restore_"))
			case strings.HasPrefix(s.Command, "kubectl runbook release rollback"):
				Expect(out).To(ContainSubstring("release/saas: RolledBack"))
			case strings.HasPrefix(s.Command, "kubectl runbook release retry"):
				Expect(out).To(ContainSubstring("release/saas: Deployed"))
			}
			if strings.Contains(s.Command, "> backup.json") {
				b, err := os.ReadFile(filepath.Join(work, "backup.json"))
				Expect(err).NotTo(HaveOccurred())
				Expect(string(b)).To(MatchRegexp(`"kind":\s*"DatabaseBackup"`))
			}
			if strings.Contains(s.Command, "-f saas-report.tar.gz") {
				Expect(readReport(filepath.Join(work, "saas-report.tar.gz"))).To(ContainSubstring("=== objects/Release/saas ==="))
			}
			last := i == len(plugin)-1 || docsOrder[group(plugin[i+1])] != g
			if last {
				for _, c := range docsLiteral[g] {
					By(c)
					out, code := sh(ctx, c)
					Expect(code).To(BeZero(), "%s\n%s", c, out)
					if strings.Contains(c, "get databasebackup/before-v2-4-0") {
						Expect(out).To(HavePrefix("Completed: "))
					}
				}
			}
		}

		By("what the commands did: the incident resolved, the Release on 1.1.0 again")
		inc := &opsv1alpha1.Incident{}
		Eventually(func(g Gomega) opsv1alpha1.IncidentPhase {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "saas-20261207-132500"}, inc)).To(Succeed())
			return inc.Status.Phase
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(opsv1alpha1.IncidentPhaseResolved))
		Expect(inc.Spec.Resolution).To(Equal("rolled back to 1.1.0"))
		Expect(phase(ctx)()).To(Equal("Deployed 1.1.0"))
	}, SpecTimeout(20*time.Minute))
})

// docsDir is the repository's docs folder.
func docsDir() (string, error) {
	root, err := devcluster.ModuleRoot()
	return filepath.Join(root, "docs"), err
}
