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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// nightly is a BackupSchedule "nightly" created at created whose last handled run
// was last ("" = none yet).
func nightly(created, last string, edit ...func(*opsv1alpha1.BackupSchedule)) *opsv1alpha1.BackupSchedule {
	s := &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "shop",
		CreationTimestamp: metav1.NewTime(ts(created))}}
	if last != "" {
		t := metav1.NewTime(ts(last))
		s.Status.LastScheduleTime = &t
	}
	for _, e := range edit {
		e(s)
	}
	return s
}

func backup(name string, phase opsv1alpha1.BackupPhase) *opsv1alpha1.DatabaseBackup {
	return &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: opsv1alpha1.DatabaseBackupStatus{Phase: phase}}
}

func TestDecide(t *testing.T) {
	berlin, _ := Parse("0 3 * * *", "Europe/Berlin") // 02:00Z in winter
	newYork, _ := Parse("0 9 * * *", "America/New_York")
	suspended := func(s *opsv1alpha1.BackupSchedule) { s.Spec.Suspend = true }
	skip := func(s *opsv1alpha1.BackupSchedule) { s.Spec.MissedRunPolicy = opsv1alpha1.MissedRunSkip }
	skipped := func(s *opsv1alpha1.BackupSchedule) {
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped, "Skipped the run of …")
	}
	deleting := backup("nightly-202611270200", opsv1alpha1.BackupPhaseRunning)
	deleting.DeletionTimestamp = &metav1.Time{Time: ts("2026-11-28T01:00:00Z")}

	for _, tc := range []struct {
		name    string
		s       *opsv1alpha1.BackupSchedule
		cron    *Schedule
		backups []*opsv1alpha1.DatabaseBackup
		now     string
		step    Step
		run     string // "" = zero
		handled string
		next    string
		cond    *Condition // nil: the condition is left as it is
		event   *Event
	}{
		{name: "suspended: no run, no next time", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z", suspended), cron: berlin,
			now: "2026-11-28T02:00:00Z", step: StepSuspended,
			cond: &Condition{metav1.ConditionFalse, opsv1alpha1.ReasonSuspended, "Suspended: no new backups are created; retention still applies"}},
		{name: "not due: the next time in the schedule's zone", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z"), cron: berlin,
			now: "2026-11-28T01:59:59Z", step: StepWait, next: "2026-11-28T02:00:00Z",
			cond: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-28T03:00:00+01:00"}},
		{name: "not due after a skip: the skip stays said", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z", skipped), cron: berlin,
			now: "2026-11-28T01:59:59Z", step: StepWait, next: "2026-11-28T02:00:00Z"},
		{name: "due on time", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z"), cron: berlin,
			backups: []*opsv1alpha1.DatabaseBackup{backup("nightly-202611270200", opsv1alpha1.BackupPhaseCompleted)},
			now:     "2026-11-28T02:05:00Z", step: StepCreate, run: "2026-11-28T02:00:00Z", handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond:  &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonScheduled, "Created DatabaseBackup nightly-202611280200 for the run of 2026-11-28T02:00:00Z"}},
		{name: "first run of a new schedule counts from its creation", s: nightly("2026-11-28T01:00:00Z", ""), cron: berlin,
			now: "2026-11-28T02:00:00Z", step: StepCreate, run: "2026-11-28T02:00:00Z", handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond:  &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonScheduled, "Created DatabaseBackup nightly-202611280200 for the run of 2026-11-28T02:00:00Z"}},
		{name: "five missed runs, RunOnce: one catch-up for the newest", s: nightly("2026-11-01T00:00:00Z", "2026-11-23T02:00:00Z"), cron: berlin,
			now: "2026-11-28T12:00:00Z", step: StepCreate, run: "2026-11-28T02:00:00Z", handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonCatchUp,
				"Created DatabaseBackup nightly-202611280200 as one catch-up for 5 missed run(s), the last at 2026-11-28T02:00:00Z"}},
		{name: "five missed runs, Skip: all handled, none run", s: nightly("2026-11-01T00:00:00Z", "2026-11-23T02:00:00Z", skip), cron: berlin,
			now: "2026-11-28T12:00:00Z", step: StepSkipMissed, handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped,
				"Missed 5 run(s) up to 2026-11-28T02:00:00Z while the operator was not running; missedRunPolicy is Skip. Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeWarning, opsv1alpha1.ReasonRunSkipped,
				"Missed 5 run(s) up to 2026-11-28T02:00:00Z while the operator was not running; missedRunPolicy is Skip. Next backup at 2026-11-29T03:00:00+01:00"}},
		{name: "a backup still running: the run is skipped", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z"), cron: berlin,
			backups: []*opsv1alpha1.DatabaseBackup{backup("nightly-202611270200", opsv1alpha1.BackupPhaseRunning), backup("nightly-202611260200", opsv1alpha1.BackupPhaseFailed)},
			now:     "2026-11-28T02:00:00Z", step: StepSkipRunning, handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped,
				"Skipped the run of 2026-11-28T02:00:00Z: backup nightly-202611270200 is still running. Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeWarning, opsv1alpha1.ReasonRunSkipped,
				"Skipped the run of 2026-11-28T02:00:00Z: backup nightly-202611270200 is still running. Next backup at 2026-11-29T03:00:00+01:00"}},
		{name: "a running backup being deleted does not hold the run", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z"), cron: berlin,
			backups: []*opsv1alpha1.DatabaseBackup{deleting},
			now:     "2026-11-28T02:00:00Z", step: StepCreate, run: "2026-11-28T02:00:00Z", handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond:  &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T03:00:00+01:00"},
			event: &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonScheduled, "Created DatabaseBackup nightly-202611280200 for the run of 2026-11-28T02:00:00Z"}},
		{name: "the due run's own backup exists (stale cache): handled, not skipped", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z"), cron: berlin,
			backups: []*opsv1alpha1.DatabaseBackup{backup("nightly-202611280200", opsv1alpha1.BackupPhaseRunning)},
			now:     "2026-11-28T02:00:01Z", step: StepHandled, handled: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z",
			cond: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T03:00:00+01:00"}},
		{name: "time zone: New York's 09:00 is 14:00Z in winter", s: nightly("2026-11-01T00:00:00Z", "2026-11-27T14:00:00Z"), cron: newYork,
			now: "2026-11-28T14:00:00Z", step: StepCreate, run: "2026-11-28T14:00:00Z", handled: "2026-11-28T14:00:00Z", next: "2026-11-29T14:00:00Z",
			cond:  &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, "Next backup at 2026-11-29T09:00:00-05:00"},
			event: &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonScheduled, "Created DatabaseBackup nightly-202611281400 for the run of 2026-11-28T14:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(Input{Schedule: tc.s, Cron: tc.cron, Backups: tc.backups, Now: ts(tc.now)})
			if d.Step != tc.step || !d.Run.Equal(opt(tc.run)) || !d.Handled.Equal(opt(tc.handled)) || !d.Next.Equal(opt(tc.next)) {
				t.Errorf("Decide = step %s run %v handled %v next %v; want step %s run %q handled %q next %q",
					d.Step, d.Run, d.Handled, d.Next, tc.step, tc.run, tc.handled, tc.next)
			}
			if !equalPtr(d.Scheduled, tc.cond) {
				t.Errorf("Scheduled = %+v, want %+v", deref(d.Scheduled), deref(tc.cond))
			}
			if !equalPtr(d.Event, tc.event) {
				t.Errorf("Event = %+v, want %+v", deref(d.Event), deref(tc.event))
			}
		})
	}
}

// TestRecordAndRefused: a decision lands in status as decided; a refused create
// leaves the run due and says why.
func TestRecordAndRefused(t *testing.T) {
	berlin, _ := Parse("0 3 * * *", "Europe/Berlin")
	s := nightly("2026-11-01T00:00:00Z", "2026-11-27T02:00:00Z")
	d := Decide(Input{Schedule: s, Cron: berlin, Now: ts("2026-11-28T02:00:00Z")})

	refused := d.Refused("creating DatabaseBackup nightly-202611280200 was refused: quota")
	refused.Record(s)
	if !s.Status.LastScheduleTime.Time.Equal(ts("2026-11-27T02:00:00Z")) || !s.Status.NextScheduleTime.Time.Equal(ts("2026-11-29T02:00:00Z")) {
		t.Errorf("refused: lastScheduleTime %v nextScheduleTime %v; want the run still due", s.Status.LastScheduleTime, s.Status.NextScheduleTime)
	}
	if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c == nil || c.Status != metav1.ConditionFalse || c.Reason != opsv1alpha1.ReasonCreateFailed {
		t.Errorf("refused: Scheduled = %+v, want False CreateFailed", c)
	}
	if refused.Event == nil || refused.Event.Type != corev1.EventTypeWarning || refused.Event.Reason != opsv1alpha1.ReasonCreateFailed {
		t.Errorf("refused: event %+v, want a CreateFailed warning", refused.Event)
	}

	d.Record(s)
	if !s.Status.LastScheduleTime.Time.Equal(ts("2026-11-28T02:00:00Z")) {
		t.Errorf("created: lastScheduleTime %v, want the run handled", s.Status.LastScheduleTime)
	}
	if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != opsv1alpha1.ReasonScheduled {
		t.Errorf("created: Scheduled = %+v, want True Scheduled", c)
	}

	s.Spec.Suspend = true
	Decide(Input{Schedule: s, Cron: berlin, Now: ts("2026-11-28T03:00:00Z")}).Record(s)
	if s.Status.NextScheduleTime != nil {
		t.Errorf("suspended: nextScheduleTime %v, want none", s.Status.NextScheduleTime)
	}
}

func opt(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return ts(s)
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
