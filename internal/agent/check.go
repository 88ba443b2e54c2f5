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
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// check reports connectivity, server version, sessions by state and size.
func (e *env) check(ctx context.Context, res *Result) error {
	t, err := e.target()
	if err != nil {
		return err
	}
	res.Database = t.Database
	conn, err := t.Connect(ctx, t.Database)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	start := time.Now()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	res.LatencyMillis = float64(time.Since(start).Microseconds()) / 1000
	res.Connected = true
	v, err := pgtools.ServerVersion(ctx, conn)
	if err != nil {
		return err
	}
	res.ServerVersion = v.Text
	rows, err := conn.Query(ctx, `SELECT coalesce(state, 'unknown'), count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1`)
	if err != nil {
		return fmt.Errorf("read pg_stat_activity: %w", err)
	}
	res.Connections = map[string]int{}
	var state string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { res.Connections[state] = n; return nil }); err != nil {
		return fmt.Errorf("read pg_stat_activity: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT current_setting('max_connections')::int, pg_database_size(current_database())").Scan(&res.MaxConnections, &res.DatabaseSizeBytes); err != nil {
		return err
	}
	return nil
}

// delete removes the dump and its manifest; missing objects are fine.
func (e *env) delete(ctx context.Context, res *Result) error {
	store, err := e.store(ctx)
	if err != nil {
		return err
	}
	// The manifest first: a dump without a manifest no longer looks like a backup.
	for _, key := range []string{ManifestKey(e.o.Key), e.o.Key} {
		if err := store.Delete(ctx, key); err != nil {
			return err
		}
		res.Deleted = append(res.Deleted, key)
	}
	// And the parts of an upload a killed backup never completed.
	_, err = store.AbortIncomplete(ctx, e.o.Key)
	return err
}

var _ objectstore.Store = (*objectstore.S3)(nil)
