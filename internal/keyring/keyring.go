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

// Package keyring lays out a rotated key and its previous values in a Secret's data,
// and moves it through the phases of a rotation. Everything here is a pure function of
// the data: the controller decides when, keyring decides what the Secret holds.
//
// Two layouts:
//   - companion: the key holds the current value; previousKey (Django's
//     SECRET_KEY_FALLBACKS) holds the previous ones, newest first, as a comma list or a
//     JSON array of strings;
//   - list (no previousKey): the key holds "current,previous1,previous2", newest first,
//     as cryptography's MultiFernet takes it (it encrypts with the first key and
//     decrypts with any).
//
// A two-phase rotation first publishes the new value accept-only (at the end of the
// fallbacks / the list) and, once every consumer runs with it, promotes it (current
// value; front of the list), keeping keepPrevious previous values. An emergency
// rotation replaces the value and drops every previous one.
package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Separator of the comma lists.
const Separator = ","

// Format of the previous values in a companion key.
type Format string

const (
	// FormatComma is "newest,older,oldest".
	FormatComma Format = "Comma"
	// FormatJSON is a JSON array of strings, newest first.
	FormatJSON Format = "JSON"
)

// Layout says where one rotated key's values live.
type Layout struct {
	// Key holds the current value (and, without PreviousKey, the previous ones).
	Key string
	// PreviousKey holds the previous values; empty means the list layout.
	PreviousKey string
	// Format of PreviousKey (default FormatComma).
	Format Format
	// KeepPrevious is how many previous values a completed rotation keeps.
	KeepPrevious int
}

// Values are one key's current value and its previous values, newest first. During a
// two-phase rotation's first phase the value being published is the last of Previous.
type Values struct {
	Current  string
	Previous []string
}

// Keys are the Secret keys the layout writes.
func (l Layout) Keys() []string {
	if l.PreviousKey == "" {
		return []string{l.Key}
	}
	return []string{l.Key, l.PreviousKey}
}

// TwoPhase says whether a rotation can publish a value before promoting it. A key with
// no companion that keeps no previous value holds one value only: it is replaced in
// one phase.
func (l Layout) TwoPhase() bool {
	return l.PreviousKey != "" || l.KeepPrevious > 0
}

// ParseError says what is wrong with a key's data without quoting it.
type ParseError struct {
	Key, Problem string
}

func (e *ParseError) Error() string { return fmt.Sprintf("key %s %s", e.Key, e.Problem) }

// Present says whether data holds the layout's key.
func (l Layout) Present(data map[string][]byte) bool {
	_, ok := data[l.Key]
	return ok
}

// Read parses the layout's keys. check, when not nil, validates each value (e.g. a
// Fernet key) and returns a description of what is wrong, never the value.
func (l Layout) Read(data map[string][]byte, check func(string) string) (Values, error) {
	raw, ok := data[l.Key]
	if !ok {
		return Values{}, &ParseError{Key: l.Key, Problem: "is missing"}
	}
	var v Values
	if l.PreviousKey == "" {
		parts := strings.Split(string(raw), Separator)
		v.Current, v.Previous = parts[0], parts[1:]
		if len(v.Previous) == 0 {
			v.Previous = nil
		}
	} else {
		v.Current = string(raw)
		if strings.Contains(v.Current, Separator) {
			return Values{}, &ParseError{Key: l.Key, Problem: "holds a comma, but its previous values belong in " + l.PreviousKey}
		}
		prev, err := l.readPrevious(data[l.PreviousKey])
		if err != nil {
			return Values{}, err
		}
		v.Previous = prev
	}
	all := append([]string{v.Current}, v.Previous...)
	for i, s := range all {
		where := l.position(i)
		if s == "" {
			return Values{}, &ParseError{Key: where.key, Problem: "holds an empty value" + where.at}
		}
		if check != nil {
			if p := check(s); p != "" {
				return Values{}, &ParseError{Key: where.key, Problem: "holds a value that is not " + p + where.at}
			}
		}
	}
	return v, nil
}

type position struct{ key, at string }

// position names where the i-th value (0 = current) is kept, for messages.
func (l Layout) position(i int) position {
	if l.PreviousKey == "" {
		return position{l.Key, fmt.Sprintf(" (entry %d of its comma list)", i+1)}
	}
	if i == 0 {
		return position{l.Key, ""}
	}
	return position{l.PreviousKey, fmt.Sprintf(" (entry %d)", i)}
}

func (l Layout) readPrevious(raw []byte) ([]string, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return nil, nil
	}
	if l.Format == FormatJSON {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, &ParseError{Key: l.PreviousKey, Problem: "is not a JSON array of strings"}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return strings.Split(s, Separator), nil
}

// Write returns the data of the layout's keys for v.
func (l Layout) Write(v Values) map[string][]byte {
	if l.PreviousKey == "" {
		return map[string][]byte{l.Key: []byte(strings.Join(append([]string{v.Current}, v.Previous...), Separator))}
	}
	var prev []byte
	if l.Format == FormatJSON {
		list := v.Previous
		if list == nil {
			list = []string{}
		}
		prev, _ = json.Marshal(list)
	} else {
		prev = []byte(strings.Join(v.Previous, Separator))
	}
	return map[string][]byte{l.Key: []byte(v.Current), l.PreviousKey: prev}
}

// Publish makes next accepted but not used: it is appended to the previous values
// (the end of the fallbacks / of the MultiFernet list). The current value stays.
func Publish(v Values, next string) Values {
	return Values{Current: v.Current, Previous: append(slices.Clone(v.Previous), next)}
}

// Published returns the value a Publish added (the last previous value).
func Published(v Values) (string, error) {
	if len(v.Previous) == 0 {
		return "", errors.New("no published value to promote")
	}
	return v.Previous[len(v.Previous)-1], nil
}

// Promote makes the published value current; the old current value becomes the
// newest previous one, and at most keep previous values remain.
func Promote(v Values, keep int) (Values, error) {
	next, err := Published(v)
	if err != nil {
		return Values{}, err
	}
	prev := append([]string{v.Current}, v.Previous[:len(v.Previous)-1]...)
	return Values{Current: next, Previous: trim(prev, keep)}, nil
}

// Replace makes next current at once, keeping at most keep previous values: the one
// phase of a key that holds a single value.
func Replace(v Values, next string, keep int) Values {
	return Values{Current: next, Previous: trim(append([]string{v.Current}, v.Previous...), keep)}
}

// Emergency makes next current and drops every previous value: a leaked key must stop
// validating.
func Emergency(next string) Values {
	return Values{Current: next}
}

// Initial is the first value of a key.
func Initial(next string) Values { return Values{Current: next} }

func trim(prev []string, keep int) []string {
	if keep < 0 {
		keep = 0
	}
	if len(prev) > keep {
		prev = prev[:keep]
	}
	if len(prev) == 0 {
		return nil
	}
	return prev
}

// Version is a short hash of the named keys' data: it changes whenever any of them
// does and reveals nothing of the values (a SHA-256 prefix of 64 bits over values of
// at least 128 bits of entropy).
func Version(data map[string][]byte, keys []string) string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	h := sha256.New()
	for _, k := range keys {
		v, ok := data[k]
		fmt.Fprintf(h, "%s\x00%t\x00%d\x00", k, ok, len(v))
		h.Write(v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
