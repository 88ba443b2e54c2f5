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

package plugin

// What --wait shows and decides: one pure function per kind from the object as read
// to a line for people and whether it ended, and how. Each reads only what the
// controller records in status (the API contract), never the Jobs behind it.

import (
	"fmt"
	"strings"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// Outcome is where a followed object is.
type Outcome struct {
	// Line says where it is now, for the live phase line.
	Line string
	// Done: it ended; Failed: it ended badly, Message says why (the object's words).
	Done, Failed bool
	Message      string
}

// statusMessage is the object's own explanation: Stalled, else Ready, else
// Reconciling's message.
func statusMessage(obj conditions.Object) string {
	for _, t := range []string{opsv1alpha1.ConditionStalled, opsv1alpha1.ConditionReady, opsv1alpha1.ConditionReconciling} {
		if c := conditions.Get(obj, t); c != nil && c.Message != "" {
			return c.Message
		}
	}
	return ""
}

func unobserved(obj conditions.Object, observed int64) (Outcome, bool) {
	if observed < obj.GetGeneration() {
		return Outcome{Line: "waiting for the controller to observe generation " + fmt.Sprint(obj.GetGeneration())}, true
	}
	return Outcome{}, false
}

func progressWords(p *opsv1alpha1.Progress) string {
	if p == nil {
		return ""
	}
	var parts []string
	if p.Percent != nil {
		parts = append(parts, fmt.Sprintf("%d%%", *p.Percent))
	}
	if p.BytesDone > 0 {
		s := bytesWords(p.BytesDone)
		if p.BytesExpected > 0 {
			s += " of " + bytesWords(p.BytesExpected)
		}
		parts = append(parts, s)
	}
	if p.TablesTotal > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d tables", p.TablesDone, p.TablesTotal))
	}
	if len(parts) == 0 && p.Summary != "" {
		parts = append(parts, p.Summary)
	}
	return strings.Join(parts, ", ")
}

// bytesWords is a size for people: 512 B, 4 MiB, 69.4 MiB.
func bytesWords(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < 1024 && unit != "" {
			break
		}
		v, unit = v/1024, u
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " " + unit
}

func join(phase string, more ...string) string {
	s := phaseOr(phase)
	for _, m := range more {
		if m != "" {
			s += " " + m
		}
	}
	return s
}

// BackupOutcome follows a DatabaseBackup to Completed or Failed.
func BackupOutcome(b *opsv1alpha1.DatabaseBackup) Outcome {
	if o, ok := unobserved(b, b.Status.ObservedGeneration); ok {
		return o
	}
	st := b.Status
	switch st.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		msg := fmt.Sprintf("stored %s (%s, sha256 %s)", st.Location, bytesWords(st.SizeBytes), short(st.SHA256))
		if c := conditions.Get(b, opsv1alpha1.ConditionVerified); c != nil {
			msg += "; verified: " + c.Message
		}
		return Outcome{Line: "Completed", Done: true, Message: msg}
	case opsv1alpha1.BackupPhaseFailed:
		return Outcome{Line: "Failed", Done: true, Failed: true, Message: statusMessage(b)}
	}
	return Outcome{Line: join(string(st.Phase), progressWords(st.Progress))}
}

// RestoreOutcome follows a DatabaseRestore to Completed or Failed; a completed Swap
// names the restored and the kept database.
func RestoreOutcome(r *opsv1alpha1.DatabaseRestore) Outcome {
	if o, ok := unobserved(r, r.Status.ObservedGeneration); ok {
		return o
	}
	st := r.Status
	switch st.Phase {
	case opsv1alpha1.RestorePhaseCompleted:
		msg := fmt.Sprintf("restored %s into %s", st.SourceLocation, st.RestoredDatabase)
		if st.TablesRestored > 0 {
			msg += fmt.Sprintf(" (%d tables, %d rows)", st.TablesRestored, st.RowsRestored)
		}
		if st.PreviousDatabase != "" {
			msg += fmt.Sprintf("; the database it replaced is kept as %s: drop it once satisfied", st.PreviousDatabase)
		}
		return Outcome{Line: "Completed", Done: true, Message: msg}
	case opsv1alpha1.RestorePhaseFailed:
		return Outcome{Line: "Failed", Done: true, Failed: true, Message: statusMessage(r)}
	}
	return Outcome{Line: join(string(st.Phase), progressWords(st.Progress))}
}

// RotationOutcome follows a SecretRotation until it has carried out request: Idle
// with lastRotateRequest (lastEmergencyRequest for an emergency) = request, or
// Failed/Blocked.
func RotationOutcome(sr *opsv1alpha1.SecretRotation, request string, emergency bool) Outcome {
	if o, ok := unobserved(sr, sr.Status.ObservedGeneration); ok {
		return o
	}
	st := sr.Status
	line := join(string(st.Phase))
	last, mode := st.LastRotateRequest, modeOr(st.Mode)
	if emergency {
		last, mode = st.LastEmergencyRequest, string(opsv1alpha1.RotationImmediate)
	}
	if last == request {
		switch st.Phase {
		case opsv1alpha1.RotationPhaseIdle:
			return Outcome{Line: "Idle", Done: true, Message: fmt.Sprintf("rotated (%s); version %s", mode, short(st.CurrentVersionHash))}
		case opsv1alpha1.RotationPhaseFailed, opsv1alpha1.RotationPhaseBlocked:
			return Outcome{Line: line, Done: true, Failed: true, Message: statusMessage(sr)}
		}
	} else if st.Phase == opsv1alpha1.RotationPhaseBlocked {
		return Outcome{Line: line, Done: true, Failed: true, Message: statusMessage(sr)}
	} else if st.Phase == opsv1alpha1.RotationPhaseIdle {
		line = "waiting for the controller to start the rotation"
	}
	var targets []string
	for _, t := range st.Targets {
		targets = append(targets, fmt.Sprintf("%s %s", t.Deployment, t.State))
	}
	if len(targets) > 0 {
		line += " (" + strings.Join(targets, ", ") + ")"
	}
	return Outcome{Line: line}
}

func modeOr(m opsv1alpha1.RotationMode) string {
	if m == "" {
		return string(opsv1alpha1.RotationTwoPhase)
	}
	return string(m)
}

// history is the entry of revision in r's history, or nil.
func history(r *opsv1alpha1.Release, match func(opsv1alpha1.RevisionRecord) bool) *opsv1alpha1.RevisionRecord {
	for i := range r.Status.History {
		if match(r.Status.History[i]) {
			return &r.Status.History[i]
		}
	}
	return nil
}

func releaseLine(r *opsv1alpha1.Release) string {
	more := ""
	if p := r.Status.Progress; p != nil {
		more = "revision " + p.Revision
		if c := p.Canary; c != nil && !c.Passed && p.RolloutStartTime == nil {
			more += fmt.Sprintf(", canary %s %d/%d ready", c.Component, c.ReadyReplicas, c.Replicas)
		}
		if p.FailedChecks > 0 {
			more += fmt.Sprintf(", %d failed checks", p.FailedChecks)
		}
	}
	return join(string(r.Status.Phase), more)
}

// RollbackOutcome follows a requested rollback of revision: done when its history
// entry says RolledBack.
func RollbackOutcome(r *opsv1alpha1.Release, revision string) Outcome {
	h := history(r, func(h opsv1alpha1.RevisionRecord) bool { return h.Revision == revision })
	if h == nil {
		return Outcome{Line: releaseLine(r)}
	}
	switch h.Result {
	case opsv1alpha1.RevisionRolledBack:
		return Outcome{Line: "RolledBack", Done: true, Message: h.Message}
	case opsv1alpha1.RevisionInProgress:
		return Outcome{Line: releaseLine(r)}
	}
	return Outcome{Line: string(h.Result), Done: true, Failed: true,
		Message: fmt.Sprintf("revision %s ended %s before the rollback was carried out: %s", revision, h.Result, h.Message)}
}

// RetryOutcome follows the run a retry annotation value started: done when the
// history entry recording that value ends.
func RetryOutcome(r *opsv1alpha1.Release, value string) Outcome {
	h := history(r, func(h opsv1alpha1.RevisionRecord) bool { return h.Retry == value })
	if h == nil {
		return Outcome{Line: "waiting for the controller to run the revision again (" + releaseLine(r) + ")"}
	}
	switch h.Result {
	case opsv1alpha1.RevisionSucceeded:
		return Outcome{Line: "Deployed", Done: true, Message: fmt.Sprintf("revision %s (%s) deployed", h.Revision, h.Version)}
	case opsv1alpha1.RevisionInProgress:
		return Outcome{Line: releaseLine(r)}
	}
	return Outcome{Line: string(h.Result), Done: true, Failed: true, Message: h.Message}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
