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

// These tests run the agent binary as a subprocess, as a Job would, against a
// real PostgreSQL and a real S3 server (versitygw) started by test/harness.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/agent"
	"runbook-operator/test/harness"
)

const bucket = "backups"

var (
	agentBin string
	pg       *harness.Postgres
	store    *harness.S3
	// sourceSums are the checksums of the seeded "source" database, which other
	// tests copy with CREATE DATABASE … TEMPLATE source.
	sourceSums map[string]string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	agentBin = filepath.Join(tmp, "agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "runbook-operator/cmd/agent").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		return 1
	}
	pg, err = harness.StartPostgres(ctx, harness.PostgresOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgres:", err)
		return 1
	}
	defer func() { _ = pg.Stop() }()
	store, err = harness.StartS3(ctx, harness.S3Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start s3:", err)
		return 1
	}
	defer func() { _ = store.Stop() }()
	if err := store.CreateBucket(ctx, bucket); err != nil {
		fmt.Fprintln(os.Stderr, "create bucket:", err)
		return 1
	}
	start := time.Now()
	if err := seed(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		return 1
	}
	sourceSums, err = checksums(ctx, "source")
	if err != nil {
		fmt.Fprintln(os.Stderr, "checksums:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "seeded database source in %s\n", time.Since(start).Round(time.Millisecond))
	defer stopImage()
	return m.Run()
}

// seedSQL covers the types and objects a Django database holds, with a table of
// one million rows.
const seedSQL = `
CREATE SCHEMA app;
CREATE SCHEMA billing;
CREATE SCHEMA "Odd Schema";
CREATE EXTENSION IF NOT EXISTS plpgsql;

CREATE TABLE app.users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  profile jsonb NOT NULL DEFAULT '{}',
  avatar bytea,
  bio text,
  balance numeric(20,6) NOT NULL DEFAULT 0 CHECK (balance > -1000000),
  created_at timestamptz NOT NULL,
  birthday date,
  wake_up time,
  tags text[]
);
INSERT INTO app.users (email, profile, avatar, bio, balance, created_at, birthday, wake_up, tags)
SELECT 'user' || i || '@example.com',
       jsonb_build_object('name', 'User ' || i, 'prefs', jsonb_build_object('theme', CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END, 'n', i), 'emoji', 'ü€😀'),
       decode(md5(i::text) || md5((i * 7)::text), 'hex'),
       CASE WHEN i % 50 = 0 THEN repeat(md5(i::text), 400) ELSE 'bio ' || i END,
       (i * 12345.678901) - 500000,
       timestamptz '2024-03-10 01:30:00 America/New_York' + i * interval '37 minutes',
       date '1970-01-01' + i,
       time '06:00' + i * interval '1 second',
       ARRAY['t' || (i % 5), 'x,y', 'quote"d']
FROM generate_series(1, 3000) i;
CREATE INDEX users_profile_gin ON app.users USING gin (profile);
CREATE INDEX users_created_at ON app.users (created_at DESC);

CREATE TABLE app.events (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL,
  kind text NOT NULL,
  at timestamptz NOT NULL,
  amount numeric(12,2)
);
INSERT INTO app.events
SELECT i, 1 + i % 3000, 'kind_' || (i % 17), timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second', (i % 100000) / 100.0
FROM generate_series(1, 1000000) i;
ALTER TABLE app.events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES app.users(id);
CREATE INDEX events_kind_at ON app.events (kind, at);

CREATE SEQUENCE billing.invoice_no START 1000;
SELECT setval('billing.invoice_no', 987654321);
CREATE TABLE billing.invoices (
  id serial PRIMARY KEY,
  number bigint NOT NULL DEFAULT nextval('billing.invoice_no') UNIQUE,
  user_id bigint NOT NULL REFERENCES app.users(id) ON DELETE CASCADE,
  total numeric NOT NULL,
  currency char(3) NOT NULL DEFAULT 'EUR',
  issued_at timestamp with time zone NOT NULL,
  lines jsonb
);
INSERT INTO billing.invoices (user_id, total, issued_at, lines)
SELECT 1 + i % 3000, round((i * 3.14159)::numeric, 4) * 1e10, now() - i * interval '1 day',
       jsonb_build_array(jsonb_build_object('sku', 'S' || i, 'qty', i % 9, 'price', 1.5 * i))
FROM generate_series(1, 5000) i;
SELECT setval('billing.invoices_id_seq', 77777);

CREATE VIEW billing.user_totals AS
  SELECT u.id, u.email, sum(i.total) AS total, count(*) AS invoices
  FROM app.users u JOIN billing.invoices i ON i.user_id = u.id GROUP BY u.id, u.email;
CREATE MATERIALIZED VIEW billing.kind_counts AS SELECT kind, count(*) AS n FROM app.events GROUP BY kind;

CREATE FUNCTION app.slugify(s text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT lower(regexp_replace(s, '[^a-zA-Z0-9]+', '-', 'g')) $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.bio := coalesce(NEW.bio, '') || ' (edited)'; RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();

CREATE TABLE "Odd Schema"."Table ""Quoted"" Name" ("Mixed Case" text PRIMARY KEY, "select" int);
INSERT INTO "Odd Schema"."Table ""Quoted"" Name" VALUES ('A', 1), ('b''c', 2), (E'tab\there', NULL);

CREATE TABLE public.django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
INSERT INTO public.django_migrations (app, name, applied) SELECT 'app', '000' || i || '_auto', now() FROM generate_series(1, 40) i;
COMMENT ON TABLE app.users IS 'accounts';
ANALYZE;
`

func seed(ctx context.Context) error {
	if err := execSQL(ctx, "postgres", "CREATE DATABASE source"); err != nil {
		return err
	}
	return execSQL(ctx, "source", seedSQL)
}

func execSQL(ctx context.Context, db, sql string) error { return execSQLOn(ctx, pg, db, sql) }

func execSQLOn(ctx context.Context, p *harness.Postgres, db, sql string) error {
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// checksums returns, per table, an md5 of all rows in a stable order, plus
// fingerprints of sequences, views, functions, indexes, constraints and triggers.
func checksums(ctx context.Context, db string) (map[string]string, error) {
	return checksumsOn(ctx, pg, db)
}

// checksumsOn is checksums on the server p.
func checksumsOn(ctx context.Context, p *harness.Postgres, db string) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	type rel struct{ name, kind string }
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.name, &x.kind)
	})
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, r := range rels {
		var q string
		if r.kind == "S" {
			q = "SELECT md5(last_value::text || is_called::text) FROM " + r.name
		} else {
			q = fmt.Sprintf("SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t", r.name)
		}
		var s string
		if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		sums[r.name] = s
	}
	for name, q := range map[string]string{
		"@views":       `SELECT string_agg(schemaname || '.' || viewname || ':' || definition, ';' ORDER BY viewname) FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
		"@functions":   `SELECT string_agg(p.proname || ':' || pg_get_functiondef(p.oid), ';' ORDER BY p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'`,
		"@indexes":     `SELECT string_agg(indexdef, ';' ORDER BY indexdef) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
		"@constraints": `SELECT string_agg(conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid), ';' ORDER BY conrelid::regclass::text, conname) FROM pg_constraint WHERE connamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')`,
		"@triggers":    `SELECT string_agg(tgname || ':' || pg_get_triggerdef(oid), ';' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal`,
		"@comments":    `SELECT string_agg(c.relname || ':' || d.description, ';' ORDER BY c.relname) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass`,
	} {
		var s *string
		if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if s == nil {
			sums[name] = "<none>"
		} else {
			sums[name] = *s
		}
	}
	return sums, nil
}

func compareSums(t *testing.T, want, got map[string]string) {
	t.Helper()
	if len(want) < 7 {
		t.Fatalf("too few checksums to compare: %v", want)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s missing after restore", k)
		} else if g != w {
			t.Errorf("%s differs after restore:\n want %.200s\n got  %.200s", k, w, g)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s after restore", k)
		}
	}
}

// copyDB creates name as a copy of the seeded source database.
func copyDB(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := execSQL(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %q TEMPLATE source", name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropLike(t, name) })
}

// smallDB creates a small database with a few rows.
func smallDB(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := execSQL(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropLike(t, name) })
	if err := execSQL(ctx, name, `CREATE TABLE items (id int PRIMARY KEY, name text, data jsonb);
		INSERT INTO items SELECT i, 'item ' || i, jsonb_build_object('i', i) FROM generate_series(1, 500) i; ANALYZE`); err != nil {
		t.Fatal(err)
	}
}

// dropLike drops name and every database derived from it.
func dropLike(t *testing.T, name string) {
	for _, db := range databases(t, name) {
		_ = execSQL(context.Background(), "postgres", fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", db))
	}
}

func databases(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '_') ORDER BY 1", prefix)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

type agentRun struct {
	res            agent.Result
	code           int
	stdout, stderr string
	termLog        string
}

// baseEnv is the process environment for the agent: no inherited PG*/AWS*
// variables, the harness's PostgreSQL (database db) and S3 credentials.
func baseEnv(db string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, pg.Env(db)...)
	env = append(env, store.Env()...)
	return env
}

// secretsInTest are values that must never appear in any agent output.
var (
	secretsMu     sync.Mutex
	secretsInTest []string
)

func addSecret(s string) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secretsInTest = append(secretsInTest, s)
}

// runAgent runs the agent binary and checks the output contract on every run:
// the last stdout line is a Result (also in the termination log), and no secret
// appears anywhere.
func runAgent(t *testing.T, env []string, args ...string) agentRun {
	t.Helper()
	return runAgentCtx(context.Background(), t, env, nil, args...)
}

// runAgentCtx runs the agent as the image runs it (runInImageCtx), or with
// AGENT_TESTS_ON_HOST=1 as a plain process with the machine's client tools.
func runAgentCtx(ctx context.Context, t *testing.T, env []string, started func(*exec.Cmd), args ...string) agentRun {
	t.Helper()
	if os.Getenv("AGENT_TESTS_ON_HOST") != "1" {
		return runInImageCtx(ctx, t, imageJobEnv(env), started, args...)
	}
	return runHostAgent(ctx, t, env, started, args...)
}

// runHostAgent runs the agent binary as a process of this machine, with env.
func runHostAgent(ctx context.Context, t *testing.T, env []string, started func(*exec.Cmd), args ...string) agentRun {
	t.Helper()
	termLog := filepath.Join(t.TempDir(), "termination-log")
	cmd := exec.CommandContext(ctx, agentBin, append(args, "--termination-log", termLog)...)
	cmd.Env = env
	return checkRun(t, cmd, termLog, started, args)
}

// checkRun runs cmd, an agent command (args) writing its termination log to
// termLog, and checks its output contract.
func checkRun(t *testing.T, cmd *exec.Cmd, termLog string, started func(*exec.Cmd), args []string) agentRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if started != nil {
		started(cmd)
	}
	err := cmd.Wait()
	r := agentRun{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		r.code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	tl, _ := os.ReadFile(termLog)
	r.termLog = string(tl)
	if len(tl) > 4096 {
		t.Errorf("termination log is %d bytes, over 4 KiB", len(tl))
	}
	var perr error
	r.res, perr = agent.ParseResult([]byte(r.stdout))
	if perr != nil {
		t.Fatalf("agent %v: no result on stdout (%v)\nstdout: %s\nstderr: %s", args[0], perr, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if strings.TrimSpace(lines[len(lines)-1]) != strings.TrimSpace(r.termLog) {
		t.Errorf("termination log %q differs from the last stdout line %q", r.termLog, lines[len(lines)-1])
	}
	if (r.code == 0) != (r.res.Error == "") {
		t.Errorf("exit code %d but error %q", r.code, r.res.Error)
	}
	if r.code != 0 && r.code != 2 && (r.code == 3) != r.res.Permanent {
		t.Errorf("exit code %d but permanent=%v (want 3 exactly for permanent failures)", r.code, r.res.Permanent)
	}
	secretsMu.Lock()
	secrets := append([]string{pg.Password, store.SecretKey}, secretsInTest...)
	secretsMu.Unlock()
	for _, s := range secrets {
		for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "termination log": r.termLog} {
			if strings.Contains(out, s) {
				t.Errorf("secret value %.3s… appears in the agent's %s", s, name)
			}
		}
	}
	t.Logf("agent %s: exit %d, %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.termLog))
	return r
}

func objectPath(key string) string {
	return filepath.Join(store.RootDir, bucket, filepath.FromSlash(key))
}

func fileSHA256(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

func readManifest(t *testing.T, key string) agent.Manifest {
	t.Helper()
	b, err := os.ReadFile(objectPath(agent.ManifestKey(key)))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m agent.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSucceed(t *testing.T, r agentRun) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("agent failed with %d: %s\nstderr:\n%s", r.code, r.res.Error, r.stderr)
	}
}

func mustFail(t *testing.T, r agentRun, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("agent succeeded, want a failure mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(r.res.Error, w) {
			t.Errorf("error %q does not mention %q", r.res.Error, w)
		}
	}
}

func noObject(t *testing.T, key string) {
	t.Helper()
	for _, k := range []string{key, agent.ManifestKey(key)} {
		if _, err := os.Stat(objectPath(k)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("object %s exists (%v), want none", k, err)
		}
	}
}

// checkManifest checks the manifest written next to a backup.
func checkManifest(t *testing.T, key string, r agent.Result, size int64) {
	t.Helper()
	m := readManifest(t, key)
	if m.SHA256 != r.SHA256 || m.SizeBytes != size || m.Database != "shop" || m.Format != "custom" || m.Compression != "zstd" ||
		m.PgDumpVersion == "" || m.ServerVersion == "" || m.EndTime.Before(m.StartTime) || m.UncompressedBytes <= size {
		t.Errorf("manifest %+v", m)
	}
	var events int64 = -2
	for _, tb := range m.Tables {
		if tb.Schema == "app" && tb.Name == "events" {
			events = tb.Rows
		}
	}
	if events < 900000 || events > 1100000 || len(m.Tables) != 5 {
		t.Errorf("manifest tables %+v", m.Tables)
	}

}

func TestRoundTripZstdSwap(t *testing.T) {
	copyDB(t, "shop")
	key := "shop/roundtrip.dump.zst"
	b := runAgent(t, baseEnv("shop"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustSucceed(t, b)
	r := b.res
	if r.Command != "backup" || r.Bucket != bucket || r.Key != key || r.Location != "s3://"+bucket+"/"+key || r.Compression != "zstd" {
		t.Errorf("unexpected result fields: %+v", r)
	}
	if !strings.HasPrefix(r.ServerVersion, "15") || r.DurationSeconds <= 0 {
		t.Errorf("serverVersion %q durationSeconds %v", r.ServerVersion, r.DurationSeconds)
	}
	sum, size := fileSHA256(t, objectPath(key))
	if sum != r.SHA256 || size != r.SizeBytes {
		t.Errorf("object sha256/size %s/%d, result says %s/%d", sum, size, r.SHA256, r.SizeBytes)
	}
	checkManifest(t, key, r, size)

	// Change the live database, then restore the backup over it.
	if err := execSQL(context.Background(), "shop", "DELETE FROM app.events WHERE id % 3 = 0; UPDATE app.users SET bio = 'changed' WHERE id < 10; SELECT setval('billing.invoice_no', 5)"); err != nil {
		t.Fatal(err)
	}
	changed, err := checksums(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	res := runAgent(t, baseEnv("shop"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustSucceed(t, res)
	if res.res.Database != "shop" || !strings.HasPrefix(res.res.PreviousDatabase, "shop_pre_restore_") || len(res.res.PreviousDatabase) != len("shop_pre_restore_20060102150405") {
		t.Errorf("restore result %+v", res.res)
	}
	if res.res.Tables != 5 || res.res.Rows != 1000000+3000+5000+3+40 {
		t.Errorf("restore reports %d tables, %d rows", res.res.Tables, res.res.Rows)
	}
	got, err := checksums(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	compareSums(t, sourceSums, got)
	prev, err := checksums(context.Background(), res.res.PreviousDatabase)
	if err != nil {
		t.Fatalf("previous database: %v", err)
	}
	compareSums(t, changed, prev)
	if dbs := databases(t, "shop"); len(dbs) != 2 {
		t.Errorf("databases after restore: %v, want shop and the previous one", dbs)
	}

	// The same dump verifies.
	v := runAgent(t, baseEnv("shop"), "verify", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustSucceed(t, v)
	if !v.res.Verified || v.res.Tables != 5 || v.res.Rows != 1000000+3000+5000+3+40 {
		t.Errorf("verify result %+v", v.res)
	}
	if dbs := databases(t, "shop"); len(dbs) != 2 {
		t.Errorf("databases after verify: %v, the scratch database was not dropped", dbs)
	}
}

func TestRoundTripGzipAndNone(t *testing.T) {
	for _, comp := range []string{"gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			db := "small_" + comp
			smallDB(t, db)
			want, err := checksums(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			key := "small/" + comp + ".dump"
			b := runAgent(t, baseEnv(db), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--compression", comp)
			mustSucceed(t, b)
			head := make([]byte, 5)
			f, err := os.Open(objectPath(key))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Read(head)
			_ = f.Close()
			if comp == "gzip" && !bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || comp == "none" && string(head) != "PGDMP" {
				t.Errorf("object starts with %x", head)
			}
			if err := execSQL(context.Background(), db, "TRUNCATE items"); err != nil {
				t.Fatal(err)
			}
			r := runAgent(t, baseEnv(db), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--keep-previous=false", "--sha256", b.res.SHA256)
			mustSucceed(t, r)
			if r.res.PreviousDatabase != "" || r.res.Rows != 500 {
				t.Errorf("restore result %+v", r.res)
			}
			if dbs := databases(t, db); len(dbs) != 1 {
				t.Errorf("databases %v: the previous one should be dropped", dbs)
			}
			got, err := checksums(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s differs", k)
				}
			}
		})
	}
}

func TestRestoreWithActiveConnections(t *testing.T) {
	ctx := context.Background()
	smallDB(t, "busy")
	key := "busy/a.dump"
	mustSucceed(t, runAgent(t, baseEnv("busy"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"))
	if err := execSQL(ctx, "busy", "INSERT INTO items VALUES (9999, 'after backup', NULL)"); err != nil {
		t.Fatal(err)
	}
	// An idle session, one idle in transaction holding a lock, one running a query.
	var conns []*pgx.Conn
	for i := 0; i < 3; i++ {
		c, err := pgx.Connect(ctx, pg.DSN("busy"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close(ctx)
		}
	}()
	if _, err := conns[1].Exec(ctx, "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	sleepDone := make(chan error, 1)
	go func() { _, err := conns[2].Exec(ctx, "SELECT pg_sleep(120)"); sleepDone <- err }()
	time.Sleep(200 * time.Millisecond)

	r := runAgent(t, baseEnv("busy"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustSucceed(t, r)
	if r.res.TerminatedConnections < 3 {
		t.Errorf("terminated %d connections, want at least 3", r.res.TerminatedConnections)
	}
	select {
	case err := <-sleepDone:
		if err == nil {
			t.Error("the long query was not terminated")
		}
	case <-time.After(10 * time.Second):
		t.Error("the long query still runs after the swap")
	}
	conn, err := pgx.Connect(ctx, pg.DSN("busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 500 {
		t.Errorf("restored items: %d %v, want 500", n, err)
	}
	// The previous database accepts connections again and still has the new row.
	prev, err := pgx.Connect(ctx, pg.DSN(r.res.PreviousDatabase))
	if err != nil {
		t.Fatalf("previous database: %v", err)
	}
	defer func() { _ = prev.Close(ctx) }()
	if err := prev.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 501 {
		t.Errorf("previous items: %d %v, want 501", n, err)
	}
}

func TestInplaceNeedsConfirmation(t *testing.T) {
	smallDB(t, "inplace")
	key := "inplace/a.dump"
	mustSucceed(t, runAgent(t, baseEnv("inplace"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"))
	if err := execSQL(context.Background(), "inplace", "DELETE FROM items WHERE id > 100"); err != nil {
		t.Fatal(err)
	}
	r := runAgent(t, baseEnv("inplace"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--mode", "inplace")
	mustFail(t, r, "--confirm-inplace")
	if r.code != 2 {
		t.Errorf("exit code %d, want 2 (usage)", r.code)
	}
	r = runAgent(t, baseEnv("inplace"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--mode", "inplace", "--confirm-inplace")
	mustSucceed(t, r)
	if r.res.PreviousDatabase != "" || r.res.Rows != 500 || r.res.Mode != "inplace" {
		t.Errorf("result %+v", r.res)
	}
	if dbs := databases(t, "inplace"); len(dbs) != 1 {
		t.Errorf("databases %v", dbs)
	}
}

// damagedBackup backs up a small database db, adds a row to the live one (so a
// restore would show), damages the stored object in place with damage, and
// returns the key and the live database's checksums.
func damagedBackup(t *testing.T, db, compression string, damage func(t *testing.T, b []byte)) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	smallDB(t, db)
	key := db + "/a.dump"
	mustSucceed(t, runAgent(t, baseEnv(db), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--compression", compression))
	if err := execSQL(ctx, db, "INSERT INTO items VALUES (9999, 'live only', NULL)"); err != nil {
		t.Fatal(err)
	}
	before, err := checksums(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	path := objectPath(key)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage(t, b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, before
}

// untouched checks that the live database db is as it was and alone.
func untouched(t *testing.T, db string, before map[string]string) {
	t.Helper()
	after, err := checksums(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	compareSums(t, before, after)
	if dbs := databases(t, db); len(dbs) != 1 {
		t.Errorf("databases %v: no other database should remain", dbs)
	}
}

func TestCorruptedObjectIsRefused(t *testing.T) {
	// Flip bytes in the middle of the stored object.
	key, before := damagedBackup(t, "corrupt", "zstd", func(_ *testing.T, b []byte) {
		for i := len(b) / 2; i < len(b)/2+8 && i < len(b); i++ {
			b[i] ^= 0xff
		}
	})
	for _, mode := range []string{"swap", "inplace"} {
		r := runAgent(t, baseEnv("corrupt"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--mode", mode, "--confirm-inplace")
		mustFail(t, r, "SHA-256 mismatch", "nothing was restored")
		if !r.res.Permanent {
			t.Error("a checksum mismatch should be permanent")
		}
	}
	r := runAgent(t, baseEnv("corrupt"), "verify", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "SHA-256 mismatch")
	untouched(t, "corrupt", before)
}

// A swap restore loads the data while the object downloads, so damage can be
// found only after pg_restore already loaded every row. Changing one character
// of the last row leaves the archive perfectly restorable: the checksum alone
// catches it, and the restored copy must be dropped without touching the live
// database.
func TestDamageFoundAfterTheDataLoadedIsRefused(t *testing.T) {
	key, before := damagedBackup(t, "late", "none", func(t *testing.T, b []byte) {
		i := bytes.LastIndex(b, []byte("\titem 500\t"))
		if i < 0 {
			t.Fatal("the last row is not in the archive")
		}
		b[i+1] = 'I'
	})
	r := runAgent(t, baseEnv("late"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "SHA-256 mismatch", "is dropped", "not touched")
	if !r.res.Permanent {
		t.Error("a checksum mismatch should be permanent")
	}
	untouched(t, "late", before)
}

func TestVerifyDetectsDumpThatDoesNotRestore(t *testing.T) {
	ctx := context.Background()
	smallDB(t, "broken")
	// A table owned by a role that is gone by restore time: pg_restore fails on
	// ALTER TABLE … OWNER TO ghost.
	if err := execSQL(ctx, "broken", "CREATE ROLE ghost; CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO ghost"); err != nil {
		t.Fatal(err)
	}
	key := "broken/a.dump"
	mustSucceed(t, runAgent(t, baseEnv("broken"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"))
	if err := execSQL(ctx, "broken", "DROP TABLE owned; DROP ROLE ghost"); err != nil {
		t.Fatal(err)
	}
	r := runAgent(t, baseEnv("broken"), "verify", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "does not restore", "ghost")
	if r.res.Verified || len(r.res.Problems) == 0 {
		t.Errorf("result %+v", r.res)
	}
	// A swap restore of the same dump fails and leaves the live database alone.
	before, _ := checksums(ctx, "broken")
	r = runAgent(t, baseEnv("broken"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "was not touched")
	after, _ := checksums(ctx, "broken")
	compareSums(t, before, after)
	if dbs := databases(t, "broken"); len(dbs) != 1 {
		t.Errorf("databases %v: the half-restored and scratch databases should be gone", dbs)
	}

	// A truncated archive with a matching checksum and manifest.
	good := "broken/b.dump"
	if err := execSQL(ctx, "broken", "DELETE FROM items WHERE id > 10"); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, runAgent(t, baseEnv("broken"), "backup", "--bucket", bucket, "--key", good, "--endpoint", store.Endpoint, "--path-style", "--compression", "none"))
	m := readManifest(t, good)
	b, _ := os.ReadFile(objectPath(good))
	b = b[:len(b)*2/3]
	sum := sha256.Sum256(b)
	m.SHA256, m.SizeBytes = hex.EncodeToString(sum[:]), int64(len(b))
	mb, _ := json.Marshal(m)
	bad := "broken/truncated.dump"
	writeObject(t, bad, b)
	writeObject(t, agent.ManifestKey(bad), mb)
	r = runAgent(t, baseEnv("broken"), "verify", "--bucket", bucket, "--key", bad, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "verification failed")
	if dbs := databases(t, "broken"); len(dbs) != 1 {
		t.Errorf("databases %v: the scratch database should be gone", dbs)
	}
}

// writeObject stores an object through the S3 API (so versitygw knows it).
func writeObject(t *testing.T, key string, data []byte) {
	t.Helper()
	c := store.Client()
	if _, err := c.PutObject(context.Background(), putInput(key, data)); err != nil {
		t.Fatal(err)
	}
}

func TestWrongCredentialsAndMissingBucket(t *testing.T) {
	smallDB(t, "creds")
	key := "creds/a.dump"
	badSecret := "wrong-" + strings.Repeat("s", 30)
	addSecret(badSecret)
	env := append(baseEnv("creds"), "AWS_SECRET_ACCESS_KEY="+badSecret)
	r := runAgent(t, env, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, "s3://backups/creds/a.dump failed", "secret access key", "HTTP 403, SignatureDoesNotMatch: The request signature")
	if !r.res.Permanent {
		t.Error("wrong credentials should be a permanent failure")
	}
	// A restore first looks for the manifest (a HEAD, whose answer has no body): the
	// message still names the store's error, not a guess from the status code.
	r = runAgent(t, env, "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, "S3 read s3://backups/creds/a.dump.manifest.json failed", "secret access key", "HTTP 403, SignatureDoesNotMatch")
	env = append(baseEnv("creds"), "AWS_ACCESS_KEY_ID=AKNOBODY")
	r = runAgent(t, env, "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, "access key ID is not known", "XAdminUserNotFound")
	r = runAgent(t, env, "delete", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, "access key ID is not known", "XAdminUserNotFound")
	r = runAgent(t, env, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, "access key", "XAdminUserNotFound: No user exists")
	noObject(t, key)

	r = runAgent(t, baseEnv("creds"), "backup", "--bucket", "no-such-bucket", "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, `bucket "no-such-bucket" does not exist`, "HTTP 404, NoSuchBucket: The specified bucket does not exist")
	r = runAgent(t, baseEnv("creds"), "restore", "--bucket", "no-such-bucket", "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFailS3(t, r, `bucket "no-such-bucket" does not exist`, "HTTP 404, NoSuchBucket: The specified bucket does not exist")
	r = runAgent(t, baseEnv("creds"), "restore", "--bucket", bucket, "--key", "creds/missing.dump", "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "no manifest")

	// Nothing listens on port 1: the message names the network error, not the SDK's.
	env = append(baseEnv("creds"), "AWS_MAX_ATTEMPTS=2")
	r = runAgent(t, env, "backup", "--bucket", bucket, "--key", key, "--endpoint", "http://127.0.0.1:1", "--path-style")
	mustFailS3(t, r, "could not reach the S3 endpoint", "dial tcp 127.0.0.1:1: connect: connection refused, after 2 attempts")
}

// mustFailS3 is mustFail for an S3 failure, whose message must also be free of
// the SDK's request and host IDs and operation names.
func mustFailS3(t *testing.T, r agentRun, want ...string) {
	t.Helper()
	mustFail(t, r, want...)
	for _, noise := range []string{"RequestID", "HostID", "operation error", "https response error"} {
		if strings.Contains(r.res.Error, noise) {
			t.Errorf("error %q carries the SDK's %q", r.res.Error, noise)
		}
	}
}

func TestDatabaseErrors(t *testing.T) {
	key := "dberr/a.dump"
	// Nothing listens on this port.
	env := append(baseEnv("postgres"), "PGPORT=1")
	r := runAgent(t, env, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--connect-timeout", "2s")
	mustFail(t, r, "cannot connect to PostgreSQL at 127.0.0.1:1")

	badPassword := "not-the-password-" + strings.Repeat("x", 12)
	addSecret(badPassword)
	env = append(baseEnv("postgres"), "PGPASSWORD="+badPassword)
	r = runAgent(t, env, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "rejected user", "PGPASSWORD")

	r = runAgent(t, baseEnv("no_such_db"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, `database "no_such_db" does not exist`)
	noObject(t, key)

	// DATABASE_URL with the password inside: scrubbed from every message.
	var env2 []string
	for _, kv := range baseEnv("postgres") {
		if !strings.HasPrefix(kv, "PG") {
			env2 = append(env2, kv)
		}
	}
	urlPassword := "url-secret-" + strings.Repeat("u", 16)
	addSecret(urlPassword)
	env2 = append(env2, fmt.Sprintf("DATABASE_URL=postgres://postgres:%s@127.0.0.1:1/app?sslmode=disable", urlPassword))
	r = runAgent(t, env2, "check", "--connect-timeout", "1s")
	mustSucceed(t, r)
	if c := r.res.Check; c == nil || c.Connected || !strings.Contains(c.ConnectError, "127.0.0.1:1") {
		t.Errorf("check through DATABASE_URL: %+v", c)
	}

	// Client tools older than the server are refused before anything is uploaded.
	fake := t.TempDir()
	for _, prog := range []string{"pg_dump", "pg_restore", "psql"} {
		script := "#!/bin/sh\necho '" + prog + " (PostgreSQL) 11.22'\n"
		if err := os.WriteFile(filepath.Join(fake, prog), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env = append(baseEnv("postgres"), "PG_BINDIR="+fake)
	r = runHostAgent(context.Background(), t, env, nil, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, r, "the PostgreSQL server 15.", "is newer than every client tool in the agent image (PostgreSQL 11)", "nothing was written")
	noObject(t, key)
}

func TestDelete(t *testing.T) {
	smallDB(t, "checkme")
	key := "checkme/a.dump"
	mustSucceed(t, runAgent(t, baseEnv("checkme"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"))
	for i := 0; i < 2; i++ { // idempotent
		d := runAgent(t, baseEnv("checkme"), "delete", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
		mustSucceed(t, d)
	}
	noObject(t, key)
	d := runAgent(t, baseEnv("checkme"), "delete", "--bucket", "no-such-bucket", "--key", key, "--endpoint", store.Endpoint, "--path-style")
	mustFail(t, d, "does not exist")
}

// waitForParts waits until a multipart part has reached the store.
func waitForParts(t *testing.T, root string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		found := false
		_ = filepath.WalkDir(filepath.Join(root, bucket, ".sgwtmp", "multipart"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil && info.Size() > 0 {
					found = true
				}
			}
			return nil
		})
		if found {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestS3KilledMidUpload(t *testing.T) {
	ctx := context.Background()
	s, err := harness.StartS3(ctx, harness.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	if err := s.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv("source"), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey, "AWS_MAX_ATTEMPTS=3")
	addSecret(s.SecretKey)
	key := "killed/a.dump"
	r := runAgentCtx(ctx, t, env, func(*exec.Cmd) {
		go func() {
			if !waitForParts(t, s.RootDir, 60*time.Second) {
				t.Error("no part reached the store")
			}
			s.Kill()
		}()
	}, "backup", "--bucket", bucket, "--key", key, "--endpoint", s.Endpoint, "--path-style", "--compression", "none", "--part-size-mb", "5")
	mustFail(t, r, "upload aborted, no backup was stored", "could not reach the S3 endpoint")
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, agent.ManifestKey(key)} {
		if _, err := s.Client().HeadObject(ctx, headInput(k)); err == nil {
			t.Errorf("object %s exists after the failed backup", k)
		}
		if _, err := os.Stat(filepath.Join(s.RootDir, bucket, k)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file for %s exists: %v", k, err)
		}
	}
}

func TestSIGTERMAbortsUpload(t *testing.T) {
	key := "sigterm/a.dump"
	var pid int
	r := runAgentCtx(context.Background(), t, baseEnv("source"), func(c *exec.Cmd) {
		pid = c.Process.Pid
		go func() {
			if !waitForParts(t, store.RootDir, 60*time.Second) {
				t.Error("no part reached the store")
			}
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}()
	}, "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style", "--compression", "none", "--part-size-mb", "5")
	mustFail(t, r, "interrupted", "upload aborted")
	noObject(t, key)
	// The aborted upload's parts are gone too.
	time.Sleep(200 * time.Millisecond)
	entries, _ := os.ReadDir(filepath.Join(store.RootDir, bucket, ".sgwtmp", "multipart"))
	for _, e := range entries {
		t.Logf("left in multipart area: %s", e.Name())
	}
}

func putInput(key string, data []byte) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
}

func headInput(key string) *s3.HeadObjectInput {
	return &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
}
