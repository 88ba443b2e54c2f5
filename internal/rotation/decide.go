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
	"fmt"
	"slices"
	"strings"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Step is what a reconcile of a SecretRotation does.
type Step string

const (
	// StepWriteInitial creates the Secret or writes its missing keys; nothing restarts.
	StepWriteInitial Step = "WriteInitial"
	// StepStart begins a rotation of Decision.Keys in Decision.Mode.
	StepStart Step = "Start"
	// StepContinue restarts the targets of the phase in progress.
	StepContinue Step = "Continue"
	// StepIdle: nothing is due.
	StepIdle Step = "Idle"

	// Steps once every target runs the phase's version (AfterRollout):

	// StepPromote makes the published values current (the second of two phases).
	StepPromote Step = "Promote"
	// StepReencrypt runs the reencrypt Job (recording the Reencrypting phase first).
	StepReencrypt Step = "Reencrypt"
	// StepDrop drops the decrypt-only values once the Job re-encrypted the data.
	StepDrop Step = "Drop"
	// StepFinish records the rotation as done.
	StepFinish Step = "Finish"
)

// Decision is the step a SecretRotation takes now, why, and for StepStart the mode
// and the keys of the rotation.
type Decision struct {
	Step Step
	Why  string
	Mode opsv1alpha1.RotationMode
	Keys []string
}

// Input is what Next decides from: the spec, the record on the Secret, the time and
// what the controller read.
type Input struct {
	Spec   *opsv1alpha1.SecretRotationSpec
	Record Record
	Now    time.Time
	// Exists says the Secret exists; Labelled that it carries this SecretRotation's
	// label; Missing are rotated keys it does not hold.
	Exists, Labelled bool
	Missing          []string
	// SourceChanged are copyFrom keys whose source differs from the current value.
	SourceChanged []string
	// Emergency is the SecretRotation's annotation AnnotationEmergencyRotation ("" when
	// absent).
	Emergency string
}

// Next names the step a SecretRotation takes now.
func Next(in Input) Decision {
	rec, spec := in.Record, in.Spec
	if rec.Phase != "" {
		return Decision{Step: StepContinue, Why: fmt.Sprintf("the %s phase is in progress", rec.Phase), Mode: rec.Mode, Keys: rec.Keys}
	}
	if !in.Exists || len(in.Missing) > 0 || !in.Labelled {
		why := "the Secret does not exist"
		switch {
		case in.Exists && len(in.Missing) > 0:
			why = "the Secret lacks " + strings.Join(in.Missing, ", ")
		case in.Exists:
			why = "the Secret is not managed yet"
		}
		return Decision{Step: StepWriteInitial, Why: why}
	}
	all := func() []string {
		var ks []string
		for _, k := range spec.Keys {
			if k.CopyFrom == nil || slices.Contains(in.SourceChanged, k.Key) {
				ks = append(ks, k.Key)
			}
		}
		return ks
	}
	switch {
	case in.Emergency != "" && in.Emergency != rec.Emergency:
		return Decision{StepStart, fmt.Sprintf("annotation %s asks for an emergency rotation (%q)", opsv1alpha1.AnnotationEmergencyRotation, in.Emergency), opsv1alpha1.RotationImmediate, all()}
	case spec.RotateRequest != rec.Request:
		mode := opsv1alpha1.RotationTwoPhase
		if spec.Mode == opsv1alpha1.RotationImmediate {
			mode = opsv1alpha1.RotationImmediate
		}
		return Decision{StepStart, fmt.Sprintf("rotateRequest changed to %q", spec.RotateRequest), mode, all()}
	case !spec.Suspend && !rec.RotatedAt.IsZero() && !in.Now.Before(rec.RotatedAt.Add(Interval(spec))):
		return Decision{StepStart, fmt.Sprintf("the interval of %s since the last rotation passed", Interval(spec)), opsv1alpha1.RotationTwoPhase, all()}
	case len(in.SourceChanged) > 0:
		return Decision{StepStart, "the copyFrom source of " + strings.Join(in.SourceChanged, ", ") + " changed", opsv1alpha1.RotationTwoPhase, in.SourceChanged}
	}
	return Decision{Step: StepIdle, Why: "no rotation is due"}
}

// AfterRollout names the step once every target runs the version of the phase in
// progress: promote after publishing, re-encrypt after an emergency that kept old
// values decrypt-only, drop them after re-encrypting, else finish.
func AfterRollout(rec Record) Decision {
	switch {
	case rec.Phase == opsv1alpha1.RotationPhasePublishing:
		return Decision{Step: StepPromote, Why: "every target accepts the published values"}
	case rec.Phase == opsv1alpha1.RotationPhaseReplacing && rec.Mode == opsv1alpha1.RotationImmediate && len(rec.DecryptOnly) > 0:
		return Decision{Step: StepReencrypt, Why: "every target encrypts with the new values of " + strings.Join(rec.DecryptOnly, ", ")}
	case rec.Phase == opsv1alpha1.RotationPhaseReencrypting:
		return Decision{Step: StepReencrypt, Why: "the re-encryption is in progress"}
	}
	return Decision{Step: StepFinish, Why: "every target runs the values of the last phase"}
}
