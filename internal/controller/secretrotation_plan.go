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

package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/keyring"
	"runbook-operator/internal/secretgen"
)

// The pure part of the SecretRotation controller: from the spec, the Secret and the
// time, what the Secret must hold next. Nothing here reads the cluster.

// defaultRotationInterval is spec.interval's default (90 days).
const defaultRotationInterval = 90 * 24 * time.Hour

// layoutOf is where a rotated key keeps its values.
func layoutOf(k opsv1alpha1.RotatedKey) keyring.Layout {
	f := keyring.FormatComma
	if k.PreviousFormat == opsv1alpha1.PreviousFormatJSON {
		f = keyring.FormatJSON
	}
	return keyring.Layout{Key: k.Key, PreviousKey: k.PreviousKey, Format: f, KeepPrevious: int(ptr.Deref(k.KeepPrevious, 1))}
}

// managedKeys are every Secret key the rotation writes, in spec order.
func managedKeys(sr *opsv1alpha1.SecretRotation) []string {
	var out []string
	for _, k := range sr.Spec.Keys {
		out = append(out, layoutOf(k).Keys()...)
	}
	return out
}

// valueCheck validates one value of a key (nil: any non-empty value), returning what
// the value should have been.
func valueCheck(k opsv1alpha1.RotatedKey) func(string) string {
	if k.Generator == opsv1alpha1.GeneratorFernet {
		return func(s string) string {
			if !secretgen.ValidFernetKey(s) {
				return "a Fernet key (URL-safe base64 of 32 bytes)"
			}
			return ""
		}
	}
	return nil
}

// generate makes a new value for a generated key.
func generate(k opsv1alpha1.RotatedKey) (string, error) {
	switch k.Generator {
	case opsv1alpha1.GeneratorDjangoSecretKey:
		return secretgen.DjangoSecretKey()
	case opsv1alpha1.GeneratorFernet:
		return secretgen.Fernet()
	}
	if k.Bytes != nil {
		enc := secretgen.EncodingHex
		if k.Alphabet == opsv1alpha1.AlphabetBase64URL {
			enc = secretgen.EncodingBase64URL
		}
		return secretgen.RandomBytes(int(*k.Bytes), enc)
	}
	n := 32
	if k.Length != nil {
		n = int(*k.Length)
	}
	return secretgen.Random(n, randomAlphabet(k))
}

// randomAlphabet is the character set of a Random key; repeated characters of
// spec.characters count once, so that every character stays equally likely.
func randomAlphabet(k opsv1alpha1.RotatedKey) string {
	if k.Characters != "" {
		var b []byte
		for i := 0; i < len(k.Characters); i++ {
			if !slices.Contains(b, k.Characters[i]) {
				b = append(b, k.Characters[i])
			}
		}
		return string(b)
	}
	switch k.Alphabet {
	case opsv1alpha1.AlphabetHex:
		return secretgen.Hex
	case opsv1alpha1.AlphabetBase64URL:
		return secretgen.Base64URL
	case opsv1alpha1.AlphabetPrintable:
		return secretgen.Printable
	}
	return secretgen.Alphanumeric
}

// rotationRecord is what the Secret's annotations say of its rotations.
type rotationRecord struct {
	phase     opsv1alpha1.RotationPhase // "" when idle
	mode      opsv1alpha1.RotationMode
	version   string
	rotatedAt time.Time
	request   string
	rotations int64
	keys      []string // keys the rotation in progress changes
	// phaseStarted is when the phase in progress wrote the Secret.
	phaseStarted time.Time
}

func readRecord(s *corev1.Secret) rotationRecord {
	a := s.Annotations
	rec := rotationRecord{
		phase:   opsv1alpha1.RotationPhase(a[opsv1alpha1.AnnotationRotationPhase]),
		mode:    opsv1alpha1.RotationMode(a[opsv1alpha1.AnnotationRotationMode]),
		version: a[opsv1alpha1.AnnotationRotationVersion],
		request: a[opsv1alpha1.AnnotationRotateRequest],
	}
	rec.rotatedAt, _ = time.Parse(time.RFC3339, a[opsv1alpha1.AnnotationRotatedAt])
	rec.phaseStarted, _ = time.Parse(time.RFC3339Nano, a[opsv1alpha1.AnnotationRotationPhaseStarted])
	rec.rotations, _ = strconv.ParseInt(a[opsv1alpha1.AnnotationRotations], 10, 64)
	if k := a[opsv1alpha1.AnnotationRotationKeys]; k != "" {
		rec.keys = strings.Split(k, ",")
	}
	return rec
}

func (rec rotationRecord) write(s *corev1.Secret) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	set := func(k, v string) {
		if v == "" {
			delete(s.Annotations, k)
		} else {
			s.Annotations[k] = v
		}
	}
	set(opsv1alpha1.AnnotationRotationPhase, string(rec.phase))
	set(opsv1alpha1.AnnotationRotationMode, string(rec.mode))
	set(opsv1alpha1.AnnotationRotationVersion, rec.version)
	// The request is kept even when empty, so that setting one later is a change.
	s.Annotations[opsv1alpha1.AnnotationRotateRequest] = rec.request
	if !rec.rotatedAt.IsZero() {
		set(opsv1alpha1.AnnotationRotatedAt, rec.rotatedAt.UTC().Format(time.RFC3339))
	}
	set(opsv1alpha1.AnnotationRotations, strconv.FormatInt(rec.rotations, 10))
	started := ""
	if rec.phase != "" && !rec.phaseStarted.IsZero() {
		started = rec.phaseStarted.UTC().Format(time.RFC3339Nano)
	}
	set(opsv1alpha1.AnnotationRotationPhaseStarted, started)
	set(opsv1alpha1.AnnotationRotationKeys, strings.Join(rec.keys, ","))
}

func interval(sr *opsv1alpha1.SecretRotation) time.Duration {
	// A zero interval (which the schema does not refuse yet) would rotate on every
	// reconcile: it counts as the default.
	if d := sr.Spec.Interval.Or(defaultRotationInterval); d > 0 {
		return d
	}
	return defaultRotationInterval
}

// trigger says why a rotation starts now ("" when none is due) and in which mode.
// sourceChanged are copyFrom keys whose source differs from the current value.
func trigger(sr *opsv1alpha1.SecretRotation, rec rotationRecord, now time.Time, sourceChanged []string) (why string, mode opsv1alpha1.RotationMode, keys []string) {
	all := func() []string {
		var ks []string
		for _, k := range sr.Spec.Keys {
			if k.CopyFrom == nil || slices.Contains(sourceChanged, k.Key) {
				ks = append(ks, k.Key)
			}
		}
		return ks
	}
	switch {
	case sr.Spec.RotateRequest != rec.request:
		mode = opsv1alpha1.RotationTwoPhase
		if sr.Spec.Mode == opsv1alpha1.RotationImmediate {
			mode = opsv1alpha1.RotationImmediate
		}
		return fmt.Sprintf("rotateRequest changed to %q", sr.Spec.RotateRequest), mode, all()
	case !sr.Spec.Suspend && !rec.rotatedAt.IsZero() && !now.Before(rec.rotatedAt.Add(interval(sr))):
		return fmt.Sprintf("the interval of %s since the last rotation passed", interval(sr)), opsv1alpha1.RotationTwoPhase, all()
	case len(sourceChanged) > 0:
		return "the copyFrom source of " + strings.Join(sourceChanged, ", ") + " changed", opsv1alpha1.RotationTwoPhase, sourceChanged
	}
	return "", "", nil
}

// startRotation writes the first phase of a rotation of keys into data: new values
// (from next) published accept-only for TwoPhase keys that keep previous values,
// replaced for the others, or, in mode Immediate, made current with every previous
// value dropped. It returns the phase it started.
func startRotation(sr *opsv1alpha1.SecretRotation, data map[string][]byte, mode opsv1alpha1.RotationMode, keys []string, next map[string]string) (opsv1alpha1.RotationPhase, error) {
	phase := opsv1alpha1.RotationPhaseReplacing
	for _, k := range sr.Spec.Keys {
		if !slices.Contains(keys, k.Key) {
			continue
		}
		l := layoutOf(k)
		v, err := l.Read(data, valueCheck(k))
		if err != nil {
			return "", err
		}
		switch {
		case mode == opsv1alpha1.RotationImmediate:
			v = keyring.Emergency(next[k.Key])
		case l.TwoPhase():
			v = keyring.Publish(v, next[k.Key])
			phase = opsv1alpha1.RotationPhasePublishing
		default:
			v = keyring.Replace(v, next[k.Key], l.KeepPrevious)
		}
		for key, val := range l.Write(v) {
			data[key] = val
		}
	}
	return phase, nil
}

// promote writes the second phase: every published value becomes current.
func promote(sr *opsv1alpha1.SecretRotation, data map[string][]byte, keys []string) error {
	for _, k := range sr.Spec.Keys {
		l := layoutOf(k)
		if !slices.Contains(keys, k.Key) || !l.TwoPhase() {
			continue
		}
		v, err := l.Read(data, valueCheck(k))
		if err != nil {
			return err
		}
		if v, err = keyring.Promote(v, l.KeepPrevious); err != nil {
			return fmt.Errorf("key %s: %w", k.Key, err)
		}
		for key, val := range l.Write(v) {
			data[key] = val
		}
	}
	return nil
}
