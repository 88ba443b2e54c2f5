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

package retention

import (
	"slices"
	"testing"
	"time"
)

func kept(r Result) []string {
	var names []string
	for n := range r.Keep {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// nightly returns one Completed backup per day at 03:00 Berlin (02:00Z in winter,
// 01:00Z in summer) from first to last inclusive, named by date.
func nightly(first, last string) []Backup {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	var out []Backup
	d, _ := time.ParseInLocation("2006-01-02", first, berlin)
	end, _ := time.ParseInLocation("2006-01-02", last, berlin)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		out = append(out, Backup{Name: d.Format("2006-01-02"), Time: d.Add(3 * time.Hour).UTC(), State: Completed})
	}
	return out
}

func TestGrandfatherFatherSon(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(s string) time.Time { x, _ := time.Parse(time.RFC3339, s); return x }
	for _, tc := range []struct {
		name    string
		policy  Policy
		backups []Backup
		keep    []string
	}{
		{
			// Hand-checked on the calendar: 2026-11-28 is a Saturday in ISO week 48
			// (Mon 23 – Sun 29); W47 ends Sun 22, W46 Sun 15, W45 Sun 8.
			name:    "70 nightly backups, keepLast 3, daily 7, weekly 4, monthly 3",
			policy:  Policy{KeepLast: 3, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 3, Location: berlin},
			backups: nightly("2026-09-20", "2026-11-28"),
			keep: []string{"2026-09-30", "2026-10-31", "2026-11-08", "2026-11-15",
				"2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"},
		},
		{
			name:    "keepLast only",
			policy:  Policy{KeepLast: 2},
			backups: nightly("2026-11-20", "2026-11-28"),
			keep:    []string{"2026-11-27", "2026-11-28"},
		},
		{
			name:    "all rules zero still keep the newest completed backup",
			policy:  Policy{},
			backups: nightly("2026-11-20", "2026-11-28"),
			keep:    []string{"2026-11-28"},
		},
		{
			name:   "running and pending backups are never pruned; failed ones up to keepFailed, newest first",
			policy: Policy{KeepLast: 1, KeepFailed: 2},
			backups: []Backup{
				{"ok-1", at("2026-11-20T02:00:00Z"), Completed},
				{"ok-2", at("2026-11-21T02:00:00Z"), Completed},
				{"fail-1", at("2026-11-22T02:00:00Z"), Failed},
				{"fail-2", at("2026-11-23T02:00:00Z"), Failed},
				{"fail-3", at("2026-11-24T02:00:00Z"), Failed},
				{"running", at("2026-11-25T02:00:00Z"), Unfinished},
				{"pending-old", at("2026-11-01T02:00:00Z"), Unfinished},
			},
			keep: []string{"fail-2", "fail-3", "ok-2", "pending-old", "running"},
		},
		{
			name:   "failed backups do not count as the newest completed one",
			policy: Policy{KeepLast: 0, KeepFailed: 0},
			backups: []Backup{
				{"ok-old", at("2026-11-01T02:00:00Z"), Completed},
				{"fail-new", at("2026-11-28T02:00:00Z"), Failed},
			},
			keep: []string{"ok-old"},
		},
		{
			// 22:30Z on the 27th is the 27th in Berlin; 23:30Z is already the 28th there.
			name:   "days are cut in the schedule's time zone (Berlin)",
			policy: Policy{KeepDaily: 2, Location: berlin},
			backups: []Backup{
				{"a-2230z", at("2026-11-27T22:30:00Z"), Completed},
				{"b-2330z", at("2026-11-27T23:30:00Z"), Completed},
				{"c-1000z", at("2026-11-28T10:00:00Z"), Completed},
			},
			keep: []string{"a-2230z", "c-1000z"},
		},
		{
			name:   "the same backups cut in UTC",
			policy: Policy{KeepDaily: 2},
			backups: []Backup{
				{"a-2230z", at("2026-11-27T22:30:00Z"), Completed},
				{"b-2330z", at("2026-11-27T23:30:00Z"), Completed},
				{"c-1000z", at("2026-11-28T10:00:00Z"), Completed},
			},
			keep: []string{"b-2330z", "c-1000z"},
		},
		{
			name:   "keepDaily counts days that have a backup, not calendar days",
			policy: Policy{KeepDaily: 2},
			backups: []Backup{
				{"nov-01", at("2026-11-01T02:00:00Z"), Completed},
				{"nov-10", at("2026-11-10T02:00:00Z"), Completed},
				{"nov-28", at("2026-11-28T02:00:00Z"), Completed},
			},
			keep: []string{"nov-10", "nov-28"},
		},
		{
			name:   "ISO week of a year boundary: 2026-12-31 (Thu) and 2027-01-03 (Sun) share 2026-W53",
			policy: Policy{KeepWeekly: 2},
			backups: []Backup{
				{"dec-27", at("2026-12-27T02:00:00Z"), Completed}, // Sun, W52
				{"dec-31", at("2026-12-31T02:00:00Z"), Completed}, // Thu, W53
				{"jan-03", at("2027-01-03T02:00:00Z"), Completed}, // Sun, W53
			},
			keep: []string{"dec-27", "jan-03"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.policy, tc.backups)
			if got := kept(res); !slices.Equal(got, tc.keep) {
				t.Errorf("kept %v\nwant %v", got, tc.keep)
			}
			if len(res.Keep)+len(res.Prune) != len(tc.backups) {
				t.Errorf("%d kept + %d pruned != %d backups", len(res.Keep), len(res.Prune), len(tc.backups))
			}
		})
	}
}
