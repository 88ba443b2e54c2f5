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

package rotation

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func spec(mut ...func(*opsv1alpha1.SecretRotationSpec)) *opsv1alpha1.SecretRotationSpec {
	s := &opsv1alpha1.SecretRotationSpec{
		SecretName: "saas-app",
		Keys: []opsv1alpha1.RotatedKey{
			{Key: "DJANGO_SECRET_KEY", Generator: opsv1alpha1.GeneratorDjangoSecretKey, PreviousKey: "DJANGO_SECRET_KEY_FALLBACKS"},
			{Key: "FIELD_ENCRYPTION_KEY", Generator: opsv1alpha1.GeneratorFernet},
			{Key: "STRIPE", CopyFrom: &opsv1alpha1.SecretKeyReference{Name: "stripe", Key: "secret"}, KeepPrevious: ptr.To[int32](0)},
		},
		Interval: opsv1alpha1.DurationOf(24 * time.Hour),
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func TestNextDecidesTheStep(t *testing.T) {
	idle := Record{Version: "v0", RotatedAt: t0, Request: "r0", Rotations: 3}
	managed := Input{Record: idle, Now: t0.Add(time.Hour), Exists: true, Labelled: true}
	with := func(in Input, mut func(*Input)) Input { mut(&in); return in }
	for _, tc := range []struct {
		what string
		spec *opsv1alpha1.SecretRotationSpec
		in   Input
		want Decision
	}{
		{"a phase in progress continues, whatever else changed", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r1" }),
			with(managed, func(in *Input) {
				in.Record.Phase, in.Record.Mode, in.Record.Keys = opsv1alpha1.RotationPhaseReencrypting, opsv1alpha1.RotationImmediate, []string{"FIELD_ENCRYPTION_KEY"}
				in.Now = t0.Add(48 * time.Hour)
			}),
			Decision{StepContinue, "the Reencrypting phase is in progress", opsv1alpha1.RotationImmediate, []string{"FIELD_ENCRYPTION_KEY"}}},
		{"no Secret: write it", spec(), Input{Now: t0}, Decision{Step: StepWriteInitial, Why: "the Secret does not exist"}},
		{"a key missing: write it", spec(), with(managed, func(in *Input) { in.Missing = []string{"STRIPE"} }), Decision{Step: StepWriteInitial, Why: "the Secret lacks STRIPE"}},
		{"a Secret not labelled yet: adopt it", spec(), with(managed, func(in *Input) { in.Labelled = false }), Decision{Step: StepWriteInitial, Why: "the Secret is not managed yet"}},
		{"nothing due", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r0" }), managed, Decision{Step: StepIdle, Why: "no rotation is due"}},
		{"a new rotateRequest rotates in two phases the generated keys, not the copied ones", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r1" }), managed,
			Decision{StepStart, `rotateRequest changed to "r1"`, opsv1alpha1.RotationTwoPhase, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"a new rotateRequest in mode Immediate is an emergency", spec(func(s *opsv1alpha1.SecretRotationSpec) {
			s.RotateRequest, s.Mode = "breach", opsv1alpha1.RotationImmediate
		}), managed, Decision{StepStart, `rotateRequest changed to "breach"`, opsv1alpha1.RotationImmediate, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"a new emergency annotation rotates at once in mode TwoPhase, the spec unchanged", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r0" }),
			with(managed, func(in *Input) { in.Emergency = "incident-1" }),
			Decision{StepStart, `annotation ops.runbook.dev/emergency-rotation asks for an emergency rotation ("incident-1")`, opsv1alpha1.RotationImmediate, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"an emergency annotation already acted on: nothing", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r0" }),
			with(managed, func(in *Input) { in.Emergency, in.Record.Emergency = "incident-1", "incident-1" }), Decision{Step: StepIdle, Why: "no rotation is due"}},
		{"an emergency annotation goes before a new rotateRequest (the rotation answers both)", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r1" }),
			with(managed, func(in *Input) { in.Emergency = "incident-2"; in.Record.Emergency = "incident-1" }),
			Decision{StepStart, `annotation ops.runbook.dev/emergency-rotation asks for an emergency rotation ("incident-2")`, opsv1alpha1.RotationImmediate, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"a due interval rotates in two phases even in mode Immediate", spec(func(s *opsv1alpha1.SecretRotationSpec) {
			s.RotateRequest, s.Mode = "r0", opsv1alpha1.RotationImmediate
		}), with(managed, func(in *Input) { in.Now = t0.Add(24 * time.Hour) }),
			Decision{StepStart, "the interval of 24h0m0s since the last rotation passed", opsv1alpha1.RotationTwoPhase, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"one second before the interval: nothing", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r0" }),
			with(managed, func(in *Input) { in.Now = t0.Add(24*time.Hour - time.Second) }), Decision{Step: StepIdle, Why: "no rotation is due"}},
		{"suspended: the interval does not rotate", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest, s.Suspend = "r0", true }),
			with(managed, func(in *Input) { in.Now = t0.Add(100 * time.Hour) }), Decision{Step: StepIdle, Why: "no rotation is due"}},
		{"suspended: a rotateRequest still rotates", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest, s.Suspend = "r1", true }), managed,
			Decision{StepStart, `rotateRequest changed to "r1"`, opsv1alpha1.RotationTwoPhase, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}},
		{"a changed source rotates only its key", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r0" }),
			with(managed, func(in *Input) { in.SourceChanged = []string{"STRIPE"} }),
			Decision{StepStart, "the copyFrom source of STRIPE changed", opsv1alpha1.RotationTwoPhase, []string{"STRIPE"}}},
		{"a rotateRequest with a changed source rotates every key", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.RotateRequest = "r1" }),
			with(managed, func(in *Input) { in.SourceChanged = []string{"STRIPE"} }),
			Decision{StepStart, `rotateRequest changed to "r1"`, opsv1alpha1.RotationTwoPhase, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "STRIPE"}}},
		{"a zero interval counts as the default, not as always due", spec(func(s *opsv1alpha1.SecretRotationSpec) {
			s.RotateRequest, s.Interval = "r0", opsv1alpha1.DurationOf(0)
		}), with(managed, func(in *Input) { in.Now = t0.Add(89 * 24 * time.Hour) }), Decision{Step: StepIdle, Why: "no rotation is due"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			tc.in.Spec = tc.spec
			if got := Next(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Next:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestAfterRolloutOrdersThePhases(t *testing.T) {
	for _, tc := range []struct {
		rec  Record
		want Step
	}{
		{Record{Phase: opsv1alpha1.RotationPhasePublishing, Mode: opsv1alpha1.RotationTwoPhase}, StepPromote},
		{Record{Phase: opsv1alpha1.RotationPhasePromoting, Mode: opsv1alpha1.RotationTwoPhase}, StepFinish},
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: opsv1alpha1.RotationTwoPhase}, StepFinish},
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: opsv1alpha1.RotationImmediate}, StepFinish},
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: opsv1alpha1.RotationImmediate, DecryptOnly: []string{"F"}}, StepReencrypt},
		{Record{Phase: opsv1alpha1.RotationPhaseReencrypting, Mode: opsv1alpha1.RotationImmediate, DecryptOnly: []string{"F"}}, StepReencrypt},
		{Record{Phase: opsv1alpha1.RotationPhaseDropping, Mode: opsv1alpha1.RotationImmediate, DecryptOnly: []string{"F"}}, StepFinish},
	} {
		if got := AfterRollout(tc.rec).Step; got != tc.want {
			t.Errorf("%s %s decrypt-only %v: got %s, want %s", tc.rec.Mode, tc.rec.Phase, tc.rec.DecryptOnly, got, tc.want)
		}
	}
}

func TestRecordSurvivesTheAnnotations(t *testing.T) {
	rec := Record{
		Phase: opsv1alpha1.RotationPhaseReencrypting, Mode: opsv1alpha1.RotationImmediate, Version: "0123456789abcdef",
		RotatedAt: t0, Request: "breach", Emergency: "incident-1", Rotations: 4, Keys: []string{"A", "B"}, DecryptOnly: []string{"B"},
		ReencryptedBy: "keys-reencrypt-0123456789abcdef", PhaseStarted: t0.Add(1500 * time.Millisecond),
	}
	a := rec.Write(map[string]string{"other": "kept"})
	if got := ReadRecord(a); !reflect.DeepEqual(got, rec) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", got, rec)
	}
	if a["other"] != "kept" {
		t.Fatal("Write dropped an annotation it does not own")
	}
	idle := rec
	idle.Phase, idle.Keys, idle.DecryptOnly, idle.Request = "", nil, nil, ""
	a = idle.Write(a)
	for _, k := range []string{opsv1alpha1.AnnotationRotationPhase, opsv1alpha1.AnnotationRotationKeys, opsv1alpha1.AnnotationRotationDecryptOnly, opsv1alpha1.AnnotationRotationPhaseStarted} {
		if _, ok := a[k]; ok {
			t.Errorf("an idle record keeps %s", k)
		}
	}
	if v, ok := a[opsv1alpha1.AnnotationRotateRequest]; !ok || v != "" {
		t.Error("an empty request must be kept, so that setting one later is a change")
	}
}

func TestStartPromoteDropWriteThePhases(t *testing.T) {
	reencrypt := func(s *opsv1alpha1.SecretRotationSpec) {
		s.Mode = opsv1alpha1.RotationImmediate
		s.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"python", "manage.py", "reencrypt"}}
	}
	f0, f1, f2 := fernetKeyT(t), fernetKeyT(t), fernetKeyT(t)
	data := func() map[string][]byte {
		return map[string][]byte{
			"DJANGO_SECRET_KEY": []byte("k1"), "DJANGO_SECRET_KEY_FALLBACKS": []byte("k0"),
			"FIELD_ENCRYPTION_KEY": []byte(f1 + "," + f0), "STRIPE": []byte("s1"), "OTHER": []byte("untouched"),
		}
	}
	next := map[string]string{"DJANGO_SECRET_KEY": "k2", "FIELD_ENCRYPTION_KEY": f2, "STRIPE": "s2"}
	all := []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "STRIPE"}
	for _, tc := range []struct {
		what        string
		spec        *opsv1alpha1.SecretRotationSpec
		mode        opsv1alpha1.RotationMode
		keys        []string
		phase       opsv1alpha1.RotationPhase
		decryptOnly []string
		want        map[string]string
	}{
		{"two phases: published accept-only, the one-value key replaced", spec(), opsv1alpha1.RotationTwoPhase, all, opsv1alpha1.RotationPhasePublishing, nil,
			map[string]string{"DJANGO_SECRET_KEY": "k1", "DJANGO_SECRET_KEY_FALLBACKS": "k0,k2", "FIELD_ENCRYPTION_KEY": f1 + "," + f0 + "," + f2, "STRIPE": "s2"}},
		{"one value only: replaced in one phase", spec(), opsv1alpha1.RotationTwoPhase, []string{"STRIPE"}, opsv1alpha1.RotationPhaseReplacing, nil,
			map[string]string{"DJANGO_SECRET_KEY": "k1", "DJANGO_SECRET_KEY_FALLBACKS": "k0", "FIELD_ENCRYPTION_KEY": f1 + "," + f0, "STRIPE": "s2"}},
		{"emergency, loss acknowledged: every old value dropped", spec(func(s *opsv1alpha1.SecretRotationSpec) {
			s.Mode, s.DropUnreadable = opsv1alpha1.RotationImmediate, true
		}),
			opsv1alpha1.RotationImmediate, all, opsv1alpha1.RotationPhaseReplacing, nil,
			map[string]string{"DJANGO_SECRET_KEY": "k2", "DJANGO_SECRET_KEY_FALLBACKS": "", "FIELD_ENCRYPTION_KEY": f2, "STRIPE": "s2"}},
		{"emergency with reencrypt: the Django key's fallbacks dropped, the old Fernet values kept behind the new one", spec(reencrypt),
			opsv1alpha1.RotationImmediate, all, opsv1alpha1.RotationPhaseReplacing, []string{"FIELD_ENCRYPTION_KEY"},
			map[string]string{"DJANGO_SECRET_KEY": "k2", "DJANGO_SECRET_KEY_FALLBACKS": "", "FIELD_ENCRYPTION_KEY": f2 + "," + f1 + "," + f0, "STRIPE": "s2"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d := data()
			phase, decryptOnly, err := Start(tc.spec, d, tc.mode, tc.keys, next)
			if err != nil {
				t.Fatal(err)
			}
			if phase != tc.phase || !reflect.DeepEqual(decryptOnly, tc.decryptOnly) {
				t.Fatalf("phase %s decrypt-only %v, want %s %v", phase, decryptOnly, tc.phase, tc.decryptOnly)
			}
			tc.want["OTHER"] = "untouched"
			if got := strs(d); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("data:\n got  %v\n want %v", got, tc.want)
			}
		})
	}

	t.Run("promote makes the published values current, keeping keepPrevious", func(t *testing.T) {
		d := data()
		if _, _, err := Start(spec(), d, opsv1alpha1.RotationTwoPhase, all, next); err != nil {
			t.Fatal(err)
		}
		if err := Promote(spec(), d, all); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"DJANGO_SECRET_KEY": "k2", "DJANGO_SECRET_KEY_FALLBACKS": "k1", "FIELD_ENCRYPTION_KEY": f2 + "," + f1, "STRIPE": "s2", "OTHER": "untouched"}
		if got := strs(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("drop leaves the new value alone and only the keys named", func(t *testing.T) {
		d := data()
		if _, _, err := Start(spec(reencrypt), d, opsv1alpha1.RotationImmediate, all, next); err != nil {
			t.Fatal(err)
		}
		if err := Drop(spec(reencrypt), d, []string{"FIELD_ENCRYPTION_KEY"}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"DJANGO_SECRET_KEY": "k2", "DJANGO_SECRET_KEY_FALLBACKS": "", "FIELD_ENCRYPTION_KEY": f2, "STRIPE": "s2", "OTHER": "untouched"}
		if got := strs(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("an unparseable key stops Start and names it, not its value", func(t *testing.T) {
		d := data()
		d["FIELD_ENCRYPTION_KEY"] = []byte("not-a-fernet-key-at-all")
		_, _, err := Start(spec(reencrypt), d, opsv1alpha1.RotationImmediate, all, next)
		if err == nil || !strings.Contains(err.Error(), "FIELD_ENCRYPTION_KEY") || strings.Contains(err.Error(), "not-a-fernet") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestKeepsDecryptOnlyOnlyFernetKeysWithReencrypt(t *testing.T) {
	withRe := spec(func(s *opsv1alpha1.SecretRotationSpec) { s.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"x"}} })
	for _, tc := range []struct {
		s    *opsv1alpha1.SecretRotationSpec
		k    int
		want bool
	}{{withRe, 1, true}, {withRe, 0, false}, {withRe, 2, false}, {spec(), 1, false}} {
		if got := KeepsDecryptOnly(tc.s, tc.s.Keys[tc.k]); got != tc.want {
			t.Errorf("key %s, reencrypt %v: got %v", tc.s.Keys[tc.k].Key, tc.s.Reencrypt != nil, got)
		}
	}
}

func strs(d map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		out[k] = string(v)
	}
	return out
}

func TestMissingKeysAndNextValues(t *testing.T) {
	s := spec()
	data := map[string][]byte{"DJANGO_SECRET_KEY": []byte("k"), "STRIPE": []byte("s")}
	if got := MissingKeys(s, data); !reflect.DeepEqual(got, []string{"FIELD_ENCRYPTION_KEY"}) {
		t.Fatalf("missing %v", got)
	}
	next, err := NextValues(s, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "STRIPE"}, map[string]string{"STRIPE": "whsec_new"})
	if err != nil {
		t.Fatal(err)
	}
	if len(next["DJANGO_SECRET_KEY"]) != 50 || next["STRIPE"] != "whsec_new" || ValueCheck(s.Keys[1])(next["FIELD_ENCRYPTION_KEY"]) != "" {
		t.Fatalf("next values of the wrong shape (lengths %d, %d)", len(next["DJANGO_SECRET_KEY"]), len(next["FIELD_ENCRYPTION_KEY"]))
	}
	if again, _ := NextValues(s, []string{"DJANGO_SECRET_KEY"}, nil); len(again) != 1 || again["DJANGO_SECRET_KEY"] == next["DJANGO_SECRET_KEY"] {
		t.Fatal("only the keys asked for, each a new value")
	}
}

func TestHoldsAndEmergencyOutcomeSayWhatTheSecretHolds(t *testing.T) {
	im := opsv1alpha1.RotationImmediate
	for _, tc := range []struct {
		rec  Record
		want string
	}{
		{Record{Phase: opsv1alpha1.RotationPhasePublishing, Mode: opsv1alpha1.RotationTwoPhase}, "values every running pod accepts"},
		{Record{Phase: opsv1alpha1.RotationPhaseReplacing, Mode: im}, "the new values only"},
		{Record{Phase: opsv1alpha1.RotationPhaseReencrypting, Mode: im, DecryptOnly: []string{"F"}}, "with the old values of F still decrypting"},
		{Record{Phase: opsv1alpha1.RotationPhaseDropping, Mode: im, DecryptOnly: []string{"F"}}, "the new values only"},
	} {
		if got := Holds(tc.rec); !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: %q, want %q in it", tc.rec.Mode, tc.rec.Phase, got, tc.want)
		}
	}
	if got := EmergencyOutcome(Record{ReencryptedBy: "job-1"}); !strings.Contains(got, "Job job-1 re-encrypted the data") {
		t.Errorf("got %q", got)
	}
	if got := EmergencyOutcome(Record{}); !strings.Contains(got, "data encrypted with the old values are now invalid") {
		t.Errorf("got %q", got)
	}
}

func TestUnacknowledgedLossStopsAnEmergencyStoredBeforeTheRule(t *testing.T) {
	im, all := opsv1alpha1.RotationImmediate, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}
	for _, tc := range []struct {
		what string
		spec *opsv1alpha1.SecretRotationSpec
		mode opsv1alpha1.RotationMode
		keys []string
		stop bool
	}{
		{"Immediate of a Fernet key, neither reencrypt nor dropUnreadable", spec(), im, all, true},
		{"with reencrypt", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"x"}} }), im, all, false},
		{"loss acknowledged", spec(func(s *opsv1alpha1.SecretRotationSpec) { s.DropUnreadable = true }), im, all, false},
		{"the Django key only", spec(), im, []string{"DJANGO_SECRET_KEY"}, false},
		{"two phases", spec(), opsv1alpha1.RotationTwoPhase, all, false},
	} {
		got := UnacknowledgedLoss(tc.spec, tc.mode, tc.keys)
		if (got != "") != tc.stop || tc.stop && !strings.Contains(got, "FIELD_ENCRYPTION_KEY") {
			t.Errorf("%s: %q", tc.what, got)
		}
	}
}
