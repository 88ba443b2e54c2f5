//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"runbook-operator/internal/devcluster"
)

// TestDemo runs `make demo`'s program as a person would, on a devcluster of its own,
// with --exit-when-done: it must walk through every step and exit 0. Run it alone
// with -run TestDemo.
//
// It runs beside TestE2E (both parallel): each has a cluster of its own (its own
// ports and pod /24, see internal/devcluster/podnet.go), and both spend most of their
// time waiting on rollouts and Jobs, so on CI's 2 cores the pair takes about as long
// as the longer one instead of the sum (about 4 minutes less).
func TestDemo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 14*time.Minute)
	defer cancel()
	root, err := devcluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bins, err := devcluster.BuildBinaries(ctx, root, filepath.Join(dir, "bin"), map[string]string{"demo": "./cmd/demo"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bins["demo"], "--exit-when-done", "--dir", filepath.Join(dir, "devcluster"))
	cmd.Dir = root
	cmd.Stdout = io.MultiWriter(&out, prefixWriter(t))
	cmd.Stderr = cmd.Stdout
	// On timeout the demo gets Ctrl-C to stop its cluster; if this test process is
	// killed, the demo dies with it (and its cluster with the demo).
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err = cmd.Run()
	t.Logf("the demo ran for %s", time.Since(start).Round(time.Second))
	text := out.String()
	if err != nil {
		t.Fatalf("the demo failed: %v (output above)", err)
	}
	for _, want := range []string{
		"✓ 1. Give the application a database with data",
		"✓ 2. Back up the database now: a DatabaseBackup",
		"✓ 3. Find the dump in S3 and check it",
		"✓ 4. Undo a mistake: restore the backup with a DatabaseRestore",
		"✓ 5. Rotate the app's secrets without downtime: a SecretRotation",
		"✓ 6. Back up on a schedule, with retention: a BackupSchedule",
		"✓ 7. Deploy new versions, roll back a bad one: a Release",
		"✓ 9. When alerted: a failing backup fires an alert that opens an Incident",
		`"alertname": "RunbookBackupFailing"`,
		"RunbookBackupFailing fired ",
		"which captured evidence and notified the local receiver",
		"✓ 1.1.0 applied migration subscriptions.0002_subscription_seats",
		"✓ every web pod of saas-next answers 200 with version 1.1.0",
		"✓ 1.2.0 was rolled back to 1.1.0: ",
		"RolledBack  ",
		"✓ 8. Respond to the incident the bad release opened: an Incident",
		"✓ the ConfigMaps concatenated hash to status.evidence.sha256",
		"web pod(s) of the failed revision and their logs, read before the rollback",
		"✓ PagerDuty got the trigger: severity warning (P2)",
		"✓ PagerDuty got acknowledge with the same dedup_key and routing key",
		"✓ PagerDuty got resolve; the Incident is Resolved",
		"Promoting   Phase 2 of 2 (Promoting)",
		"✓ every pod of saas-worker, saas-beat and saas-web is new (each restarted once per phase)",
		"Running    Job manual-backup-backup is dumping database Secret demo-db to s3://",
		" done of about ",
		"Completed  Backup uploaded and verified",
		"the SHA-256 matches status.sha256 and the size",
		"saas       no pods: nothing of the app is connected to the database",
		"SELECT count(*) FROM accounts_user;",
		"Completed  Restored s3://saas-backups/manual/",
		"✓ saas-web is back at 2 ready replicas, saas-worker and saas-beat at 1, with new pods",
		"✓ every table has the row count it had when manual-backup was taken",
		"saas_production_pre_restore_",
		"pruned by retention",
		"are gone from the bucket",
		"export KUBECONFIG=" + filepath.Join(dir, "devcluster", "kubeconfig"),
		"Stopped; nothing is left running.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if strings.Contains(text, "✗") {
		t.Errorf("the demo reported a problem (✗ in its output)")
	}
}

// prefixWriter streams the demo's output into the test log line by line as it
// comes, so a stuck demo shows where it is.
func prefixWriter(t *testing.T) io.Writer { return &lineLogger{t: t} }

type lineLogger struct {
	t    *testing.T
	part []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log("demo| " + string(l.part[:i]))
		l.part = l.part[i+1:]
	}
}
