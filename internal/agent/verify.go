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
	"os"
	"strings"
	"time"

	"runbook-operator/internal/pgtools"
)

// readServer reads the version of t's server into res and e.server: the first
// contact, before any download, so that a wrong password or an unreachable server
// fails at once.
func (e *env) readServer(ctx context.Context, t pgtools.Target, res *Result) error {
	admin, err := t.Connect(ctx, pgtools.MaintenanceDB)
	if err != nil {
		return err
	}
	sv, err := pgtools.ServerVersion(ctx, admin)
	_ = admin.Close(ctx)
	if err != nil {
		return err
	}
	res.ServerVersion = sv.Text
	e.server = sv
	return nil
}

// verify restores the dump into a scratch database, checks it against the
// manifest and drops the scratch database again.
func (e *env) verify(ctx context.Context, res *Result) error {
	t, err := e.target()
	if err != nil {
		return err
	}
	base := e.o.TargetDatabase
	if base == "" {
		base = t.Database
	}
	store, err := e.store(ctx)
	if err != nil {
		return err
	}
	if err := e.readServer(ctx, t, res); err != nil {
		return err
	}
	defer func() { res.ClientTools = e.toolsNote }()
	dir, err := os.MkdirTemp("", "agent-verify-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	dl, err := e.fetch(ctx, store, dir)
	if err != nil {
		return err
	}
	res.SHA256, res.SizeBytes, res.Compression = dl.SHA256, dl.Size, dl.Compression
	if dl.Manifest != nil && dl.Manifest.Database != "" && e.o.TargetDatabase == "" {
		base = dl.Manifest.Database
	}
	scratch := dbName(base, "_verify_"+timestamp(time.Now()))
	res.Database = scratch

	admin, err := t.Connect(ctx, pgtools.MaintenanceDB)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close(context.WithoutCancel(ctx)) }()
	if err := pgtools.CreateDatabase(ctx, admin, scratch, nil); err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := pgtools.DropDatabase(dctx, admin, scratch); err != nil {
			e.logf("could not drop the scratch database %q: %v", scratch, err)
		}
	}()
	e.logf("verify: restoring into scratch database %q", scratch)
	if err := pgtools.Restore(ctx, pgtools.RestoreOptions{Tools: e.tools, Target: t, Database: scratch, File: dl.Path, Jobs: e.o.Jobs, NoOwner: e.o.NoOwner, Log: e.log}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		res.Problems = []string{"the dump does not restore: " + err.Error()}
		return permanentError{fmt.Errorf("verification failed: the dump does not restore: %w", err)}
	}
	conn, err := t.Connect(ctx, scratch)
	if err != nil {
		return err
	}
	counts, err := pgtools.CountRows(ctx, conn)
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	res.Tables = len(counts)
	for _, c := range counts {
		res.Rows += c.Rows
	}
	if dl.Manifest != nil {
		res.Problems = CheckCounts(dl.Manifest.Tables, counts)
	}
	if len(res.Problems) > 0 {
		return permanentError{errors.New("verification failed: " + strings.Join(res.Problems, "; "))}
	}
	res.Verified = true
	e.logf("verify: %d tables, %d rows restored and checked", res.Tables, res.Rows)
	return nil
}

// CheckCounts compares exact row counts of a restored dump with the estimates
// recorded at backup time. Estimates are approximate, so only clear anomalies are
// reported: a missing table, an empty table that had at least 100 rows, or a
// count off by more than 4× for tables of 1000 rows or more.
func CheckCounts(want []pgtools.TableEstimate, got []pgtools.TableCount) []string {
	have := map[string]int64{}
	for _, c := range got {
		have[c.Schema+"."+c.Name] = c.Rows
	}
	var problems []string
	for _, t := range want {
		name := t.Schema + "." + t.Name
		n, ok := have[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("table %s is missing", name))
		case t.Rows < 0:
		case t.Rows >= 100 && n == 0:
			problems = append(problems, fmt.Sprintf("table %s is empty but had about %d rows", name, t.Rows))
		case t.Rows >= 1000 && (n*4 < t.Rows || n > t.Rows*4):
			problems = append(problems, fmt.Sprintf("table %s has %d rows, expected about %d", name, n, t.Rows))
		}
	}
	return problems
}
