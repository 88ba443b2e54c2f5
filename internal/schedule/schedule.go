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

// Package schedule is BackupSchedule's pure core. schedule.go reads 5-field cron
// expressions in a time zone and decides, from the last handled run and the current
// time, whether a run is due, late or missed (Due); run.go decides what the schedule
// does about it (Decide: create, skip, wait) with the words for status and events;
// backups.go builds a run's DatabaseBackup and summarises the backups into status and
// retention's input. Nothing here talks to the API server: the caller brings the
// clock, the backups and the client.
package schedule

import (
	"fmt"
	"time"
	_ "time/tzdata" // time zones without the image's zoneinfo

	"github.com/robfig/cron/v3"
)

// MaxLateness is the longest a run may start after its scheduled time and still be
// on time (shorter for schedules that run more often than that).
const MaxLateness = 10 * time.Minute

// maxMissed bounds the count of missed runs (an every-minute schedule down for a month).
const maxMissed = 100000

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	cron cron.Schedule
	loc  *time.Location
}

// Parse reads a 5-field cron expression (or @daily, @hourly, …) in the IANA time zone
// tz ("" means UTC). Its errors start with the field at fault ("timeZone: …",
// "schedule: …"), as BackupSchedule's spec names them.
func Parse(expr, tz string) (*Schedule, error) {
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("timeZone: unknown time zone %q: the zone database has no such zone; use an IANA name such as Europe/Berlin", tz)
	}
	c, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule: %q is not a 5-field cron expression (minute hour day-of-month month day-of-week): %v", expr, err)
	}
	return &Schedule{cron: c, loc: loc}, nil
}

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first scheduled time strictly after t.
func (s *Schedule) Next(t time.Time) time.Time { return s.cron.Next(t.In(s.loc)).UTC() }

// Policy for runs missed while no controller ran.
type Policy int

const (
	// RunOnce takes one catch-up run for any number of missed runs.
	RunOnce Policy = iota
	// Skip waits for the next scheduled time.
	Skip
)

// Due is which scheduled times are due now.
type Due struct {
	// Run is the scheduled time to run now, or zero.
	Run time.Time
	// Latest is the newest scheduled time not after now and after last, or zero: the
	// run that is handled now (run, or skipped as missed).
	Latest time.Time
	// Missed counts the scheduled times in (last, now] that are not run on time:
	// all of them but an on-time latest one.
	Missed int
	// Late is true when Run is a catch-up rather than an on-time run.
	Late bool
	// Next is the first scheduled time after now.
	Next time.Time
}

// Due decides what to do at now, given last, the newest scheduled time already
// handled (or the schedule's creation time). A run is on time when now is at most
// MaxLateness (or one interval, if shorter) after it. RunOnce runs the newest due time
// even when late, once; Skip runs only on time.
func (s *Schedule) Due(last, now time.Time, p Policy) Due {
	d := Due{Next: s.Next(now)}
	count := 0
	for t := s.Next(last); !t.After(now); t = s.Next(t) {
		d.Latest = t
		count++
		if count >= maxMissed {
			// Jump ahead: only the newest due time matters from here.
			for n := s.Next(t); !n.After(now); n = s.Next(n) {
				d.Latest = n
			}
			break
		}
	}
	if d.Latest.IsZero() {
		return d
	}
	grace := MaxLateness
	if interval := s.Next(d.Latest).Sub(d.Latest); interval < grace {
		grace = interval
	}
	onTime := now.Sub(d.Latest) < grace
	d.Missed = count
	if onTime {
		d.Missed--
	}
	switch {
	case onTime:
		d.Run = d.Latest
	case p == RunOnce:
		d.Run, d.Late = d.Latest, true
	}
	return d
}
