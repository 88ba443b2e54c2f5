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

// Package pgtools wraps the PostgreSQL client programs (pg_dump, pg_restore) and
// the SQL the agent needs (versions, estimates, database create/rename/drop).
// Connection settings come from the libpq environment, or DATABASE_URL.
package pgtools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Target is where the database lives: host, port, user, password, default
// database and sslmode, read once from the environment.
type Target struct {
	// RetryFor is how long Connect keeps retrying transient failures (default 30 s).
	RetryFor time.Duration

	Host     string
	Port     uint16
	User     string
	Password string
	Database string
	SSLMode  string
}

// TargetFromEnv reads PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD and
// PGSSLMODE, or DATABASE_URL (postgres://…) when PGHOST is unset.
func TargetFromEnv() (Target, error) {
	var t Target
	if os.Getenv("PGHOST") == "" && os.Getenv("DATABASE_URL") != "" {
		cfg, err := pgconn.ParseConfig(os.Getenv("DATABASE_URL"))
		if err != nil {
			return t, errors.New("DATABASE_URL is not a valid postgres:// URL")
		}
		t = Target{Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password, Database: cfg.Database}
		if u := os.Getenv("DATABASE_URL"); strings.Contains(u, "sslmode=") {
			i := strings.Index(u, "sslmode=") + len("sslmode=")
			t.SSLMode = strings.SplitN(u[i:], "&", 2)[0]
		}
	} else {
		t = Target{
			Host:     os.Getenv("PGHOST"),
			User:     os.Getenv("PGUSER"),
			Password: os.Getenv("PGPASSWORD"),
			Database: os.Getenv("PGDATABASE"),
			SSLMode:  os.Getenv("PGSSLMODE"),
		}
		if p := os.Getenv("PGPORT"); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return t, fmt.Errorf("PGPORT %q is not a port number", p)
			}
			t.Port = uint16(n)
		}
	}
	if t.Host == "" {
		return t, errors.New("PGHOST is not set: give the database host in the connection Secret")
	}
	if t.Port == 0 {
		t.Port = 5432
	}
	if t.User == "" {
		t.User = "postgres"
	}
	if t.Database == "" {
		t.Database = t.User
	}
	return t, nil
}

// Addr returns host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))) }

// Env returns the process environment for a client program connecting to dbname:
// the current environment without any PG*/DATABASE_URL variables, plus this
// target's. The password travels only in the environment, never in arguments.
func (t Target) Env(dbname string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"PGHOST="+t.Host,
		"PGPORT="+strconv.Itoa(int(t.Port)),
		"PGUSER="+t.User,
		"PGDATABASE="+dbname,
		"PGCONNECT_TIMEOUT=15",
		"PGAPPNAME=runbook-agent",
	)
	if t.Password != "" {
		env = append(env, "PGPASSWORD="+t.Password)
	}
	if t.SSLMode != "" {
		env = append(env, "PGSSLMODE="+t.SSLMode)
	}
	return env
}

// Connect opens a connection to dbname, retrying transient failures (refused,
// timeouts, server starting up) with backoff for up to RetryFor. Permanent
// failures (authentication, missing database) return at once, classified.
func (t Target) Connect(ctx context.Context, dbname string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = t.Host, t.Port, t.User, t.Password, dbname
	cfg.ConnectTimeout = 10 * time.Second
	cfg.RuntimeParams["application_name"] = "runbook-agent"
	if t.SSLMode != "" {
		// Rebuild TLS settings for the requested sslmode.
		tlsCfg, err := pgconn.ParseConfig("sslmode=" + t.SSLMode + " host=" + t.Host)
		if err != nil {
			return nil, fmt.Errorf("PGSSLMODE %q is not valid", t.SSLMode)
		}
		cfg.TLSConfig = tlsCfg.TLSConfig
		cfg.Fallbacks = nil
		for _, fb := range tlsCfg.Fallbacks {
			cfg.Fallbacks = append(cfg.Fallbacks, &pgconn.FallbackConfig{Host: t.Host, Port: t.Port, TLSConfig: fb.TLSConfig})
		}
	}
	delay := 500 * time.Millisecond
	retryFor := t.RetryFor
	if retryFor <= 0 {
		retryFor = 30 * time.Second
	}
	deadline := time.Now().Add(retryFor)
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		cerr := t.classify(dbname, err)
		if IsPermanent(cerr) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, cerr
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, cerr
		}
		if delay < 4*time.Second {
			delay *= 2
		}
	}
}

// Error is a classified database failure with a message a person can act on.
type Error struct {
	Msg       string
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + " (" + e.Err.Error() + ")"
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

func (t Target) classify(dbname string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return &Error{Msg: fmt.Sprintf("PostgreSQL at %s rejected user %q: check PGUSER/PGPASSWORD in the connection Secret", t.Addr(), t.User), Permanent: true, Err: err}
		case "3D000":
			return &Error{Msg: fmt.Sprintf("database %q does not exist on %s", dbname, t.Addr()), Permanent: true, Err: err}
		case "42501":
			return &Error{Msg: fmt.Sprintf("user %q lacks permission to connect to database %q", t.User, dbname), Permanent: true, Err: err}
		case "53300", "57P03":
			return &Error{Msg: fmt.Sprintf("PostgreSQL at %s is not accepting connections yet (too many clients or starting up)", t.Addr()), Err: err}
		}
	}
	return &Error{Msg: fmt.Sprintf("cannot connect to PostgreSQL at %s (database %q): check PGHOST/PGPORT, the Service and NetworkPolicies", t.Addr(), dbname), Err: err}
}

// QuoteIdent quotes a SQL identifier.
func QuoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
