/*
Copyright 2026.

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

package progress

import (
	"testing"
	"time"
)

func TestLastFindsTheLastParsableLine(t *testing.T) {
	a := Report{Command: "backup", BytesDone: 10, BytesExpected: 100, Time: time.Unix(1, 0).UTC()}
	b := Report{Command: "backup", BytesDone: 50, BytesExpected: 100, Time: time.Unix(2, 0).UTC()}
	for name, tc := range map[string]struct {
		log  string
		want int64
		ok   bool
	}{
		"two lines":            {a.Line() + "\nagent: backup progress…\n" + b.Line() + "\n", 50, true},
		"no trailing newline":  {a.Line() + "\n" + b.Line(), 50, true},
		"cut mid-line at head": {b.Line()[7:] + "\n" + a.Line() + "\nother\n", 10, true},
		"cut mid-line at tail": {a.Line() + "\n" + b.Line()[:20], 10, true},
		"kubelet timestamp":    {"2026-12-01T10:00:00Z " + b.Line() + "\n", 50, true},
		"none":                 {"agent: backup of database\n\n", 0, false},
		"empty":                {"", 0, false},
	} {
		got, ok := Last([]byte(tc.log))
		if ok != tc.ok || got.BytesDone != tc.want {
			t.Errorf("%s: Last = %d, %v; want %d, %v", name, got.BytesDone, ok, tc.want, tc.ok)
		}
	}
}

func TestPercentIsCappedUntilTheEnd(t *testing.T) {
	for _, tc := range []struct {
		r    Report
		want int
	}{
		{Report{BytesDone: 42, BytesExpected: 100}, 42},
		{Report{BytesDone: 300, BytesExpected: 100}, 99},
		{Report{BytesDone: 300}, -1},
		{Report{BytesDone: 100, BytesExpected: 100, Final: true, Succeeded: true}, 100},
		{Report{BytesDone: 50, BytesExpected: 100, Final: true}, 50},
	} {
		if got := tc.r.Percent(); got != tc.want {
			t.Errorf("%+v: Percent = %d, want %d", tc.r, got, tc.want)
		}
	}
}
