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
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// finished is a backup of the run at run that ended in phase at end ("" = not yet).
func finished(name string, phase opsv1alpha1.BackupPhase, run, end string) *opsv1alpha1.DatabaseBackup {
	b := backup(name, phase)
	b.Annotations = map[string]string{opsv1alpha1.AnnotationScheduledTime: run}
	if end != "" {
		t := metav1.NewTime(ts(end))
		b.Status.CompletionTime = &t
	}
	if phase == opsv1alpha1.BackupPhaseFailed {
		conditions.Set(b, opsv1alpha1.ConditionReady, metav1.ConditionFalse, "JobFailed", "the dump failed: disk full")
	}
	return b
}

func TestSummarise(t *testing.T) {
	ok1 := finished("n-1", opsv1alpha1.BackupPhaseCompleted, "2026-11-26T02:00:00Z", "2026-11-26T02:10:00Z")
	failed2 := finished("n-2", opsv1alpha1.BackupPhaseFailed, "2026-11-27T02:00:00Z", "2026-11-27T02:05:00Z")
	ok3 := finished("n-3", opsv1alpha1.BackupPhaseCompleted, "2026-11-28T02:00:00Z", "2026-11-28T02:10:00Z")
	running4 := finished("n-4", opsv1alpha1.BackupPhaseRunning, "2026-11-29T02:00:00Z", "")
	deletedOK := finished("n-0", opsv1alpha1.BackupPhaseCompleted, "2026-11-30T02:00:00Z", "2026-11-30T02:10:00Z")
	deletedOK.DeletionTimestamp = &metav1.Time{Time: ts("2026-11-30T03:00:00Z")}
	// Same completion time: the later scheduled run is the newer.
	tieOK := finished("t-1", opsv1alpha1.BackupPhaseCompleted, "2026-11-27T02:00:00Z", "2026-11-28T02:10:00Z")
	tieFailed := finished("t-2", opsv1alpha1.BackupPhaseFailed, "2026-11-28T02:00:00Z", "2026-11-28T02:10:00Z")

	for _, tc := range []struct {
		name             string
		suspend          bool
		backups          []*opsv1alpha1.DatabaseBackup
		phase            opsv1alpha1.SchedulePhase
		lastOK, lastFail string
		active           []string
		ready            metav1.ConditionStatus
		reason, message  string
	}{
		{name: "nothing finished yet: Ready waits for the run", backups: []*opsv1alpha1.DatabaseBackup{running4},
			phase: opsv1alpha1.SchedulePhaseActive, active: []string{"n-4"},
			ready: metav1.ConditionTrue, reason: opsv1alpha1.ReasonWaitingForRun, message: "No backup has finished yet; Next backup at …"},
		{name: "a success after a failure: Ready again", backups: []*opsv1alpha1.DatabaseBackup{ok1, failed2, ok3, running4},
			phase: opsv1alpha1.SchedulePhaseActive, lastOK: "n-3", lastFail: "n-2", active: []string{"n-4"},
			ready: metav1.ConditionTrue, reason: opsv1alpha1.ReasonSucceeded, message: "The latest backup n-3 completed at 2026-11-28T02:10:00Z"},
		{name: "the newest finished backup failed: Failing, with its reason", backups: []*opsv1alpha1.DatabaseBackup{ok1, failed2},
			phase: opsv1alpha1.SchedulePhaseFailing, lastOK: "n-1", lastFail: "n-2",
			ready: metav1.ConditionFalse, reason: opsv1alpha1.ReasonBackupFailed, message: "The latest backup n-2 failed: the dump failed: disk full"},
		{name: "suspended keeps its phase, Ready still follows the backups", suspend: true, backups: []*opsv1alpha1.DatabaseBackup{ok1, failed2},
			phase: opsv1alpha1.SchedulePhaseSuspended, lastOK: "n-1", lastFail: "n-2",
			ready: metav1.ConditionFalse, reason: opsv1alpha1.ReasonBackupFailed, message: "The latest backup n-2 failed: the dump failed: disk full"},
		{name: "a backup being deleted does not count", backups: []*opsv1alpha1.DatabaseBackup{failed2, deletedOK},
			phase: opsv1alpha1.SchedulePhaseFailing, lastFail: "n-2",
			ready: metav1.ConditionFalse, reason: opsv1alpha1.ReasonBackupFailed, message: "The latest backup n-2 failed: the dump failed: disk full"},
		{name: "same completion time: the later run decides", backups: []*opsv1alpha1.DatabaseBackup{tieFailed, tieOK},
			phase: opsv1alpha1.SchedulePhaseFailing, lastOK: "t-1", lastFail: "t-2",
			ready: metav1.ConditionFalse, reason: opsv1alpha1.ReasonBackupFailed, message: "The latest backup t-2 failed: the dump failed: disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := nightly("2026-11-01T00:00:00Z", "")
			s.Spec.Suspend = tc.suspend
			conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at …")
			Summarise(s, tc.backups)
			st := s.Status
			if st.Phase != tc.phase || st.LastSuccessfulBackup != tc.lastOK || st.LastFailedBackup != tc.lastFail || !slices.Equal(st.Active, tc.active) {
				t.Errorf("status = phase %s lastOK %q lastFailed %q active %v; want %s %q %q %v",
					st.Phase, st.LastSuccessfulBackup, st.LastFailedBackup, st.Active, tc.phase, tc.lastOK, tc.lastFail, tc.active)
			}
			if (st.LastSuccessfulTime != nil) != (tc.lastOK != "") {
				t.Errorf("lastSuccessfulTime = %v with lastSuccessfulBackup %q", st.LastSuccessfulTime, tc.lastOK)
			}
			c := conditions.Get(s, opsv1alpha1.ConditionReady)
			if c == nil || c.Status != tc.ready || c.Reason != tc.reason || c.Message != tc.message {
				t.Errorf("Ready = %+v; want %s %s %q", c, tc.ready, tc.reason, tc.message)
			}
		})
	}
}

func TestBackupFor(t *testing.T) {
	s := nightly("2026-11-01T00:00:00Z", "")
	s.UID = "uid-1"
	s.Spec.Template.Metadata.Labels = map[string]opsv1alpha1.LabelValue{"team": "data", opsv1alpha1.LabelBackupSchedule: "spoofed"}
	s.Spec.Template.Metadata.Annotations = map[string]string{"owner": "data@example.com"}
	s.Spec.Template.Spec.Database.SecretRef.Name = "saas-db"
	run := time.Date(2026, 11, 28, 3, 0, 0, 0, time.FixedZone("CET", 3600))

	b := BackupFor(s, run)
	if b.Name != "nightly-202611280200" || b.Namespace != "shop" {
		t.Errorf("name %s/%s, want shop/nightly-202611280200 (the run in UTC)", b.Namespace, b.Name)
	}
	if b.Labels["team"] != "data" || b.Labels[opsv1alpha1.LabelBackupSchedule] != "nightly" {
		t.Errorf("labels %v: want the template's, and the schedule's own label over a template's", b.Labels)
	}
	if b.Annotations["owner"] != "data@example.com" || b.Annotations[opsv1alpha1.AnnotationScheduledTime] != "2026-11-28T02:00:00Z" {
		t.Errorf("annotations %v: want the template's and the scheduled time in UTC", b.Annotations)
	}
	if !metav1.IsControlledBy(b, s) || b.Spec.Database.SecretRef.Name != "saas-db" {
		t.Errorf("owner %v, spec %+v: want the schedule as controller and the template's spec", b.OwnerReferences, b.Spec)
	}
	b.Labels["team"] = "changed"
	if s.Spec.Template.Metadata.Labels["team"] != "data" {
		t.Error("the backup shares the template's label map")
	}
}

func TestPrune(t *testing.T) {
	berlin, _ := Parse("0 3 * * *", "Europe/Berlin")
	var backups []*opsv1alpha1.DatabaseBackup
	for day := 1; day <= 9; day++ {
		run := time.Date(2026, 11, day, 2, 0, 0, 0, time.UTC)
		backups = append(backups, finished(BackupName("nightly", run), opsv1alpha1.BackupPhaseCompleted,
			run.Format(time.RFC3339), run.Add(10*time.Minute).Format(time.RFC3339)))
	}
	backups[0].DeletionTimestamp = &metav1.Time{Time: ts("2026-11-10T00:00:00Z")}

	names := func(bs []*opsv1alpha1.DatabaseBackup) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Name)
		}
		slices.Sort(out)
		return out
	}
	// The default keeps the last 7: the two oldest go, the one already being deleted is left out.
	if got := names(Prune(nightly("2026-11-01T00:00:00Z", ""), berlin.Location(), backups)); !slices.Equal(got, []string{"nightly-202611020200"}) {
		t.Errorf("Prune with the defaults = %v, want [nightly-202611020200]", got)
	}
	keep := int32(8)
	s := nightly("2026-11-01T00:00:00Z", "")
	s.Spec.Retention.KeepLast = &keep
	if got := Prune(s, berlin.Location(), backups); len(got) != 0 {
		t.Errorf("Prune keeping 8 = %v, want none (the ninth is being deleted already)", names(got))
	}
}
