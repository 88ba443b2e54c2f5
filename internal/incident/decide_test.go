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
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func tp(t time.Time) *metav1.Time { v := metav1.NewTime(t); return &v }

func rec(name string, state opsv1alpha1.IncidentActionState) opsv1alpha1.IncidentActionRecord {
	return opsv1alpha1.IncidentActionRecord{Name: name, State: state}
}

func TestNextNamesTheStepAndWhy(t *testing.T) {
	breach := opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP0, Title: "breach", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"},
		Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true, Isolate: &opsv1alpha1.IsolateAction{}, TakeOffline: &opsv1alpha1.TakeOfflineAction{RestoreOnResolve: true},
			RotateSecrets: []string{"app-keys"}, Diagnostics: []opsv1alpha1.DiagnosticCommand{{Name: "sessions", Command: []string{"x"}}}}}
	opened := opsv1alpha1.IncidentStatus{OpenedAt: tp(t0), ResponseDeadline: tp(t0.Add(15 * time.Minute))}
	acked := opened
	acked.Acknowledgement = ack("alice", t0.Add(time.Minute), 1)
	withSpec := func(f func(s *opsv1alpha1.IncidentSpec)) opsv1alpha1.IncidentSpec {
		s := breach
		r := *breach.Response
		s.Response = &r
		f(&s)
		return s
	}
	withStatus := func(base opsv1alpha1.IncidentStatus, f func(s *opsv1alpha1.IncidentStatus)) opsv1alpha1.IncidentStatus {
		s := base
		f(&s)
		return s
	}
	ackedAlice := withSpec(func(s *opsv1alpha1.IncidentSpec) { s.AcknowledgedBy = "alice" })
	resolved := withSpec(func(s *opsv1alpha1.IncidentSpec) { s.AcknowledgedBy = "alice"; s.Resolution = "rotated and restored" })
	all := []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionSucceeded), rec(ActionIsolate, opsv1alpha1.ActionSucceeded),
		rec(ActionTakeOffline, opsv1alpha1.ActionSucceeded), rec("rotateSecrets/app-keys", opsv1alpha1.ActionSucceeded), rec("diagnostics/sessions", opsv1alpha1.ActionFailed)}

	for _, tc := range []struct {
		what   string
		spec   opsv1alpha1.IncidentSpec
		status opsv1alpha1.IncidentStatus
		now    time.Time
		step   Step
		action string
		why    string
	}{
		{"a new incident is opened first", breach, opsv1alpha1.IncidentStatus{}, t0, StepOpen, "", "P0 incident is opened"},
		{"evidence before any destructive action", ackedAlice, acked, t0.Add(time.Minute), StepAction, ActionEvidence, "before any action changes the pods"},
		{"evidence still running holds isolation back", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionRunning)}
		}), t0.Add(time.Minute), StepAction, ActionEvidence, ""},
		{"a failed capture does not hold isolation back", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionFailed)}
		}), t0.Add(time.Minute), StepAction, ActionIsolate, "the spec asks for isolate"},
		{"later actions start while an earlier one runs", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionSucceeded), rec(ActionIsolate, opsv1alpha1.ActionRunning)}
		}), t0.Add(time.Minute), StepAction, ActionTakeOffline, ""},
		{"when all started, the first running is checked", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = append([]opsv1alpha1.IncidentActionRecord{}, all...)
			s.Actions[3].State = opsv1alpha1.ActionRunning
		}), t0.Add(time.Minute), StepAction, "rotateSecrets/app-keys", "is Running"},
		{"evidence alone does not mitigate", withSpec(func(s *opsv1alpha1.IncidentSpec) {
			s.AcknowledgedBy = "alice"
			s.Response = &opsv1alpha1.IncidentResponse{CaptureEvidence: true}
		}), withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionSucceeded)}
		}), t0.Add(time.Minute), StepWait, "", "acknowledged; waiting for spec.resolution"},
		{"every action finished: mitigated", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all }), t0.Add(time.Minute), StepMitigated, "", ""},
		{"a failed destructive action is not mitigation", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = append([]opsv1alpha1.IncidentActionRecord{}, all...)
			s.Actions[1].State = opsv1alpha1.ActionFailed
		}), t0.Add(time.Minute), StepWait, "", "acknowledged; waiting for spec.resolution"},
		{"acknowledgedBy set: recorded before anything else", ackedAlice, opened, t0.Add(time.Minute), StepAcknowledge, "", `"alice"`},
		{"unacknowledged past the deadline: escalate before the actions", breach, opened, t0.Add(15 * time.Minute), StepEscalate, "", "unacknowledged past the response deadline 2026-12-07T10:15:00Z"},
		{"acknowledgement expired: escalate", withSpec(func(s *opsv1alpha1.IncidentSpec) {
			s.AcknowledgedBy = "alice"
			s.ResponseClock = &opsv1alpha1.ResponseClock{AcknowledgementTimeout: opsv1alpha1.DurationOf(time.Hour)}
		}), withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all; s.MitigatedAt = tp(t0) }), t0.Add(61 * time.Minute), StepEscalate, "", "acknowledgement by alice expired"},
		{"mitigated: wait for the resolution", ackedAlice, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all; s.MitigatedAt = tp(t0) }), t0.Add(time.Hour), StepWait, "", "mitigated; waiting"},
		{"resolution set: recorded before undoing", resolved, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all }), t0.Add(time.Hour), StepResolve, "", "spec.resolution"},
		{"resolved: isolation lifted", resolved, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all; s.ResolvedAt = tp(t0) }), t0.Add(time.Hour), StepUndo, ActionIsolate, "keepIsolation is false"},
		{"resolved with keepIsolation: the components come back", withSpec(func(s *opsv1alpha1.IncidentSpec) {
			s.Resolution = "x"
			s.Response.Isolate = &opsv1alpha1.IsolateAction{KeepIsolation: true}
		}), withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.Actions = all; s.ResolvedAt = tp(t0) }), t0.Add(time.Hour), StepUndo, ActionTakeOffline, "restoreOnResolve"},
		{"resolved and undone: nothing left", resolved, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) {
			s.Actions = append([]opsv1alpha1.IncidentActionRecord{}, all...)
			s.Actions[1].State = opsv1alpha1.ActionUndone
			s.Actions[2].State = opsv1alpha1.ActionUndone
			s.ResolvedAt = tp(t0)
		}), t0.Add(time.Hour), StepWait, "", "resolved"},
		{"resolved before the actions ran: none starts", resolved, withStatus(acked, func(s *opsv1alpha1.IncidentStatus) { s.ResolvedAt = tp(t0) }), t0.Add(time.Hour), StepWait, "", "resolved"},
		{"resolved: no escalation even past the deadline", withSpec(func(s *opsv1alpha1.IncidentSpec) { s.Resolution = "false alarm" }),
			withStatus(opened, func(s *opsv1alpha1.IncidentStatus) { s.ResolvedAt = tp(t0) }), t0.Add(10 * time.Hour), StepWait, "", "resolved"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d := Next(Input{Spec: &tc.spec, Status: &tc.status, Now: tc.now})
			if d.Step != tc.step || d.Action != tc.action || !strings.Contains(d.Why, tc.why) {
				t.Fatalf("got %s %q (%s), want %s %q (…%s…)", d.Step, d.Action, d.Why, tc.step, tc.action, tc.why)
			}
		})
	}
}

func TestNextWakesAtTheDeadline(t *testing.T) {
	spec := opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP1}
	st := opsv1alpha1.IncidentStatus{OpenedAt: tp(t0), ResponseDeadline: tp(t0.Add(time.Hour)), Actions: []opsv1alpha1.IncidentActionRecord{rec(ActionEvidence, opsv1alpha1.ActionSucceeded)}, MitigatedAt: tp(t0)}
	d := Next(Input{Spec: &spec, Status: &st, Now: t0.Add(time.Minute)})
	if d.Step != StepWait || !d.Wake.Equal(t0.Add(time.Hour)) {
		t.Fatalf("got %s wake %s, want Wait at the deadline", d.Step, d.Wake)
	}
}

func TestAskedOrderAndDefaults(t *testing.T) {
	if got := Asked(&opsv1alpha1.IncidentSpec{}); len(got) != 1 || got[0] != ActionEvidence {
		t.Fatalf("no response: %v, want evidence only (the CRD default)", got)
	}
	got := Asked(&opsv1alpha1.IncidentSpec{Response: &opsv1alpha1.IncidentResponse{Rollback: true, RotateSecrets: []string{"a", "b"}, TakeOffline: &opsv1alpha1.TakeOfflineAction{},
		Diagnostics: []opsv1alpha1.DiagnosticCommand{{Name: "d"}}}})
	want := "takeOffline,rollback,rotateSecrets/a,rotateSecrets/b,diagnostics/d"
	if strings.Join(got, ",") != want {
		t.Fatalf("asked %v, want %s (no evidence: captureEvidence false)", got, want)
	}
	for _, a := range got {
		if Destructive(a) == strings.HasPrefix(a, "diagnostics/") {
			t.Errorf("Destructive(%s) = %v", a, Destructive(a))
		}
	}
}

func TestDedupKeyIsStableAndWithinPagerDutysLimit(t *testing.T) {
	const uid = "3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39"
	first, again := DedupKey(uid), DedupKey(types.UID(strings.Clone(uid)))
	if first != again || len(first) > 255 {
		t.Fatalf("dedup key not stable or too long: %q, %q", first, again)
	}
	if first != "runbook-incident-"+uid {
		t.Fatalf("dedup key %q does not carry the UID", first)
	}
}

func TestRotateRequestIsStablePerIncidentAndDiffersBetweenIncidents(t *testing.T) {
	uid := "6c1f2a9e-0d4b-4a57-9f1e-2b8c3d4e5f60"
	first, again := RotateRequest(types.UID(uid)), RotateRequest(types.UID(strings.Clone(uid)))
	if first != again {
		t.Fatalf("RotateRequest changed for the same UID: %q then %q", first, again)
	}
	if other := RotateRequest("0b5d6e7f-1a2b-4c3d-8e9f-a0b1c2d3e4f5"); other == first {
		t.Fatalf("two incidents share the rotateRequest %q", first)
	}
	if !strings.Contains(first, uid) {
		t.Fatalf("RotateRequest %q does not name the incident's UID", first)
	}
}
