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
	"strings"
	"testing"
)

// TestIncidentZone: the manager's --incident-time-zone, as Config gives it to the
// Incident reconciler (a plain test: no envtest).
func TestIncidentZone(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", "UTC", ""},
		{"UTC", "UTC", ""},
		{"Europe/Berlin", "Europe/Berlin", ""},
		{"Local", "", "Local is the manager's own zone"},
		{"Mars/Olympus", "", `"Mars/Olympus" is not in the manager's time zone database`},
	} {
		loc, err := Config{IncidentTimeZone: tc.in}.IncidentZone()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case loc.String() != tc.want:
			t.Errorf("%q: zone %s, want %s", tc.in, loc, tc.want)
		}
	}
}
