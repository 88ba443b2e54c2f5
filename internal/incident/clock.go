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

// Package incident holds the Incident controller's pure rules: the response deadline
// by severity (P3 on a business-day calendar), the acknowledgement and escalation
// clock, the phase, the bounded append-once timeline, which notifications are due,
// and Next, which names the next action and why. Nothing here talks to the API
// server; the reconciler performs what these functions decide and records it.
package incident

import (
	"fmt"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Response windows of the runbook's severity table (P3 is a calendar rule).
const (
	P0Window = 15 * time.Minute
	P1Window = time.Hour
	P2Window = 4 * time.Hour
	// BusinessDayStart is the hour a P3 falls due on its next business day.
	BusinessDayStart = 9
	// DefaultEscalationInterval applies when spec.responseClock leaves it out.
	DefaultEscalationInterval = 30 * time.Minute
)

// Calendar says which days are business days for a P3: Monday to Friday, in Location,
// except Holidays ("2006-01-02" in Location).
type Calendar struct {
	Location *time.Location
	Holidays map[string]bool
}

// NewCalendar builds the calendar of a response clock. The zone is the clock's
// timeZone, else def (the manager's flag). A zone the zone database lacks, or a
// holiday that is not a date (the API server refuses both; an object stored before
// the rule, or with the rules off, may still carry one), is reported in the error
// and left out: the calendar falls back to def and the valid holidays, so the
// incident still gets a deadline.
func NewCalendar(c *opsv1alpha1.ResponseClock, def *time.Location) (Calendar, error) {
	if def == nil {
		def = time.UTC
	}
	cal := Calendar{Location: def, Holidays: map[string]bool{}}
	if c == nil {
		return cal, nil
	}
	var problem error
	if c.TimeZone != "" {
		if loc, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" {
			problem = fmt.Errorf("spec.responseClock.timeZone %q is not a time zone the manager knows; the deadline is counted in %s", c.TimeZone, def)
		} else {
			cal.Location = loc
		}
	}
	for _, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			if problem == nil {
				problem = fmt.Errorf("spec.responseClock.holidays: %q is not a date (YYYY-MM-DD); it is ignored", h)
			}
			continue
		}
		cal.Holidays[h] = true
	}
	return cal, problem
}

// BusinessDay reports whether the calendar day of t (in the calendar's zone) is one.
func (c Calendar) BusinessDay(t time.Time) bool {
	t = t.In(c.location())
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return !c.Holidays[t.Format(time.DateOnly)]
}

func (c Calendar) location() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

// NextBusinessDayStart is 09:00 local time on the first business day after the
// calendar day of t: opened on a Friday evening (or on Saturday), Monday 09:00;
// opened on a Monday at 08:00, Tuesday 09:00. 09:00 is wall-clock time, so across a
// DST change the elapsed time is an hour more or less than the days suggest.
func (c Calendar) NextBusinessDayStart(t time.Time) time.Time {
	loc := c.location()
	t = t.In(loc)
	y, m, d := t.Date()
	// Holidays are at most 100, so a business day is found within ~150 days.
	for i := 1; i <= 400; i++ {
		day := time.Date(y, m, d+i, BusinessDayStart, 0, 0, 0, loc)
		if c.BusinessDay(day) {
			return day
		}
	}
	return time.Date(y, m, d+1, BusinessDayStart, 0, 0, 0, loc)
}

// ResponseDeadline is when an incident of severity opened at openedAt must be
// acknowledged: P0 15 min, P1 1 h, P2 4 h, P3 the next business day at 09:00. An
// unknown severity (refused by the API server) is treated as P0: better paged early.
func ResponseDeadline(sev opsv1alpha1.IncidentSeverity, openedAt time.Time, cal Calendar) time.Time {
	switch sev {
	case opsv1alpha1.SeverityP1:
		return openedAt.Add(P1Window)
	case opsv1alpha1.SeverityP2:
		return openedAt.Add(P2Window)
	case opsv1alpha1.SeverityP3:
		return cal.NextBusinessDayStart(openedAt)
	default:
		return openedAt.Add(P0Window)
	}
}
