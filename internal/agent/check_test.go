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

package agent_test

// `agent check` against the harness's real PostgreSQL, with sessions the test holds
// open: idle, idle in a transaction holding a lock, a running pg_sleep and a query
// waiting for the lock.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"

	"runbook-operator/internal/agent"
	"runbook-operator/internal/jobstep"
	"runbook-operator/test/harness"
)

// heldSessions are the pids of the sessions holdSessions keeps open.
type heldSessions struct {
	idleInTxn, sleeper uint32
	// onDatabase is how many sessions are open on the database.
	onDatabase int
	// sleeperSeen is when the sleeper was first seen running: its age at any later
	// time is at least the time since.
	sleeperSeen time.Time
	// started is before the first of them began.
	started time.Time
	// literal is in every query the sessions ran; no output may show it.
	literal string
}

// holdSessions opens, on database db of p (which has a table items), an idle
// session, one idle in a transaction that locks items, one running pg_sleep and one
// waiting for the lock on items, and an admin session on db that watches them. All
// of them end when the test does.
func holdSessions(t *testing.T, p *harness.Postgres, db string) heldSessions {
	t.Helper()
	ctx := context.Background()
	h := heldSessions{started: time.Now(), literal: "literal-" + fmt.Sprint(time.Now().UnixNano()), onDatabase: 5}
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, p.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(ctx) })
		return conn
	}
	exec := func(conn *pgx.Conn, sql string) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// The sessions' cleanups run before (LIFO) the admin's close, which ends the
	// two running queries first.
	admin := connect()

	idleInTxn := connect()
	h.idleInTxn = idleInTxn.PgConn().PID()
	exec(idleInTxn, "BEGIN")
	exec(idleInTxn, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
	exec(idleInTxn, "SELECT 'in a transaction "+h.literal+"'")

	exec(connect(), "SELECT 'idle "+h.literal+"'")

	running := func(sql string) uint32 {
		conn := connect()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = conn.Exec(ctx, sql)
		}()
		pid := conn.PgConn().PID()
		t.Cleanup(func() {
			_, _ = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int(pid))
			<-done
		})
		return pid
	}
	h.sleeper = running("SELECT pg_sleep(600), 'sleeping " + h.literal + "'")
	waitFor(t, admin, h.sleeper, "active", "Timeout")
	h.sleeperSeen = time.Now()
	waitFor(t, admin, running("SELECT count(*), 'waiting "+h.literal+"' FROM items"), "active", "Lock")
	return h
}

// waitFor waits until the session pid is in state with wait_event_type waitType.
func waitFor(t *testing.T, admin *pgx.Conn, pid uint32, state, waitType string) {
	t.Helper()
	for i := 0; ; i++ {
		var n int
		err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE pid = $1 AND state = $2 AND wait_event_type = $3`, int(pid), state, waitType).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		if i == 300 {
			t.Fatalf("session %d never reached state %q waiting on %q", pid, state, waitType)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noLiteral fails when the held sessions' query literal shows in the agent's output.
func noLiteral(t *testing.T, h heldSessions, r agentRun) {
	t.Helper()
	for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "termination log": r.termLog} {
		if strings.Contains(out, h.literal) {
			t.Errorf("the agent's %s shows query text (%s)", name, h.literal)
		}
	}
}

// checkSessions runs a check (run), as a privileged role (superuser or pg_monitor),
// and checks what it reports of the held sessions (max_connections 100).
func checkSessions(t *testing.T, h heldSessions, run func() agentRun) agentRun {
	t.Helper()
	before := time.Now()
	r := run()
	finished := time.Now()
	mustSucceed(t, r)
	noLiteral(t, h, r)
	c := r.res.Check
	if c == nil || !c.Connected || c.Connections == nil {
		t.Fatalf("check: %+v", c)
	}
	n := c.Connections
	// On the database: the held sessions, never the check's own.
	if n.Database != h.onDatabase || n.Hidden != 0 {
		t.Errorf("sessions on %s: %d (hidden %d), want the %d held ones", r.res.Database, n.Database, n.Hidden, h.onDatabase)
	}
	if n.ByState["idle"] < 2 || n.ByState["idle in transaction"] < 1 || n.ByState["active"] < 2 || n.WaitingOnLock < 1 {
		t.Errorf("by state %v, %d waiting on a lock; want ≥ 2 idle, ≥ 1 idle in transaction, ≥ 2 active, ≥ 1 waiting", n.ByState, n.WaitingOnLock)
	}
	sum := 0
	for _, v := range n.ByState {
		sum += v
	}
	if n.Total != sum || n.Max != 100 || n.Reserved != 3 || n.Available != n.Max-n.Reserved-n.Total {
		t.Errorf("connections %+v: total must be the sum by state, available max - reserved - total", n)
	}
	q, x := c.LongestQuery, c.LongestTransaction
	if q == nil || q.PID != int(h.sleeper) || q.State != "active" || q.WaitEventType != "Timeout" || q.Database != r.res.Database {
		t.Errorf("longest query %+v, want the pg_sleep of pid %d", q, h.sleeper)
	} else if low, high := before.Sub(h.sleeperSeen).Seconds(), finished.Sub(h.started).Seconds(); q.Seconds < low || q.Seconds > high+0.01 {
		t.Errorf("longest query %.3fs, want between %.3fs and %.3fs", q.Seconds, low, high)
	}
	if x == nil || x.PID != int(h.idleInTxn) || x.State != "idle in transaction" || x.Seconds < q.Seconds {
		t.Errorf("longest transaction %+v, want the idle-in-transaction pid %d, older than the query", x, h.idleInTxn)
	}
	if !strings.Contains(r.stdout, "connections: ") || !strings.Contains(r.stdout, "longest transaction: ") {
		t.Errorf("no summary for people on stdout:\n%s", r.stdout)
	}
	return r
}

// TestCheckReportsSessions: held sessions show in the counts and ages; a role
// without pg_monitor sees other roles' sessions only as hidden, with them.
func TestCheckReportsSessions(t *testing.T) {
	ctx := context.Background()
	smallDB(t, "checkme")
	h := holdSessions(t, pg, "checkme")
	time.Sleep(time.Second) // ages worth comparing

	onlyHeld(t, pg, "checkme", h)
	r := checkSessions(t, h, func() agentRun { return runAgent(t, baseEnv("checkme"), "check") })
	c := r.res.Check
	if !strings.HasPrefix(r.res.ServerVersion, "15.") || c.DatabaseSizeBytes < 1<<20 || c.ServerStartedAt == nil || c.InRecovery || c.LatencyMillis <= 0 {
		t.Errorf("check %+v, server %q", c, r.res.ServerVersion)
	}

	// An ordinary role: the superuser's sessions are hidden, not missing.
	password := "checker-" + h.literal
	addSecret(password)
	if err := execSQL(ctx, "postgres", "CREATE ROLE checker LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = execSQL(ctx, "postgres", "DROP ROLE checker") })
	env := append(baseEnv("checkme"), "PGUSER=checker", "PGPASSWORD="+password)
	onlyHeld(t, pg, "checkme", h)
	u := runAgent(t, env, "check")
	mustSucceed(t, u)
	noLiteral(t, h, u)
	n := u.res.Check.Connections
	if n == nil || n.Hidden < 5 || n.Database != 5 || n.Total != c.Connections.Total || n.ByState["active"] != 0 || u.res.Check.LongestQuery != nil {
		t.Errorf("unprivileged check %+v: want the 5 held sessions hidden and counted, none by state, the same total as the superuser's (%d)", n, c.Connections.Total)
	}
	if !strings.Contains(u.stdout, "not visible to this role") {
		t.Errorf("the summary does not say sessions were hidden:\n%s", u.stdout)
	}
	if err := execSQL(ctx, "postgres", "GRANT pg_monitor TO checker"); err != nil {
		t.Fatal(err)
	}
	onlyHeld(t, pg, "checkme", h)
	checkSessions(t, h, func() agentRun { return runAgent(t, env, "check") })
}

// onlyHeld waits until db's sessions are the held ones: a check that just ended may
// still show its session (the server process exits after the client has closed it),
// counted by the next check as any other session would be, which a loaded machine
// made a test failure.
func onlyHeld(t *testing.T, p *harness.Postgres, db string, h heldSessions) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for i := 0; ; i++ {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == h.onDatabase {
			return
		}
		if i == 500 {
			t.Fatalf("%d sessions on %s after 10s, want the %d held ones", n, db, h.onDatabase)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckConnectFailures: a server the check cannot reach or log in to is a
// result (exit 0, connected false) that says why, without the password.
func TestCheckConnectFailures(t *testing.T) {
	ctx := context.Background()
	closed := append(baseEnv("postgres"), "PGPORT=1") // nothing listens there
	r := runAgent(t, closed, "check", "--connect-timeout", "1s")
	mustSucceed(t, r)
	if c := r.res.Check; c == nil || c.Connected || c.ConnectFailure != agent.ConnectFailureUnreachable ||
		!strings.Contains(c.ConnectError, "cannot connect to PostgreSQL at 127.0.0.1:1") || !strings.Contains(c.ConnectError, "connection refused") || c.Connections != nil {
		t.Errorf("closed port: %+v", c)
	}
	if !strings.Contains(r.stdout, "NOT CONNECTED (Unreachable") {
		t.Errorf("summary:\n%s", r.stdout)
	}

	wrong := "wrong-password-" + fmt.Sprint(time.Now().UnixNano())
	addSecret(wrong)
	r = runAgent(t, append(baseEnv("postgres"), "PGPASSWORD="+wrong), "check")
	mustSucceed(t, r)
	if c := r.res.Check; c == nil || c.Connected || c.ConnectFailure != agent.ConnectFailureAuthentication ||
		!strings.Contains(c.ConnectError, `rejected user "postgres"`) || !strings.Contains(c.ConnectError, "password authentication failed") {
		t.Errorf("wrong password: %+v", c)
	}
	for _, out := range []string{r.stdout, r.stderr, r.termLog} {
		if strings.Contains(out, wrong) {
			t.Fatalf("the wrong password appears in the agent's output:\n%s", out)
		}
	}
	// What the Incident controller's jobstep.Run reads from this termination message:
	// no failure, and the finding in the result.
	term := &corev1.ContainerStateTerminated{ExitCode: int32(r.code), Message: r.termLog}
	if rep, err := jobstep.AgentReport(term); err != nil || rep.Error != "" {
		t.Errorf("jobstep.AgentReport: %+v, %v; want no failure for a finding", rep, err)
	}
	if res, err := jobstep.AgentResult(term); err != nil || res.Check == nil || res.Check.ConnectFailure != agent.ConnectFailureAuthentication {
		t.Errorf("jobstep.AgentResult: %+v, %v", res, err)
	}

	// A role at its connection limit: the server answers "too many connections".
	if err := execSQL(ctx, "postgres", "CREATE ROLE limited LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = execSQL(ctx, "postgres", "DROP ROLE limited") })
	addSecret("limited-pw")
	r = runAgent(t, append(baseEnv("postgres"), "PGUSER=limited", "PGPASSWORD=limited-pw"), "check", "--connect-timeout", "1s")
	mustSucceed(t, r)
	if c := r.res.Check; c == nil || c.Connected || c.ConnectFailure != agent.ConnectFailureTooManyConnections || !strings.Contains(c.ConnectError, "too many connections") {
		t.Errorf("connection limit: %+v", c)
	}

	// Settings the check cannot even try with are the command's failure.
	var noHost []string
	for _, kv := range baseEnv("postgres") {
		if !strings.HasPrefix(kv, "PGHOST=") {
			noHost = append(noHost, kv)
		}
	}
	r = runAgent(t, noHost, "check")
	mustFail(t, r, "PGHOST is not set")
	if r.code != agent.ExitPermanent || r.res.Check != nil {
		t.Errorf("without PGHOST: exit %d, %+v", r.code, r.res)
	}
}
