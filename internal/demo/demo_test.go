package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestWrap(t *testing.T) {
	got := Wrap("one two three four five\n\nsix   seven\nextraordinarilylongword", 12, "  ")
	want := "  one two\n  three four\n  five\n\n  six seven\n  extraordinarilylongword"
	if got != want {
		t.Errorf("Wrap:\n%q\nwant\n%q", got, want)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:          "0 bytes",
		1023:       "1,023 bytes",
		95969:      "95,969 bytes (93.7 KiB)",
		1060314:    "1,060,314 bytes (1.0 MiB)",
		5368709120: "5,368,709,120 bytes (5.0 GiB)",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatTable(t *testing.T) {
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name"}, {Name: "Phase"}, {Name: "Size", Type: "integer"},
			{Name: "Location", Priority: 1}, {Name: "Age", Type: "date"},
		},
		Rows: []metav1.TableRow{
			{Cells: []any{"manual-backup", "Completed", float64(95969), "s3://b/k", "2s"}},
			{Cells: []any{"every-minute-202611290314", "Running", nil, nil, "118s"}},
		},
	}
	want := "NAME                        PHASE       SIZE    AGE\n" +
		"manual-backup               Completed   95969   2s\n" +
		"every-minute-202611290314   Running             118s"
	if got := FormatTable(table, "demo"); got != want {
		t.Errorf("FormatTable:\n%s\nwant\n%s", got, want)
	}
	if got := FormatTable(&metav1.Table{}, "demo"); got != "No resources found in demo namespace." {
		t.Errorf("empty table: %q", got)
	}
}

func TestSelect(t *testing.T) {
	steps := []Step{{Name: "seed"}, {Name: "backup", Needs: []string{"seed"}}, {Name: "s3", Needs: []string{"backup"}}, {Name: "other"}}
	names := func(ss []Step) string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Name)
		}
		return strings.Join(n, ",")
	}
	got, err := Select(steps, " other, seed ")
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "seed,other" {
		t.Errorf("Select kept %s, want seed,other (walkthrough order)", names(got))
	}
	if got, _ = Select(steps, "s3"); names(got) != "seed,backup,s3" {
		t.Errorf("Select(s3) kept %s, want the steps it needs too", names(got))
	}
	if all, _ := Select(steps, ""); len(all) != 4 {
		t.Errorf("empty selection kept %d steps, want all", len(all))
	}
	if _, err := Select(steps, "restore"); err == nil || !strings.Contains(err.Error(), "seed, backup, s3, other") {
		t.Errorf("unknown step: err = %v, want the list of steps", err)
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	e := &Env{Out: NewPrinter(&out)}
	ran := map[string]bool{}
	step := func(name string, required bool, needs []string, err error) Step {
		return Step{Name: name, Title: "Step " + name, Required: required, Needs: needs,
			Run: func(context.Context, *Env) error { ran[name] = true; return err }}
	}
	results := Run(context.Background(), e, []Step{
		step("a", false, nil, nil),
		step("b", false, nil, errors.New("boom")),
		step("c", false, []string{"b"}, nil),
		step("d", false, []string{"a"}, nil),
		{Name: "p", Title: "Panics", Run: func(context.Context, *Env) error { panic("oops") }},
		step("r", true, nil, errors.New("required broke")),
		step("z", false, nil, nil),
	})
	outcome := func(r Result) string {
		switch {
		case r.Skipped != "":
			return "skipped"
		case r.Err != nil:
			return "failed"
		}
		return "ok"
	}
	want := map[string]string{"a": "ok", "b": "failed", "c": "skipped", "d": "ok", "p": "failed", "r": "failed", "z": "skipped"}
	for _, r := range results {
		if got := outcome(r); got != want[r.Step.Name] {
			t.Errorf("step %s: %s, want %s (err %v, skipped %q)", r.Step.Name, got, want[r.Step.Name], r.Err, r.Skipped)
		}
	}
	if ran["c"] || ran["z"] {
		t.Errorf("skipped steps ran: %v", ran)
	}
	if !Failed(results) {
		t.Error("Failed = false with failed steps")
	}
	if Failed(results[:1]) {
		t.Error("Failed = true for a walkthrough that succeeded")
	}
	text := out.String()
	for _, s := range []string{"[1/7] Step a", "✗ Step b: failed after", "boom", "panic: oops"} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "Step z") {
		t.Errorf("a step skipped after a required failure printed its heading:\n%s", text)
	}

	var summary bytes.Buffer
	PrintSummary(NewPrinter(&summary), results)
	if !strings.Contains(summary.String(), "skipped: step \"r\" failed") {
		t.Errorf("summary does not say why z was skipped:\n%s", summary.String())
	}
}

func TestRunStepTimeoutNamesTheCause(t *testing.T) {
	e := &Env{Out: NewPrinter(&bytes.Buffer{})}
	results := Run(context.Background(), e, []Step{{Name: "slow", Timeout: 20 * time.Millisecond,
		Run: func(ctx context.Context, _ *Env) error { <-ctx.Done(); return errors.New("still waiting") }}})
	if err := results[0].Err; err == nil || !strings.Contains(err.Error(), "the step took longer than 20ms") {
		t.Errorf("err = %v, want the timeout named", err)
	}
}

func TestBackupChange(t *testing.T) {
	b := &opsv1alpha1.DatabaseBackup{}
	line, changed := BackupChange(nil, b)
	if !changed || !strings.HasPrefix(line, "(new)") {
		t.Errorf("first sight: %q, %v", line, changed)
	}
	running := b.DeepCopy()
	running.Status.Phase = opsv1alpha1.BackupPhaseRunning
	running.Status.Conditions = []metav1.Condition{{Type: opsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Message: "Job x is dumping"}}
	if line, changed = BackupChange(b, running); !changed || line != "Running    Job x is dumping" {
		t.Errorf("to Running: %q, %v", line, changed)
	}
	if _, changed = BackupChange(running, running.DeepCopy()); changed {
		t.Error("no change reported as a change")
	}
	again := running.DeepCopy()
	again.Status.Conditions[0].Message = "Waiting for the database lock"
	if line, changed = BackupChange(running, again); !changed || !strings.Contains(line, "Waiting") {
		t.Errorf("message change: %q, %v", line, changed)
	}
}

func TestDiffSchedule(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 12, 7, 0, time.UTC)
	next := time.Date(2026, 11, 29, 3, 13, 0, 0, time.UTC)
	first := ScheduleView{Next: next, Backups: map[string]BackupView{}}
	lines := DiffSchedule(ScheduleView{}, first, now)
	if len(lines) != 1 || !strings.Contains(lines[0], "(in 53s)") {
		t.Errorf("first sight: %q", lines)
	}
	ran := ScheduleView{Next: next.Add(time.Minute), LastSchedule: next, Backups: map[string]BackupView{
		"s-202611290313": {Phase: "Running"},
	}}
	lines = DiffSchedule(first, ran, next.Add(time.Second))
	want := []string{"nextScheduleTime", "lastScheduleTime", "s-202611290313  created by the schedule", "s-202611290313  Running"}
	if len(lines) != len(want) {
		t.Fatalf("run: %q", lines)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
	done := ran
	done.LastSuccessful = "s-202611290313"
	done.Backups = map[string]BackupView{"s-202611290313": {Phase: "Completed", Size: 2048, Key: "k1"}}
	lines = DiffSchedule(ran, done, now)
	if len(lines) != 2 || !strings.Contains(lines[0], "Completed, 2,048 bytes (2.0 KiB)") || !strings.Contains(lines[1], "lastSuccessfulBackup  s-202611290313") {
		t.Errorf("completion: %q", lines)
	}
	pruning := done
	pruning.Backups = map[string]BackupView{
		"s-202611290313": {Phase: "Completed", Key: "k1", Deleting: true},
		"s-202611290314": {Phase: "Failed", Message: "bad key"},
	}
	lines = DiffSchedule(done, pruning, now)
	if len(lines) != 3 || !strings.Contains(lines[0], "pruned by retention") || lines[2] != "s-202611290314  Failed: bad key" {
		t.Errorf("pruning: %q", lines)
	}
	gone := pruning
	gone.Backups = map[string]BackupView{"s-202611290314": pruning.Backups["s-202611290314"]}
	if lines = DiffSchedule(pruning, gone, now); len(lines) != 1 || lines[0] != "s-202611290313  is gone" {
		t.Errorf("gone: %q", lines)
	}
	if p := Pruned(pruning, gone); len(p) != 1 || p[0] != "s-202611290313" {
		t.Errorf("Pruned = %v", p)
	}
	if gone.Newest() != "s-202611290314" || pruning.Newest() != "s-202611290314" {
		t.Errorf("Newest = %q", pruning.Newest())
	}
}

func TestManifestYAML(t *testing.T) {
	s := &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "demo"},
		Spec: opsv1alpha1.BackupScheduleSpec{Schedule: "* * * * *", TimeZone: "true",
			Template: opsv1alpha1.BackupTemplate{
				Metadata: opsv1alpha1.TemplateMetadata{Labels: map[string]opsv1alpha1.LabelValue{"app": "saas"}},
				Spec:     opsv1alpha1.DatabaseBackupSpec{Verify: true}},
			Retention: opsv1alpha1.Retention{KeepDaily: 7}}}
	got, err := ManifestYAML("ops.runbook.dev/v1alpha1", "BackupSchedule", s, s.Spec)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: ops.runbook.dev/v1alpha1
kind: BackupSchedule
metadata:
  name: x
  namespace: demo
spec:
  schedule: '* * * * *'
  timeZone: "true"
  template:
    metadata:
      labels:
        app: saas
    spec:
      database:
        secretRef:
          name: ""
      destination:
        s3:
          bucket: ""
      verify: true
  retention:
    keepDaily: 7
`
	if got != want {
		t.Errorf("ManifestYAML:\n%s\nwant\n%s", got, want)
	}
}

func TestPrinterSeparatesParagraphs(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b)
	p.Heading(1, 2, "Title")
	p.Say("First.")
	p.Command("kubectl get pods")
	p.Block("NAME\npod-1")
	p.Say("Second.")
	want := "\n[1/2] Title\n───────────\n  First.\n\n  $ kubectl get pods\n    NAME\n    pod-1\n\n  Second.\n"
	if b.String() != want {
		t.Errorf("output:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestFormatCounts(t *testing.T) {
	got := FormatCounts(map[string]int64{"billing_invoice": 20002, "audit_log": 1})
	want := "audit_log               1 row\nbilling_invoice    20,002 rows\n"
	if got != want {
		t.Errorf("FormatCounts:\n%q\nwant\n%q", got, want)
	}
}

func TestRestoreChange(t *testing.T) {
	start := RestoreView{Pods: -1, Ready: -1}
	quiescing := RestoreView{Phase: opsv1alpha1.RestorePhaseQuiescing, Message: "Waiting for the pods", Pods: 2, Ready: 2}
	got := RestoreChange(start, quiescing)
	want := []string{"Quiescing  Waiting for the pods", "saas       2 pods, 2 ready"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("first view:\n%q\nwant\n%q", got, want)
	}
	if got := RestoreChange(quiescing, quiescing); len(got) != 0 {
		t.Errorf("no change printed %q", got)
	}
	one := quiescing
	one.Pods, one.Ready = 1, 0
	if got := RestoreChange(quiescing, one); len(got) != 1 || got[0] != "saas       1 pod, 0 ready" {
		t.Errorf("a pod gone: %q", got)
	}
	restoring := RestoreView{Phase: opsv1alpha1.RestorePhaseRestoring, Message: "Job r-restore is restoring"}
	want = []string{"Restoring  Job r-restore is restoring", "saas       no pods: nothing of the app is connected to the database"}
	if got := RestoreChange(one, restoring); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("restoring:\n%q\nwant\n%q", got, want)
	}
	if got := RestoreChange(start, RestoreView{}); len(got) != 2 || got[0] != "(new)" {
		t.Errorf("a restore without status yet: %q", got)
	}
}

func TestReleaseStep(t *testing.T) {
	steps, err := Select(DefaultSteps(), "release")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "seed,release" {
		t.Errorf("--steps release runs %v, want seed and release", names)
	}
	spec, err := releaseSpec("1.2.0", "demo-db")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Version != "1.2.0" || spec.Image != AppImage("1.2.0") || len(spec.Components) != 2 || spec.Database.SecretRef.Name != "demo-db" {
		t.Errorf("release spec at 1.2.0: %+v", spec)
	}
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("lastLines = %q", got)
	}
}
