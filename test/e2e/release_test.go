//go:build e2e

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

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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

// The Release specs deploy the Django app of test/saas (web and Celery worker) on a
// database of their own, through four releases: 1.0.0, 1.1.0 (a new migration), 1.2.0
// (health fails: rolled back, and with rollback.restoreDatabase its pre-deploy backup
// restored) and 1.3.0 (the migration fails: nothing rolled out). Every revision takes
// its pre-deploy backup to the devcluster's S3 server.
const (
	releaseDB       = "release_e2e"
	releaseDBSecret = "e2e-release-db"
	releaseName     = "e2e-saas"
)

func releaseSpecYAML(tag string) string {
	return backedUpReleaseSpecYAML(tag, releaseDBSecret, "e2e-release") + fmt.Sprintf(`rollback:
  restoreDatabase: true
  openIncident: P2
  incidentNotify: [{name: oncall, type: PagerDuty, url: '%s', secretRef: {name: %s, key: routing-key}}]
`, pagerDuty.URL(), pdSecret)
}

// backedUpReleaseSpecYAML is the demo's Release of the Django app at tag on the database
// of dbSecret (one web pod, a 10 s verification window), its pre-deploy backups going to
// the devcluster's S3 server under prefix.
func backedUpReleaseSpecYAML(tag, dbSecret, prefix string) string {
	spec := demo.ReleaseSpecYAML(tag, dbSecret, 1, "{path: /api/v1/health/, interval: 2s, window: 10s, failureThreshold: 2, progressDeadline: 2m}")
	backup := fmt.Sprintf("backup: {deletionPolicy: Delete, destination: {s3: {bucket: %s, prefix: %s, region: %s, endpoint: '%s', forcePathStyle: true, credentialsSecretRef: {name: %s}}}}",
		devcluster.DemoBucket, prefix, cluster.S3.Region, cluster.S3.Endpoint, devcluster.DemoS3Secret)
	return strings.Replace(spec, "backup: {enabled: false}", backup, 1)
}

func e2eRelease(ctx context.Context) *opsv1alpha1.Release {
	GinkgoHelper()
	return getE2ERelease(ctx, releaseName)
}

func getE2ERelease(ctx context.Context, name string) *opsv1alpha1.Release {
	GinkgoHelper()
	rel := &opsv1alpha1.Release{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rel)).To(Succeed())
	return rel
}

func setReleaseTag(ctx context.Context, tag string) {
	GinkgoHelper()
	Eventually(func() error {
		rel := e2eRelease(ctx)
		var spec opsv1alpha1.ReleaseSpec
		if err := yaml.Unmarshal([]byte(releaseSpecYAML(tag)), &spec); err != nil {
			return err
		}
		rel.Spec = spec
		return k8sClient.Update(ctx, rel)
	}).Should(Succeed())
}

// servedVersions GETs the health endpoint of every running web pod and returns the
// versions they report.
func servedVersions(ctx context.Context) []string { return servedVersionsOf(ctx, releaseName) }

// servedVersionsOf is servedVersions of Release name.
func servedVersionsOf(ctx context.Context, name string) []string {
	pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: opsv1alpha1.LabelRelease + "=" + name + "," + opsv1alpha1.LabelComponent + "=web"})
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || !p.DeletionTimestamp.IsZero() {
			continue
		}
		resp, err := http.Get("http://" + p.Status.PodIP + ":8000/api/v1/health/")
		if err != nil {
			out = append(out, "unreachable")
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var h struct{ Version string }
		_ = json.Unmarshal(body, &h)
		out = append(out, fmt.Sprintf("%d %s", resp.StatusCode, h.Version))
	}
	return out
}

func releasePhase(ctx context.Context) func() string { return releasePhaseOf(ctx, releaseName) }

// releasePhaseOf is "<phase> <version>" of Release name once its status follows the
// spec's generation and version.
func releasePhaseOf(ctx context.Context, name string) func() string {
	return func() string {
		rel := getE2ERelease(ctx, name)
		h := rel.Status.History
		if rel.Status.ObservedGeneration != rel.Generation || len(h) == 0 || h[0].Version != rel.Spec.Version {
			return "not yet acted on"
		}
		return string(rel.Status.Phase) + " " + h[0].Version
	}
}

var _ = Describe("Release with the manager on the devcluster", Ordered, ContinueOnFailure, func() {
	BeforeAll(func(ctx SpecContext) {
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Exec(ctx, "CREATE DATABASE "+releaseDB)
		_ = conn.Close(ctx)
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: releaseDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": releaseDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}))).To(Succeed())
		startPagerDuty(ctx)
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: releaseName, Namespace: ns}}
		Expect(yaml.Unmarshal([]byte(releaseSpecYAML("1.0.0")), &rel.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
	})

	It("deploys 1.0.0: migrations, then worker and web, verified", func(ctx SpecContext) {
		Eventually(releasePhase(ctx)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))
		Expect(servedVersions(ctx)).To(Equal([]string{"200 1.0.0"}))
	})

	It("deploys 1.1.0 with its new migration applied, web and worker on the same revision", func(ctx SpecContext) {
		setReleaseTag(ctx, "1.1.0")
		Eventually(releasePhase(ctx)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel := e2eRelease(ctx)
		Expect(rel.Status.MigrationPlan).To(ContainSubstring("[ ]  subscriptions.0002_subscription_seats"))
		Expect(rel.Status.History[0].AppliedMigrations).To(Equal([]string{"subscriptions.0002_subscription_seats"}))
		for _, c := range rel.Status.Components {
			Expect(c.Revision).To(Equal(rel.Status.StableRevision), c.Name)
		}
		Eventually(func() []string { return servedVersions(ctx) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.1.0"}))
		var n int
		Expect(pgxQueryRow(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'subscriptions_subscription' AND column_name = 'seats'", &n)).To(Succeed())
		Expect(n).To(Equal(1))
	})

	It("rolls 1.2.0 back to 1.1.0 when its health checks fail and restores its pre-deploy backup, losing what was written since", func(ctx SpecContext) {
		setReleaseTag(ctx, "1.2.0")
		By("a write after 1.2.0's pre-deploy backup completed")
		Eventually(func() string {
			rel := e2eRelease(ctx)
			if len(rel.Status.History) == 0 || rel.Status.History[0].Version != "1.2.0" {
				return "not started"
			}
			return conditionStatus(rel.Status.Conditions, opsv1alpha1.ConditionBackupSucceeded)
		}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Equal("True"))
		atBackup := tableChecksums(ctx, releaseDB)
		conn := restoreConn(ctx, releaseDB)
		_, err := conn.Exec(ctx, "CREATE TABLE e2e_written_after_backup AS SELECT 1 AS id")
		_ = conn.Close(ctx)
		Expect(err).NotTo(HaveOccurred())

		Eventually(releasePhase(ctx)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("RolledBack 1.2.0"))
		rel := e2eRelease(ctx)
		rec := rel.Status.History[0]
		Expect(rec.Result).To(Equal(opsv1alpha1.RevisionRolledBack))
		Expect(rec.Message).To(And(ContainSubstring("503"), ContainSubstring("the database goes back to pre-deploy backup "+rec.Backup)))
		Expect(rel.Status.StableVersion).To(Equal("1.1.0"))

		By("the DatabaseRestore quiesces the app, swaps the backup's data in and resumes it")
		Eventually(func() string {
			return conditionStatus(e2eRelease(ctx).Status.Conditions, opsv1alpha1.ConditionDatabaseRestored)
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("True"))
		rs := &opsv1alpha1.DatabaseRestore{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rec.DatabaseRestore.Name}, rs)).To(Succeed())
		Expect(rs.Status.Phase).To(Equal(opsv1alpha1.RestorePhaseCompleted))
		Expect(tableChecksums(ctx, releaseDB)).To(Equal(atBackup))
		Expect(tableChecksums(ctx, rs.Status.PreviousDatabase)).To(HaveKey("e2e_written_after_backup"))
		var n int
		Expect(pgxQueryRow(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'subscriptions_subscription' AND column_name = 'seats'", &n)).To(Succeed())
		Expect(n).To(Equal(1), "the restored data is 1.1.0's")
		Eventually(func() []string { return servedVersions(ctx) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.1.0"}))
		rel = e2eRelease(ctx)
		Expect(rel.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseRolledBack))

		By("one Incident records the failure")
		inc := &opsv1alpha1.Incident{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rec.Incident.Name}, inc)).To(Succeed())
		Expect(inc.Spec.Severity).To(Equal(opsv1alpha1.SeverityP2))
		Expect(inc.Spec.Title).To(Equal(fmt.Sprintf("Release %s: revision %s (1.2.0) rolled back to 1.1.0", releaseName, rec.Revision)))
		Expect(inc.Spec.Description).To(ContainSubstring("503"))
		GinkgoWriter.Printf("history[0].message: %s\nDatabaseRestored: %s\nIncident %s %s: %s\n", rel.Status.History[0].Message,
			conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionDatabaseRestored).Message, inc.Name, inc.Spec.Severity, inc.Spec.Title)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, rs.Status.PreviousDatabase) })
	})

	It("opened 1.2.0's Incident before the rollback: its evidence holds the failing pods' logs and the database check, and PagerDuty gets trigger, acknowledge and resolve with one dedup key", func(ctx SpecContext) {
		rec := e2eRelease(ctx).Status.History[0]
		Expect(rec.Version).To(Equal("1.2.0"))
		inc := &opsv1alpha1.Incident{}
		key := client.ObjectKey{Namespace: ns, Name: rec.Incident.Name}
		Expect(k8sClient.Get(ctx, key, inc)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, inc) })
		Expect(conditionIn(e2eRelease(ctx).Status.Conditions, opsv1alpha1.ConditionRolledBack).Message).To(
			ContainSubstring("Incident " + inc.Name + " read the failing pods and their logs first"))

		By("the evidence: the failing revision's pods and their logs, read while its template still ran, then the database check")
		Eventually(func() string {
			Expect(k8sClient.Get(ctx, key, inc)).To(Succeed())
			return conditionStatus(inc.Status.Conditions, opsv1alpha1.ConditionEvidenceCaptured)
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("True"))
		ev := inc.Status.Evidence
		Expect(ev.PodsCapturedAt.Time.After(ev.CapturedAt.Time)).To(BeFalse(), "the pods are read before the database check ends")
		bundle := evidenceOf(ctx, inc)
		Expect(bundle).To(MatchRegexp(`deployment %s-web template=%s `, releaseName, rec.Revision))
		failing := regexp.MustCompile(fmt.Sprintf(`(?m)^pod (%s-web-\S+) phase=\S+ revision=%s `, releaseName, rec.Revision)).FindStringSubmatch(bundle)
		Expect(failing).NotTo(BeNil(), "the evidence lists a web pod of the failed revision")
		logs := regexp.MustCompile(`(?s)=== logs/` + regexp.QuoteMeta(failing[1]) + `/app[^\n]* ===\n(.*?)(\n===|$)`).FindStringSubmatch(bundle)
		Expect(logs).NotTo(BeNil(), "the evidence holds the failing pod's log")
		Expect(strings.TrimSpace(logs[1])).NotTo(BeEmpty())
		Expect(bundle).To(ContainSubstring("=== database check ==="))
		Expect(bundle).To(MatchRegexp(`database "%s" on .*: connected`, releaseDB))
		Expect(conditionStatus(inc.Status.Conditions, opsv1alpha1.ConditionDatabaseChecked)).To(Equal("True"))
		GinkgoWriter.Printf("evidence: %d bytes in %d ConfigMap(s), sha256 %s, pods read %s, complete %s\nfailing pod %s log tail:\n%s\n",
			ev.SizeBytes, len(ev.ConfigMaps), ev.SHA256, ev.PodsCapturedAt.UTC().Format(time.RFC3339), ev.CapturedAt.UTC().Format(time.RFC3339), failing[1], tailOf(logs[1], 600))

		By("PagerDuty got the trigger with P2 mapped to warning")
		dedup := inc.Status.DedupKey
		Expect(dedup).NotTo(BeEmpty())
		waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		trigger, err := pagerDuty.Wait(waitCtx, "trigger", dedup)
		Expect(err).NotTo(HaveOccurred())
		Expect(trigger.Severity).To(Equal("warning"))
		Expect(trigger.RoutingKey).To(Equal(pdRoutingKey))
		Expect(trigger.Summary).To(ContainSubstring("1.2.0"))

		By("a person acknowledges with a merge patch: PagerDuty gets acknowledge with the same dedup key and routing key")
		patchIncident(ctx, inc, `{"spec":{"acknowledgedBy":"alice"}}`)
		ack, err := pagerDuty.Wait(waitCtx, "acknowledge", dedup)
		Expect(err).NotTo(HaveOccurred())
		Expect(ack.RoutingKey).To(Equal(pdRoutingKey))

		By("and resolves it: PagerDuty gets resolve with the same dedup key")
		patchIncident(ctx, inc, `{"spec":{"resolution":"1.2.0 rolled back; its missing migration goes into 1.2.1"}}`)
		resolve, err := pagerDuty.Wait(waitCtx, "resolve", dedup)
		Expect(err).NotTo(HaveOccurred())
		Expect(resolve.RoutingKey).To(Equal(pdRoutingKey))
		Eventually(func() opsv1alpha1.IncidentPhase {
			Expect(k8sClient.Get(ctx, key, inc)).To(Succeed())
			return inc.Status.Phase
		}).WithTimeout(time.Minute).Should(Equal(opsv1alpha1.IncidentPhaseResolved))
		var got []string
		for _, d := range pagerDuty.Events() {
			got = append(got, fmt.Sprintf("%s %s %s", d.At.UTC().Format("15:04:05.000"), d.Action, d.DedupKey))
		}
		Expect(got).To(HaveLen(3), "one trigger, one acknowledge, one resolve: %v", got)
		GinkgoWriter.Printf("PagerDuty receiver got:\n%s\n", strings.Join(got, "\n"))
	})

	It("stops 1.3.0 at its failed migration with Django's error, 1.1.0 still serving", func(ctx SpecContext) {
		setReleaseTag(ctx, "1.3.0")
		Eventually(releasePhase(ctx)).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Failed 1.3.0"))
		rel := e2eRelease(ctx)
		var stalled string
		for _, c := range rel.Status.Conditions {
			if c.Type == opsv1alpha1.ConditionStalled {
				stalled = c.Reason + ": " + c.Message
			}
		}
		Expect(stalled).To(And(HavePrefix("MigrationFailed"), ContainSubstring("does not exist")))
		Expect(servedVersions(ctx)).To(Equal([]string{"200 1.1.0"}))
	})
})

func pgxQueryRow(ctx context.Context, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(releaseDB))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// conditionStatus is the status of condition t, or "" when there is none.
func conditionStatus(conds []metav1.Condition, t string) string {
	for _, c := range conds {
		if c.Type == t {
			return string(c.Status)
		}
	}
	return ""
}

func dropDatabase(ctx context.Context, name string) {
	conn := restoreConn(ctx, "postgres")
	defer func() { _ = conn.Close(context.Background()) }()
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	Expect(err).NotTo(HaveOccurred())
}
