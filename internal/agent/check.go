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
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"runbook-operator/internal/pgtools"
)

// DatabaseCheck is what `agent check` found: the database half of an Incident's
// evidence. It never holds query text (pg_stat_activity.query is never read, so no
// literal of an application's query can leak) nor the password.
type DatabaseCheck struct {
	// Server is the host:port checked.
	Server string `json:"server"`
	// Connected says whether a session could be opened.
	Connected bool `json:"connected"`
	// ConnectError says why not (the agent's sentence and the driver's error, scrubbed
	// of the password); ConnectFailure classifies it (ConnectFailure* constants).
	ConnectError   string `json:"connectError,omitempty"`
	ConnectFailure string `json:"connectFailure,omitempty"`
	// ConnectMillis is the time to open the session (retries included); LatencyMillis
	// the round trip of `SELECT 1` on it.
	ConnectMillis float64 `json:"connectMillis,omitempty"`
	LatencyMillis float64 `json:"latencyMillis,omitempty"`
	// ServerStartedAt is pg_postmaster_start_time(): a recent restart shows here.
	ServerStartedAt *time.Time `json:"serverStartedAt,omitempty"`
	// InRecovery is true on a standby (read-only).
	InRecovery bool `json:"inRecovery,omitempty"`
	// Connections counts the client sessions of the whole server (nil: not read).
	Connections *ConnectionCounts `json:"connections,omitempty"`
	// LongestQuery is the active query running longest, LongestTransaction the
	// transaction open longest (nil: none, or not read).
	LongestQuery       *SessionAge `json:"longestQuery,omitempty"`
	LongestTransaction *SessionAge `json:"longestTransaction,omitempty"`
	// DatabaseSizeBytes is pg_database_size of the checked database.
	DatabaseSizeBytes int64 `json:"databaseSizeBytes,omitempty"`
	// Problems are the parts that could not be read once connected (e.g. a statement
	// timeout on a wedged server); what was read is still reported.
	Problems []string `json:"problems,omitempty"`
}

// ConnectionCounts are pg_stat_activity's client backends against the server's
// connection slots. The check's own session is not counted.
type ConnectionCounts struct {
	// Total is every client session of the server; Database those of the checked database.
	Total    int `json:"total"`
	Database int `json:"database"`
	// ByState counts sessions by pg_stat_activity.state: active, idle, idle in
	// transaction, idle in transaction (aborted), fastpath function call, disabled.
	ByState map[string]int `json:"byState"`
	// Hidden counts other roles' sessions whose state the checking role may not see
	// (grant it pg_monitor or pg_read_all_stats); they are in Total but not ByState.
	Hidden int `json:"hidden,omitempty"`
	// WaitingOnLock counts sessions waiting for a heavyweight lock (wait_event_type Lock).
	WaitingOnLock int `json:"waitingOnLock"`
	// Max is max_connections; Reserved the slots only superusers (and, from
	// PostgreSQL 16, pg_use_reserved_connections) may take; Available what is left
	// for ordinary roles: Max - Reserved - Total, at least 0.
	Max       int `json:"max"`
	Reserved  int `json:"reserved"`
	Available int `json:"available"`
}

// SessionAge is how long one session's query or transaction has been running, and
// whose it is (never its query text).
type SessionAge struct {
	Seconds  float64 `json:"seconds"`
	PID      int     `json:"pid"`
	Database string  `json:"database,omitempty"`
	User     string  `json:"user,omitempty"`
	// State and WaitEventType are the session's pg_stat_activity state and wait_event_type.
	State         string `json:"state,omitempty"`
	WaitEventType string `json:"waitEventType,omitempty"`
}

// Kinds of DatabaseCheck.ConnectFailure.
const (
	ConnectFailureUnreachable        = "Unreachable"          // no answer: refused, timed out, DNS, TLS
	ConnectFailureAuthentication     = "AuthenticationFailed" // wrong user or password, pg_hba.conf
	ConnectFailureDatabaseMissing    = "DatabaseMissing"
	ConnectFailurePermission         = "PermissionDenied" // no CONNECT privilege
	ConnectFailureTooManyConnections = "TooManyConnections"
	ConnectFailureNotAccepting       = "NotAcceptingConnections" // starting up, shutting down, in recovery
	ConnectFailureOther              = "Other"
)

// DefaultCheckConnectTimeout is how long `agent check` retries its connection by
// default: an unreachable server is a finding to report, not to wait out.
const DefaultCheckConnectTimeout = 10 * time.Second

// check reports connectivity, server version, sessions by state against the
// connection slots, the longest query and transaction, lock waits and the database
// size. A server it cannot connect to is a finding (Connected false, exit 0), not a
// failure of the command; only bad settings or an interruption are.
func (e *env) check(ctx context.Context, res *Result) error {
	t, err := e.target()
	if err != nil {
		return err
	}
	res.Database = t.Database
	c := &DatabaseCheck{Server: t.Addr()}
	res.Check = c
	start := time.Now()
	conn, err := t.Connect(ctx, t.Database)
	c.ConnectMillis = millis(time.Since(start))
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		c.ConnectError = sanitizeMessage(err.Error())
		c.ConnectFailure = connectFailure(err)
		e.printCheck(res)
		return nil
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	c.Connected = true
	problem := func(what string, err error) {
		c.Problems = append(c.Problems, truncate(sanitizeMessage(what+": "+err.Error()), 300))
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", e.o.StatementTimeout.Milliseconds())); err != nil {
		problem("set statement_timeout", err)
	}
	start = time.Now()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		problem("SELECT 1", err)
	} else {
		c.LatencyMillis = millis(time.Since(start))
	}
	if v, err := pgtools.ServerVersion(ctx, conn); err != nil {
		problem("server version", err)
	} else {
		res.ServerVersion = v.Text
	}
	slots, err := readSlots(ctx, conn, c)
	if err != nil {
		problem("connection settings", err)
	}
	if rows, err := readSessions(ctx, conn); err != nil {
		problem("pg_stat_activity", err)
	} else {
		c.Connections, c.LongestQuery, c.LongestTransaction = summarizeSessions(rows, slots)
	}
	if c.DatabaseSizeBytes, err = pgtools.DatabaseSize(ctx, conn); err != nil {
		problem("database size", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the check was interrupted: %w", ctx.Err())
	}
	e.printCheck(res)
	return nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// connectFailure classifies a connection error by the server's SQLSTATE, if it
// answered at all.
func connectFailure(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ConnectFailureUnreachable
	}
	switch {
	case pgErr.Code == "28P01" || pgErr.Code == "28000":
		return ConnectFailureAuthentication
	case pgErr.Code == "3D000":
		return ConnectFailureDatabaseMissing
	case pgErr.Code == "42501":
		return ConnectFailurePermission
	case pgErr.Code == "53300":
		return ConnectFailureTooManyConnections
	case strings.HasPrefix(pgErr.Code, "57P"):
		return ConnectFailureNotAccepting
	}
	return ConnectFailureOther
}

// connectionSlots are the server's connection limits.
type connectionSlots struct{ max, reserved int }

// readSlots reads max_connections, the reserved slots, the start time and whether
// the server is a standby.
func readSlots(ctx context.Context, conn *pgx.Conn, c *DatabaseCheck) (connectionSlots, error) {
	var s connectionSlots
	var superuserReserved, reserved int
	var started time.Time
	// reserved_connections is new in PostgreSQL 16: missing_ok gives NULL before.
	err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int,
		coalesce(current_setting('reserved_connections', true)::int, 0),
		pg_postmaster_start_time(), pg_is_in_recovery()`).Scan(&s.max, &superuserReserved, &reserved, &started, &c.InRecovery)
	if err != nil {
		return s, err
	}
	s.reserved = superuserReserved + reserved
	started = started.UTC()
	c.ServerStartedAt = &started
	return s, nil
}

// sessionRow is one client session of pg_stat_activity, without its query.
type sessionRow struct {
	PID            int
	Database, User string
	// State is "" for a session the checking role may not inspect (Hidden).
	State, WaitEventType string
	Hidden, Here         bool
	// QueryAge and XactAge are the seconds since query_start and xact_start (nil: none).
	QueryAge, XactAge *float64
}

// sessionsSQL selects the client sessions except the check's own, and other roles'
// sessions, whose backend_type a role without pg_read_all_stats sees as NULL (of the
// processes it cannot inspect, only those in a database with a role: the background
// processes have neither, the logical replication launcher no database; other roles'
// parallel and replication workers do count). It never selects query.
const sessionsSQL = `SELECT pid, coalesce(datname, ''), coalesce(usename, ''),
	coalesce(state, ''), coalesce(wait_event_type, ''),
	backend_type IS NULL, coalesce(datname = current_database(), false),
	extract(epoch FROM clock_timestamp() - query_start)::float8,
	extract(epoch FROM clock_timestamp() - xact_start)::float8
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL))`

func readSessions(ctx context.Context, conn *pgx.Conn) ([]sessionRow, error) {
	rows, err := conn.Query(ctx, sessionsSQL)
	if err != nil {
		return nil, err
	}
	var out []sessionRow
	var r sessionRow
	_, err = pgx.ForEachRow(rows, []any{&r.PID, &r.Database, &r.User, &r.State, &r.WaitEventType, &r.Hidden, &r.Here, &r.QueryAge, &r.XactAge}, func() error {
		row := r
		if r.QueryAge != nil {
			row.QueryAge = ptrTo(*r.QueryAge)
		}
		if r.XactAge != nil {
			row.XactAge = ptrTo(*r.XactAge)
		}
		out = append(out, row)
		return nil
	})
	return out, err
}

func ptrTo[T any](v T) *T { return &v }

// summarizeSessions counts rows by state against the slots and picks the longest
// running active query and the longest open transaction.
func summarizeSessions(rows []sessionRow, slots connectionSlots) (*ConnectionCounts, *SessionAge, *SessionAge) {
	c := &ConnectionCounts{ByState: map[string]int{}, Max: slots.max, Reserved: slots.reserved}
	var query, xact *SessionAge
	for _, r := range rows {
		c.Total++
		if r.Here {
			c.Database++
		}
		if r.Hidden {
			c.Hidden++
			continue
		}
		c.ByState[r.State]++
		if r.WaitEventType == "Lock" {
			c.WaitingOnLock++
		}
		if r.State == "active" && r.QueryAge != nil && (query == nil || *r.QueryAge > query.Seconds) {
			query = r.age(*r.QueryAge)
		}
		if r.XactAge != nil && (xact == nil || *r.XactAge > xact.Seconds) {
			xact = r.age(*r.XactAge)
		}
	}
	if slots.max > 0 {
		c.Available = max(slots.max-slots.reserved-c.Total, 0)
	}
	for _, a := range []*SessionAge{query, xact} {
		if a != nil {
			a.Seconds = math.Round(max(a.Seconds, 0)*1000) / 1000
		}
	}
	return c, query, xact
}

func (r sessionRow) age(seconds float64) *SessionAge {
	return &SessionAge{Seconds: seconds, PID: r.PID, Database: r.Database, User: r.User, State: r.State, WaitEventType: r.WaitEventType}
}

// printCheck writes CheckSummary to stdout, for the Job's log.
func (e *env) printCheck(res *Result) {
	if e.out != nil {
		_, _ = fmt.Fprintln(e.out, CheckSummary(*res))
	}
}

// CheckSummary is a check result for people, a few lines:
//
//	database "shop" on db:5432: connected in 3.1 ms, SELECT 1 in 0.4 ms, PostgreSQL 15.18, up since 2026-12-07T09:00:00Z
//	connections: 4 of 100 (3 reserved, 93 available), 3 on "shop"; 1 active, 2 idle, 1 idle in transaction; 0 waiting on a lock
//	longest query: 12.3s (pid 1234 on "shop", user app, active, waiting on Timeout)
//	longest transaction: 15.0s (pid 1235 on "shop", user app, idle in transaction)
//	database size: 7.3 MiB
func CheckSummary(r Result) string {
	c := r.Check
	if c == nil {
		if r.Error != "" {
			return fmt.Sprintf("database check failed: %s", r.Error)
		}
		return "database check: no result"
	}
	head := fmt.Sprintf("database %q on %s", r.Database, c.Server)
	if !c.Connected {
		return fmt.Sprintf("%s: NOT CONNECTED (%s after %s): %s", head, c.ConnectFailure, ms(c.ConnectMillis), c.ConnectError)
	}
	lines := []string{fmt.Sprintf("%s: connected in %s, SELECT 1 in %s, PostgreSQL %s", head, ms(c.ConnectMillis), ms(c.LatencyMillis), r.ServerVersion)}
	if c.ServerStartedAt != nil {
		lines[0] += ", up since " + c.ServerStartedAt.Format(time.RFC3339)
	}
	if c.InRecovery {
		lines[0] += ", a standby (in recovery)"
	}
	if n := c.Connections; n != nil {
		line := fmt.Sprintf("connections: %d of %d (%d reserved, %d available), %d on %q; %s", n.Total, n.Max, n.Reserved, n.Available, n.Database, r.Database, byState(n.ByState))
		if n.Hidden > 0 {
			line += fmt.Sprintf(", %d of other roles not visible to this role", n.Hidden)
		}
		lines = append(lines, line+fmt.Sprintf("; %d waiting on a lock", n.WaitingOnLock))
	}
	for _, a := range []struct {
		what string
		age  *SessionAge
	}{{"longest query", c.LongestQuery}, {"longest transaction", c.LongestTransaction}} {
		if a.age == nil {
			lines = append(lines, a.what+": none")
			continue
		}
		line := fmt.Sprintf("%s: %.1fs (pid %d on %q, user %s, %s", a.what, a.age.Seconds, a.age.PID, a.age.Database, a.age.User, a.age.State)
		if a.age.WaitEventType != "" {
			line += ", waiting on " + a.age.WaitEventType
		}
		lines = append(lines, line+")")
	}
	if c.DatabaseSizeBytes > 0 {
		lines = append(lines, fmt.Sprintf("database size: %.1f MiB", float64(c.DatabaseSizeBytes)/(1<<20)))
	}
	for _, p := range c.Problems {
		lines = append(lines, "could not read "+p)
	}
	return strings.Join(lines, "\n")
}

func ms(v float64) string { return fmt.Sprintf("%.1f ms", v) }

// byState lists the counts in a stable order: "1 active, 2 idle".
func byState(m map[string]int) string {
	if len(m) == 0 {
		return "no other sessions"
	}
	parts := make([]string, 0, len(m))
	for _, s := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
	}
	return strings.Join(parts, ", ")
}
