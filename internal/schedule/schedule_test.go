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

package schedule

import (
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		expr, tz, err string
	}{
		{"0 3 * * *", "Europe/Berlin", ""},
		{"@daily", "", ""},
		{"*/15 * * * 1-5", "America/New_York", ""},
		{"0 3 * * *", "Mars/Olympus", `timeZone: unknown time zone "Mars/Olympus"`}, // IANA shape, so the CRD lets it through
		{"0 5-1 * * *", "UTC", "schedule: "},                                        // backwards range: the CRD's regex cannot see it
		{"*/15 0-6/2 1,15 JAN-MAR mon-fri", "America/Argentina/Buenos_Aires", ""},   // what the CRD's cron rules accept, Go accepts
		{"59 23 31 12 ?", "Etc/GMT+5", ""},
		{"0 3 * *", "UTC", "not a 5-field cron expression"},
		{"0 0 3 * * *", "UTC", "not a 5-field cron expression"}, // seconds field refused
		{"61 * * * *", "UTC", "not a 5-field cron expression"},
	} {
		_, err := Parse(tc.expr, tc.tz)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Parse(%q, %q) = %v, want error containing %q", tc.expr, tc.tz, err, tc.err)
		}
	}
}

func TestNextInTimeZone(t *testing.T) {
	for _, tc := range []struct {
		name, expr, tz, after, want string
	}{
		{"Berlin winter (UTC+1)", "0 3 * * *", "Europe/Berlin", "2026-01-10T12:00:00Z", "2026-01-11T02:00:00Z"},
		{"Berlin summer (UTC+2)", "0 3 * * *", "Europe/Berlin", "2026-07-10T12:00:00Z", "2026-07-11T01:00:00Z"},
		// 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
		{"spring-forward gap is skipped to the next day", "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
		{"New York weekday", "0 9 * * 1-5", "America/New_York", "2026-11-27T20:00:00Z", "2026-11-30T14:00:00Z"}, // Friday evening → Monday 09:00 EST
		{"UTC default", "15 * * * *", "", "2026-11-28T10:20:00Z", "2026-11-28T11:15:00Z"},
		{"monthly descriptor", "@monthly", "UTC", "2026-11-28T10:00:00Z", "2026-12-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.expr, tc.tz)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(ts(tc.after)); !got.Equal(ts(tc.want)) {
				t.Errorf("Next(%s) = %s, want %s", tc.after, got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestDueWithFakeClock(t *testing.T) {
	daily, _ := Parse("0 3 * * *", "Europe/Berlin") // 02:00Z in winter
	every5, _ := Parse("*/5 * * * *", "UTC")
	for _, tc := range []struct {
		name      string
		s         *Schedule
		last, now string
		policy    Policy
		run       string // "" = no run
		latest    string
		missed    int
		late      bool
		next      string
	}{
		{name: "not yet due", s: daily, last: "2026-11-27T02:00:00Z", now: "2026-11-28T01:59:59Z",
			next: "2026-11-28T02:00:00Z"},
		{name: "due exactly at the scheduled time", s: daily, last: "2026-11-27T02:00:00Z", now: "2026-11-28T02:00:00Z",
			run: "2026-11-28T02:00:00Z", latest: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z"},
		{name: "a few minutes late is on time", s: daily, last: "2026-11-27T02:00:00Z", now: "2026-11-28T02:09:00Z",
			run: "2026-11-28T02:00:00Z", latest: "2026-11-28T02:00:00Z", next: "2026-11-29T02:00:00Z"},
		{name: "already handled", s: daily, last: "2026-11-28T02:00:00Z", now: "2026-11-28T02:01:00Z",
			next: "2026-11-29T02:00:00Z"},
		{name: "an hour late, RunOnce: one catch-up", s: daily, last: "2026-11-27T02:00:00Z", now: "2026-11-28T03:00:00Z", policy: RunOnce,
			run: "2026-11-28T02:00:00Z", latest: "2026-11-28T02:00:00Z", missed: 1, late: true, next: "2026-11-29T02:00:00Z"},
		{name: "manager down five days, RunOnce: one catch-up for the newest", s: daily, last: "2026-11-23T02:00:00Z", now: "2026-11-28T12:00:00Z", policy: RunOnce,
			run: "2026-11-28T02:00:00Z", latest: "2026-11-28T02:00:00Z", missed: 5, late: true, next: "2026-11-29T02:00:00Z"},
		{name: "manager down five days, Skip: nothing until the next time", s: daily, last: "2026-11-23T02:00:00Z", now: "2026-11-28T12:00:00Z", policy: Skip,
			latest: "2026-11-28T02:00:00Z", missed: 5, next: "2026-11-29T02:00:00Z"},
		{name: "down five days, back right at a run, Skip: that run is on time", s: daily, last: "2026-11-23T02:00:00Z", now: "2026-11-28T02:03:00Z", policy: Skip,
			run: "2026-11-28T02:00:00Z", latest: "2026-11-28T02:00:00Z", missed: 4, next: "2026-11-29T02:00:00Z"},
		{name: "frequent schedule: lateness bounded by the interval", s: every5, last: "2026-11-28T10:00:00Z", now: "2026-11-28T10:10:00Z", policy: Skip,
			run: "2026-11-28T10:10:00Z", latest: "2026-11-28T10:10:00Z", missed: 1, next: "2026-11-28T10:15:00Z"},
		{name: "frequent schedule a month down: bounded work, one run", s: every5, last: "2026-10-28T10:00:00Z", now: "2026-11-28T10:07:00Z", policy: RunOnce,
			run: "2026-11-28T10:05:00Z", latest: "2026-11-28T10:05:00Z", missed: 8928, next: "2026-11-28T10:10:00Z"}, // 31 × 288 + 1 due, the newest on time
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.s.Due(ts(tc.last), ts(tc.now), tc.policy)
			wantRun := time.Time{}
			if tc.run != "" {
				wantRun = ts(tc.run)
			}
			wantLatest := time.Time{}
			if tc.latest != "" {
				wantLatest = ts(tc.latest)
			}
			if !d.Run.Equal(wantRun) || !d.Latest.Equal(wantLatest) || d.Missed != tc.missed || d.Late != tc.late || !d.Next.Equal(ts(tc.next)) {
				t.Errorf("Due = run %v latest %v missed %d late %v next %v; want run %v latest %v missed %d late %v next %s",
					d.Run, d.Latest, d.Missed, d.Late, d.Next, wantRun, wantLatest, tc.missed, tc.late, tc.next)
			}
		})
	}
}
