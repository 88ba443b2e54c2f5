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

// The agent as the image runs it: built with the Dockerfile's flags, inside the
// image's runtime file system (hack/rootfs.sh, the Dockerfile's package list),
// as uid 65532 with a read-only root, a writable /tmp and only a Job's
// environment, against two server majors: the machine's PostgreSQL 15 and a
// PostgreSQL 17 running in a Debian trixie file system.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/agent"
	"runbook-operator/test/harness"
)

// imageEnv is what the image tests share, set up on first use by image(t).
var imageEnv struct {
	once  sync.Once
	err   error
	fs    harness.RootFS
	agent string            // cmd/agent built as the Dockerfile builds it
	pg17  *harness.Postgres // PostgreSQL 17 in fs.Server17
	sums  map[*harness.Postgres]map[string]string
}

// imageSeedSQL is seedSQL with fewer events: the image suite checks which tools
// run, the other tests check volume.
var imageSeedSQL = strings.Replace(seedSQL, "generate_series(1, 1000000)", "generate_series(1, 20000)", 1)

const imageRows = 20000 + 3000 + 5000 + 3 + 40

func image(t *testing.T) {
	t.Helper()
	imageEnv.once.Do(func() { imageEnv.err = setupImage() })
	if imageEnv.err != nil {
		t.Fatal(imageEnv.err)
	}
}

func setupImage() error {
	ctx := context.Background()
	fs, err := harness.FindRootFS()
	if err != nil {
		return err
	}
	imageEnv.fs = fs
	dir, err := os.MkdirTemp("", "agent-image-")
	if err != nil {
		return err
	}
	imageEnv.agent = filepath.Join(dir, "agent")
	// The Dockerfile's build: static, trimmed, stripped.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", imageEnv.agent, "runbook-operator/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the agent as the Dockerfile does: %v\n%s", err, out)
	}
	imageEnv.pg17, err = harness.StartPostgres(ctx, harness.PostgresOptions{Rootfs: fs.Server17, Version: "17"})
	if err != nil {
		return fmt.Errorf("start PostgreSQL 17 in %s: %w", fs.Server17, err)
	}
	addSecret(imageEnv.pg17.Password)
	imageEnv.sums = map[*harness.Postgres]map[string]string{}
	for _, p := range []*harness.Postgres{pg, imageEnv.pg17} {
		if err := execSQLOn(ctx, p, "postgres", "CREATE DATABASE imgsrc"); err != nil {
			return err
		}
		if err := execSQLOn(ctx, p, "imgsrc", imageSeedSQL); err != nil {
			return err
		}
		if imageEnv.sums[p], err = checksumsOn(ctx, p, "imgsrc"); err != nil {
			return err
		}
	}
	return nil
}

// stopImage stops what setupImage started (from TestMain's run).
func stopImage() {
	if imageEnv.pg17 != nil {
		_ = imageEnv.pg17.Stop()
	}
	if imageEnv.agent != "" {
		_ = os.RemoveAll(filepath.Dir(imageEnv.agent))
	}
}

// jobEnv is a Job's environment for the agent on server p, database db: what
// internal/jobs sets (libpq, S3, TMPDIR) and what the container runtime adds
// (the image's PATH, HOME, HOSTNAME), plus extra.
func jobEnv(p *harness.Postgres, db string, extra ...string) []string {
	env := []string{harness.ImagePath, "HOME=/", "HOSTNAME=agent-job", "TMPDIR=/tmp"}
	env = append(env, p.Env(db)...)
	env = append(env, store.Env()...)
	return append(env, extra...)
}

// imageJobEnv turns a test's agent environment (baseEnv and additions) into a
// Job's: its libpq and AWS entries, and what jobEnv adds.
func imageJobEnv(env []string) []string {
	out := []string{harness.ImagePath, "HOME=/", "HOSTNAME=agent-job", "TMPDIR=/tmp"}
	for _, kv := range env {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}

// runInImage runs /agent args in the image's file system as a Job does.
func runInImage(t *testing.T, env []string, args ...string) agentRun {
	t.Helper()
	return runInImageCtx(context.Background(), t, env, nil, args...)
}

func runInImageCtx(ctx context.Context, t *testing.T, env []string, started func(*exec.Cmd), args ...string) agentRun {
	t.Helper()
	image(t)
	termLog := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(termLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	jail := harness.Jail{Root: imageEnv.fs.Image, Agent: imageEnv.agent, TerminationLog: termLog}
	cmd := jail.Command(ctx, env, "/agent", append(args, "--termination-log", "/dev/termination-log")...)
	return checkRun(t, cmd, termLog, started, args)
}

// copyOn creates name on p as a copy of imgsrc.
func copyOn(t *testing.T, p *harness.Postgres, name string) {
	t.Helper()
	ctx := context.Background()
	if err := execSQLOn(ctx, p, "postgres", fmt.Sprintf("CREATE DATABASE %q TEMPLATE imgsrc", name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = execSQLOn(ctx, p, "postgres", fmt.Sprintf(`DO $$DECLARE d text; BEGIN
			FOR d IN SELECT datname FROM pg_database WHERE datname = %[1]s OR starts_with(datname, %[1]s || '_') LOOP
			EXECUTE format('DROP DATABASE %%I WITH (FORCE)', d); END LOOP; END$$`, "'"+name+"'"))
	})
}

func objectArgs(key string) []string {
	return []string{"--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"}
}

func TestImageRunsLikeAJob(t *testing.T) {
	image(t)
	jail := harness.Jail{Root: imageEnv.fs.Image}
	ctx := context.Background()
	env := []string{harness.ImagePath, "HOME=/", "ONLY=this"}
	out, err := jail.Command(ctx, env, "/usr/bin/id").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "uid=65532 gid=65532 groups=65532" {
		t.Errorf("id: %v %s", err, out)
	}
	out, err = jail.Command(ctx, env, "/usr/bin/env").CombinedOutput()
	got, want := strings.Fields(string(out)), slices.Clone(env)
	slices.Sort(got)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("environment %q (%v), want exactly %q", got, err, want)
	}
	if out, err := jail.Command(ctx, env, "/usr/bin/touch", "/usr/x").CombinedOutput(); err == nil || !strings.Contains(string(out), "Read-only file system") {
		t.Errorf("the root is writable: %v %s", err, out)
	}
	if out, err := jail.Command(ctx, env, "/usr/bin/touch", "/tmp/x").CombinedOutput(); err != nil {
		t.Errorf("/tmp is not writable: %v %s", err, out)
	}
	// The image carries the client tools of these majors, and they run there.
	for _, major := range []string{"13", "15", "17"} {
		for _, prog := range []string{"pg_dump", "pg_restore", "psql"} {
			out, err := jail.Command(ctx, env, "/usr/lib/postgresql/"+major+"/bin/"+prog, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "(PostgreSQL) "+major+".") {
				t.Errorf("%s %s in the image: %v %s", prog, major, err, out)
			}
		}
	}
}

// imageServer is a server the image tests run against, and its major.
type imageServer struct {
	name  string
	p     *harness.Postgres
	major string
}

// imageServers are the machine's PostgreSQL 15 and PostgreSQL 17 in server-17.
func imageServers() []imageServer {
	return []imageServer{{"PostgreSQL15", pg, "15"}, {"PostgreSQL17", imageEnv.pg17, "17"}}
}

// TestImageRoundTrip backs up, swap-restores and verifies a PostgreSQL 15 and a
// PostgreSQL 17 server, each with the client tools of its own major.
func TestImageRoundTrip(t *testing.T) {
	image(t)
	for _, tc := range imageServers() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := "img" + tc.major
			copyOn(t, tc.p, db)
			key := "image/" + db + ".dump"
			tools := "/usr/lib/postgresql/" + tc.major + "/bin"
			b := runInImage(t, jobEnv(tc.p, db), append([]string{"backup"}, objectArgs(key)...)...)
			mustSucceed(t, b)
			if !strings.HasPrefix(b.res.ServerVersion, tc.major+".") || !strings.Contains(b.res.ClientTools, tools) {
				t.Errorf("backup: server %q, tools %q; want %s and %s", b.res.ServerVersion, b.res.ClientTools, tc.major, tools)
			}
			m := readManifest(t, key)
			if !strings.HasPrefix(m.PgDumpVersion, tc.major+".") || m.ClientTools != tools || !strings.HasPrefix(m.ServerVersion, tc.major+".") {
				t.Errorf("manifest: pgDumpVersion %q, clientTools %q, serverVersion %q", m.PgDumpVersion, m.ClientTools, m.ServerVersion)
			}
			if err := execSQLOn(ctx, tc.p, db, "DELETE FROM app.events WHERE id % 3 = 0; UPDATE app.users SET bio = 'changed' WHERE id < 10"); err != nil {
				t.Fatal(err)
			}
			r := runInImage(t, jobEnv(tc.p, db), append([]string{"restore"}, objectArgs(key)...)...)
			mustSucceed(t, r)
			if !strings.Contains(r.res.ClientTools, tools) || strings.Contains(r.res.ClientTools, "psql") || r.res.Rows != imageRows {
				t.Errorf("restore: tools %q, rows %d (want %s, pg_restore direct, %d rows)", r.res.ClientTools, r.res.Rows, tools, imageRows)
			}
			got, err := checksumsOn(ctx, tc.p, db)
			if err != nil {
				t.Fatal(err)
			}
			compareSums(t, imageEnv.sums[tc.p], got)
			v := runInImage(t, jobEnv(tc.p, db), append([]string{"verify"}, objectArgs(key)...)...)
			mustSucceed(t, v)
			if !v.res.Verified || v.res.Rows != imageRows || !strings.Contains(v.res.ClientTools, tools) {
				t.Errorf("verify: %+v", v.res)
			}
		})
	}
}

// TestImageRestoresNewerDumpIntoOlderServer: a dump that pg_dump 17 made of a
// PostgreSQL 15 server (what the former image, with only PostgreSQL 17 tools,
// made; or an object made elsewhere) can only be read by pg_restore 17, which
// sets transaction_timeout, unknown to PostgreSQL 15. The agent restores it
// through psql without that statement, and nothing else is ignored.
func TestImageRestoresNewerDumpIntoOlderServer(t *testing.T) {
	image(t)
	ctx := context.Background()
	copyOn(t, pg, "imgmixed")
	copyOn(t, pg, "imgmixed_scratch")

	// Why: pg_restore 17 with --exit-on-error into PostgreSQL 15 fails.
	jail := harness.Jail{Root: imageEnv.fs.Image}
	direct := jail.Command(ctx, jobEnv(pg, "imgmixed"), "/bin/sh", "-c",
		"/usr/lib/postgresql/17/bin/pg_dump -Fc --schema-only | /usr/lib/postgresql/17/bin/pg_restore --exit-on-error --section=pre-data -d imgmixed_scratch")
	if out, err := direct.CombinedOutput(); err == nil || !strings.Contains(string(out), "transaction_timeout") {
		t.Fatalf("pg_restore 17 into PostgreSQL 15: %v %s; want the transaction_timeout error this test is about", err, out)
	}

	key := "image/mixed.dump"
	b := runInImage(t, jobEnv(pg, "imgmixed", "PG_BINDIR=/usr/lib/postgresql/17/bin"), append([]string{"backup"}, objectArgs(key)...)...)
	mustSucceed(t, b)
	if m := readManifest(t, key); !strings.HasPrefix(m.PgDumpVersion, "17.") || !strings.HasPrefix(m.ServerVersion, "15.") {
		t.Fatalf("manifest: pgDumpVersion %q serverVersion %q, want a pg_dump 17 dump of PostgreSQL 15", m.PgDumpVersion, m.ServerVersion)
	}

	// An image whose newest pg_restore is older than the dump refuses it before
	// touching anything.
	if err := execSQLOn(ctx, pg, "imgmixed", "UPDATE app.users SET bio = 'changed' WHERE id < 10"); err != nil {
		t.Fatal(err)
	}
	changed, err := checksumsOn(ctx, pg, "imgmixed")
	if err != nil {
		t.Fatal(err)
	}
	old := runInImage(t, jobEnv(pg, "imgmixed", "PG_BINDIR=/usr/lib/postgresql/15/bin"), append([]string{"restore"}, objectArgs(key)...)...)
	mustFail(t, old, "made by pg_dump 17", "newer than every pg_restore", "nothing was restored")
	if !old.res.Permanent {
		t.Errorf("refusal is not permanent: %+v", old.res)
	}
	got, err := checksumsOn(ctx, pg, "imgmixed")
	if err != nil {
		t.Fatal(err)
	}
	compareSums(t, changed, got)

	r := runInImage(t, jobEnv(pg, "imgmixed"), append([]string{"restore"}, objectArgs(key)...)...)
	mustSucceed(t, r)
	if !strings.Contains(r.res.ClientTools, "/usr/lib/postgresql/17/bin") || !strings.Contains(r.res.ClientTools, "through psql without transaction_timeout") {
		t.Errorf("restore tools %q, want pg_restore 17 through psql without transaction_timeout", r.res.ClientTools)
	}
	if !strings.Contains(r.stderr, `"SET transaction_timeout = 0;" skipped`) {
		t.Errorf("the log does not say which statement was skipped:\n%s", r.stderr)
	}
	got, err = checksumsOn(ctx, pg, "imgmixed")
	if err != nil {
		t.Fatal(err)
	}
	compareSums(t, imageEnv.sums[pg], got)
	v := runInImage(t, jobEnv(pg, "imgmixed"), append([]string{"verify"}, objectArgs(key)...)...)
	mustSucceed(t, v)
	if !v.res.Verified || v.res.Rows != imageRows {
		t.Errorf("verify: %+v", v.res)
	}
}

// TestImageRefusesServerNewerThanItsTools: an image whose newest client tools
// are PostgreSQL 15 (PG_BINDIR) refuses a PostgreSQL 17 server before writing
// anything.
func TestImageRefusesServerNewerThanItsTools(t *testing.T) {
	image(t)
	copyOn(t, imageEnv.pg17, "imgnewer")
	key := "image/newer.dump"
	r := runInImage(t, jobEnv(imageEnv.pg17, "imgnewer", "PG_BINDIR=/usr/lib/postgresql/15/bin"), append([]string{"backup"}, objectArgs(key)...)...)
	mustFail(t, r, "PostgreSQL server 17.", "newer than every client tool in the agent image (PostgreSQL 15)", "nothing was written")
	if r.code != agent.ExitPermanent {
		t.Errorf("exit %d, want %d", r.code, agent.ExitPermanent)
	}
	noObject(t, key)
}

// TestImageDamageFoundLateThroughPsqlIsRefused: through psql too (a pg_dump 17
// dump into PostgreSQL 15), damage that only the checksum catches, after every
// row loaded, drops the restored copy and leaves the live database as it was.
func TestImageDamageFoundLateThroughPsqlIsRefused(t *testing.T) {
	image(t)
	ctx := context.Background()
	smallDB(t, "imglate")
	key := "image/late.dump"
	mustSucceed(t, runInImage(t, jobEnv(pg, "imglate", "PG_BINDIR=/usr/lib/postgresql/17/bin"),
		append([]string{"backup", "--compression", "none"}, objectArgs(key)...)...))
	if err := execSQL(ctx, "imglate", "INSERT INTO items VALUES (9999, 'live only', NULL)"); err != nil {
		t.Fatal(err)
	}
	before, err := checksums(ctx, "imglate")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(objectPath(key))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte("\titem 500\t"))
	if i < 0 {
		t.Fatal("the last row is not in the archive")
	}
	b[i+1] = 'I'
	if err := os.WriteFile(objectPath(key), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runInImage(t, jobEnv(pg, "imglate"), append([]string{"restore"}, objectArgs(key)...)...)
	mustFail(t, r, "SHA-256 mismatch", "was not touched")
	if !strings.Contains(r.stderr, "through psql without transaction_timeout") {
		t.Errorf("the restore did not go through psql:\n%s", r.stderr)
	}
	untouched(t, "imglate", before)
}

// TestImageManifestlessNewerDumpIsRefused: without a manifest the dump's
// pg_dump is unknown and the server's own tools are tried; pg_restore 15
// cannot read a pg_dump 17 archive, which is said plainly, and the live
// database stays as it was.
func TestImageManifestlessNewerDumpIsRefused(t *testing.T) {
	image(t)
	ctx := context.Background()
	smallDB(t, "imgnomanifest")
	key := "image/nomanifest.dump"
	b := runInImage(t, jobEnv(pg, "imgnomanifest", "PG_BINDIR=/usr/lib/postgresql/17/bin"), append([]string{"backup"}, objectArgs(key)...)...)
	mustSucceed(t, b)
	if err := os.Remove(objectPath(agent.ManifestKey(key))); err != nil {
		t.Fatal(err)
	}
	if err := execSQL(ctx, "imgnomanifest", "INSERT INTO items VALUES (9999, 'live only', NULL)"); err != nil {
		t.Fatal(err)
	}
	before, err := checksums(ctx, "imgnomanifest")
	if err != nil {
		t.Fatal(err)
	}
	r := runInImage(t, jobEnv(pg, "imgnomanifest"), append([]string{"restore", "--sha256", b.res.SHA256}, objectArgs(key)...)...)
	mustFail(t, r, "was not touched", "unsupported version", "made by a newer pg_dump")
	if !r.res.Permanent || !strings.Contains(r.res.ClientTools, "/usr/lib/postgresql/15/bin") {
		t.Errorf("result %+v: want a permanent failure with the server's own tools", r.res)
	}
	untouched(t, "imgnomanifest", before)
}

// TestImageCheck: the image's own client (psql, libpq, of the server's major) holds
// an idle session, one idle in a transaction that locks a table, a pg_sleep and a
// query waiting for the lock on PostgreSQL 15 and 17; `agent check` in the image
// reports them, its counts by state equal what the image's psql reads from
// pg_stat_activity, and no query text shows.
func TestImageCheck(t *testing.T) {
	image(t)
	for _, tc := range imageServers() {
		t.Run(tc.name, func(t *testing.T) {
			db := "imgcheck" + tc.major
			copyOn(t, tc.p, db)
			psql := "/usr/lib/postgresql/" + tc.major + "/bin/psql"
			h := holdSessionsWithPsql(t, tc.p, db, psql)
			time.Sleep(time.Second) // ages worth comparing
			onlyHeld(t, tc.p, db, h)
			r := checkSessions(t, h, func() agentRun { return runInImage(t, jobEnv(tc.p, db), "check") })
			if !strings.HasPrefix(r.res.ServerVersion, tc.major+".") {
				t.Errorf("server version %q, want %s", r.res.ServerVersion, tc.major)
			}
			// The same counts, read by the image's psql (its own session left out, as
			// the agent leaves out its own).
			jail := harness.Jail{Root: imageEnv.fs.Image}
			out, err := jail.Command(context.Background(), jobEnv(tc.p, db), psql, "-X", "-At", "-c",
				`SELECT state, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1`).CombinedOutput()
			if err != nil {
				t.Fatalf("psql: %v %s", err, out)
			}
			var got []string
			for _, state := range slices.Sorted(maps.Keys(r.res.Check.Connections.ByState)) {
				got = append(got, fmt.Sprintf("%s|%d", state, r.res.Check.Connections.ByState[state]))
			}
			if want := strings.Split(strings.TrimSpace(string(out)), "\n"); !slices.Equal(got, want) {
				t.Errorf("agent's counts by state %q, the image's psql's %q", got, want)
			}
		})
	}
}

// holdSessionsWithPsql is holdSessions with the image's psql as the clients: four
// sessions on db (whose app.users it locks), watched from the postgres database.
func holdSessionsWithPsql(t *testing.T, p *harness.Postgres, db, psql string) heldSessions {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := heldSessions{started: time.Now(), literal: "literal-" + fmt.Sprint(time.Now().UnixNano()), onDatabase: 4}
	admin, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	jail := harness.Jail{Root: imageEnv.fs.Image}
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db)
		cancel()
		for _, c := range cmds {
			_ = c.Wait()
		}
		_ = admin.Close(context.Background())
	})
	// start runs psql with args; input, when not nil, is written to its stdin, which
	// stays open so that psql keeps its session.
	start := func(input *string, args ...string) {
		cmd := jail.Command(ctx, jobEnv(p, db), psql, append([]string{"-X", "-q"}, args...)...)
		if input != nil {
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = in.Close() })
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(in, *input); err != nil {
				t.Fatal(err)
			}
		} else if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	pidOf := func(condition string, args ...any) uint32 {
		t.Helper()
		for i := 0; ; i++ {
			var pid int
			err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'psql' AND `+condition, append([]any{db}, args...)...).Scan(&pid)
			if err == nil {
				return uint32(pid)
			}
			if !errors.Is(err, pgx.ErrNoRows) || i == 500 {
				t.Fatalf("no psql session with %s: %v", condition, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	txn := "BEGIN;\nLOCK TABLE app.users IN ACCESS EXCLUSIVE MODE;\nSELECT 'in a transaction " + h.literal + "';\n"
	start(&txn)
	h.idleInTxn = pidOf("state = 'idle in transaction'")
	idle := "SELECT 'idle " + h.literal + "';\n"
	start(&idle)
	pidOf("state = 'idle'")
	start(nil, "-c", "SELECT pg_sleep(600), 'sleeping "+h.literal+"'")
	h.sleeper = pidOf("wait_event = 'PgSleep'")
	h.sleeperSeen = time.Now()
	start(nil, "-c", "SELECT count(*), 'waiting "+h.literal+"' FROM app.users")
	pidOf("wait_event_type = 'Lock'")
	return h
}
