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

package keyring

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	companion = Layout{Key: "SECRET_KEY", PreviousKey: "SECRET_KEY_FALLBACKS", KeepPrevious: 1}
	jsonComp  = Layout{Key: "SECRET_KEY", PreviousKey: "SECRET_KEY_FALLBACKS", Format: FormatJSON, KeepPrevious: 2}
	list      = Layout{Key: "FIELD_KEYS", KeepPrevious: 2}
	single    = Layout{Key: "TOKEN", KeepPrevious: 0}
)

func data(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// TestPhasesLayOutTheSecret follows one key through a two-phase rotation in each
// layout: what the Secret holds after publishing and after promoting.
func TestPhasesLayOutTheSecret(t *testing.T) {
	cases := []struct {
		name               string
		l                  Layout
		before             map[string][]byte
		publish, promote   map[string][]byte
		emergency, replace map[string][]byte
	}{
		{
			name:      "companion, keep 1, first rotation",
			l:         companion,
			before:    data("SECRET_KEY", "a"),
			publish:   data("SECRET_KEY", "a", "SECRET_KEY_FALLBACKS", "n"),
			promote:   data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", "a"),
			emergency: data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", ""),
		},
		{
			name:      "companion, keep 1, trims the oldest on promote",
			l:         companion,
			before:    data("SECRET_KEY", "b", "SECRET_KEY_FALLBACKS", "a"),
			publish:   data("SECRET_KEY", "b", "SECRET_KEY_FALLBACKS", "a,n"),
			promote:   data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", "b"),
			emergency: data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", ""),
		},
		{
			name:      "companion as JSON, keep 2",
			l:         jsonComp,
			before:    data("SECRET_KEY", "c", "SECRET_KEY_FALLBACKS", `["b","a"]`),
			publish:   data("SECRET_KEY", "c", "SECRET_KEY_FALLBACKS", `["b","a","n"]`),
			promote:   data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", `["c","b"]`),
			emergency: data("SECRET_KEY", "n", "SECRET_KEY_FALLBACKS", `[]`),
		},
		{
			name:      "MultiFernet list, keep 2",
			l:         list,
			before:    data("FIELD_KEYS", "c,b,a"),
			publish:   data("FIELD_KEYS", "c,b,a,n"),
			promote:   data("FIELD_KEYS", "n,c,b"),
			emergency: data("FIELD_KEYS", "n"),
		},
		{
			name:      "single value, keep 0: one phase",
			l:         single,
			before:    data("TOKEN", "a"),
			replace:   data("TOKEN", "n"),
			emergency: data("TOKEN", "n"),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.l.Read(c.before, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.l.TwoPhase() != (c.publish != nil) {
				t.Fatalf("TwoPhase %v", c.l.TwoPhase())
			}
			if c.publish != nil {
				pub := Publish(v, "n")
				if got := c.l.Write(pub); !reflect.DeepEqual(got, c.publish) {
					t.Errorf("publish: %q, want %q", got, c.publish)
				}
				// The published data reads back to the same values, and promotes.
				back, err := c.l.Read(c.l.Write(pub), nil)
				if err != nil {
					t.Fatal(err)
				}
				prom, err := Promote(back, c.l.KeepPrevious)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.l.Write(prom); !reflect.DeepEqual(got, c.promote) {
					t.Errorf("promote: %q, want %q", got, c.promote)
				}
			} else if got := c.l.Write(Replace(v, "n", c.l.KeepPrevious)); !reflect.DeepEqual(got, c.replace) {
				t.Errorf("replace: %q, want %q", got, c.replace)
			}
			if got := c.l.Write(Emergency("n")); !reflect.DeepEqual(got, c.emergency) {
				t.Errorf("emergency: %q, want %q", got, c.emergency)
			}
		})
	}
}

func TestKeepPreviousTrimsOverManyRotations(t *testing.T) {
	for keep := 0; keep <= 3; keep++ {
		l := Layout{Key: "K", KeepPrevious: keep}
		v := Initial("v0")
		for i := 1; i <= 6; i++ {
			var err error
			v, err = Promote(Publish(v, "v"+string(rune('0'+i))), keep)
			if err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"v6", "v5", "v4", "v3"}[:keep+1]
		if got := strings.Split(string(l.Write(v)["K"]), ","); !reflect.DeepEqual(got, want) {
			t.Errorf("keep %d: %v, want %v", keep, got, want)
		}
	}
}

func TestPromoteWithoutPublishIsAnError(t *testing.T) {
	if _, err := Promote(Values{Current: "a"}, 1); err == nil {
		t.Fatal("promoted nothing")
	}
}

// TestUnparseableDataIsReportedWithoutItsValue: hand-edited keys are refused with a
// message naming the key and what is wrong, never the value.
func TestUnparseableDataIsReportedWithoutItsValue(t *testing.T) {
	fernetOnly := func(s string) string {
		if len(s) != 44 {
			return "a Fernet key"
		}
		return ""
	}
	cases := []struct {
		name string
		l    Layout
		d    map[string][]byte
		want string
	}{
		{"missing key", list, data("OTHER", "x"), "key FIELD_KEYS is missing"},
		{"empty entry in a list", list, data("FIELD_KEYS", strings.Repeat("s3cr3t", 7)+"xx,,b"), "empty value (entry 2"},
		{"comma in a companion's current value", companion, data("SECRET_KEY", "s3cr3tvalue,b"), "holds a comma"},
		{"JSON fallbacks not JSON", jsonComp, data("SECRET_KEY", "a", "SECRET_KEY_FALLBACKS", "s3cr3tvalue"), "not a JSON array"},
		{"not a Fernet key", list, data("FIELD_KEYS", strings.Repeat("k", 44)+",s3cr3tvalue"), "not a Fernet key (entry 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.l.Read(c.d, fernetOnly)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a ParseError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("%q quotes the value", err)
			}
		})
	}
}

func TestVersionChangesWithAnyManagedKeyOnly(t *testing.T) {
	keys := []string{"A", "B"}
	base := Version(data("A", "1", "B", "2", "C", "3"), keys)
	if len(base) != 16 {
		t.Fatalf("version %q", base)
	}
	if Version(data("A", "1", "B", "2", "C", "other"), keys) != base {
		t.Error("an unmanaged key changed the version")
	}
	for _, d := range []map[string][]byte{data("A", "1", "B", "3"), data("A", "12", "B", ""), data("A", "1")} {
		if Version(d, keys) == base {
			t.Errorf("%q has the same version", d)
		}
	}
	if Version(data("A", "1", "B", "2"), []string{"B", "A", "A"}) != base {
		t.Error("order or repeats of the key names changed the version")
	}
}
