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

package v1alpha1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Duration is a Go duration written as a string in a spec ("45m", "1h30m"). It is used
// instead of metav1.Duration because its JSON decoding never fails: a value that
// time.ParseDuration refuses (out of range such as "3000000h", stored before the CRD
// bounded the field, or written while the CRD's rules were off) is kept as written
// and reported by Err. metav1.Duration's decoder returns an error instead, and one such
// object makes the manager's informer drop every watch event of the kind ("unable to
// decode watch event"), which stops the work on all other objects. With this type the
// object decodes, and its reconciler marks it Stalled naming the field (see
// InvalidDurations). The API server refuses such values for new writes (CEL bounds on
// every duration field). Each bound is written `oldSelf == self || <bound>` with
// optionalOldSelf: a status or metadata write re-runs the object's rules, and CEL's
// duration() fails on such a value, so without the guard the operator could not even
// record that the object is Stalled, nor remove its finalizer.
//
// The zero value is a duration of 0 that was valid.
// +kubebuilder:validation:Type=string
type Duration struct {
	// Duration is the parsed value; 0 when the text did not parse.
	Duration time.Duration `json:"-"`

	// invalidJSON is the JSON as written when it was not a duration, kept so that
	// encoding the object again (a status patch, an update) writes back what the user
	// wrote.
	invalidJSON string
}

// Err says why the written value is not a duration, or nil when it is one.
func (d Duration) Err() error {
	if d.invalidJSON == "" {
		return nil
	}
	var s string
	if json.Unmarshal([]byte(d.invalidJSON), &s) != nil {
		return fmt.Errorf("%s is not a duration string; write a Go duration such as 45m or 2h", d.invalidJSON)
	}
	_, err := time.ParseDuration(s)
	return fmt.Errorf("%q is not a duration the operator can use (%v); write a Go duration such as 45m or 2h", s, err)
}

// UnmarshalJSON decodes a duration string. It never fails: a value that is not a
// duration is kept and reported by Err, so one bad object cannot stop the decoding of
// a whole list or watch.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{}
	text := strings.TrimSpace(string(b))
	if text == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if v, err := time.ParseDuration(s); err == nil {
			d.Duration = v
			return nil
		}
	}
	d.invalidJSON = text
	return nil
}

// MarshalJSON writes the duration, or the invalid value as it was written.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.invalidJSON != "" {
		return []byte(d.invalidJSON), nil
	}
	return json.Marshal(d.Duration.String())
}

// String is the duration as Go writes it, or the invalid value as written (JSON).
func (d Duration) String() string {
	if d.invalidJSON != "" {
		return d.invalidJSON
	}
	return d.Duration.String()
}

// Or is the duration, or def when d is nil (the field was left out).
func (d *Duration) Or(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// DurationOf is a valid Duration of d, for building specs in code.
func DurationOf(d time.Duration) *Duration { return &Duration{Duration: d} }

// InvalidDurations walks spec (a spec struct or a pointer to one) and returns an error
// naming the first Duration field whose value did not parse, with its path from root
// (e.g. "spec.verify.window"), or nil when every duration is valid. Reconcilers call it
// first and mark the object Stalled with the message, so an object the API server
// would refuse today but stored earlier is reported instead of acted on.
func InvalidDurations(root string, spec any) error {
	return walkDurations(root, reflect.ValueOf(spec))
}

var durationType = reflect.TypeFor[Duration]()

func walkDurations(path string, v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkDurations(path, v.Elem())
	case reflect.Struct:
		if v.Type() == durationType {
			if err := v.Interface().(Duration).Err(); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			p := path
			switch {
			case name == "-":
				continue
			case name != "":
				p = path + "." + name
			case !f.Anonymous:
				p = path + "." + f.Name
			}
			if err := walkDurations(p, v.Field(i)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walkDurations(fmt.Sprintf("%s[%d]", path, i), v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := walkDurations(fmt.Sprintf("%s[%v]", path, iter.Key()), iter.Value()); err != nil {
				return err
			}
		}
	}
	return nil
}
