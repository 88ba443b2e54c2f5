package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
	"runbook-operator/internal/devcluster"
)

// Names of the alerts step: a database Secret naming a database that does not exist,
// and the backup of it that fails.
const (
	AlertsDBSecret  = "demo-db-missing"
	AlertsBackup    = "backup-of-missing-db"
	alertsDatabase  = "no_such_database"
	alertFiringName = "RunbookBackupFailing"
)

// AlertsStep fails a backup on purpose and follows the alert: the devcluster's
// Prometheus fires RunbookBackupFailing, its Alertmanager posts the group to the
// manager's receiver, which opens an Incident that captures evidence and notifies
// the devcluster's local receiver.
func AlertsStep() Step {
	return Step{
		Name: "alerts", Title: "When alerted: a failing backup fires an alert that opens an Incident",
		Timeout: 2 * time.Minute,
		Run:     alerts,
	}
}

func alerts(ctx context.Context, e *Env) error {
	mon := e.Monitoring
	if mon == nil {
		return errors.New("the devcluster runs without Prometheus and Alertmanager (started WithoutMonitoring)")
	}
	e.Out.Say(`The runbook's on-call section starts "When alerted". The devcluster runs the real
Prometheus (%s) and Alertmanager (%s) from Debian's packages. Prometheus scrapes the
manager's metrics every %s and evaluates the operator's shipped alert rules
(config/prometheus/alerts.rules.yaml); Alertmanager posts each alert group to the
manager's webhook receiver with a bearer token, and the receiver opens one Incident
per group, which captures evidence and notifies whoever is on call (here a local
receiver of the devcluster).`, mon.PrometheusURL, mon.AlertmanagerURL, devcluster.ScrapeInterval)
	done, err := failBackup(ctx, e)
	if err != nil {
		return err
	}
	failedAt := time.Now()

	e.Out.Say("The manager's gauge runbook_backup_failing{database=%q} is now 1; the rule %s fires on it:", AlertsDBSecret, alertFiringName)
	e.Out.Command(`curl -s $PROMETHEUS_URL/api/v1/alerts    # or open %s/alerts`, mon.PrometheusURL)
	firing, err := waitFiring(ctx, mon.PrometheusURL, e.Namespace, AlertsDBSecret)
	if err != nil {
		return err
	}
	e.Out.Observe("%s", FiringLine(firing))

	e.Out.Say(`Alertmanager waits %s for more alerts of the group, then posts it. What it posted
(a copy went to the devcluster's recorder, logged in logs/alert-posts.jsonl):`, devcluster.AlertGroupWait)
	post, m, err := waitAlertPost(ctx, mon, e.Namespace, AlertsDBSecret)
	if err != nil {
		return err
	}
	e.Out.Block(indentJSON(post.Body))

	name := alertreceiver.Name(m.GroupKey, 1)
	e.Out.Say(`The receiver names the group's Incident from its groupKey (%s), so every post of
the group, repeats included, lands on it. Its response is evidence capture and
notification only: an alert changes nothing by itself.`, name)
	inc, err := waitAlertIncident(ctx, e, name, m)
	if err != nil {
		return err
	}
	e.Out.Observe("Incident %s is %s; backup Failed -> alert posted -> Incident notified in %s", inc.Name, inc.Status.Phase, Round(time.Since(failedAt)))
	if err := showAlertIncident(ctx, e, inc); err != nil {
		return err
	}
	e.Out.Check("%s fired %s after the backup failed; Alertmanager's post opened Incident %s, which captured evidence and notified the local receiver",
		alertFiringName, Round(firing.ActiveAt.Sub(done.Status.CompletionTime.Time)), inc.Name)
	e.Out.Say(`The backup stays Failed, so the alert keeps firing (see it in Prometheus and
Alertmanager's UIs above); a later backup that completes clears it, Alertmanager posts
"resolved", and the Incident gets condition ResolutionProposed for a person to confirm.`)
	return nil
}

// failBackup backs up a database that does not exist and returns the Failed backup.
func failBackup(ctx context.Context, e *Env) (*opsv1alpha1.DatabaseBackup, error) {
	e.Out.Say("To see it, back up a database that does not exist: a copy of %s naming database %q.", e.DBSecret, alertsDatabase)
	src := &corev1.Secret{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.DBSecret}, src); err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range src.Data {
		data[k] = v
	}
	data["dbname"] = []byte(alertsDatabase)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: AlertsDBSecret, Namespace: e.Namespace}, Data: data}
	if err := e.Client.Create(ctx, sec); err != nil {
		return nil, fmt.Errorf("create Secret %s: %w", AlertsDBSecret, err)
	}
	b := &opsv1alpha1.DatabaseBackup{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseBackup"},
		ObjectMeta: metav1.ObjectMeta{Name: AlertsBackup, Namespace: e.Namespace},
		Spec: opsv1alpha1.DatabaseBackupSpec{
			Database:       opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: AlertsDBSecret}},
			Destination:    e.Destination("alerts"),
			DeletionPolicy: opsv1alpha1.DeletionPolicyRetain,
		},
	}
	if err := e.Apply(ctx, b, b.Spec); err != nil {
		return nil, err
	}
	done, err := e.WatchBackup(ctx, AlertsBackup)
	if err != nil {
		return nil, err
	}
	if done.Status.Phase != opsv1alpha1.BackupPhaseFailed {
		return nil, fmt.Errorf("backup %s ended %s, want Failed", AlertsBackup, done.Status.Phase)
	}
	return done, nil
}

// showAlertIncident prints the Incident, its timeline, evidence and the notification
// the local receiver got.
func showAlertIncident(ctx context.Context, e *Env, inc *opsv1alpha1.Incident) error {
	if err := e.ShowTables(ctx, "incidents"); err != nil {
		return err
	}
	if err := e.otherAlertIncidents(ctx, inc.Name); err != nil {
		return err
	}
	e.Out.Say("What it recorded (kubectl -n %s get incident %s -o yaml shows all of it):", e.Namespace, inc.Name)
	e.Out.Fields(IncidentFields(inc)...)
	e.Out.Say("Its timeline:")
	e.Out.Block(Timeline(inc))

	cm := &corev1.ConfigMap{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: inc.Status.Evidence.ConfigMaps[0]}, cm); err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s get configmap %s -o jsonpath='{.data.bundle}'", e.Namespace, cm.Name)
	e.Out.Block(cm.Data["bundle"])
	notice, err := e.Monitoring.Recorder.Wait(ctx, devcluster.RecorderNotifyPath, func(p devcluster.Post) bool {
		return strings.Contains(string(p.Body), `"name":"`+inc.Name+`"`)
	})
	if err != nil {
		return err
	}
	e.Out.Say("And the notification the on-call receiver got (notifier %q, from the manager's --alert-receiver-notify):", alertreceiver.NotifierName)
	e.Out.Block(indentJSON(notice.Body))
	return nil
}

// indentJSON is body indented for reading (as it is when it is not JSON).
func indentJSON(body []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		return string(body)
	}
	return b.String()
}

// FiringLine describes a Prometheus alert for a reader.
func FiringLine(a promv1.Alert) string {
	return fmt.Sprintf("%s{namespace=%q, database=%q, severity=%q} %s since %s",
		a.Labels["alertname"], a.Labels["namespace"], a.Labels["database"], a.Labels["severity"], a.State, a.ActiveAt.UTC().Format("15:04:05"))
}

// IncidentFields are an alert-opened Incident's fields worth showing.
func IncidentFields(inc *opsv1alpha1.Incident) []string {
	kv := []string{"severity", string(inc.Spec.Severity), "title", inc.Spec.Title, "phase", string(inc.Status.Phase)}
	if inc.Status.Evidence != nil {
		kv = append(kv, "evidence", fmt.Sprintf("%s (%d bytes, sha256 %s)", strings.Join(inc.Status.Evidence.ConfigMaps, ", "), inc.Status.Evidence.SizeBytes, inc.Status.Evidence.SHA256))
	}
	for _, n := range inc.Status.Notifiers {
		for _, d := range n.Deliveries {
			kv = append(kv, "notifier "+n.Name, fmt.Sprintf("%s %s", d.Transition, d.State))
		}
	}
	return kv
}

// Timeline is the Incident's timeline, one line per entry.
func Timeline(inc *opsv1alpha1.Incident) string {
	var b strings.Builder
	for _, t := range inc.Status.Timeline {
		fmt.Fprintf(&b, "%s  %-16s %s\n", t.Time.UTC().Format("15:04:05"), t.Type, t.Message)
	}
	return b.String()
}

// AlertOf returns the alert of m labelled database, if any.
func AlertOf(m *alertreceiver.Message, namespace, database string) (template.Alert, bool) {
	if m == nil || m.Data == nil {
		return template.Alert{}, false
	}
	for _, a := range m.Alerts {
		if a.Labels["alertname"] == alertFiringName && a.Labels["namespace"] == namespace && a.Labels["database"] == database && a.Status == "firing" {
			return a, true
		}
	}
	return template.Alert{}, false
}

func waitFiring(ctx context.Context, url, namespace, database string) (promv1.Alert, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return promv1.Alert{}, err
	}
	prom := promv1.NewAPI(c)
	var found promv1.Alert
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		res, err := prom.Alerts(ctx) // an error: Prometheus answers again soon
		if err == nil {
			for _, a := range res.Alerts {
				if string(a.Labels["alertname"]) == alertFiringName && string(a.Labels["namespace"]) == namespace &&
					string(a.Labels["database"]) == database && a.State == promv1.AlertStateFiring {
					found = a
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return found, fmt.Errorf("%s for %s/%s did not fire in Prometheus within a minute: %w", alertFiringName, namespace, database, err)
	}
	return found, nil
}

func waitAlertPost(ctx context.Context, mon *devcluster.Monitoring, namespace, database string) (devcluster.Post, *alertreceiver.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var m *alertreceiver.Message
	p, err := mon.Recorder.Wait(ctx, devcluster.RecorderAlertmanagerPath, func(p devcluster.Post) bool {
		msg, err := alertreceiver.Decode(bytes.NewReader(p.Body))
		if _, ok := AlertOf(msg, namespace, database); err == nil && ok {
			m = msg
			return true
		}
		return false
	})
	if err != nil {
		return p, nil, fmt.Errorf("alertmanager did not post the alert within a minute: %w", err)
	}
	return p, m, nil
}

// waitAlertIncident waits until the Incident has the alert in its timeline, evidence
// and a delivered notification.
func waitAlertIncident(ctx context.Context, e *Env, name string, m *alertreceiver.Message) (*opsv1alpha1.Incident, error) {
	a, _ := AlertOf(m, e.Namespace, AlertsDBSecret)
	key := alertreceiver.AlertKey("firing", a.Fingerprint, a.StartsAt)
	inc := &opsv1alpha1.Incident{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, inc); err != nil {
			return false, client.IgnoreNotFound(err) // not created yet: poll again
		}
		hasAlert := false
		for _, t := range inc.Status.Timeline {
			hasAlert = hasAlert || t.Key == key
		}
		delivered := false
		for _, n := range inc.Status.Notifiers {
			for _, d := range n.Deliveries {
				delivered = delivered || d.State == opsv1alpha1.DeliveryDelivered
			}
		}
		return hasAlert && delivered && inc.Status.Evidence != nil && len(inc.Status.Evidence.ConfigMaps) > 0, nil
	})
	if err != nil {
		return inc, fmt.Errorf("incident %s with the alert, evidence and a delivered notification: %w (phase %q)", name, err, inc.Status.Phase)
	}
	return inc, nil
}

// otherAlertIncidents says which alert groups opened the namespace's other
// alert-opened Incidents (the release step's rollback fires RunbookReleaseRolledBack).
func (e *Env) otherAlertIncidents(ctx context.Context, ours string) error {
	list := &opsv1alpha1.IncidentList{}
	if err := e.Client.List(ctx, list, client.InNamespace(e.Namespace), client.HasLabels{alertreceiver.LabelAlertGroup}); err != nil {
		return err
	}
	for _, i := range list.Items {
		if i.Name != ours {
			e.Out.Say("%s was opened earlier by the alert group %s: %s.", i.Name, i.Annotations[alertreceiver.AnnotationGroupKey], i.Spec.Title)
		}
	}
	return nil
}
