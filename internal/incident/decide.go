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
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Action names, as recorded in status.actions.
const (
	ActionEvidence    = "captureEvidence"
	ActionIsolate     = "isolate"
	ActionTakeOffline = "takeOffline"
	ActionRollback    = "rollback"
	// ActionRotatePrefix + a SecretRotation's name.
	ActionRotatePrefix = "rotateSecrets/"
	// ActionDiagnosticPrefix + a diagnostic's name.
	ActionDiagnosticPrefix = "diagnostics/"
)

// Asked lists the actions the spec asks for, in the order they run: evidence first
// (before anything changes the pods), then the destructive ones (isolate,
// takeOffline, rollback, each rotation), then the diagnostics. A response left out
// captures evidence, the CRD's default.
func Asked(spec *opsv1alpha1.IncidentSpec) []string {
	r := spec.Response
	if r == nil {
		return []string{ActionEvidence}
	}
	var out []string
	if r.CaptureEvidence {
		out = append(out, ActionEvidence)
	}
	if r.Isolate != nil {
		out = append(out, ActionIsolate)
	}
	if r.TakeOffline != nil {
		out = append(out, ActionTakeOffline)
	}
	if r.Rollback {
		out = append(out, ActionRollback)
	}
	for _, s := range r.RotateSecrets {
		out = append(out, ActionRotatePrefix+s)
	}
	for _, d := range r.Diagnostics {
		out = append(out, ActionDiagnosticPrefix+d.Name)
	}
	return out
}

// Destructive reports whether an action changes the workloads or Secrets; those run
// only when the spec asks, and only after the evidence.
func Destructive(action string) bool {
	switch action {
	case ActionIsolate, ActionTakeOffline, ActionRollback:
		return true
	}
	return strings.HasPrefix(action, ActionRotatePrefix)
}

// FindAction returns the record of action, or nil.
func FindAction(st *opsv1alpha1.IncidentStatus, action string) *opsv1alpha1.IncidentActionRecord {
	for i := range st.Actions {
		if st.Actions[i].Name == action {
			return &st.Actions[i]
		}
	}
	return nil
}

// finished: the action will not run again. A destructive action that failed is not
// done for mitigation (Done), but it is finished: it is not retried on its own.
func finished(rec *opsv1alpha1.IncidentActionRecord) bool {
	return rec != nil && (rec.State == opsv1alpha1.ActionSucceeded || rec.State == opsv1alpha1.ActionFailed || rec.State == opsv1alpha1.ActionUndone)
}

// Done reports whether every asked-for action is done: the destructive ones
// succeeded; evidence and diagnostics finished either way (a failed diagnostic is
// itself evidence, and a failed capture is recorded, not retried forever).
func Done(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) bool {
	for _, a := range Asked(spec) {
		rec := FindAction(st, a)
		if !finished(rec) {
			return false
		}
		if Destructive(a) && rec.State == opsv1alpha1.ActionFailed {
			return false
		}
	}
	return true
}

// Mitigating reports whether the spec asks for an action that mitigates (isolate,
// takeOffline, rollback, a rotation): evidence and diagnostics alone record, they do
// not mitigate, so such an incident is not Mitigated before its resolution.
func Mitigating(spec *opsv1alpha1.IncidentSpec) bool {
	for _, a := range Asked(spec) {
		if Destructive(a) {
			return true
		}
	}
	return false
}

// Step is what the reconciler does next for an incident.
type Step string

const (
	// StepOpen records openedAt, the deadline, the dedup key and the Opened entry.
	StepOpen Step = "Open"
	// StepResolve records resolvedAt and the times to acknowledge and resolve.
	StepResolve Step = "Resolve"
	// StepAcknowledge records a new or renewed acknowledgement.
	StepAcknowledge Step = "Acknowledge"
	// StepEscalate records an escalation (condition, event, timeline entry); the
	// escalation targets are then due a notification.
	StepEscalate Step = "Escalate"
	// StepAction starts or checks Decision.Action.
	StepAction Step = "Action"
	// StepMitigated records mitigatedAt: every asked-for action is done.
	StepMitigated Step = "Mitigated"
	// StepUndo undoes Decision.Action on resolution (lift the isolation, bring the
	// components back), as the spec asks.
	StepUndo Step = "Undo"
	// StepWait: nothing to do until Decision.Wake (zero: until the spec changes).
	StepWait Step = "Wait"
)

// Input is what Next looks at.
type Input struct {
	Spec   *opsv1alpha1.IncidentSpec
	Status *opsv1alpha1.IncidentStatus
	Now    time.Time
}

// Decision is the next step and why, in words for a person.
type Decision struct {
	Step Step
	// Action names the action of StepAction and StepUndo.
	Action string
	Why    string
	// Wake is when the clock next changes on its own (StepWait); zero if never.
	Wake time.Time
}

// ClockOf is the escalation clock of an opened incident.
func ClockOf(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) Clock {
	c := Clock{Ack: st.Acknowledgement, Resolved: st.ResolvedAt != nil || spec.Resolution != "", Interval: DefaultEscalationInterval}
	if st.ResponseDeadline != nil {
		c.Deadline = st.ResponseDeadline.Time
	}
	if st.LastEscalationTime != nil {
		c.LastEscalation = st.LastEscalationTime.Time
	}
	if rc := spec.ResponseClock; rc != nil {
		c.Interval = rc.EscalationInterval.Or(DefaultEscalationInterval)
		c.AckTimeout = rc.AcknowledgementTimeout.Or(0)
	}
	return c
}

// Next names the step the incident takes now. Recording comes before acting: the
// opening, a resolution and an acknowledgement are recorded first; evidence is
// captured before any destructive action starts; destructive actions run only when
// the spec asks; after resolution no action starts, and only the undo the spec asks
// for runs.
func Next(in Input) Decision {
	spec, st := in.Spec, in.Status
	if st.OpenedAt == nil {
		return Decision{Step: StepOpen, Why: fmt.Sprintf("a %s incident is opened and its response clock started", spec.Severity)}
	}
	if spec.Resolution != "" && st.ResolvedAt == nil {
		return Decision{Step: StepResolve, Why: "spec.resolution is set"}
	}
	if st.ResolvedAt != nil {
		if a, why, ok := undo(spec, st); ok {
			return Decision{Step: StepUndo, Action: a, Why: why}
		}
		return Decision{Step: StepWait, Why: "the incident is resolved"}
	}
	if _, changed := Acknowledge(spec.AcknowledgedBy, st.Acknowledgement, in.Now); changed {
		return Decision{Step: StepAcknowledge, Why: fmt.Sprintf("spec.acknowledgedBy is %q", spec.AcknowledgedBy)}
	}
	clock := ClockOf(spec, st).At(in.Now)
	if clock.EscalateNow {
		why := fmt.Sprintf("unacknowledged past the response deadline %s", clock.Deadline.UTC().Format(time.RFC3339))
		if clock.AckExpired {
			why = fmt.Sprintf("the acknowledgement by %s expired at %s", st.Acknowledgement.By, clock.Deadline.UTC().Format(time.RFC3339))
		}
		return Decision{Step: StepEscalate, Why: why}
	}
	if a, why, ok := nextAction(spec, st); ok {
		return Decision{Step: StepAction, Action: a, Why: why}
	}
	if st.MitigatedAt == nil && Mitigating(spec) && Done(spec, st) {
		return Decision{Step: StepMitigated, Why: "every asked-for action is done"}
	}
	why := "waiting for an acknowledgement"
	switch {
	case clock.Acknowledged && st.MitigatedAt != nil:
		why = "mitigated; waiting for spec.resolution"
	case clock.Acknowledged:
		why = "acknowledged; waiting for spec.resolution"
	}
	return Decision{Step: StepWait, Why: why, Wake: clock.Wake}
}

// nextAction is the action to start or check: evidence until it finished, then the
// first asked action not started, then the first still running.
func nextAction(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) (string, string, bool) {
	asked := Asked(spec)
	if len(asked) > 0 && asked[0] == ActionEvidence && !finished(FindAction(st, ActionEvidence)) {
		return ActionEvidence, "evidence is captured before any action changes the pods", true
	}
	for _, a := range asked {
		if FindAction(st, a) == nil {
			return a, "the spec asks for " + a, true
		}
	}
	for _, a := range asked {
		if rec := FindAction(st, a); !finished(rec) {
			return a, fmt.Sprintf("%s is %s", a, rec.State), true
		}
	}
	return "", "", false
}

// undo names an action the resolution undoes: the isolation unless keepIsolation,
// the offline components when restoreOnResolve.
func undo(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) (string, string, bool) {
	r := spec.Response
	if r == nil {
		return "", "", false
	}
	applied := func(a string) bool {
		rec := FindAction(st, a)
		return rec != nil && rec.State != opsv1alpha1.ActionUndone && rec.State != opsv1alpha1.ActionFailed
	}
	if r.Isolate != nil && !r.Isolate.KeepIsolation && applied(ActionIsolate) {
		return ActionIsolate, "the incident is resolved: its NetworkPolicy is removed (isolate.keepIsolation is false)", true
	}
	if r.TakeOffline != nil && r.TakeOffline.RestoreOnResolve && applied(ActionTakeOffline) {
		return ActionTakeOffline, "the incident is resolved: the components go back to their recorded replicas (takeOffline.restoreOnResolve)", true
	}
	return "", "", false
}

// DedupKey is the PagerDuty dedup_key of an incident: stable for its life (the UID
// never changes), unique, and far below PagerDuty's 255 characters.
func DedupKey(uid types.UID) string {
	return "runbook-incident-" + string(uid)
}

// RotateRequest is the rotateRequest an incident sets on the SecretRotations it
// rotates: derived from its UID alone, so a restart sets the same value and the
// SecretRotation, which rotates on a changed value, rotates once.
func RotateRequest(uid types.UID) string {
	return "incident-" + string(uid)
}
