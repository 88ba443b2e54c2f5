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

package pgtools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaintenanceDB is the database used for CREATE/ALTER/DROP DATABASE.
const MaintenanceDB = "postgres"

// ServerVersion returns the server's version.
func ServerVersion(ctx context.Context, conn *pgx.Conn) (Version, error) {
	var s string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&s); err != nil {
		return Version{}, err
	}
	v, err := ParseVersion(s)
	if err != nil {
		return v, err
	}
	v.Text = strings.Fields(s)[0]
	return v, nil
}

// TableEstimate is a table's planner estimate of its row count and its size.
type TableEstimate struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// Rows is pg_class.reltuples; -1 when the table was never analyzed.
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// TableEstimates lists the user tables (plain and partitioned) with estimates.
func TableEstimates(ctx context.Context, conn *pgx.Conn) ([]TableEstimate, error) {
	rows, err := conn.Query(ctx, `
SELECT n.nspname, c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableEstimate, error) {
		var t TableEstimate
		err := r.Scan(&t.Schema, &t.Name, &t.Rows, &t.Bytes)
		return t, err
	})
}

// TableCount is an exact row count.
type TableCount struct {
	Schema, Name string
	Rows         int64
}

// CountRows counts the rows of every user table exactly.
func CountRows(ctx context.Context, conn *pgx.Conn) ([]TableCount, error) {
	tables, err := TableEstimates(ctx, conn)
	if err != nil {
		return nil, err
	}
	out := make([]TableCount, 0, len(tables))
	for _, t := range tables {
		var n int64
		q := fmt.Sprintf("SELECT count(*) FROM %s", pgx.Identifier{t.Schema, t.Name}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", t.Schema, t.Name, err)
		}
		out = append(out, TableCount{Schema: t.Schema, Name: t.Name, Rows: n})
	}
	return out, nil
}

// RestoredRows returns the number of user tables and the rows inserted into
// them, from the cumulative statistics (n_tup_ins - n_tup_del). Right after a
// restore into a fresh database, once the restoring sessions have exited (they
// flush their statistics as they go), that is exactly the number of rows
// restored, without scanning anything. Unlike n_live_tup it is not replaced by
// an estimate when autovacuum analyzes a freshly loaded table. It returns ok
// false when track_counts is off (the counters then stay at zero).
func RestoredRows(ctx context.Context, conn *pgx.Conn) (tables int, rows int64, ok bool, err error) {
	var track string
	if err := conn.QueryRow(ctx, "SHOW track_counts").Scan(&track); err != nil {
		return 0, 0, false, err
	}
	if track != "on" {
		return 0, 0, false, nil
	}
	err = conn.QueryRow(ctx, `
SELECT count(*), coalesce(sum(s.n_tup_ins - s.n_tup_del), 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`).Scan(&tables, &rows)
	return tables, rows, err == nil, err
}

// DatabaseInfo describes an existing database.
type DatabaseInfo struct {
	Name, Owner, Encoding, Collate, Ctype string
}

// LookupDatabase returns the database's settings, or nil when it does not exist.
func LookupDatabase(ctx context.Context, conn *pgx.Conn, name string) (*DatabaseInfo, error) {
	var d DatabaseInfo
	err := conn.QueryRow(ctx, `
SELECT d.datname, r.rolname, pg_encoding_to_char(d.encoding), d.datcollate, d.datctype
FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1`, name).
		Scan(&d.Name, &d.Owner, &d.Encoding, &d.Collate, &d.Ctype)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateDatabase creates an empty database from template0, copying the encoding,
// locale and (when the current user may) owner of like.
func CreateDatabase(ctx context.Context, conn *pgx.Conn, name string, like *DatabaseInfo) error {
	q := "CREATE DATABASE " + QuoteIdent(name) + " TEMPLATE template0"
	if like != nil {
		q += fmt.Sprintf(" ENCODING %s LC_COLLATE %s LC_CTYPE %s",
			quoteLiteral(like.Encoding), quoteLiteral(like.Collate), quoteLiteral(like.Ctype))
	}
	_, err := conn.Exec(ctx, q+ownerClause(ctx, conn, like))
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

func ownerClause(ctx context.Context, conn *pgx.Conn, like *DatabaseInfo) string {
	if like == nil {
		return ""
	}
	var member bool
	if err := conn.QueryRow(ctx, "SELECT pg_has_role(current_user, $1, 'MEMBER')", like.Owner).Scan(&member); err != nil || !member {
		return ""
	}
	return " OWNER " + QuoteIdent(like.Owner)
}

// DropDatabase drops name if it exists, disconnecting its sessions (WITH FORCE).
func DropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(name)+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// TerminateConnections ends every other session on database name and waits up
// to 5 s for each to go. It returns how many were signalled.
func TerminateConnections(ctx context.Context, conn *pgx.Conn, name string) (int, error) {
	var n int
	err := conn.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n)
	return n, err
}

// SwapDatabases renames live to previous and restored to live in one
// transaction, so clients see either the old or the new database under the live
// name. Sessions on live are terminated first; new ones are kept out by
// ALLOW_CONNECTIONS false during the swap (the previous database gets it back).
// When live does not exist, restored is simply renamed.
func SwapDatabases(ctx context.Context, conn *pgx.Conn, live, restored, previous string) (terminated int, err error) {
	info, err := LookupDatabase(ctx, conn, live)
	if err != nil {
		return 0, err
	}
	if info == nil {
		_, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(restored)+" RENAME TO "+QuoteIdent(live))
		return 0, err
	}
	blocked := false
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(live)+" WITH ALLOW_CONNECTIONS false"); err == nil {
		blocked = true
	}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		n, err := TerminateConnections(ctx, conn, live)
		terminated += n
		if err != nil {
			lastErr = err
			break
		}
		lastErr = renamePair(ctx, conn, live, restored, previous)
		if lastErr == nil {
			break
		}
		var pgErr *pgconn.PgError
		if !errors.As(lastErr, &pgErr) || pgErr.Code != "55006" { // object_in_use
			break
		}
		select {
		case <-ctx.Done():
			lastErr = ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if ctx.Err() != nil {
			break
		}
	}
	reopen := live
	if lastErr == nil {
		reopen = previous
	}
	if blocked {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, _ = conn.Exec(rctx, "ALTER DATABASE "+QuoteIdent(reopen)+" WITH ALLOW_CONNECTIONS true")
		cancel()
	}
	if lastErr != nil {
		return terminated, fmt.Errorf("swap %q into %q: %w", restored, live, lastErr)
	}
	return terminated, nil
}

func renamePair(ctx context.Context, conn *pgx.Conn, live, restored, previous string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+QuoteIdent(live)+" RENAME TO "+QuoteIdent(previous)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+QuoteIdent(restored)+" RENAME TO "+QuoteIdent(live)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// AnalyzeParallel runs ANALYZE on every user table of db with up to jobs
// connections, largest tables first.
func AnalyzeParallel(ctx context.Context, t Target, db string, jobs int) error {
	conn, err := t.Connect(ctx, db)
	if err != nil {
		return err
	}
	tables, err := TableEstimates(ctx, conn)
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(tables, func(a, b TableEstimate) int { return cmp.Compare(b.Bytes, a.Bytes) })
	if jobs < 1 {
		jobs = 1
	}
	work := make(chan TableEstimate)
	errs := make(chan error, jobs)
	for i := 0; i < jobs; i++ {
		go func() {
			c, err := t.Connect(ctx, db)
			if err != nil {
				for range work {
				}
				errs <- err
				return
			}
			defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
			var firstErr error
			for tb := range work {
				if firstErr == nil {
					_, firstErr = c.Exec(ctx, "ANALYZE "+pgx.Identifier{tb.Schema, tb.Name}.Sanitize())
				}
			}
			errs <- firstErr
		}()
	}
	for _, tb := range tables {
		work <- tb
	}
	close(work)
	var firstErr error
	for i := 0; i < jobs; i++ {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// DatabaseSize is pg_database_size of the connected database.
func DatabaseSize(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var n int64
	err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}
