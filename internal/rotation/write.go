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

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/keyring"
)

// Start writes the first phase of a rotation of keys into data, with the new values
// of next:
//   - TwoPhase: published accept-only for keys that keep previous values (phase
//     Publishing), replaced for the others (Replacing);
//   - Immediate: current at once (Replacing); every previous value is dropped, except
//     for the keys KeepsDecryptOnly names, whose old values (the leaked current one and
//     the older ones) stay behind the new one, decrypt-only, until the data is
//     re-encrypted. Those keys are returned as decryptOnly.
func Start(spec *opsv1alpha1.SecretRotationSpec, data map[string][]byte, mode opsv1alpha1.RotationMode, keys []string, next map[string]string) (phase opsv1alpha1.RotationPhase, decryptOnly []string, err error) {
	phase = opsv1alpha1.RotationPhaseReplacing
	for _, k := range spec.Keys {
		if !slices.Contains(keys, k.Key) {
			continue
		}
		l := LayoutOf(k)
		v, err := l.Read(data, ValueCheck(k))
		if err != nil {
			return "", nil, err
		}
		switch {
		case mode == opsv1alpha1.RotationImmediate && KeepsDecryptOnly(spec, k):
			// MultiFernet encrypts with the first value only: the old ones decrypt.
			v = keyring.Replace(v, next[k.Key], 1+len(v.Previous))
			decryptOnly = append(decryptOnly, k.Key)
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
	return phase, decryptOnly, nil
}

// Promote writes the second phase: every published value of keys becomes current.
func Promote(spec *opsv1alpha1.SecretRotationSpec, data map[string][]byte, keys []string) error {
	for _, k := range spec.Keys {
		l := LayoutOf(k)
		if !slices.Contains(keys, k.Key) || !l.TwoPhase() {
			continue
		}
		v, err := l.Read(data, ValueCheck(k))
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

// Drop writes the last phase of an emergency rotation: the decrypt-only values of
// keys are dropped, the current (new) value stays. A key no longer in the spec is
// left as it is.
func Drop(spec *opsv1alpha1.SecretRotationSpec, data map[string][]byte, keys []string) error {
	for _, k := range spec.Keys {
		if !slices.Contains(keys, k.Key) {
			continue
		}
		l := LayoutOf(k)
		v, err := l.Read(data, ValueCheck(k))
		if err != nil {
			return err
		}
		for key, val := range l.Write(keyring.Emergency(v.Current)) {
			data[key] = val
		}
	}
	return nil
}
