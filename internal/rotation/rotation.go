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

// Package rotation is the pure core of the SecretRotation controller: from the spec,
// the record of rotations kept on the Secret and the time, which step comes next
// (Next, AfterRollout), and what the Secret holds after it (Start, Promote, Drop).
// Nothing here reads the cluster; the controller acts on the decisions.
//
// The phases of a rotation:
//
//	TwoPhase:  Publishing (new values accept-only) → Promoting (new values current) → idle
//	one phase: Replacing (keys that hold one value only) → idle
//	Immediate: Replacing (new values current, old Fernet values decrypt-only when
//	           spec.reencrypt is set, every other old value dropped)
//	           → Reencrypting (the reencrypt Job) → Dropping (old values dropped) → idle
//
// Every phase writes the Secret once, together with the record of the phase
// (Record), so a restarted manager continues it and never generates a value twice.
package rotation

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/keyring"
	"runbook-operator/internal/secretgen"
)

// DefaultInterval is spec.interval's default (90 days).
const DefaultInterval = 90 * 24 * time.Hour

// LayoutOf is where a rotated key keeps its values.
func LayoutOf(k opsv1alpha1.RotatedKey) keyring.Layout {
	f := keyring.FormatComma
	if k.PreviousFormat == opsv1alpha1.PreviousFormatJSON {
		f = keyring.FormatJSON
	}
	return keyring.Layout{Key: k.Key, PreviousKey: k.PreviousKey, Format: f, KeepPrevious: int(ptr.Deref(k.KeepPrevious, 1))}
}

// ManagedKeys are every Secret key the rotation writes, in spec order.
func ManagedKeys(spec *opsv1alpha1.SecretRotationSpec) []string {
	var out []string
	for _, k := range spec.Keys {
		out = append(out, LayoutOf(k).Keys()...)
	}
	return out
}

// ValueCheck validates one value of a key (nil: any non-empty value), returning what
// the value should have been.
func ValueCheck(k opsv1alpha1.RotatedKey) func(string) string {
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

// Generate makes a new value for a generated key.
func Generate(k opsv1alpha1.RotatedKey) (string, error) {
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
	return secretgen.Random(n, RandomAlphabet(k))
}

// RandomAlphabet is the character set of a Random key; repeated characters of
// spec.characters count once, so that every character stays equally likely.
func RandomAlphabet(k opsv1alpha1.RotatedKey) string {
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

// Interval is the time between scheduled rotations. A zero interval (which the
// schema refuses, but an object stored before may hold) would rotate on every
// reconcile: it counts as the default.
func Interval(spec *opsv1alpha1.SecretRotationSpec) time.Duration {
	if d := spec.Interval.Or(DefaultInterval); d > 0 {
		return d
	}
	return DefaultInterval
}

// KeepsDecryptOnly says whether an Immediate rotation keeps k's old values
// decrypt-only until the data is re-encrypted: Fernet keys, when spec.reencrypt is set.
func KeepsDecryptOnly(spec *opsv1alpha1.SecretRotationSpec, k opsv1alpha1.RotatedKey) bool {
	return spec.Reencrypt != nil && k.Generator == opsv1alpha1.GeneratorFernet
}

// MissingKeys are the rotated keys data does not hold, in spec order.
func MissingKeys(spec *opsv1alpha1.SecretRotationSpec, data map[string][]byte) []string {
	var out []string
	for _, k := range spec.Keys {
		if !LayoutOf(k).Present(data) {
			out = append(out, k.Key)
		}
	}
	return out
}

// NextValues makes the next value of each of keys: generated, or copied from its
// source (sources, by key).
func NextValues(spec *opsv1alpha1.SecretRotationSpec, keys []string, sources map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range spec.Keys {
		if !slices.Contains(keys, k.Key) {
			continue
		}
		if k.CopyFrom != nil {
			out[k.Key] = sources[k.Key]
			continue
		}
		v, err := Generate(k)
		if err != nil {
			return nil, fmt.Errorf("generating key %s: %w", k.Key, err)
		}
		out[k.Key] = v
	}
	return out, nil
}

// UnacknowledgedLoss says why an Immediate rotation of keys must not start: it would
// drop old Fernet values at once (no spec.reencrypt) without spec.dropUnreadable
// acknowledging that data encrypted with them becomes unreadable. The API server
// refuses such a spec; this catches one stored before that rule. "" when it may start.
func UnacknowledgedLoss(spec *opsv1alpha1.SecretRotationSpec, mode opsv1alpha1.RotationMode, keys []string) string {
	if mode != opsv1alpha1.RotationImmediate || spec.Reencrypt != nil || spec.DropUnreadable {
		return ""
	}
	for _, k := range spec.Keys {
		if k.Generator == opsv1alpha1.GeneratorFernet && slices.Contains(keys, k.Key) {
			return fmt.Sprintf("mode Immediate would drop the old values of Fernet key %s, and data encrypted with them could no longer be read: set reencrypt.command (e.g. [python, manage.py, reencrypt]) to re-encrypt it first, or dropUnreadable: true to accept the loss; nothing was written", k.Key)
		}
	}
	return ""
}
