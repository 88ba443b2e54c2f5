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
	"strconv"
	"strings"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Record is what the Secret's annotations say of its rotations.
type Record struct {
	Phase     opsv1alpha1.RotationPhase // "" when idle
	Mode      opsv1alpha1.RotationMode
	Version   string
	RotatedAt time.Time
	Request   string
	// Emergency is the emergency request (the SecretRotation's annotation
	// AnnotationEmergencyRotation) last acted on.
	Emergency string
	Rotations int64
	Keys      []string // keys the rotation in progress changes
	// DecryptOnly are the keys whose old values an emergency rotation keeps
	// decrypt-only until the data is re-encrypted.
	DecryptOnly []string
	// ReencryptedBy names the Job that re-encrypted the data in the last emergency
	// rotation (from its Dropping phase on; cleared when a rotation starts).
	ReencryptedBy string
	// PhaseStarted is when the phase in progress wrote the Secret.
	PhaseStarted time.Time
}

// ReadRecord reads the record from a Secret's annotations.
func ReadRecord(a map[string]string) Record {
	rec := Record{
		Phase:     opsv1alpha1.RotationPhase(a[opsv1alpha1.AnnotationRotationPhase]),
		Mode:      opsv1alpha1.RotationMode(a[opsv1alpha1.AnnotationRotationMode]),
		Version:   a[opsv1alpha1.AnnotationRotationVersion],
		Request:   a[opsv1alpha1.AnnotationRotateRequest],
		Emergency: a[opsv1alpha1.AnnotationEmergencyRequest],
	}
	rec.RotatedAt, _ = time.Parse(time.RFC3339, a[opsv1alpha1.AnnotationRotatedAt])
	rec.PhaseStarted, _ = time.Parse(time.RFC3339Nano, a[opsv1alpha1.AnnotationRotationPhaseStarted])
	rec.Rotations, _ = strconv.ParseInt(a[opsv1alpha1.AnnotationRotations], 10, 64)
	rec.Keys = split(a[opsv1alpha1.AnnotationRotationKeys])
	rec.DecryptOnly = split(a[opsv1alpha1.AnnotationRotationDecryptOnly])
	rec.ReencryptedBy = a[opsv1alpha1.AnnotationRotationReencryptedBy]
	return rec
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Write sets the record's annotations (a nil map is made).
func (rec Record) Write(a map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	set := func(k, v string) {
		if v == "" {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	set(opsv1alpha1.AnnotationRotationPhase, string(rec.Phase))
	set(opsv1alpha1.AnnotationRotationMode, string(rec.Mode))
	set(opsv1alpha1.AnnotationRotationVersion, rec.Version)
	// The request is kept even when empty, so that setting one later is a change.
	a[opsv1alpha1.AnnotationRotateRequest] = rec.Request
	set(opsv1alpha1.AnnotationEmergencyRequest, rec.Emergency)
	if !rec.RotatedAt.IsZero() {
		set(opsv1alpha1.AnnotationRotatedAt, rec.RotatedAt.UTC().Format(time.RFC3339))
	}
	set(opsv1alpha1.AnnotationRotations, strconv.FormatInt(rec.Rotations, 10))
	started := ""
	if rec.Phase != "" && !rec.PhaseStarted.IsZero() {
		started = rec.PhaseStarted.UTC().Format(time.RFC3339Nano)
	}
	set(opsv1alpha1.AnnotationRotationPhaseStarted, started)
	set(opsv1alpha1.AnnotationRotationKeys, strings.Join(rec.Keys, ","))
	set(opsv1alpha1.AnnotationRotationDecryptOnly, strings.Join(rec.DecryptOnly, ","))
	set(opsv1alpha1.AnnotationRotationReencryptedBy, rec.ReencryptedBy)
	return a
}
