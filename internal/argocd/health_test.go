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

package argocd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var dir = filepath.Join("..", "..", "config", "argocd")

var kinds = Scripts

// health runs script with obj (YAML) as Argo CD does and returns status and message.
func health(t *testing.T, script, objYAML string) (string, string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(objYAML), &obj); err != nil {
		t.Fatal(err)
	}
	status, message, err := Health(script, obj)
	if err != nil {
		t.Fatal(err)
	}
	return status, message
}

func conds(gen int, pairs ...string) string {
	var b strings.Builder
	b.WriteString("metadata: {generation: " + itoa(gen) + "}\nstatus:\n  observedGeneration: " + itoa(gen) + "\n")
	b.WriteString("  conditions:\n")
	for i := 0; i+2 < len(pairs); i += 3 {
		b.WriteString("  - {type: " + pairs[i] + ", status: \"" + pairs[i+1] + "\", reason: R, message: \"" + pairs[i+2] + "\"}\n")
	}
	return b.String()
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestHealthScripts(t *testing.T) {
	for _, tc := range []struct {
		name, kind, obj, status, message string
	}{
		// Every kind: no status yet → Progressing.
		{"backup without status", "DatabaseBackup", "metadata: {generation: 1}\nspec: {}", "Progressing", "Waiting for the controller"},
		{"restore without status", "DatabaseRestore", "metadata: {generation: 1}", "Progressing", ""},
		{"schedule without status", "BackupSchedule", "metadata: {generation: 1}\nspec: {suspend: false}", "Progressing", ""},
		{"release without status", "Release", "metadata: {generation: 1}", "Progressing", ""},
		{"rotation without status", "SecretRotation", "metadata: {generation: 1}", "Progressing", ""},
		{"incident without status", "Incident", "metadata: {generation: 1}", "Progressing", ""},

		{"completed backup", "DatabaseBackup", conds(1, "Ready", "True", "Uploaded 9 MiB") + "  phase: Completed\n", "Healthy", "Uploaded 9 MiB"},
		{"running backup", "DatabaseBackup", conds(1, "Ready", "False", "Job x is dumping", "Reconciling", "True", "Job x is dumping") + "  phase: Running\n", "Progressing", "Job x is dumping"},
		{"waiting backup", "DatabaseBackup", conds(1, "Reconciling", "True", "Waiting for DatabaseBackup a") + "  phase: Pending\n", "Progressing", "Waiting for DatabaseBackup a"},
		{"failed backup", "DatabaseBackup", conds(1, "Ready", "False", "timed out", "Stalled", "True", "Backup Job x timed out after 1h") + "  phase: Failed\n", "Degraded", "timed out after 1h"},
		{"stale generation", "DatabaseBackup", "metadata: {generation: 3}\nstatus: {observedGeneration: 2, phase: Completed}", "Progressing", "generation 3"},

		{"restore done", "DatabaseRestore", conds(1, "Ready", "True", "Restored") + "  phase: Completed\n", "Healthy", "Restored"},
		{"restore restoring", "DatabaseRestore", conds(1, "Reconciling", "True", "Restoring") + "  phase: Restoring\n", "Progressing", "Restoring"},
		{"restore failed", "DatabaseRestore", conds(1, "Stalled", "True", "checksum mismatch") + "  phase: Failed\n", "Degraded", "checksum mismatch"},

		{"suspended schedule", "BackupSchedule", "spec: {suspend: true}\n" + conds(1, "Ready", "True", "ok"), "Suspended", "suspended"},
		{"healthy schedule", "BackupSchedule", "spec: {}\n" + conds(1, "Ready", "True", "The latest backup n-1 completed"), "Healthy", "n-1 completed"},
		{"schedule whose latest backup failed", "BackupSchedule", "spec: {}\nmetadata: {generation: 1}\nstatus:\n  observedGeneration: 1\n  conditions:\n  - {type: Ready, status: \"False\", reason: BackupFailed, message: The latest backup n-2 failed}\n", "Degraded", "n-2 failed"},
		{"invalid schedule", "BackupSchedule", "spec: {}\n" + conds(1, "Stalled", "True", "unknown time zone"), "Degraded", "unknown time zone"},

		{"paused release", "Release", "spec: {paused: true}\n" + conds(1, "Ready", "True", "x"), "Suspended", "paused"},
		{"deployed release", "Release", conds(1, "Ready", "True", "v2 deployed", "Reconciling", "False", "") + "  phase: Deployed\n", "Healthy", "v2 deployed"},
		{"rolling out", "Release", conds(1, "Ready", "False", "", "Reconciling", "True", "3/5 updated") + "  phase: RollingOut\n", "Progressing", "3/5 updated"},
		{"rolled back", "Release", conds(1, "Ready", "True", "", "Stalled", "True", "health check failed; rolled back to v1") + "  phase: RolledBack\n", "Degraded", "rolled back"},
		{"canary", "Release", conds(1, "Ready", "False", "", "Reconciling", "True", "Canary: canary 1 of 4 pods of component web (1 new beside 3 stable) healthy for 12s of 30s") + "  phase: Canary\n", "Progressing", "canary 1 of 4 pods"},
		{"verification paused by Prometheus", "Release", conds(1, "Ready", "False", "", "Reconciling", "True", "Verification paused: Prometheus did not answer 3 rounds in a row", "Verified", "Unknown", "PrometheusError") + "  phase: Paused\n", "Suspended", "Prometheus did not answer"},
		{"canary failed", "Release", conds(1, "Ready", "False", "", "Stalled", "True", "the canary of component web failed: 2 consecutive checks; only the 1 canary pod is removed") + "  phase: RolledBack\n", "Degraded", "only the 1 canary pod is"},

		{"suspended rotation", "SecretRotation", "spec: {suspend: true}", "Suspended", ""},
		{"rotated", "SecretRotation", conds(1, "Ready", "True", "Rotated 2 keys"), "Healthy", "Rotated 2 keys"},
		{"rotation failed", "SecretRotation", conds(1, "Stalled", "True", "generator failed"), "Degraded", "generator failed"},

		{"open incident within its deadline", "Incident", "spec: {severity: P1, title: checkout down}\n" + conds(1, "Ready", "False", "") + "  phase: Open\n  responseDeadline: '2026-12-07T11:00:00Z'\n", "Progressing", "Open, awaiting acknowledgement (respond by 2026-12-07T11:00:00Z): P1 checkout down"},
		{"open incident past its deadline", "Incident", "spec: {severity: P1, title: checkout down}\n" + conds(1, "Ready", "False", "", "Escalated", "True", "Unacknowledged past the deadline; escalation 2") + "  phase: Open\n", "Degraded", "escalation 2: P1 checkout down"},
		{"acknowledged incident past its deadline", "Incident", "spec: {severity: P1, title: checkout down}\n" + conds(1, "Ready", "False", "", "Escalated", "False", "") + "  phase: Acknowledged\n  acknowledgement: {by: alice}\n", "Progressing", "Acknowledged by alice: P1"},
		{"stalled incident", "Incident", "spec: {severity: P1, title: checkout down}\n" + conds(1, "Stalled", "True", "spec.responseClock.timeZone is not a zone") + "  phase: Open\n", "Degraded", "timeZone"},
		{"mitigated incident", "Incident", "spec: {severity: P1, title: checkout down}\n" + conds(1, "Ready", "False", "") + "  phase: Mitigated\n", "Progressing", "Mitigated"},
		{"resolved incident", "Incident", "spec: {severity: P2, title: slow}\n" + conds(1, "Ready", "True", "") + "  phase: Resolved\n", "Healthy", "Resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, err := os.ReadFile(filepath.Join(dir, kinds[tc.kind]))
			if err != nil {
				t.Fatal(err)
			}
			status, message := health(t, string(script), tc.obj)
			if status != tc.status || !strings.Contains(message, tc.message) {
				t.Errorf("health = %s %q, want %s containing %q", status, message, tc.status, tc.message)
			}
		})
	}
}

// TestConfigMapEmbedsScripts keeps argocd-cm.yaml in step with the .lua files.
func TestConfigMapEmbedsScripts(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dir, "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("argocd-cm has %d entries, want %d", len(cm.Data), len(kinds))
	}
	for kind, file := range kinds {
		script, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		key := "resource.customizations.health.ops.runbook.dev_" + kind
		if strings.TrimSpace(cm.Data[key]) != strings.TrimSpace(string(script)) {
			t.Errorf("%s in argocd-cm.yaml differs from %s", key, file)
		}
	}
}

// The part every health script shares (the condition and msg helpers, the wait for
// the controller's status and generation) is copied into each: Argo CD runs each
// script on its own, so it cannot be a shared file. TestScriptsShareThePrelude keeps
// the copies equal to databasebackup.lua's, and TestEveryScriptWaitsForItsGeneration
// runs the shared behaviour for every kind, so a fix to one copy cannot miss another.
func sharedPrelude(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, Scripts["DatabaseBackup"]))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := strings.Index(s, "local function condition("), strings.Index(s, "local ready, stalled")
	if start < 0 || end < start {
		t.Fatal("databasebackup.lua no longer has the prelude this test expects: update the test")
	}
	return s[start:end]
}

func TestScriptsShareThePrelude(t *testing.T) {
	prelude := sharedPrelude(t)
	if !strings.Contains(prelude, "observe generation") {
		t.Fatalf("the prelude does not wait for the generation:\n%s", prelude)
	}
	for kind, file := range Scripts {
		script, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(script), prelude) {
			t.Errorf("%s (%s) does not contain the shared prelude word for word: change every script together", file, kind)
		}
	}
}

func TestEveryScriptWaitsForItsGeneration(t *testing.T) {
	for kind, file := range Scripts {
		script, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		// Failed and Stalled at generation 2, but the spec is at generation 3 now.
		obj := "metadata: {generation: 3}\nspec: {}\nstatus:\n  observedGeneration: 2\n  phase: Failed\n  conditions:\n  - {type: Stalled, status: \"True\", reason: R, message: broken}\n"
		status, message := health(t, string(script), obj)
		if status != "Progressing" || message != "Waiting for the controller to observe generation 3" {
			t.Errorf("%s: health = %s %q, want Progressing waiting for generation 3", kind, status, message)
		}
	}
}
