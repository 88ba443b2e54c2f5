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

package incident

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Acknowledge returns the acknowledgement in force after spec.acknowledgedBy is read
// at now, and whether it changed. A first value acknowledges; a different value
// renews (a new sequence, its own time); the same value, or an emptied field, changes
// nothing already recorded.
func Acknowledge(by string, cur *opsv1alpha1.Acknowledgement, now time.Time) (*opsv1alpha1.Acknowledgement, bool) {
	switch {
	case by == "":
		return cur, false
	case cur == nil:
		return &opsv1alpha1.Acknowledgement{By: by, Time: metav1.NewTime(now), Sequence: 1}, true
	case cur.By == by:
		return cur, false
	}
	return &opsv1alpha1.Acknowledgement{By: by, Time: metav1.NewTime(now), Sequence: cur.Sequence + 1}, true
}

// Clock is what the escalation rules look at.
type Clock struct {
	// Deadline is the severity's response deadline from openedAt.
	Deadline time.Time
	// Ack is the acknowledgement in force, if any.
	Ack *opsv1alpha1.Acknowledgement
	// AckTimeout expires an acknowledgement after this long; 0 never.
	AckTimeout time.Duration
	// LastEscalation is the latest escalation, zero if none.
	LastEscalation time.Time
	// Interval is the shortest time between two escalations.
	Interval time.Duration
	// Resolved stops the clock.
	Resolved bool
}

// ClockState is what the clock says at a given time.
type ClockState struct {
	// Acknowledged: an acknowledgement is in force (not expired).
	Acknowledged bool
	// AckExpired: there is an acknowledgement, and it expired at Deadline.
	AckExpired bool
	// Deadline is the deadline in force: the severity's, or the expiry of the
	// acknowledgement that re-armed the clock. Zero while acknowledged or resolved.
	Deadline time.Time
	// EscalateNow: unacknowledged, past Deadline, and at least Interval since the
	// last escalation.
	EscalateNow bool
	// Wake is when the clock next changes on its own (an escalation falls due, an
	// acknowledgement expires), to requeue exactly then; zero if never. After an
	// escalation now, Wake is now + Interval.
	Wake time.Time
}

// At evaluates the clock at now.
func (c Clock) At(now time.Time) ClockState {
	if c.Resolved {
		return ClockState{}
	}
	interval := c.Interval
	if interval <= 0 {
		interval = DefaultEscalationInterval
	}
	deadline := c.Deadline
	var st ClockState
	if c.Ack != nil {
		if c.AckTimeout <= 0 {
			return ClockState{Acknowledged: true}
		}
		expiry := c.Ack.Time.Add(c.AckTimeout)
		if now.Before(expiry) {
			return ClockState{Acknowledged: true, Wake: expiry}
		}
		st.AckExpired = true
		deadline = expiry
	}
	st.Deadline = deadline
	due := deadline
	if !c.LastEscalation.IsZero() && c.LastEscalation.Add(interval).After(due) {
		due = c.LastEscalation.Add(interval) // never more often than the interval
	}
	if now.Before(due) {
		st.Wake = due
		return st
	}
	st.EscalateNow = true
	st.Wake = now.Add(interval)
	return st
}

// Phase derives an incident's phase: Resolved once resolved; Open while no
// acknowledgement is in force (never acknowledged, or expired); Mitigated once
// acknowledged and every asked-for action is done; Acknowledged otherwise.
func Phase(resolved, acknowledged, actionsDone bool) opsv1alpha1.IncidentPhase {
	switch {
	case resolved:
		return opsv1alpha1.IncidentPhaseResolved
	case !acknowledged:
		return opsv1alpha1.IncidentPhaseOpen
	case actionsDone:
		return opsv1alpha1.IncidentPhaseMitigated
	}
	return opsv1alpha1.IncidentPhaseAcknowledged
}
