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

package incident

import (
	"strings"
	"testing"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("zone database lacks %s: %v", name, err)
	}
	return loc
}

func TestResponseDeadlineBySeverity(t *testing.T) {
	berlin, newYork := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	utc := time.UTC
	christmas := map[string]bool{"2026-12-24": true, "2026-12-25": true, "2026-12-26": true}
	cases := []struct {
		what     string
		sev      opsv1alpha1.IncidentSeverity
		cal      Calendar
		opened   time.Time
		want     time.Time
		weekdayW time.Weekday
	}{
		{"P0 in 15 minutes", opsv1alpha1.SeverityP0, Calendar{}, at(utc, "2026-12-05 23:50"), at(utc, "2026-12-06 00:05"), time.Sunday},
		{"P1 in an hour, weekend or not", opsv1alpha1.SeverityP1, Calendar{}, at(utc, "2026-12-05 12:00"), at(utc, "2026-12-05 13:00"), time.Saturday},
		{"P2 in four hours", opsv1alpha1.SeverityP2, Calendar{}, at(utc, "2026-12-07 22:00"), at(utc, "2026-12-08 02:00"), time.Tuesday},
		{"P3 on a Friday evening is due Monday 09:00", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(berlin, "2026-12-04 18:30"), at(berlin, "2026-12-07 09:00"), time.Monday},
		{"P3 on a Saturday is due Monday 09:00", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(berlin, "2026-12-05 10:00"), at(berlin, "2026-12-07 09:00"), time.Monday},
		{"P3 on a Monday before 09:00 is due Tuesday 09:00", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(berlin, "2026-12-07 08:00"), at(berlin, "2026-12-08 09:00"), time.Tuesday},
		{"P3 before the Christmas holidays skips them and the weekend", opsv1alpha1.SeverityP3, Calendar{Location: berlin, Holidays: christmas}, at(berlin, "2026-12-23 17:00"), at(berlin, "2026-12-28 09:00"), time.Monday},
		{"P3 before a Monday holiday is due Tuesday", opsv1alpha1.SeverityP3, Calendar{Location: berlin, Holidays: map[string]bool{"2027-03-29": true}}, at(berlin, "2027-03-26 18:00"), at(berlin, "2027-03-30 09:00"), time.Tuesday},
		{"P3 across the spring DST change in Berlin (Friday CET, Monday CEST)", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(berlin, "2027-03-26 18:00"), at(utc, "2027-03-29 07:00"), time.Monday},
		{"P3 across the autumn DST change in Berlin (Friday CEST, Monday CET)", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(berlin, "2026-10-23 18:00"), at(utc, "2026-10-26 08:00"), time.Monday},
		{"P3 across the spring DST change in New York (EST to EDT)", opsv1alpha1.SeverityP3, Calendar{Location: newYork}, at(newYork, "2027-03-12 18:00"), at(utc, "2027-03-15 13:00"), time.Monday},
		{"P3 across the autumn DST change in New York (EDT to EST)", opsv1alpha1.SeverityP3, Calendar{Location: newYork}, at(newYork, "2026-10-30 18:00"), at(utc, "2026-11-02 14:00"), time.Monday},
		{"P3 opened Friday evening in New York, already Saturday in UTC", opsv1alpha1.SeverityP3, Calendar{Location: newYork}, at(utc, "2026-12-05 03:00"), at(newYork, "2026-12-07 09:00"), time.Monday},
		{"P3 opened Friday 23:30 UTC, Saturday in Berlin", opsv1alpha1.SeverityP3, Calendar{Location: berlin}, at(utc, "2026-12-04 23:30"), at(berlin, "2026-12-07 09:00"), time.Monday},
		{"P3 without a zone counts in UTC", opsv1alpha1.SeverityP3, Calendar{}, at(utc, "2026-12-04 23:30"), at(utc, "2026-12-07 09:00"), time.Monday},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			got := ResponseDeadline(tc.sev, tc.opened, tc.cal)
			if !got.Equal(tc.want) {
				t.Fatalf("opened %s: deadline %s, want %s", tc.opened.Format(time.RFC3339), got.Format(time.RFC3339), tc.want.Format(time.RFC3339))
			}
			loc := tc.cal.Location
			if loc == nil {
				loc = time.UTC
			}
			if wd := got.In(loc).Weekday(); wd != tc.weekdayW {
				t.Fatalf("deadline falls on %s, want %s", wd, tc.weekdayW)
			}
		})
	}
}

func TestNewCalendarReportsBadZoneAndHolidaysAndFallsBack(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	cal, err := NewCalendar(&opsv1alpha1.ResponseClock{TimeZone: "Mars/Olympus_Mons", Holidays: []string{"2026-12-25", "2027-02-30"}}, berlin)
	if err == nil || !strings.Contains(err.Error(), "spec.responseClock.timeZone") {
		t.Fatalf("an unknown zone must be reported naming the field, got %v", err)
	}
	if cal.Location != berlin || !cal.Holidays["2026-12-25"] || cal.Holidays["2027-02-30"] {
		t.Fatalf("fallback calendar: zone %v, holidays %v", cal.Location, cal.Holidays)
	}
	_, err = NewCalendar(&opsv1alpha1.ResponseClock{TimeZone: "America/New_York", Holidays: []string{"Christmas"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "spec.responseClock.holidays") {
		t.Fatalf("a holiday that is not a date must be reported naming the field, got %v", err)
	}
	cal, err = NewCalendar(&opsv1alpha1.ResponseClock{TimeZone: "America/New_York"}, nil)
	if err != nil || cal.Location.String() != "America/New_York" {
		t.Fatalf("valid zone: %v %v", cal.Location, err)
	}
}
