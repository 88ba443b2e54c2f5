package demo

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// BackupName is the on-demand backup of the backup step.
const BackupName = "manual-backup"

// historyTable makes the demo database big enough (about 500 MiB) for a backup of
// several seconds, so its progress is seen moving.
const (
	historyTable = "demo_history"
	historyRows  = 3_000_000
)

// BackupStep backs the database up with a DatabaseBackup and shows its status
// change until it is Completed, then what it recorded.
func BackupStep() Step {
	return Step{
		Name: "backup", Title: "Back up the database now: a DatabaseBackup", Needs: []string{"seed"},
		Run: backup,
	}
}

func backup(ctx context.Context, e *Env) error {
	e.Out.Say(`The runbook's manual backup was pg_dump, gzip and "aws s3 cp" by hand. Here it is one
object: a DatabaseBackup names the database (a Secret with its connection details) and
the place in S3. The operator runs a Job with its agent, which streams pg_dump through
zstd straight into the bucket, computing a SHA-256 on the way, and uploads a manifest
beside the dump. With verify: true a second Job restores the dump into a scratch
database to prove it can be restored.`)
	e.Out.Say(`So that the backup takes a few seconds and its progress (status.progress, the
Progress column, the message) can be seen moving, a history table of %d rows joins
the app's tables first.`, historyRows)
	if err := e.exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s AS SELECT g AS id,
  md5(g::text) || md5((g+1)::text) || md5((g+2)::text) || md5((g+3)::text) AS note FROM generate_series(1, %d) g`, historyTable, historyRows)); err != nil {
		return fmt.Errorf("create %s: %w", historyTable, err)
	}
	if e.Seeded != nil {
		e.Seeded[historyTable] = historyRows
	}
	b := &opsv1alpha1.DatabaseBackup{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseBackup"},
		ObjectMeta: metav1.ObjectMeta{Name: BackupName, Namespace: e.Namespace},
		Spec: opsv1alpha1.DatabaseBackupSpec{
			Database:       opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: e.DBSecret}},
			Destination:    e.Destination("manual"),
			DeletionPolicy: opsv1alpha1.DeletionPolicyRetain,
			Verify:         true,
		},
	}
	if err := e.Apply(ctx, b, b.Spec); err != nil {
		return err
	}
	e.Out.Say("Watching its status (kubectl -n %s get databasebackup %s -w shows the same):", e.Namespace, BackupName)
	done, err := e.WatchBackup(ctx, BackupName)
	if err != nil {
		return err
	}
	if done.Status.Phase != opsv1alpha1.BackupPhaseCompleted {
		return fmt.Errorf("backup %s ended %s: %s", BackupName, done.Status.Phase, readyMessage(done))
	}
	e.Out.Say("What the backup recorded in its status:")
	e.Out.Fields(BackupFields(done)...)
	if c := meta.FindStatusCondition(done.Status.Conditions, opsv1alpha1.ConditionVerified); c != nil {
		e.Out.Check("Verified=%s: %s", c.Status, c.Message)
	}
	e.Backup = done

	events, err := e.Events(ctx, "DatabaseBackup", BackupName)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s events --for databasebackup/%s", e.Namespace, BackupName)
	e.Out.Block(bulleted(events))
	e.Out.Say("The Jobs ran as pods on the devcluster's node; their processes have exited:")
	return e.ShowTables(ctx, "databasebackups", "jobs", "pods")
}

// BackupFields are the status fields of a finished backup worth showing, as
// key/value pairs for Printer.Fields.
func BackupFields(b *opsv1alpha1.DatabaseBackup) []string {
	took := time.Duration(b.Status.DurationSeconds) * time.Second
	if b.Status.StartTime != nil && b.Status.CompletionTime != nil {
		took = b.Status.CompletionTime.Sub(b.Status.StartTime.Time)
	}
	return []string{
		"phase", string(b.Status.Phase),
		"location", b.Status.Location,
		"sizeBytes", Bytes(b.Status.SizeBytes),
		"sha256", b.Status.SHA256,
		"serverVersion", "PostgreSQL " + b.Status.ServerVersion,
		"jobName", b.Status.JobName,
		"took", took.String() + " from start to completion",
	}
}

func bulleted(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "- " + l + "\n"
	}
	return out
}
