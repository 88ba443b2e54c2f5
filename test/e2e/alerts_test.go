//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
	"runbook-operator/internal/devcluster"
)

// The devcluster's real Prometheus scrapes the manager and evaluates the shipped
// rules; its real Alertmanager (0.25) posts to the manager's receiver with the bearer
// token, and a copy to the devcluster's recorder, which also receives the Incident's
// notification (the local receiver of --alert-receiver-notify). Set
// E2E_UPDATE_FIXTURES=1 to keep what Alertmanager posted as a unit-test fixture of
// internal/alertreceiver.
var _ = Describe("Alerts open Incidents on the devcluster", func() {
	It("fires RunbookBackupFailing for a failed backup, and Alertmanager's post opens one Incident with the group's alerts, evidence and a notification", func(ctx SpecContext) {
		mon := cluster.Monitoring
		Expect(mon).NotTo(BeNil(), "the devcluster runs Prometheus and Alertmanager")
		alertsNS := fmt.Sprintf("e2e-alerts-%d", time.Now().UnixNano()%1_000_000)

		By("a namespace with a database Secret naming a database that does not exist, the S3 Secret and the notification Secret")
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: alertsNS}})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: alertsNS}})).To(Succeed())
		})
		demoDB, demoS3 := &corev1.Secret{}, &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: devcluster.DemoDBSecret}, demoDB)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: devcluster.DemoS3Secret}, demoS3)).To(Succeed())
		for _, db := range []string{"orders-db", "billing-db"} {
			data := map[string][]byte{}
			for k, v := range demoDB.Data {
				data[k] = v
			}
			data["dbname"] = []byte("no_such_" + strings.ReplaceAll(db, "-", "_"))
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: db, Namespace: alertsNS}, Data: data})).To(Succeed())
		}
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: devcluster.DemoS3Secret, Namespace: alertsNS}, Data: demoS3.Data})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: devcluster.AlertNotifySecret, Namespace: alertsNS},
			StringData: map[string]string{"url": mon.NotifyURL()}})).To(Succeed())

		failBackup := func(name, db string) *opsv1alpha1.DatabaseBackup {
			GinkgoHelper()
			b := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: alertsNS}, Spec: opsv1alpha1.DatabaseBackupSpec{
				Database:       opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: db}},
				Destination:    destination(name, devcluster.DemoS3Secret),
				DeletionPolicy: opsv1alpha1.DeletionPolicyRetain,
			}}
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			DeferCleanup(deleteAndWait, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: alertsNS}})
			Eventually(func(g Gomega) opsv1alpha1.BackupPhase {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
				return b.Status.Phase
			}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(100*time.Millisecond).Should(Equal(opsv1alpha1.BackupPhaseFailed),
				"backup %s of a missing database fails; the manager's log: %s", name, manager.LogPath)
			return b
		}

		By("a DatabaseBackup of a database that does not exist fails")
		failed := failBackup("nightly-orders", "orders-db")
		failedSeen := time.Now()
		GinkgoWriter.Printf("backup Failed (completionTime %s): %s\n", failed.Status.CompletionTime.UTC().Format(time.RFC3339), conditionIn(failed.Status.Conditions, opsv1alpha1.ConditionReady).Message)

		By("Prometheus fires RunbookBackupFailing for it")
		promClient, err := api.NewClient(api.Config{Address: mon.PrometheusURL})
		Expect(err).NotTo(HaveOccurred())
		prom := promv1.NewAPI(promClient)
		var firing promv1.Alert
		Eventually(func(g Gomega) {
			res, err := prom.Alerts(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			found := false
			for _, a := range res.Alerts {
				if a.Labels["alertname"] == "RunbookBackupFailing" && string(a.Labels["namespace"]) == alertsNS && a.State == promv1.AlertStateFiring {
					firing, found = a, true
				}
			}
			g.Expect(found).To(BeTrue(), "alerts: %+v", res.Alerts)
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		firingSeen := time.Now()
		Expect(firing.Labels).To(HaveKeyWithValue(BeEquivalentTo("database"), BeEquivalentTo("orders-db")))
		Expect(firing.Labels).To(HaveKeyWithValue(BeEquivalentTo("severity"), BeEquivalentTo("warning")))

		By("Alertmanager posts the group (a copy reaches the recorder)")
		isOurs := func(want int) func(devcluster.Post) bool {
			return func(p devcluster.Post) bool {
				m, err := alertreceiver.Decode(bytes.NewReader(p.Body))
				return err == nil && m.GroupLabels["namespace"] == alertsNS && len(m.Alerts.Firing()) == want
			}
		}
		wait := func(path string, match func(devcluster.Post) bool) devcluster.Post {
			GinkgoHelper()
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			p, err := mon.Recorder.Wait(wctx, path, match)
			Expect(err).NotTo(HaveOccurred(), "waiting for a post to %s; Alertmanager's log: %s", path, filepath.Join(cluster.LogDir, "alertmanager.log"))
			return p
		}
		post := wait(devcluster.RecorderAlertmanagerPath, isOurs(1))
		GinkgoWriter.Printf("what Alertmanager posted:\n%s\n", post.Body)
		m, err := alertreceiver.Decode(bytes.NewReader(post.Body))
		Expect(err).NotTo(HaveOccurred())
		Expect(m.Version).To(Equal("4"))
		Expect(m.Receiver).To(Equal("runbook-operator"))
		Expect(m.Status).To(Equal("firing"))
		Expect(m.TruncatedAlerts).To(BeZero())
		Expect(m.ExternalURL).To(Equal(mon.AlertmanagerURL))
		Expect(m.GroupKey).To(Equal(fmt.Sprintf(`{}:{alertname="RunbookBackupFailing", namespace=%q}`, alertsNS)))
		Expect(m.Alerts).To(HaveLen(1))
		alert := m.Alerts[0]
		Expect(alert.Labels).To(BeEquivalentTo(map[string]string{"alertname": "RunbookBackupFailing", "namespace": alertsNS, "database": "orders-db", "severity": "warning"}))
		Expect(alert.Annotations).To(HaveKeyWithValue("runbook_url", "README.md#runbookbackupfailing"))
		Expect(alert.Annotations).To(HaveKeyWithValue("summary", fmt.Sprintf("The newest backup of %s/orders-db failed", alertsNS)))
		Expect(alert.GeneratorURL).To(HavePrefix(mon.PrometheusURL + "/graph?g0.expr="))
		Expect(alert.Fingerprint).To(MatchRegexp(`^[0-9a-f]{16}$`))
		Expect(alert.StartsAt).To(BeTemporally("~", firing.ActiveAt, time.Second))

		By("the manager's receiver opened one Incident for the group, named from its groupKey")
		incName := alertreceiver.Name(m.GroupKey, 1)
		inc := &opsv1alpha1.Incident{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: alertsNS, Name: incName}, inc)).To(Succeed())
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(inc.Spec.Severity).To(Equal(opsv1alpha1.SeverityP3), "severity warning maps to P3")
		Expect(inc.Spec.Title).To(Equal(alert.Annotations["summary"]))
		Expect(inc.Spec.Notify).To(ConsistOf(HaveField("SecretRef.Name", devcluster.AlertNotifySecret)))
		Expect(inc.Spec.Response).To(HaveField("CaptureEvidence", BeTrue()))
		Expect(inc.Spec.Response).To(HaveField("Isolate", BeNil()), "an alert changes nothing by itself")

		By("the Incident captures evidence and notifies the local receiver")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			g.Expect(inc.Status.Evidence).NotTo(BeNil())
			g.Expect(inc.Status.Notifiers).To(ConsistOf(And(HaveField("Name", alertreceiver.NotifierName),
				HaveField("Deliveries", ContainElement(And(HaveField("Transition", BeEquivalentTo("Opened")), HaveField("State", opsv1alpha1.DeliveryDelivered)))))))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(inc.Status.Evidence.ConfigMaps).NotTo(BeEmpty())
		evidence := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: alertsNS, Name: inc.Status.Evidence.ConfigMaps[0]}, evidence)).To(Succeed())
		Expect(evidence.Data["bundle"]).To(ContainSubstring(inc.Spec.Title))
		notice := wait(devcluster.RecorderNotifyPath, func(p devcluster.Post) bool {
			return strings.Contains(string(p.Body), `"namespace":"`+alertsNS+`"`) && strings.Contains(string(p.Body), `"transition":"Opened"`)
		})
		var n struct {
			Transition string `json:"transition"`
			Incident   struct{ Name, Namespace, Severity string }
			Details    map[string]string `json:"details"`
		}
		Expect(json.Unmarshal(notice.Body, &n)).To(Succeed())
		Expect(n.Incident.Name).To(Equal(incName))
		Expect(n.Details).To(HaveKeyWithValue("evidence_sha256", inc.Status.Evidence.SHA256))

		firedAfter := firing.ActiveAt.Sub(failed.Status.CompletionTime.Time)
		figures := fmt.Sprintf("backup Failed (completionTime, 1 s resolution) %s -> alert active %s (+%s) -> Alertmanager post %s (+%s) -> Incident created %s -> notification %s (+%s from completionTime; observed Failed at %s, firing at %s)",
			failed.Status.CompletionTime.UTC().Format(time.RFC3339), firing.ActiveAt.UTC().Format("15:04:05.000"), firedAfter.Round(time.Millisecond),
			post.At.Format("15:04:05.000"), post.At.Sub(failed.Status.CompletionTime.Time).Round(time.Millisecond),
			inc.CreationTimestamp.UTC().Format(time.RFC3339), notice.At.Format("15:04:05.000"), notice.At.Sub(failed.Status.CompletionTime.Time).Round(time.Millisecond),
			failedSeen.UTC().Format("15:04:05.000"), firingSeen.UTC().Format("15:04:05.000"))
		GinkgoWriter.Println(figures)
		AddReportEntry("backup failure to Incident", figures)

		By("a second database failing in the namespace joins the same group: the same Incident gets its alert")
		failBackup("nightly-billing", "billing-db")
		post2 := wait(devcluster.RecorderAlertmanagerPath, isOurs(2))
		m2, err := alertreceiver.Decode(bytes.NewReader(post2.Body))
		Expect(err).NotTo(HaveOccurred())
		Expect(m2.GroupKey).To(Equal(m.GroupKey))
		Eventually(func(g Gomega) []string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(inc), inc)).To(Succeed())
			var keys []string
			for _, e := range inc.Status.Timeline {
				if e.Type == alertreceiver.TimelineAlertFiring {
					keys = append(keys, e.Key)
				}
			}
			return keys
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(ConsistOf(
			alertreceiver.AlertKey("firing", m2.Alerts[0].Fingerprint, m2.Alerts[0].StartsAt),
			alertreceiver.AlertKey("firing", m2.Alerts[1].Fingerprint, m2.Alerts[1].StartsAt)))
		for _, e := range inc.Status.Timeline {
			if e.Type == alertreceiver.TimelineAlertFiring {
				Expect(e.Message).To(ContainSubstring(mon.PrometheusURL+"/graph"), "each alert's generatorURL is in the timeline")
			}
		}

		By("exactly one Incident in the namespace, through Alertmanager's next group_interval")
		list := &opsv1alpha1.IncidentList{}
		Consistently(func(g Gomega) []string {
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(alertsNS))).To(Succeed())
			var names []string
			for _, i := range list.Items {
				names = append(names, i.Name)
			}
			return names
		}).WithContext(ctx).WithTimeout(6 * time.Second).WithPolling(500 * time.Millisecond).Should(ConsistOf(incName))

		if os.Getenv("E2E_UPDATE_FIXTURES") != "" {
			root, err := devcluster.ModuleRoot()
			Expect(err).NotTo(HaveOccurred())
			var pretty bytes.Buffer
			Expect(json.Indent(&pretty, post2.Body, "", "  ")).To(Succeed())
			path := filepath.Join(root, "internal/alertreceiver/testdata/alertmanager-0.25-devcluster-firing.json")
			Expect(os.WriteFile(path, append(pretty.Bytes(), '\n'), 0o644)).To(Succeed())
			GinkgoWriter.Printf("kept Alertmanager's post in %s\n", path)
		}
	}, SpecTimeout(4*time.Minute))
})
