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

// Package retention decides which of a schedule's backups are kept, grandfather-
// father-son style, in the schedule's time zone. A backup is kept when any rule keeps
// it:
//
//   - keepLast: the N newest Completed backups;
//   - keepDaily / keepWeekly / keepMonthly: the newest Completed backup of each of the
//     N newest days / ISO weeks / months that have one;
//   - keepFailed: the N newest Failed backups;
//   - always: the newest Completed backup, and every backup not finished yet.
//
// Everything else is pruned. The package is pure: it never deletes anything.
package retention

import (
	"fmt"
	"slices"
	"time"
)

// State of a backup for retention.
type State int

const (
	// Unfinished backups (pending, running, verifying) are always kept.
	Unfinished State = iota
	// Completed backups are kept by keepLast and the calendar rules.
	Completed
	// Failed backups are kept by keepFailed.
	Failed
)

// Backup is what retention needs to know of one backup.
type Backup struct {
	Name  string
	Time  time.Time // when it was taken (scheduled or start time)
	State State
}

// Policy is a schedule's retention in its time zone (nil Location means UTC).
type Policy struct {
	KeepLast, KeepDaily, KeepWeekly, KeepMonthly, KeepFailed int
	Location                                                 *time.Location
}

// Result says which backups are kept (with why) and which are pruned, newest first.
type Result struct {
	Keep  map[string][]string
	Prune []string
}

// Decide applies p to backups.
func Decide(p Policy, backups []Backup) Result {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	sorted := slices.Clone(backups)
	slices.SortStableFunc(sorted, func(a, b Backup) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return compareStrings(b.Name, a.Name)
	})
	res := Result{Keep: map[string][]string{}}
	keep := func(name, why string) { res.Keep[name] = append(res.Keep[name], why) }

	var completed, failed []Backup
	for _, b := range sorted {
		switch b.State {
		case Completed:
			completed = append(completed, b)
		case Failed:
			failed = append(failed, b)
		default:
			keep(b.Name, "not finished")
		}
	}
	if len(completed) > 0 {
		keep(completed[0].Name, "newest completed")
	}
	for i, b := range completed {
		if i < p.KeepLast {
			keep(b.Name, "last")
		}
	}
	bucket := func(rule string, n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, b := range completed {
			if len(seen) >= n {
				return
			}
			k := key(b.Time.In(loc))
			if !seen[k] {
				seen[k] = true
				keep(b.Name, rule+" "+k)
			}
		}
	}
	bucket("daily", p.KeepDaily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket("weekly", p.KeepWeekly, func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	bucket("monthly", p.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") })
	for i, b := range failed {
		if i < p.KeepFailed {
			keep(b.Name, "failed")
		}
	}
	for _, b := range sorted {
		if _, ok := res.Keep[b.Name]; !ok {
			res.Prune = append(res.Prune, b.Name)
		}
	}
	return res
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
