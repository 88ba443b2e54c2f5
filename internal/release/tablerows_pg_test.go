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

package release

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/migrationguard"
	"runbook-operator/test/harness"
)

// TestTableRowsSQLOnARealPostgreSQL runs the plan Job's row estimate query on a real
// server, prints its rows as the Job's Python does ("%s %d"), and reads them back:
// the schema in the search_path only, ordinary tables only, a never analysed empty
// table as 0 rows.
func TestTableRowsSQLOnARealPostgreSQL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Stop() }()
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, q := range []string{
		"CREATE SCHEMA app",
		"CREATE TABLE public.elsewhere (x int)", "INSERT INTO public.elsewhere SELECT generate_series(1, 500000)", "ANALYZE public.elsewhere",
		"SET search_path = app",
		"CREATE TABLE shop_order (ref text)", "INSERT INTO shop_order SELECT g::text FROM generate_series(1, 200000) g",
		"CREATE TABLE \"Small table\" (x int)", "INSERT INTO \"Small table\" SELECT generate_series(1, 12)",
		"ANALYZE shop_order", "ANALYZE \"Small table\"",
		"CREATE TABLE empty (x int)",
		"CREATE TABLE parted (x int) PARTITION BY RANGE (x)",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := conn.Query(ctx, TableRowsSQL)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString(rowsBeginMarker + "\n")
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %d\n", name, n)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	out.WriteString(rowsEndMarker + "0\n")
	got, read := TableRows(out.String())
	if read != "row estimates of 3 tables read" || len(got) != 3 || got["Small table"] != 12 || got["empty"] != 0 || got["shop_order"] < 150000 {
		t.Fatalf("read %q, rows %v from\n%s", read, got, out.String())
	}
	for table, large := range map[string]bool{"shop_order": true, "Small table": false, "empty": false, "parted": true, "elsewhere": true} {
		sql := fmt.Sprintf(`ALTER TABLE %q ADD CONSTRAINT u UNIQUE (x);`, table)
		if f := migrationguard.Classify("app.0002", sql, GuardOptions(nil, got)); (len(f) == 1) != large {
			t.Errorf("%s: findings %v, want large %v", table, f, large)
		}
	}
}
