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

package alerting

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"runbook-operator/internal/metrics"
)

// TestRealPrometheusFiresOnServedMetrics runs Debian's Prometheus with the shipped
// rules file, scraping controller-runtime's registry served as the manager serves it
// (promhttp), with the metrics set as the reconcilers set them: the names and labels
// the rules read are the ones exposed, and the alerts fire (or wait out their for).
func TestRealPrometheusFiresOnServedMetrics(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: this test runs the real server on the shipped rules. Install Debian's prometheus package (apt-get install --no-install-recommends prometheus), as .ci/run does")
	}
	const ns = "alerting-real-prometheus"
	now := time.Now()
	metrics.Default.ObserveFailure(ns, "failing-db", now)                                    // RunbookBackupFailing, at once
	metrics.Schedules.Set(ns, "nightly", 1, "nightly", "new-db")                             // RunbookBackupAbsent, pending 25h
	metrics.ResponseDeadlines.SetTime(ns, "db-down", now.Add(-time.Minute), "db-down", "P1") // RunbookIncidentUnacknowledged
	metrics.ReleaseDeadlines.SetTime(ns, "web", now.Add(-time.Minute), "web")                // RunbookReleaseStuck, pending 5m
	metrics.ReleasePhases.Set(ns, "web", 1, "web", "RollingOut")
	defer func() {
		for _, g := range []*metrics.ObjectGauge{metrics.Schedules, metrics.ResponseDeadlines, metrics.ReleaseDeadlines, metrics.ReleasePhases} {
			g.Delete(ns, "nightly")
			g.Delete(ns, "db-down")
			g.Delete(ns, "web")
		}
	}()

	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(target) }()
	defer srv.Close()

	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(root, RulesPath))
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: manager
    static_configs: [{targets: [%q]}]
`, rules, target.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	web := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	client, err := api.NewClient(api.Config{Address: "http://" + web})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(client)
	want := map[string]promv1.AlertState{
		"RunbookBackupFailing":          promv1.AlertStateFiring,
		"RunbookBackupAbsent":           promv1.AlertStatePending,
		"RunbookIncidentUnacknowledged": promv1.AlertStateFiring,
		"RunbookReleaseStuck":           promv1.AlertStatePending,
	}
	start := time.Now()
	var got map[string]promv1.Alert
	for time.Since(start) < 60*time.Second {
		got = map[string]promv1.Alert{}
		if res, err := prom.Alerts(ctx); err == nil {
			for _, a := range res.Alerts {
				if a.Labels["namespace"] == ns {
					got[string(a.Labels["alertname"])] = a
				}
			}
		}
		done := len(got) == len(want)
		for name, state := range want {
			done = done && got[name].State == state
		}
		if done {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Prometheus fired or held the alerts %v after %v", states(got), time.Since(start).Round(time.Millisecond))
	for name, state := range want {
		if got[name].State != state {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%s: state %q, want %q; alerts of the namespace: %v\nprometheus log:\n%s", name, got[name].State, state, states(got), log)
		}
	}
	if len(got) != len(want) {
		t.Errorf("alerts %v, want only %v", states(got), want)
	}
	a := got["RunbookIncidentUnacknowledged"]
	for k, v := range map[model.LabelName]model.LabelValue{"incident": "db-down", "incident_severity": "P1", "severity": "critical"} {
		if a.Labels[k] != v {
			t.Errorf("RunbookIncidentUnacknowledged label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Annotations["runbook_url"] != "README.md#runbookincidentunacknowledged" {
		t.Errorf("runbook_url %q", a.Annotations["runbook_url"])
	}
	if f := got["RunbookBackupFailing"]; f.Labels["database"] != "failing-db" {
		t.Errorf("RunbookBackupFailing labels %v", f.Labels)
	}
}

func states(alerts map[string]promv1.Alert) map[string]promv1.AlertState {
	out := map[string]promv1.AlertState{}
	for n, a := range alerts {
		out[n] = a.State
	}
	return out
}

// freeAddr is a loopback address nothing listens on (Prometheus binds it next).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
