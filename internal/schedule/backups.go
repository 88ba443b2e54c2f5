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

package schedule

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/names"
	"runbook-operator/internal/retention"
)

// BackupName is the deterministic name of the backup of the run scheduled at t:
// `<schedule>-<YYYYMMDDHHMM>` in UTC, hash-shortened when the schedule's name is too
// long for it to fit 253 characters.
func BackupName(scheduleName string, t time.Time) string {
	return names.Join(scheduleName, t.UTC().Format("200601021504"), names.MaxObjectName)
}

// BackupFor builds the DatabaseBackup of the run scheduled at t: the template's
// labels and annotations, the schedule's label, the scheduled time, and the schedule
// as its controller (its backups go with it).
func BackupFor(s *opsv1alpha1.BackupSchedule, t time.Time) *opsv1alpha1.DatabaseBackup {
	labels := map[string]string{}
	for k, v := range s.Spec.Template.Metadata.Labels {
		labels[k] = string(v)
	}
	labels[opsv1alpha1.LabelBackupSchedule] = names.LabelValue(s.Name)
	annotations := map[string]string{}
	for k, v := range s.Spec.Template.Metadata.Annotations {
		annotations[k] = v
	}
	annotations[opsv1alpha1.AnnotationScheduledTime] = t.UTC().Format(time.RFC3339)
	return &opsv1alpha1.DatabaseBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name: BackupName(s.Name, t), Namespace: s.Namespace,
			Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s, opsv1alpha1.GroupVersion.WithKind("BackupSchedule"))},
		},
		Spec: *s.Spec.Template.Spec.DeepCopy(),
	}
}

// Summarise writes the status fields, the phase and Ready from the backups: Ready
// reflects the newest finished backup, so an old failure does not keep the schedule red.
//
// Conditions: Ready, Reconciling, Stalled.
func Summarise(s *opsv1alpha1.BackupSchedule, backups []*opsv1alpha1.DatabaseBackup) {
	lastOK, lastFailed := newestFinished(backups)
	s.Status.Active = Active(backups)
	s.Status.LastSuccessfulBackup, s.Status.LastSuccessfulTime = "", nil
	if lastOK != nil {
		s.Status.LastSuccessfulBackup = lastOK.Name
		s.Status.LastSuccessfulTime = lastOK.Status.CompletionTime.DeepCopy()
	}
	s.Status.LastFailedBackup = ""
	if lastFailed != nil {
		s.Status.LastFailedBackup = lastFailed.Name
	}

	failing := lastFailed != nil && (lastOK == nil || finishedAfter(lastFailed, lastOK))
	switch {
	case s.Spec.Suspend:
		s.Status.Phase = opsv1alpha1.SchedulePhaseSuspended
	case failing:
		s.Status.Phase = opsv1alpha1.SchedulePhaseFailing
	default:
		s.Status.Phase = opsv1alpha1.SchedulePhaseActive
	}
	switch {
	case failing:
		msg := fmt.Sprintf("The latest backup %s failed", lastFailed.Name)
		if c := conditions.Get(lastFailed, opsv1alpha1.ConditionReady); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		conditions.MarkNotReady(s, opsv1alpha1.ReasonBackupFailed, msg)
	case lastOK != nil:
		conditions.MarkReady(s, opsv1alpha1.ReasonSucceeded, fmt.Sprintf("The latest backup %s completed at %s",
			lastOK.Name, lastOK.Status.CompletionTime.UTC().Format(time.RFC3339)))
	default:
		msg := "No backup has finished yet"
		if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c != nil {
			msg += "; " + c.Message
		}
		conditions.MarkReady(s, opsv1alpha1.ReasonWaitingForRun, msg)
	}
}

// newestFinished returns the newest completed and the newest failed backup that are
// not being deleted, each nil when there is none.
func newestFinished(backups []*opsv1alpha1.DatabaseBackup) (lastOK, lastFailed *opsv1alpha1.DatabaseBackup) {
	for _, b := range backups {
		if !b.DeletionTimestamp.IsZero() || b.Status.CompletionTime == nil {
			continue
		}
		switch b.Status.Phase {
		case opsv1alpha1.BackupPhaseCompleted:
			if lastOK == nil || finishedAfter(b, lastOK) {
				lastOK = b
			}
		case opsv1alpha1.BackupPhaseFailed:
			if lastFailed == nil || finishedAfter(b, lastFailed) {
				lastFailed = b
			}
		}
	}
	return lastOK, lastFailed
}

// Prune returns the finished backups the schedule's retention does not keep, leaving
// out those already being deleted. loc is the schedule's time zone: it says where a
// day, week and month begin.
func Prune(s *opsv1alpha1.BackupSchedule, loc *time.Location, backups []*opsv1alpha1.DatabaseBackup) []*opsv1alpha1.DatabaseBackup {
	ret := s.Spec.Retention
	p := retention.Policy{
		KeepLast: derefInt(ret.KeepLast, 7), KeepFailed: derefInt(ret.KeepFailed, 3),
		KeepDaily: int(ret.KeepDaily), KeepWeekly: int(ret.KeepWeekly), KeepMonthly: int(ret.KeepMonthly),
		Location: loc,
	}
	in := make([]retention.Backup, 0, len(backups))
	byName := map[string]*opsv1alpha1.DatabaseBackup{}
	for _, b := range backups {
		byName[b.Name] = b
		in = append(in, retention.Backup{Name: b.Name, Time: backupTime(b), State: retentionState(b)})
	}
	var prune []*opsv1alpha1.DatabaseBackup
	for _, name := range retention.Decide(p, in).Prune {
		if b := byName[name]; b.DeletionTimestamp.IsZero() {
			prune = append(prune, b)
		}
	}
	return prune
}

// Active is the sorted names of the backups still running (not finished, not being
// deleted).
func Active(backups []*opsv1alpha1.DatabaseBackup) []string {
	var active []string
	for _, b := range backups {
		if retentionState(b) == retention.Unfinished && b.DeletionTimestamp.IsZero() {
			active = append(active, b.Name)
		}
	}
	slices.Sort(active)
	return active
}

func retentionState(b *opsv1alpha1.DatabaseBackup) retention.State {
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		return retention.Completed
	case opsv1alpha1.BackupPhaseFailed:
		return retention.Failed
	}
	return retention.Unfinished
}

// backupTime is when a backup was taken: its scheduled time, else its start, else
// its creation.
func backupTime(b *opsv1alpha1.DatabaseBackup) time.Time {
	if t, err := time.Parse(time.RFC3339, b.Annotations[opsv1alpha1.AnnotationScheduledTime]); err == nil {
		return t
	}
	if b.Status.StartTime != nil {
		return b.Status.StartTime.Time
	}
	return b.CreationTimestamp.Time
}

func finishedAfter(a, b *opsv1alpha1.DatabaseBackup) bool {
	if !a.Status.CompletionTime.Equal(b.Status.CompletionTime) {
		return a.Status.CompletionTime.After(b.Status.CompletionTime.Time)
	}
	return backupTime(a).After(backupTime(b))
}

func derefInt(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}
