package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
)

// ScheduleName is the BackupSchedule of the schedule step.
const ScheduleName = "every-minute"

// ScheduleStep applies a BackupSchedule that fires every minute and keeps only the
// newest backup, and shows two runs and the pruning of the first.
func ScheduleStep() Step {
	return Step{
		Name: "schedule", Title: "Back up on a schedule, with retention: a BackupSchedule", Needs: []string{"seed"},
		Timeout: 4 * time.Minute,
		Run:     backupSchedule,
	}
}

func backupSchedule(ctx context.Context, e *Env) error {
	e.Out.Say(`The runbook's nightly backup was a cron job on one server. A BackupSchedule creates a
DatabaseBackup from its template on a cron schedule (with a time zone; a run missed while
the operator was down is caught up once) and deletes old backups by retention: keepLast,
keepDaily, keepWeekly, keepMonthly, and never the newest completed one.

So that you see it happen, this one runs every minute and keeps only the newest backup
(keepLast: 1): the second run prunes the first, and deletionPolicy: Delete removes the
pruned backup's dump from S3 too. This takes up to two minutes.`)
	s := &opsv1alpha1.BackupSchedule{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "BackupSchedule"},
		ObjectMeta: metav1.ObjectMeta{Name: ScheduleName, Namespace: e.Namespace},
		Spec: opsv1alpha1.BackupScheduleSpec{
			Schedule:  "* * * * *",
			TimeZone:  "UTC",
			Retention: opsv1alpha1.Retention{KeepLast: ptr.To[int32](1), KeepFailed: ptr.To[int32](1)},
			Template: opsv1alpha1.BackupTemplate{
				Metadata: opsv1alpha1.TemplateMetadata{Labels: map[string]opsv1alpha1.LabelValue{"app.kubernetes.io/part-of": "saas"}},
				Spec: opsv1alpha1.DatabaseBackupSpec{
					Database:       opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: e.DBSecret}},
					Destination:    e.Destination("scheduled"),
					DeletionPolicy: opsv1alpha1.DeletionPolicyDelete,
				},
			},
		},
	}
	if err := e.Apply(ctx, s, s.Spec); err != nil {
		return err
	}
	e.Out.Say("Watching the schedule and the backups it creates:")
	if err := e.watchSchedule(ctx, ScheduleName); err != nil {
		return err
	}

	events, err := e.Events(ctx, "BackupSchedule", ScheduleName)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s events --for backupschedule/%s", e.Namespace, ScheduleName)
	e.Out.Block(bulleted(events))
	if err := e.ShowTables(ctx, "backupschedules", "databasebackups"); err != nil {
		return err
	}
	e.Out.Say(`
The schedule keeps running every minute while the demo is up. To pause it:
kubectl -n %s patch backupschedule %s --type merge -p '{"spec":{"suspend":true}}'`, e.Namespace, ScheduleName)
	return nil
}

// watchSchedule prints what happens to the schedule and its backups until a backup
// it created was pruned (and its objects are gone from S3) and a newer one completed.
func (e *Env) watchSchedule(ctx context.Context, name string) error {
	var prev ScheduleView
	pruned := 0
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		cur, err := e.scheduleView(ctx, name)
		if err == nil {
			for _, line := range DiffSchedule(prev, cur, time.Now()) {
				e.Out.Observe("%s", line)
			}
			for _, gone := range Pruned(prev, cur) {
				key := prev.Backups[gone].Key
				if key == "" {
					continue // never started: nothing was uploaded
				}
				for _, k := range []string{key, agent.ManifestKey(key)} {
					exists, err := ObjectExists(ctx, e.S3, e.Bucket, k)
					if err != nil {
						return err
					}
					if exists {
						return fmt.Errorf("backup %s was pruned but s3://%s/%s is still there", gone, e.Bucket, k)
					}
				}
				e.Out.Check("s3://%s/%s and its manifest are gone from the bucket", e.Bucket, key)
				pruned++
			}
			if newest := cur.Newest(); pruned > 0 && newest != "" &&
				cur.Backups[newest].Phase == string(opsv1alpha1.BackupPhaseCompleted) && cur.LastSuccessful == newest {
				return nil
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for two runs and a pruned backup: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// ScheduleView is what the schedule step watches: the schedule's status and its
// backups by name.
type ScheduleView struct {
	LastSchedule, Next time.Time
	LastSuccessful     string
	Backups            map[string]BackupView
}

// BackupView is a backup of a schedule as the schedule step shows it.
type BackupView struct {
	Phase    string
	Size     int64
	Key      string
	Deleting bool
	Message  string
}

// Newest is the name of the newest backup (names end in the scheduled time).
func (v ScheduleView) Newest() string {
	newest := ""
	for n := range v.Backups {
		if n > newest {
			newest = n
		}
	}
	return newest
}

func (e *Env) scheduleView(ctx context.Context, name string) (ScheduleView, error) {
	s := &opsv1alpha1.BackupSchedule{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, s); err != nil {
		return ScheduleView{}, err
	}
	var list opsv1alpha1.DatabaseBackupList
	if err := e.Client.List(ctx, &list, client.InNamespace(e.Namespace),
		client.MatchingLabels{opsv1alpha1.LabelBackupSchedule: name}); err != nil {
		return ScheduleView{}, err
	}
	v := ScheduleView{LastSuccessful: s.Status.LastSuccessfulBackup, Backups: map[string]BackupView{}}
	if s.Status.LastScheduleTime != nil {
		v.LastSchedule = s.Status.LastScheduleTime.Time
	}
	if s.Status.NextScheduleTime != nil {
		v.Next = s.Status.NextScheduleTime.Time
	}
	for i := range list.Items {
		b := &list.Items[i]
		v.Backups[b.Name] = BackupView{Phase: string(b.Status.Phase), Size: b.Status.SizeBytes, Key: b.Status.Key,
			Deleting: !b.DeletionTimestamp.IsZero(), Message: readyMessage(b)}
	}
	return v, nil
}

// DiffSchedule describes, one line per change, what changed from prev to cur; now
// turns the next run's time into "in 23s".
func DiffSchedule(prev, cur ScheduleView, now time.Time) []string {
	var lines []string
	if !cur.Next.Equal(prev.Next) && !cur.Next.IsZero() {
		lines = append(lines, fmt.Sprintf("nextScheduleTime      %s (in %s)",
			cur.Next.Local().Format("15:04:05"), cur.Next.Sub(now).Round(time.Second)))
	}
	if !cur.LastSchedule.Equal(prev.LastSchedule) && !cur.LastSchedule.IsZero() {
		lines = append(lines, fmt.Sprintf("lastScheduleTime      %s: the run is due", cur.LastSchedule.Local().Format("15:04:05")))
	}
	names := make([]string, 0, len(cur.Backups)+len(prev.Backups))
	for n := range cur.Backups {
		names = append(names, n)
	}
	for n := range prev.Backups {
		if _, ok := cur.Backups[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		p, had := prev.Backups[n]
		c, has := cur.Backups[n]
		switch {
		case !has:
			lines = append(lines, fmt.Sprintf("%s  is gone", n))
		case !had:
			lines = append(lines, fmt.Sprintf("%s  created by the schedule", n))
		}
		if !has {
			continue
		}
		if c.Phase != p.Phase && c.Phase != "" {
			line := fmt.Sprintf("%s  %s", n, c.Phase)
			switch c.Phase {
			case string(opsv1alpha1.BackupPhaseCompleted):
				line += ", " + Bytes(c.Size)
			case string(opsv1alpha1.BackupPhaseFailed):
				line += ": " + c.Message
			}
			lines = append(lines, line)
		}
		if c.Deleting && !p.Deleting {
			lines = append(lines, fmt.Sprintf("%s  pruned by retention: being deleted, its delete Job removes the dump from S3", n))
		}
	}
	if cur.LastSuccessful != prev.LastSuccessful && cur.LastSuccessful != "" {
		lines = append(lines, fmt.Sprintf("lastSuccessfulBackup  %s", cur.LastSuccessful))
	}
	return lines
}

// Pruned lists the backups of prev that are gone in cur, in name order.
func Pruned(prev, cur ScheduleView) []string {
	var out []string
	for n := range prev.Backups {
		if _, ok := cur.Backups[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
