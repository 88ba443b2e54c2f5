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

package agent

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"runbook-operator/internal/pgtools"
)

func TestSummarizeSessions(t *testing.T) {
	age := func(v float64) *float64 { return &v }
	slots := connectionSlots{max: 100, reserved: 3}
	for _, tc := range []struct {
		name        string
		rows        []sessionRow
		slots       connectionSlots
		want        ConnectionCounts
		query, xact *SessionAge
	}{
		{name: "no other session", slots: slots,
			want: ConnectionCounts{ByState: map[string]int{}, Max: 100, Reserved: 3, Available: 97}},
		{name: "the longest query is the oldest active one, the longest transaction any state's", slots: slots,
			rows: []sessionRow{
				{PID: 1, State: "idle", QueryAge: age(900), Here: true}, // its last query, long done
				{PID: 2, State: "active", WaitEventType: "Timeout", QueryAge: age(12.3456), XactAge: age(12.3456), Database: "shop", User: "app", Here: true},
				{PID: 3, State: "idle in transaction", QueryAge: age(30), XactAge: age(40), Database: "shop", User: "app", Here: true},
				{PID: 4, State: "active", WaitEventType: "Lock", QueryAge: age(5), XactAge: age(5), Database: "other"},
			},
			want:  ConnectionCounts{Total: 4, Database: 3, ByState: map[string]int{"idle": 1, "active": 2, "idle in transaction": 1}, WaitingOnLock: 1, Max: 100, Reserved: 3, Available: 93},
			query: &SessionAge{Seconds: 12.346, PID: 2, Database: "shop", User: "app", State: "active", WaitEventType: "Timeout"},
			xact:  &SessionAge{Seconds: 40, PID: 3, Database: "shop", User: "app", State: "idle in transaction"}},
		{name: "hidden sessions count in the totals only", slots: slots,
			rows: []sessionRow{
				{PID: 1, Hidden: true, Here: true},
				{PID: 2, Hidden: true},
				{PID: 3, State: "idle"},
			},
			want: ConnectionCounts{Total: 3, Database: 1, Hidden: 2, ByState: map[string]int{"idle": 1}, Max: 100, Reserved: 3, Available: 94}},
		{name: "superusers in the reserved slots leave none available, not fewer than none",
			slots: connectionSlots{max: 3, reserved: 2},
			rows:  []sessionRow{{PID: 1, State: "idle"}, {PID: 2, State: "idle"}, {PID: 3, State: "active", QueryAge: age(-0.001)}},
			want:  ConnectionCounts{Total: 3, ByState: map[string]int{"idle": 2, "active": 1}, Max: 3, Reserved: 2},
			query: &SessionAge{PID: 3, State: "active"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, query, xact := summarizeSessions(tc.rows, tc.slots)
			if !maps.Equal(got.ByState, tc.want.ByState) {
				t.Errorf("by state %v, want %v", got.ByState, tc.want.ByState)
			}
			got.ByState, tc.want.ByState = nil, nil
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("counts %+v\nwant   %+v", *got, tc.want)
			}
			for _, a := range []struct{ what, got, want string }{
				{"longest query", fmt.Sprintf("%+v", deref(query)), fmt.Sprintf("%+v", deref(tc.query))},
				{"longest transaction", fmt.Sprintf("%+v", deref(xact)), fmt.Sprintf("%+v", deref(tc.xact))},
			} {
				if a.got != a.want {
					t.Errorf("%s %s, want %s", a.what, a.got, a.want)
				}
			}
		})
	}
}

func deref(a *SessionAge) any {
	if a == nil {
		return nil
	}
	return *a
}

func TestConnectFailure(t *testing.T) {
	wrap := func(code string) error {
		return &pgtools.Error{Msg: "x", Err: fmt.Errorf("failed to connect: %w", &pgconn.PgError{Code: code})}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&pgtools.Error{Msg: "cannot connect", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}, ConnectFailureUnreachable},
		{wrap("28P01"), ConnectFailureAuthentication},
		{wrap("28000"), ConnectFailureAuthentication},
		{wrap("3D000"), ConnectFailureDatabaseMissing},
		{wrap("42501"), ConnectFailurePermission},
		{wrap("53300"), ConnectFailureTooManyConnections},
		{wrap("57P03"), ConnectFailureNotAccepting},
		{wrap("XX000"), ConnectFailureOther},
	} {
		if got := connectFailure(tc.err); got != tc.want {
			t.Errorf("connectFailure(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestCheckSummary(t *testing.T) {
	started := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ok := Result{Command: "check", Database: "shop", ServerVersion: "15.18", Check: &DatabaseCheck{
		Server: "db:5432", Connected: true, ConnectMillis: 3.12, LatencyMillis: 0.4, ServerStartedAt: &started,
		Connections:       &ConnectionCounts{Total: 5, Database: 4, ByState: map[string]int{"idle": 2, "active": 1, "idle in transaction": 1}, Hidden: 1, WaitingOnLock: 1, Max: 100, Reserved: 3, Available: 92},
		LongestQuery:      &SessionAge{Seconds: 12.34, PID: 7, Database: "shop", User: "app", State: "active", WaitEventType: "Lock"},
		DatabaseSizeBytes: 7654321,
		Problems:          []string{"database size: timeout"},
	}}
	want := `database "shop" on db:5432: connected in 3.1 ms, SELECT 1 in 0.4 ms, PostgreSQL 15.18, up since 2026-12-07T09:00:00Z
connections: 5 of 100 (3 reserved, 92 available), 4 on "shop"; 1 active, 2 idle, 1 idle in transaction, 1 of other roles not visible to this role; 1 waiting on a lock
longest query: 12.3s (pid 7 on "shop", user app, active, waiting on Lock)
longest transaction: none
database size: 7.3 MiB
could not read database size: timeout`
	if got := CheckSummary(ok); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	down := Result{Command: "check", Database: "shop", Check: &DatabaseCheck{Server: "db:5432", ConnectMillis: 1000, ConnectFailure: ConnectFailureUnreachable, ConnectError: "cannot connect"}}
	if got := CheckSummary(down); got != `database "shop" on db:5432: NOT CONNECTED (Unreachable after 1000.0 ms): cannot connect` {
		t.Errorf("summary %q", got)
	}
	if got := CheckSummary(Result{Command: "check", Error: "PGHOST is not set"}); !strings.Contains(got, "failed: PGHOST is not set") {
		t.Errorf("summary %q", got)
	}
}

// TestCheckResultFitsTheTerminationMessage: the largest check result a server can
// produce (every state, 63-byte names, problems at their cap) stays under the limit
// without losing a count.
func TestCheckResultFitsTheTerminationMessage(t *testing.T) {
	name := strings.Repeat("n", 63)
	age := &SessionAge{Seconds: 1e9, PID: 1 << 30, Database: name, User: name, State: "idle in transaction (aborted)", WaitEventType: "BufferPin"}
	r := Result{Command: "check", Database: name, ServerVersion: "17.2", DurationSeconds: 1e6, Check: &DatabaseCheck{
		Server: strings.Repeat("h", 253) + ":65535", Connected: true, ConnectMillis: 1e9, LatencyMillis: 1e9,
		Connections: &ConnectionCounts{Total: 1e6, Database: 1e6, Hidden: 1e6, WaitingOnLock: 1e6, Max: 1e6, Reserved: 1e6, Available: 1e6, ByState: map[string]int{
			"active": 1e6, "idle": 1e6, "idle in transaction": 1e6, "idle in transaction (aborted)": 1e6, "fastpath function call": 1e6, "disabled": 1e6}},
		LongestQuery: age, LongestTransaction: age, DatabaseSizeBytes: 1 << 60,
	}}
	for _, what := range []string{"set statement_timeout", "SELECT 1", "server version", "connection settings", "pg_stat_activity", "database size"} {
		r.Check.Problems = append(r.Check.Problems, truncate(what+": "+strings.Repeat("é", 400), 300))
	}
	b := r.Marshal()
	got, err := ParseResult(b)
	if len(b) > MaxResultBytes || err != nil || got.Check == nil || got.Check.Connections.ByState["disabled"] != 1e6 || len(got.Check.Problems) != 6 {
		t.Fatalf("%d bytes (%v): %s", len(b), err, b)
	}
}
