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

package alertreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var updateFixtures = flag.Bool("update-fixtures", false, "write the bodies the real Alertmanager posted to testdata/")

// alertmanagerBin is Debian's prometheus-alertmanager (ALERTMANAGER_BIN overrides).
func alertmanagerBin(t *testing.T) string {
	bin := os.Getenv("ALERTMANAGER_BIN")
	if bin == "" {
		bin = "/usr/bin/prometheus-alertmanager"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the real Alertmanager is needed: %v; install Debian's prometheus-alertmanager "+
			"(apt-get install --no-install-recommends prometheus-alertmanager, as .ci/run does) or set ALERTMANAGER_BIN", err)
	}
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRealAlertmanager starts Debian's Alertmanager 0.25 on loopback with a webhook
// receiver pointing at ours (bearer token in http_config.authorization), posts an
// alert to its API v2, and checks that the Incident is opened, then that resolving
// the alert proposes resolution. The bodies it posted are kept as fixtures
// (-update-fixtures) that the unit tests decode.
func TestRealAlertmanager(t *testing.T) {
	bin := alertmanagerBin(t)
	rcv, _ := newReceiver(t, Options{ReleaseLabel: "release"})

	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		mu.Lock()
		bodies = append(bodies, raw)
		mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(raw))
		rcv.ServeHTTP(w, req)
	}))
	defer srv.Close()

	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`route:
  receiver: runbook-operator
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: runbook-operator
  webhook_configs:
  - url: %s%s
    send_resolved: true
    max_alerts: 100
    http_config:
      authorization:
        type: Bearer
        credentials_file: %s
`, srv.URL, Path, filepath.Join(dir, "token"))
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		fmt.Sprintf("--web.external-url=http://127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	}()
	am := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 30*time.Second, "Alertmanager ready", func() bool {
		resp, err := http.Get(am + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	startsAt := time.Now().UTC().Truncate(time.Second)
	alert := map[string]any{
		"labels": map[string]string{"alertname": "RunbookBackupFailing", "namespace": "shop", "severity": "critical",
			"release": "saas", "database": "orders"},
		"annotations": map[string]string{"summary": "Backups of shop/orders are failing",
			"description": "The last DatabaseBackup of orders failed.", "runbook_url": "https://example.invalid/runbook#backup-failing"},
		"generatorURL": "http://prometheus.test:9090/graph?g0.expr=runbook_backup_failed",
		"startsAt":     startsAt.Format(time.RFC3339),
	}
	postAlerts(t, am, alert)

	// Alertmanager groups the alert by alertname and namespace.
	gk := `{}:{alertname="RunbookBackupFailing", namespace="shop"}`
	var inc opsv1alpha1.Incident
	key := types.NamespacedName{Namespace: "shop", Name: Name(gk, 1)}
	waitFor(t, 30*time.Second, "the Incident opened by Alertmanager's notification", func() bool {
		return admin.Get(context.Background(), key, &inc) == nil && countType(&inc, TimelineAlertFiring) == 1
	})
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.Title != "Backups of shop/orders are failing" ||
		inc.Spec.ReleaseRef == nil || inc.Spec.ReleaseRef.Name != "saas" {
		t.Errorf("spec %+v", inc.Spec)
	}
	e := inc.Status.Timeline[0]
	if !strings.Contains(e.Message, "generatorURL http://prometheus.test:9090/graph?g0.expr=runbook_backup_failed") ||
		!strings.Contains(e.Key, "/"+startsAt.Format(time.RFC3339Nano)) {
		t.Errorf("entry %+v", e)
	}

	// Resolve it: Alertmanager sends the resolved notification at the next flush.
	alert["endsAt"] = time.Now().UTC().Format(time.RFC3339)
	postAlerts(t, am, alert)
	waitFor(t, 30*time.Second, "the resolved notification recorded", func() bool {
		return admin.Get(context.Background(), key, &inc) == nil &&
			meta.IsStatusConditionTrue(inc.Status.Conditions, ConditionResolutionProposed)
	})
	if countType(&inc, TimelineAlertResolved) != 1 || inc.Spec.Resolution != "" {
		t.Errorf("timeline %+v", inc.Status.Timeline)
	}

	mu.Lock()
	defer mu.Unlock()
	var firing, resolved []byte
	for _, b := range bodies {
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("Alertmanager posted %q: %v", b, err)
		}
		switch {
		case m.Status == StatusFiring && firing == nil:
			firing = b
		case m.Status == StatusResolved && resolved == nil:
			resolved = b
		}
		if m.GroupKey != gk {
			t.Errorf("groupKey %q, want %q", m.GroupKey, gk)
		}
	}
	if *updateFixtures {
		for name, b := range map[string][]byte{"alertmanager-0.25-firing.json": firing, "alertmanager-0.25-resolved.json": resolved} {
			if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func postAlerts(t *testing.T, am string, alerts ...map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(alerts)
	resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("Alertmanager API v2: %d %s", resp.StatusCode, b)
	}
}

// waitFor polls cond until it holds or the timeout ends (a bound, not a speed target).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
