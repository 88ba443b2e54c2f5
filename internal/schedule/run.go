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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// Step is what a BackupSchedule does about its runs now.
type Step string

const (
	// StepSuspended: spec.suspend is true; no run is created and there is no next time.
	StepSuspended Step = "Suspended"
	// StepWait: no run is due before the next scheduled time.
	StepWait Step = "Wait"
	// StepSkipMissed: runs were missed while no controller ran and missedRunPolicy is Skip.
	StepSkipMissed Step = "SkipMissed"
	// StepSkipRunning: the due run is skipped because a backup is still running.
	StepSkipRunning Step = "SkipRunning"
	// StepHandled: the due run's backup exists already. A reconcile that read the
	// schedule before the cache had its new lastScheduleTime sees the run it just
	// created the backup for as due again: it was handled, not skipped because "its
	// own backup is still running".
	StepHandled Step = "Handled"
	// StepCreate: create the backup of Run (BackupFor).
	StepCreate Step = "Create"
)

// Input is what Decide reads: the schedule (spec and status), its parsed cron, the
// backups it owns and the time.
type Input struct {
	Schedule *opsv1alpha1.BackupSchedule
	Cron     *Schedule
	Backups  []*opsv1alpha1.DatabaseBackup
	Now      time.Time
}

// Condition is the Scheduled condition a decision records.
type Condition struct {
	Status          metav1.ConditionStatus
	Reason, Message string
}

// Event is an event a decision says on the schedule.
type Event struct {
	Type, Reason, Message string
}

// Decision is the step, and what it records and says, in words for a person.
type Decision struct {
	Step Step
	// Run is the scheduled time of the backup to create (StepCreate), or zero.
	Run time.Time
	// Handled is recorded as status.lastScheduleTime: the run created, found or
	// skipped. Zero leaves lastScheduleTime as it is.
	Handled time.Time
	// Next is status.nextScheduleTime; zero when suspended.
	Next time.Time
	// Scheduled is the Scheduled condition; nil leaves it as it is (a skip stays said
	// until the next run is handled).
	Scheduled *Condition
	// Event is said once the step is done: a skip's warning at once, StepCreate's
	// after the backup was created (not when it existed already).
	Event *Event
}

// Decide decides what the schedule does about its runs now: nothing while suspended
// or before the next time; for a due run, create its backup, or skip it when missed
// (policy Skip) or when a backup is still running. Missed runs get at most one
// catch-up (policy RunOnce).
//
// Conditions: Scheduled (True Scheduled / True RunSkipped / False Suspended).
func Decide(in Input) Decision {
	s := in.Schedule
	if s.Spec.Suspend {
		return Decision{Step: StepSuspended, Scheduled: &Condition{metav1.ConditionFalse, opsv1alpha1.ReasonSuspended,
			"Suspended: no new backups are created; retention still applies"}}
	}
	last := s.CreationTimestamp.Time
	if s.Status.LastScheduleTime != nil {
		last = s.Status.LastScheduleTime.Time
	}
	policy := RunOnce
	if s.Spec.MissedRunPolicy == opsv1alpha1.MissedRunSkip {
		policy = Skip
	}
	due := in.Cron.Due(last, in.Now, policy)
	scheduled := fmt.Sprintf("Next backup at %s", due.Next.In(in.Cron.Location()).Format(time.RFC3339))
	d := Decision{Handled: due.Latest, Next: due.Next,
		Scheduled: &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, scheduled}}
	if due.Latest.IsZero() {
		d.Step = StepWait
		if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c != nil && c.Reason == opsv1alpha1.ReasonRunSkipped {
			d.Scheduled = nil
		}
		return d
	}
	if due.Run.IsZero() { // missed, policy Skip
		return d.skip(StepSkipMissed, fmt.Sprintf("Missed %d run(s) up to %s while the operator was not running; missedRunPolicy is Skip. %s",
			due.Missed, due.Latest.Format(time.RFC3339), scheduled))
	}
	name := BackupName(s.Name, due.Run)
	if slices.ContainsFunc(in.Backups, func(b *opsv1alpha1.DatabaseBackup) bool { return b.Name == name }) {
		d.Step = StepHandled
		return d
	}
	if active := Active(in.Backups); len(active) > 0 {
		return d.skip(StepSkipRunning, fmt.Sprintf("Skipped the run of %s: backup %s is still running. %s",
			due.Run.Format(time.RFC3339), strings.Join(active, ", "), scheduled))
	}
	d.Step, d.Run = StepCreate, due.Run
	d.Event = &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonScheduled,
		fmt.Sprintf("Created DatabaseBackup %s for the run of %s", name, due.Run.Format(time.RFC3339))}
	if due.Late {
		d.Event = &Event{corev1.EventTypeNormal, opsv1alpha1.ReasonCatchUp,
			fmt.Sprintf("Created DatabaseBackup %s as one catch-up for %d missed run(s), the last at %s",
				name, due.Missed, due.Run.Format(time.RFC3339))}
	}
	return d
}

// skip is d skipping its due run, said in a warning and in Scheduled (True RunSkipped).
func (d Decision) skip(step Step, msg string) Decision {
	d.Step = step
	d.Scheduled = &Condition{metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped, msg}
	d.Event = &Event{corev1.EventTypeWarning, opsv1alpha1.ReasonRunSkipped, msg}
	return d
}

// Refused is d after the API server refused the create of its backup: the run stays
// due (lastScheduleTime unchanged, retried with backoff) and Scheduled (False
// CreateFailed) and a warning say why, so Ready does not stay True while every run
// fails.
func (d Decision) Refused(msg string) Decision {
	d.Handled = time.Time{}
	d.Scheduled = &Condition{metav1.ConditionFalse, opsv1alpha1.ReasonCreateFailed, msg}
	d.Event = &Event{corev1.EventTypeWarning, opsv1alpha1.ReasonCreateFailed, msg}
	return d
}

// Record writes the decision into the schedule's status: nextScheduleTime,
// lastScheduleTime (when a run was handled) and the Scheduled condition.
func (d Decision) Record(s *opsv1alpha1.BackupSchedule) {
	s.Status.NextScheduleTime = nil
	if !d.Next.IsZero() {
		next := metav1.NewTime(d.Next)
		s.Status.NextScheduleTime = &next
	}
	if !d.Handled.IsZero() {
		handled := metav1.NewTime(d.Handled)
		s.Status.LastScheduleTime = &handled
	}
	if c := d.Scheduled; c != nil {
		conditions.Set(s, opsv1alpha1.ConditionScheduled, c.Status, c.Reason, c.Message)
	}
}
