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

package plugin

// Table tests of the pure parts: names, patches, what --wait decides, the tree.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 7, 13, 25, 0, 0, time.UTC)

func TestObjectNameFitsJobNames(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"saas-db", "saas-db-20261207-132500"},
		{"Saas-DB.", "saas-db-20261207-132500"},
		{strings.Repeat("a", 60), strings.Repeat("a", 55-len("-20261207-132500")) + "-20261207-132500"},
	} {
		got := ObjectName(tc.base, t0)
		if got != tc.want || len(got)+len("-restore") > 63 || ValidName("X", got) != nil {
			t.Errorf("ObjectName(%q) = %q, want %q", tc.base, got, tc.want)
		}
	}
}

func TestBytesWords(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 72360056: "69 MiB", 72800000: "69.4 MiB", 3 << 30: "3 GiB"} {
		if got := bytesWords(n); got != want {
			t.Errorf("bytesWords(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseQuiesce(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      string
	}{
		{"", "", ""}, {"release/saas", "saas", ""}, {"saas", "saas", ""}, {"releases.ops.runbook.dev/saas", "saas", ""},
		{"deployment/web", "", "only a Release"}, {"release/Bad_Name", "", "Release name"},
	} {
		got, err := ParseQuiesce(tc.in)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseQuiesce(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestPatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"rollback", RollbackPatch("abc"), `{"metadata":{"annotations":{"ops.runbook.dev/rollback":"abc"}}}`},
		{"retry", RetryPatch("v"), `{"metadata":{"annotations":{"ops.runbook.dev/retry":"v","ops.runbook.dev/rollback":null}}}`},
		{"pause", PausePatch(true), `{"spec":{"paused":true}}`},
		{"resume", PausePatch(false), `{"spec":{"paused":false}}`},
		{"rotate", RotatePatch("r", false), `{"spec":{"rotateRequest":"r"}}`},
		{"emergency", RotatePatch("r", true), `{"metadata":{"annotations":{"ops.runbook.dev/emergency-rotation":"r"}}}`},
		{"ack", AckPatch("alice"), `{"spec":{"acknowledgedBy":"alice"}}`},
		{"resolve", ResolvePatch("fixed"), `{"spec":{"resolution":"fixed"}}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if v := RetryValue(t0, ptr.To("2026-12-07T13:25:00Z")); v == "2026-12-07T13:25:00Z" {
		t.Errorf("retry value %q equals the observed one", v)
	}
	if v := RotateRequest(t0, true); v != "emergency-2026-12-07T13:25:00Z" {
		t.Errorf("emergency request %q", v)
	}
}

func TestRollbackRevision(t *testing.T) {
	r := &opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{StableRevision: "aaa", Progress: &opsv1alpha1.ReleaseProgress{Revision: "bbb"}}}
	if rev, err := RollbackRevision(r); rev != "bbb" || err != nil {
		t.Errorf("in progress: %q %v", rev, err)
	}
	for _, p := range []*opsv1alpha1.ReleaseProgress{nil, {Revision: "aaa"}} {
		r.Status.Progress = p
		if _, err := RollbackRevision(r); err == nil || !strings.Contains(err.Error(), "revert spec.version") {
			t.Errorf("progress %v: %v", p, err)
		}
	}
}

func TestArgoCDTracking(t *testing.T) {
	for _, tc := range []struct {
		labels, annotations map[string]string
		app                 string
		ok                  bool
	}{
		{nil, nil, "", false},
		{map[string]string{"app.kubernetes.io/instance": "saas-prod"}, nil, "saas-prod", true},
		{nil, map[string]string{"argocd.argoproj.io/tracking-id": "saas-prod:ops.runbook.dev/Release:saas/saas"}, "saas-prod", true},
	} {
		app, ok := ArgoCD(&metav1.ObjectMeta{Labels: tc.labels, Annotations: tc.annotations})
		if app != tc.app || ok != tc.ok {
			t.Errorf("%v %v: %q %t", tc.labels, tc.annotations, app, ok)
		}
	}
}

func TestArgoNoteSaysWhatEachCommandMeansForGit(t *testing.T) {
	for command, want := range map[string]string{
		"rollback": "Revert spec.version/image in Git", "retry": "nothing in Git changes",
		"pause": "Argo CD sets it back", "resume": "its next sync pauses it again",
	} {
		if n := ArgoNote("prod", command); !strings.Contains(n, "application prod") || !strings.Contains(n, want) {
			t.Errorf("%s: %q", command, n)
		}
	}
}

func cond(typ, msg string) []metav1.Condition {
	return []metav1.Condition{{Type: typ, Status: metav1.ConditionTrue, Reason: "R", Message: msg}}
}

func TestOutcomes(t *testing.T) {
	meta := metav1.ObjectMeta{Generation: 2}
	for _, tc := range []struct {
		name         string
		got          Outcome
		done, failed bool
		has          string
	}{
		{"backup unobserved", BackupOutcome(&opsv1alpha1.DatabaseBackup{ObjectMeta: meta, Status: opsv1alpha1.DatabaseBackupStatus{ObservedGeneration: 1, Phase: opsv1alpha1.BackupPhaseCompleted}}), false, false, "observe generation 2"},
		{"backup running", BackupOutcome(&opsv1alpha1.DatabaseBackup{ObjectMeta: meta, Status: opsv1alpha1.DatabaseBackupStatus{ObservedGeneration: 2, Phase: opsv1alpha1.BackupPhaseRunning, Progress: &opsv1alpha1.Progress{Summary: "dumping"}}}), false, false, "Running dumping"},
		{"backup failed", BackupOutcome(&opsv1alpha1.DatabaseBackup{ObjectMeta: meta, Status: opsv1alpha1.DatabaseBackupStatus{ObservedGeneration: 2, Phase: opsv1alpha1.BackupPhaseFailed, Conditions: cond("Ready", "bad key")}}), true, true, "bad key"},
		{"restore restoring", RestoreOutcome(&opsv1alpha1.DatabaseRestore{ObjectMeta: meta, Status: opsv1alpha1.DatabaseRestoreStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RestorePhaseRestoring, Progress: &opsv1alpha1.Progress{TablesDone: 3, TablesTotal: 9}}}), false, false, "3/9 tables"},
		{"restore done", RestoreOutcome(&opsv1alpha1.DatabaseRestore{ObjectMeta: meta, Status: opsv1alpha1.DatabaseRestoreStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RestorePhaseCompleted, PreviousDatabase: "db_pre"}}), true, false, "kept as db_pre"},
		{"rotation other request", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhaseIdle, LastRotateRequest: "old"}}, "new", false), false, false, "waiting for the controller"},
		{"rotation publishing", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhasePublishing, LastRotateRequest: "new",
			Targets: []opsv1alpha1.RestartTargetStatus{{Deployment: "web", State: opsv1alpha1.TargetRollingOut}}}}, "new", false), false, false, "Publishing (web RollingOut)"},
		{"rotation done", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhaseIdle, LastRotateRequest: "new"}}, "new", false), true, false, "rotated (TwoPhase)"},
		{"emergency not yet", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhaseIdle, LastRotateRequest: "e1"}}, "e1", true), false, false, "waiting"},
		{"emergency done", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhaseIdle, LastEmergencyRequest: "e1"}}, "e1", true), true, false, "rotated (Immediate)"},
		{"rotation failed", RotationOutcome(&opsv1alpha1.SecretRotation{ObjectMeta: meta, Status: opsv1alpha1.SecretRotationStatus{ObservedGeneration: 2, Phase: opsv1alpha1.RotationPhaseFailed, LastRotateRequest: "new", Conditions: cond("Stalled", "reencrypt failed")}}, "new", false), true, true, "reencrypt failed"},
		{"rollback pending", RollbackOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseVerifying, Progress: &opsv1alpha1.ReleaseProgress{Revision: "b"}}}, "b"), false, false, "Verifying revision b"},
		{"retry in its canary", RetryOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseCanary,
			Progress: &opsv1alpha1.ReleaseProgress{Revision: "b", FailedChecks: 1, Canary: &opsv1alpha1.CanaryProgress{Component: "web", Replicas: 2, ReadyReplicas: 1}},
			History:  []opsv1alpha1.RevisionRecord{{Revision: "b", Retry: "v", Result: opsv1alpha1.RevisionInProgress}}}}, "v"), false, false, "Canary revision b, canary web 1/2 ready, 1 failed checks"},
		{"rollback done", RollbackOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: "b", Result: opsv1alpha1.RevisionRolledBack, Message: "rolled back"}}}}, "b"), true, false, "RolledBack"},
		{"rollback too late", RollbackOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: "b", Result: opsv1alpha1.RevisionSucceeded}}}}, "b"), true, true, "Succeeded"},
		{"retry deployed", RetryOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: "b", Retry: "v", Result: opsv1alpha1.RevisionSucceeded}}}}, "v"), true, false, "Deployed"},
		{"retry not started", RetryOutcome(&opsv1alpha1.Release{Status: opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: "b", Retry: "old", Result: opsv1alpha1.RevisionFailed}}}}, "v"), false, false, "waiting"},
	} {
		o := tc.got
		if o.Done != tc.done || o.Failed != tc.failed || !strings.Contains(o.Line+" "+o.Message, tc.has) {
			t.Errorf("%s: %+v", tc.name, o)
		}
	}
}

func snapshot() Snapshot {
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(-d)) }
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }
	return Snapshot{
		Namespace: "saas",
		Releases: []opsv1alpha1.Release{{ObjectMeta: metav1.ObjectMeta{Name: "saas", Labels: map[string]string{"app.kubernetes.io/instance": "prod"}},
			Spec: opsv1alpha1.ReleaseSpec{Version: "1.2.0"},
			Status: opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseDeployed, CurrentRevision: "bbb", StableRevision: "bbb",
				Components: []opsv1alpha1.ComponentStatus{{Name: "web", Replicas: 3, ReadyReplicas: 3}, {Name: "worker", Replicas: 2, ReadyReplicas: 1}}}}},
		Schedules: []opsv1alpha1.BackupSchedule{{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}, Spec: opsv1alpha1.BackupScheduleSpec{Schedule: "0 2 * * *", TimeZone: "Europe/Berlin"},
			Status: opsv1alpha1.BackupScheduleStatus{Phase: opsv1alpha1.SchedulePhaseActive, LastScheduleTime: at(-11 * time.Hour), LastSuccessfulTime: at(-35 * time.Hour), NextScheduleTime: at(13 * time.Hour)}}},
		Backups: []opsv1alpha1.DatabaseBackup{
			{ObjectMeta: metav1.ObjectMeta{Name: "nightly-1", CreationTimestamp: ago(35 * time.Hour), Labels: map[string]string{opsv1alpha1.LabelBackupSchedule: "nightly"}}, Status: opsv1alpha1.DatabaseBackupStatus{Phase: opsv1alpha1.BackupPhaseCompleted, SizeBytes: 5 << 20}},
			{ObjectMeta: metav1.ObjectMeta{Name: "nightly-2", CreationTimestamp: ago(11 * time.Hour), Labels: map[string]string{opsv1alpha1.LabelBackupSchedule: "nightly"}}, Status: opsv1alpha1.DatabaseBackupStatus{Phase: opsv1alpha1.BackupPhaseFailed, Conditions: cond("Ready", "bucket gone")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "manual", CreationTimestamp: ago(time.Minute)}, Status: opsv1alpha1.DatabaseBackupStatus{Phase: opsv1alpha1.BackupPhaseRunning, Progress: &opsv1alpha1.Progress{Percent: ptr.To[int32](50)}}},
		},
		Rotations: []opsv1alpha1.SecretRotation{{ObjectMeta: metav1.ObjectMeta{Name: "keys"}, Spec: opsv1alpha1.SecretRotationSpec{SecretName: "app", Mode: opsv1alpha1.RotationImmediate},
			Status: opsv1alpha1.SecretRotationStatus{Phase: opsv1alpha1.RotationPhaseIdle, LastRotationTime: at(-72 * time.Hour), NextRotationTime: at(87 * 24 * time.Hour)}}},
		Incidents: []opsv1alpha1.Incident{
			{ObjectMeta: metav1.ObjectMeta{Name: "db-down"}, Spec: opsv1alpha1.IncidentSpec{Severity: "P1", Title: "db down"}, Status: opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseOpen, ResponseDeadline: at(-5 * time.Minute), Escalations: 1}},
			{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: opsv1alpha1.IncidentSpec{Severity: "P3", Title: "old"}, Status: opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseResolved}},
		},
	}
}

func TestRenderStatusPlain(t *testing.T) {
	var b bytes.Buffer
	RenderStatus(&b, snapshot(), t0, Palette{})
	want := `namespace saas
├── Release saas  Deployed  1.2.0 (revision bbb)  Argo CD: prod
│   ├── web  3/3 ready
│   └── worker  1/2 ready
├── BackupSchedule nightly  Active  "0 2 * * *" Europe/Berlin, last good 35h ago (the latest run, 11h ago, did not succeed), next in 13h
│   ├── DatabaseBackup nightly-2  Failed  11h ago  bucket gone
│   └── DatabaseBackup nightly-1  Completed  35h ago  5 MiB
├── DatabaseBackup manual  Running  60s ago  50%
├── SecretRotation keys  Idle  Secret app, last 3d ago, next in 87d  mode Immediate (the next rotateRequest is an emergency too)
└── Incident db-down  P1 Open  "db down", deadline 5m ago, escalations: 1
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRenderStatusColourOnlyWhenAsked(t *testing.T) {
	var b bytes.Buffer
	RenderStatus(&b, snapshot(), t0, Palette{On: true})
	for _, want := range []string{"\x1b[32mDeployed\x1b[0m", "\x1b[31mFailed\x1b[0m", "\x1b[33mRunning\x1b[0m"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("coloured tree lacks %q", want)
		}
	}
	var empty bytes.Buffer
	RenderStatus(&empty, Snapshot{Namespace: "x"}, t0, Palette{})
	if empty.String() != "namespace x\n└── no runbook objects\n" {
		t.Errorf("empty: %q", empty.String())
	}
}

func TestStatusPaletteOnATerminalWithoutNO_COLOR(t *testing.T) {
	env := func(vars ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for _, v := range vars {
				if name, value, _ := strings.Cut(v, "="); name == k {
					return value, true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		terminal bool
		env      []string
		want     bool
	}{
		{true, nil, true},
		{true, []string{"TERM=xterm"}, true},
		{true, []string{"NO_COLOR=1"}, false},
		{true, []string{"NO_COLOR="}, false}, // set, even empty
		{false, nil, false},                  // a pipe or a file
	} {
		if got := statusPalette(tc.terminal, env(tc.env...)); got.On != tc.want {
			t.Errorf("terminal %v, env %v: colour %v, want %v", tc.terminal, tc.env, got.On, tc.want)
		}
	}
}

// -o yaml is the same List as -o json.
func TestObjectsListForYAML(t *testing.T) {
	snap := snapshot()
	snap.Releases[0].ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationApply}}
	b, err := yaml.Marshal(snap.Objects())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "managedFields") || strings.Contains(string(b), "argocd-controller") {
		t.Errorf("managedFields shown (kubectl get hides them):\n%s", b)
	}
	var l struct {
		Kind  string `json:"kind"`
		Items []struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := yaml.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range l.Items {
		if i.APIVersion != "ops.runbook.dev/v1alpha1" {
			t.Errorf("%s %s: apiVersion %q", i.Kind, i.Metadata.Name, i.APIVersion)
		}
		names = append(names, i.Kind+"/"+i.Metadata.Name)
	}
	want := []string{"Release/saas", "BackupSchedule/nightly", "DatabaseBackup/nightly-1", "DatabaseBackup/nightly-2", "DatabaseBackup/manual",
		"SecretRotation/keys", "Incident/db-down", "Incident/old"}
	if l.Kind != "List" || !slices.Equal(names, want) {
		t.Errorf("kind %q, items %v, want %v", l.Kind, names, want)
	}
}

func TestObjectsListForJSON(t *testing.T) {
	b, err := json.Marshal(snapshot().Objects())
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Items []struct{ APIVersion, Kind string } `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 8 || l.Items[0].Kind != "Release" || l.Items[0].APIVersion != "ops.runbook.dev/v1alpha1" || l.Items[7].Kind != "Incident" {
		t.Errorf("items: %+v", l.Items)
	}
}

// Every `kubectl runbook …` line in the documentation is a command the plugin
// accepts: the subcommand exists, its flags parse and its arguments fit. (The
// envtest and e2e tests run them against an API server.)
func TestDocumentedCommandsParse(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md")
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			var commands []string
			if rest, ok := strings.CutPrefix(strings.TrimPrefix(strings.TrimSpace(line), "$ "), "kubectl runbook "); ok {
				commands = append(commands, rest) // a line of a code block
			}
			for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
				if !strings.Contains(m[1], "<") { // `kubectl runbook <TAB>` shows a key, not a command
					commands = append(commands, m[1])
				}
			}
			for _, rest := range commands {
				words, err := shellWords(rest)
				if err != nil {
					t.Errorf("%s:%d: %v", page, i+1, err)
					continue
				}
				n++
				root := NewCommand(genericiooptions.NewTestIOStreamsDiscard())
				cmd, args, err := root.Find(words)
				if err == nil && cmd == root && !slices.Contains(words, "--help") {
					err = fmt.Errorf("no subcommand")
				}
				if err == nil {
					if err = cmd.ParseFlags(args); errors.Is(err, pflag.ErrHelp) {
						err = nil
					}
				}
				if err == nil && cmd.Args != nil {
					err = cmd.Args(cmd, cmd.Flags().Args())
				}
				if err == nil && cmd.RunE == nil && !slices.Contains(words, "--help") {
					err = fmt.Errorf("%s is not a command that runs", cmd.CommandPath())
				}
				if err != nil {
					t.Errorf("%s:%d: kubectl runbook %s: %v", page, i+1, rest, err)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d documented commands found", n)
	}
}

// inlineCommand is `kubectl runbook …` in running text or a table.
var inlineCommand = regexp.MustCompile("`kubectl runbook ([^`]+)`")

// shellWords splits a command line on spaces, keeping "quoted" and 'quoted' words
// whole; a comment (#), redirection or pipe ends the command.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	quote, in := rune(0), false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case (r == '#' && !in) || r == '>' || r == '|' || r == ';' || r == '&':
			if in { // a redirection, pipe or comment ends the command
				words = append(words, cur.String())
			}
			return words, nil
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// canaryRelease is a Release whose revision ccc runs its canary beside stable bbb.
func canaryRelease(c opsv1alpha1.CanaryProgress, st ...func(*opsv1alpha1.ReleaseStatus)) opsv1alpha1.Release {
	r := opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas"},
		Spec: opsv1alpha1.ReleaseSpec{Version: "1.3.0", Canary: &opsv1alpha1.ReleaseCanary{Component: "web", Replicas: 1, Window: &opsv1alpha1.Duration{Duration: 30 * time.Second}}},
		Status: opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseCanary, CurrentRevision: "ccc", StableRevision: "bbb", StableVersion: "1.2.0",
			Components: []opsv1alpha1.ComponentStatus{{Name: "web", Replicas: 2, ReadyReplicas: 2, Revision: "bbb"}},
			Progress:   &opsv1alpha1.ReleaseProgress{Revision: "ccc", Canary: &c},
			History:    []opsv1alpha1.RevisionRecord{{Revision: "ccc", Result: opsv1alpha1.RevisionInProgress}}}}
	for _, f := range st {
		f(&r.Status)
	}
	return r
}

func guard(reason string, findings ...opsv1alpha1.MigrationFinding) func(*opsv1alpha1.ReleaseStatus) {
	return func(st *opsv1alpha1.ReleaseStatus) {
		st.Conditions = append(st.Conditions, metav1.Condition{Type: opsv1alpha1.ConditionDestructiveMigration, Status: metav1.ConditionTrue, Reason: reason,
			Message: "2 statements of the planned migrations break the pods still serving the previous revision during the rollout: …"})
		st.History[0].DestructiveMigrations = findings
	}
}

func TestReleaseCanaryAndGuardLines(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { x := metav1.NewTime(t0.Add(d)); return &x }
	running := opsv1alpha1.CanaryProgress{Component: "web", Deployment: "saas-web-canary", Replicas: 1, ReadyReplicas: 1, StableReplicas: 2,
		StartTime: at(-40 * time.Second), WindowStartTime: at(-12 * time.Second)}
	drop := opsv1alpha1.MigrationFinding{Migration: "shop.0004_remove_order_note", Kind: "DropColumn", Table: "shop_order", Column: "note",
		Statement: `ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;`}
	long := drop
	long.Statement = `ALTER TABLE "shop_order" DROP COLUMN "` + strings.Repeat("x", 250) + `" CASCADE;`
	many := slices.Repeat([]opsv1alpha1.MigrationFinding{drop}, 20)
	for _, tc := range []struct {
		name      string
		r         opsv1alpha1.Release
		has, lack []string
	}{
		{"canary in its window", canaryRelease(running), []string{"canary web: 1/1 ready beside 2 stable, healthy for 12s of 30s"}, []string{"destructive"}},
		{"window past its end", canaryRelease(opsv1alpha1.CanaryProgress{Component: "web", Replicas: 1, ReadyReplicas: 1, StableReplicas: 2, WindowStartTime: at(-time.Minute)}),
			[]string{"healthy for 30s of 30s"}, nil},
		{"canary starting", canaryRelease(opsv1alpha1.CanaryProgress{Component: "web", Replicas: 2, StableReplicas: 2, StartTime: at(-20 * time.Second)}),
			[]string{"canary web: 0/2 ready beside 2 stable, starting (started 20s ago, window 30s)"}, []string{"healthy"}},
		{"failing checks show the message", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) {
			st.Progress.FailedChecks = 1
			st.Progress.Canary.Message = "pod saas-web-canary-x: GET /healthz: 500"
		}), []string{"healthy for 12s of 30s  pod saas-web-canary-x: GET /healthz: 500"}, nil},
		{"default window", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) {}), []string{"healthy for 12s of 30s"}, nil},
		{"spec window", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) {}), []string{"healthy for 12s of 5m"}, nil},
		{"canary passed: rolling out", canaryRelease(func() opsv1alpha1.CanaryProgress { c := running; c.Passed = true; return c }()), nil, []string{"canary web"}},
		{"rollout started", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) { st.Progress.RolloutStartTime = at(0) }), nil, []string{"canary web"}},
		{"blocked", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) {
			st.Phase = opsv1alpha1.ReleasePhaseBlocked
			st.Progress.Canary = nil
		},
			guard(opsv1alpha1.ReasonDestructiveMigrationBlocked, drop, drop)),
			[]string{"Release saas  Blocked  1.3.0", `destructive migrations Blocked: 2 statements, first shop.0004_remove_order_note DropColumn shop_order.note: ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;`},
			[]string{"canary"}},
		{"warned, one", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationWarned, drop)),
			[]string{"canary web", "destructive migrations Warned: 1 statement, first shop.0004"}, nil},
		{"a unique index says the row estimate it was judged by", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationWarned, opsv1alpha1.MigrationFinding{
			Migration: "shop.0005_order_ref_unique", Kind: "UniqueIndexLocksTable", Table: "shop_order", Statement: `CREATE UNIQUE INDEX "shop_order_ref_uniq" ON "shop_order" ("ref");`,
			Note: "table shop_order, about 5000000 rows: from 100000 on, reported"})),
			[]string{`first shop.0005_order_ref_unique UniqueIndexLocksTable: table shop_order, about 5000000 rows: from 100000 on, reported`}, []string{"CREATE UNIQUE"}},
		{"at least the kept ones", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationWarned, many...)), []string{"Warned: at least 20 statements"}, nil},
		{"long statement bounded", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationBlocked, long)), []string{`DROP COLUMN "xxxx`, "x…\n"}, []string{"CASCADE"}},
		{"no findings kept: the condition's message", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationBlocked)),
			[]string{"destructive migrations Blocked: 2 statements of the planned migrations break"}, nil},
		{"allowed", canaryRelease(running, guard(opsv1alpha1.ReasonDestructiveMigrationAllowed, drop)), nil, []string{"destructive"}},
		{"none found", canaryRelease(running, func(st *opsv1alpha1.ReleaseStatus) {
			st.Conditions = []metav1.Condition{{Type: opsv1alpha1.ConditionDestructiveMigration, Status: metav1.ConditionFalse, Reason: opsv1alpha1.ReasonDestructiveMigrationNone}}
		}), nil, []string{"destructive"}},
	} {
		switch tc.name {
		case "default window":
			tc.r.Spec.Canary.Window = nil
		case "spec window":
			tc.r.Spec.Canary.Window.Duration = 5 * time.Minute
		}
		var b bytes.Buffer
		RenderStatus(&b, Snapshot{Namespace: "saas", Releases: []opsv1alpha1.Release{tc.r}}, t0, Palette{})
		for _, s := range tc.has {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s: lacks %q:\n%s", tc.name, s, b.String())
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(b.String(), s) {
				t.Errorf("%s: has %q:\n%s", tc.name, s, b.String())
			}
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if n := len([]rune(line)); n > 250 {
				t.Errorf("%s: a line of %d runes: %s", tc.name, n, line)
			}
		}
	}
}

// The documented example (docs/plugin.md): a canary and a warned migration under the
// Release, plain; with colour the words are coloured as everywhere else.
func TestRenderStatusCanaryTree(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { x := metav1.NewTime(t0.Add(d)); return &x }
	r := canaryRelease(opsv1alpha1.CanaryProgress{Component: "web", Deployment: "saas-web-canary", Replicas: 1, ReadyReplicas: 1, StableReplicas: 2,
		StartTime: at(-40 * time.Second), WindowStartTime: at(-12 * time.Second)},
		guard(opsv1alpha1.ReasonDestructiveMigrationWarned, opsv1alpha1.MigrationFinding{Migration: "shop.0004_remove_order_note", Kind: "DropColumn", Table: "shop_order", Column: "note",
			Statement: `ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;`}))
	var b bytes.Buffer
	RenderStatus(&b, Snapshot{Namespace: "saas", Releases: []opsv1alpha1.Release{r}}, t0, Palette{})
	want := `namespace saas
└── Release saas  Canary  1.3.0 (revision ccc), stable 1.2.0 (bbb)
    ├── web  2/2 ready  revision bbb
    ├── canary web: 1/1 ready beside 2 stable, healthy for 12s of 30s
    └── destructive migrations Warned: 1 statement, first shop.0004_remove_order_note DropColumn shop_order.note: ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	r.Status.Progress.Canary.ReadyReplicas = 0
	r.Status.Phase = opsv1alpha1.ReleasePhaseBlocked
	r.Status.Conditions[0].Reason = opsv1alpha1.ReasonDestructiveMigrationBlocked
	RenderStatus(&b, Snapshot{Namespace: "saas", Releases: []opsv1alpha1.Release{r}}, t0, Palette{On: true})
	for _, want := range []string{"\x1b[31mBlocked\x1b[0m  1.3.0", "migrations \x1b[31mBlocked\x1b[0m:", "canary web: \x1b[33m0/1 ready\x1b[0m"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("coloured tree lacks %q:\n%q", want, b.String())
		}
	}
}
