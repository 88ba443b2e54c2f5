package devcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"runbook-operator/internal/alerting"
	"runbook-operator/internal/alertreceiver"
)

// Debian's Prometheus and Alertmanager (packages prometheus and prometheus-alertmanager).
const (
	PrometheusServer   = "/usr/bin/prometheus"
	AlertmanagerServer = "/usr/bin/prometheus-alertmanager"
)

// Names of what the devcluster creates for its Alertmanager and the manager's receiver.
const (
	// MonitoringNamespace holds the receiver's token Secret (the manager's namespace
	// when it runs as its ServiceAccount).
	MonitoringNamespace = "runbook-operator-system"
	// AlertTokenSecret holds, under key "token", the bearer token Alertmanager sends
	// and the manager's receiver checks.
	AlertTokenSecret = "alertmanager-token"
	// AlertNotifySecret holds, under key "url", the notification URL of the Incidents
	// the receiver opens (the devcluster's recorder for the demo namespace). A
	// namespace without it gets the Incident with a NotifierFailed condition.
	AlertNotifySecret = "alert-notifications"
)

// Monitoring intervals of the devcluster: short, so an alert fires seconds after
// what it watches happened (the shipped rules' `for:` still apply).
const (
	ScrapeInterval     = 2 * time.Second
	EvaluationInterval = 2 * time.Second
	// AlertGroupWait is Alertmanager's group_wait: how long it gathers a new group's
	// alerts before the first post.
	AlertGroupWait = time.Second
)

// Paths the recorder answers on.
const (
	// RecorderAlertmanagerPath receives a copy of every Alertmanager notification.
	RecorderAlertmanagerPath = "/alertmanager"
	// RecorderNotifyPath receives the alert-opened Incidents' notifications.
	RecorderNotifyPath = "/notify"
)

// Monitoring is the devcluster's Prometheus and Alertmanager, on loopback: Prometheus
// scrapes the manager's metrics (plain HTTP on loopback, see ManagerArgs) every
// ScrapeInterval and evaluates the shipped alert rules (internal/alerting, the
// content of config/prometheus/alerts.rules.yaml) every EvaluationInterval;
// Alertmanager posts every alert group to the manager's receiver with the token of
// AlertTokenSecret, and a copy to the Recorder (RunbookIncidentUnacknowledged, about
// an Incident already open, only to the Recorder).
type Monitoring struct {
	// PrometheusURL and AlertmanagerURL are the servers' UIs and APIs.
	PrometheusURL, AlertmanagerURL string
	// MetricsAddr is where the manager serves its metrics; ReceiverAddr is where its
	// Alertmanager webhook receiver listens (path alertreceiver.Path).
	MetricsAddr, ReceiverAddr string
	// TokenSecret holds the bearer token under alertreceiver.DefaultTokenKey.
	TokenSecret types.NamespacedName
	// Recorder keeps what Alertmanager posted and the Incidents' notifications.
	Recorder *Recorder
	// Dir holds the configurations, the rules, the token file and the data.
	Dir string

	prom, am *HostProcess
}

// ManagerArgs are the manager flags that serve its metrics plainly on MetricsAddr
// (loopback only: no TLS, no authentication) and turn its receiver on.
func (m *Monitoring) ManagerArgs() []string {
	return []string{
		"--metrics-bind-address=" + m.MetricsAddr, "--metrics-secure=false",
		"--alert-receiver-bind-address=" + m.ReceiverAddr,
		"--alert-receiver-token-secret=" + m.TokenSecret.String(),
		"--alert-receiver-notify=Webhook:" + AlertNotifySecret + "/url",
	}
}

// NotifyURL is the URL of the recorder's notification endpoint, for an
// AlertNotifySecret in another namespace.
func (m *Monitoring) NotifyURL() string { return m.Recorder.URL + RecorderNotifyPath }

// startMonitoring creates the token and notification Secrets, writes the
// configurations and starts Prometheus and Alertmanager as host processes (stopped
// with the cluster), returning once both are ready.
func (c *Cluster) startMonitoring(ctx context.Context) (*Monitoring, error) {
	for _, bin := range []string{PrometheusServer, AlertmanagerServer} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s is missing: install Debian's packages prometheus and prometheus-alertmanager (as .ci/run does), or start without monitoring", bin)
		}
	}
	m := &Monitoring{Dir: filepath.Join(c.Dir, "monitoring"),
		TokenSecret: types.NamespacedName{Namespace: MonitoringNamespace, Name: AlertTokenSecret}}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return nil, err
	}
	ports := make([]int, 4)
	for i := range ports {
		p, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	loop := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	m.PrometheusURL, m.AlertmanagerURL = "http://"+loop(ports[0]), "http://"+loop(ports[1])
	m.MetricsAddr, m.ReceiverAddr = loop(ports[2]), loop(ports[3])

	rec, err := StartRecorder(filepath.Join(c.LogDir, "alert-posts.jsonl"))
	if err != nil {
		return nil, err
	}
	m.Recorder = rec
	c.monitoring = m // Stop closes the recorder from here on

	token := make([]byte, 24)
	_, _ = rand.Read(token)
	if err := c.monitoringSecrets(ctx, m, hex.EncodeToString(token)); err != nil {
		return nil, err
	}
	if err := m.writeConfigs(hex.EncodeToString(token)); err != nil {
		return nil, err
	}
	if m.am, err = c.StartProcess("alertmanager", []string{AlertmanagerServer,
		"--config.file=" + filepath.Join(m.Dir, "alertmanager.yml"), "--storage.path=" + filepath.Join(m.Dir, "alertmanager"),
		"--web.listen-address=" + loop(ports[1]), "--web.external-url=" + m.AlertmanagerURL,
		"--cluster.listen-address=", // no gossip port: a single Alertmanager
	}); err != nil {
		return nil, err
	}
	if m.prom, err = c.StartProcess("prometheus", []string{PrometheusServer,
		"--config.file=" + filepath.Join(m.Dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(m.Dir, "prometheus"),
		"--storage.tsdb.retention.time=1d", "--web.listen-address=" + loop(ports[0]), "--web.external-url=" + m.PrometheusURL,
	}); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		p   *HostProcess
		url string
	}{{m.am, m.AlertmanagerURL}, {m.prom, m.PrometheusURL}} {
		if err := c.waitFor(ctx, s.p.Name+" ready", func(ctx context.Context) (bool, error) {
			select {
			case <-s.p.Done():
				return false, fmt.Errorf("%s exited: %v (log %s)", s.p.Name, s.p.Err(), s.p.LogPath)
			default:
			}
			return httpOK(ctx, s.url+"/-/ready"), nil
		}); err != nil {
			return nil, err
		}
	}
	c.log.Info("Prometheus and Alertmanager are up", "prometheus", m.PrometheusURL, "alertmanager", m.AlertmanagerURL)
	return m, nil
}

// monitoringSecrets creates (or updates) the receiver's token Secret and the demo
// namespace's notification Secret.
func (c *Cluster) monitoringSecrets(ctx context.Context, m *Monitoring, token string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: MonitoringNamespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: m.TokenSecret.Name, Namespace: m.TokenSecret.Namespace,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "devcluster"}},
		StringData: map[string]string{alertreceiver.DefaultTokenKey: token}}
	secrets := c.Client.CoreV1().Secrets(MonitoringNamespace)
	_, err := secrets.Create(ctx, tok, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, tok, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	return c.applySecret(ctx, AlertNotifySecret, map[string]string{"url": m.NotifyURL()})
}

// writeConfigs writes the rules, prometheus.yml, the token file and alertmanager.yml.
func (m *Monitoring) writeConfigs(token string) error {
	rules, err := alerting.RulesFile(alerting.Groups(alerting.Defaults))
	if err != nil {
		return err
	}
	rulesPath := filepath.Join(m.Dir, "alerts.rules.yaml")
	tokenPath := filepath.Join(m.Dir, "alertmanager-token")
	prom := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
rule_files:
- %s
alerting:
  alertmanagers:
  - static_configs:
    - targets: [%q]
scrape_configs:
- job_name: runbook-operator
  static_configs:
  - targets: [%q]
`, ScrapeInterval, ScrapeInterval, EvaluationInterval, rulesPath, m.AlertmanagerURL[len("http://"):], m.MetricsAddr)
	// RunbookIncidentUnacknowledged is about an Incident already open: it goes to
	// people (the recorder), not back to the receiver (README, Alerts).
	am := fmt.Sprintf(`route:
  receiver: runbook-operator
  group_by: [alertname, namespace]
  group_wait: %[1]s
  group_interval: 5s
  repeat_interval: 1h
  routes:
  - matchers: ['alertname="RunbookIncidentUnacknowledged"']
    receiver: on-call
receivers:
- name: on-call
  webhook_configs:
  - url: %[5]s%[6]s
    send_resolved: true
- name: runbook-operator
  webhook_configs:
  - url: http://%[2]s%[3]s
    send_resolved: true
    max_alerts: 100
    http_config:
      authorization:
        type: Bearer
        credentials_file: %[4]s
  - url: %[5]s%[6]s
    send_resolved: true
    max_alerts: 100
`, AlertGroupWait, m.ReceiverAddr, alertreceiver.Path, tokenPath, m.Recorder.URL, RecorderAlertmanagerPath)
	for path, data := range map[string]string{rulesPath: string(rules), tokenPath: token + "\n",
		filepath.Join(m.Dir, "prometheus.yml"): prom, filepath.Join(m.Dir, "alertmanager.yml"): am} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// stop closes the recorder (Cluster.Stop stops the servers with the other host
// processes).
func (m *Monitoring) stop() error {
	if m == nil || m.Recorder == nil {
		return nil
	}
	return m.Recorder.Close()
}

func httpOK(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
