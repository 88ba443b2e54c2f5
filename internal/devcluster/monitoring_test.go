package devcluster

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMonitoringConfigs checks the configurations the devcluster writes with Debian's
// own checkers: promtool check config (which also checks the rules file it loads) and
// amtool check-config, and that the rules loaded are the shipped file's.
func TestMonitoringConfigs(t *testing.T) {
	dir := t.TempDir()
	rec, err := StartRecorder(filepath.Join(dir, "posts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rec.Close() }()
	m := &Monitoring{Dir: dir, PrometheusURL: "http://127.0.0.1:9090", AlertmanagerURL: "http://127.0.0.1:9093",
		MetricsAddr: "127.0.0.1:8080", ReceiverAddr: "127.0.0.1:9095", Recorder: rec}
	if err := m.writeConfigs("t0ken"); err != nil {
		t.Fatal(err)
	}
	for _, check := range [][]string{
		{"/usr/bin/promtool", "check", "config", filepath.Join(dir, "prometheus.yml")},
		{"/usr/bin/amtool", "check-config", filepath.Join(dir, "alertmanager.yml")},
	} {
		if _, err := os.Stat(check[0]); err != nil {
			t.Fatalf("%s is needed (Debian's prometheus and prometheus-alertmanager, as .ci/run installs): %v", check[0], err)
		}
		out, err := exec.Command(check[0], check[1:]...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(check, " "), err, out)
		}
	}
	for alert, want := range map[string]string{"RunbookBackupFailing": "runbook-operator", "RunbookIncidentUnacknowledged": "on-call"} {
		out, err := exec.Command("/usr/bin/amtool", "config", "routes", "test", "--config.file="+filepath.Join(dir, "alertmanager.yml"),
			"alertname="+alert, "namespace=demo").Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("%s is routed to %q (%v), want %q", alert, got, err, want)
		}
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, "config/prometheus/alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := os.ReadFile(filepath.Join(dir, "alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, loaded) {
		t.Error("the devcluster's Prometheus loads rules that differ from config/prometheus/alerts.rules.yaml (make alert-rules?)")
	}
	am, err := os.ReadFile(filepath.Join(dir, "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"url: http://127.0.0.1:9095/alertmanager", `matchers: ['alertname="RunbookIncidentUnacknowledged"']`, "credentials_file: " + filepath.Join(dir, "alertmanager-token"), rec.URL + RecorderAlertmanagerPath} {
		if !strings.Contains(string(am), want) {
			t.Errorf("alertmanager.yml lacks %q:\n%s", want, am)
		}
	}
	if tok, err := os.ReadFile(filepath.Join(dir, "alertmanager-token")); err != nil || strings.TrimSpace(string(tok)) != "t0ken" {
		t.Errorf("token file %q, %v", tok, err)
	}
}

func TestRecorder(t *testing.T) {
	dir := t.TempDir()
	rec, err := StartRecorder(filepath.Join(dir, "posts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rec.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Post, 1)
	go func() {
		p, err := rec.Wait(ctx, RecorderNotifyPath, func(p Post) bool { return strings.Contains(string(p.Body), "second") })
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	for _, body := range []string{`{"n":"first"}`, `not json`, `{"n":"second"}`} {
		resp, err := http.Post(rec.URL+RecorderNotifyPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if want := map[bool]int{true: 400, false: 200}[body == "not json"]; resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", body, resp.StatusCode, want)
		}
	}
	if p := <-got; string(p.Body) != `{"n":"second"}` {
		t.Errorf("waited for %s", p.Body)
	}
	if n := len(rec.Posts(RecorderNotifyPath)); n != 2 {
		t.Errorf("%d posts kept, want 2", n)
	}
	if n := len(rec.Posts(RecorderAlertmanagerPath)); n != 0 {
		t.Errorf("%d posts to another path", n)
	}
	log, err := os.ReadFile(filepath.Join(dir, "posts.jsonl"))
	if err != nil || strings.Count(string(log), "\n") != 2 {
		t.Errorf("log %q, %v", log, err)
	}
}
