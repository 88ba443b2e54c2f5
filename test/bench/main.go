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

// Command bench compares the agent's backup and restore with the runbook's
// commands on throwaway PostgreSQL and versitygw servers, at one or more
// database sizes. Run it through hack/bench-backup.sh. It is a measurement, not a
// test: it prints figures and the targets next to them.
//
// Environment: BENCH_SIZES_MB (comma-separated, default "1000,2000"),
// BENCH_COMPRESSION (zstd), BENCH_JOBS (pg_restore jobs for both sides, default
// the agent's default), BENCH_RESTORE_RUNS (restore pairs per size, default 3;
// the pair with the median ratio is reported), BENCH_AGENT (an agent binary to
// measure instead of building cmd/agent, to compare two versions).
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/agent"
	"runbook-operator/test/harness"
)

type measurement struct {
	sizeMB                                int
	dbBytes                               int64
	rawDump, gzipDump, agentBackup        time.Duration
	rawBytes, gzipBytes, agentBytes       int64
	pgRestore, agentRestore               time.Duration
	backupRSS, restoreRSS                 int64 // KiB
	agentRestoreRows                      int64
	pgRestoreJobs                         int
	agentBackupCPU, agentRestoreCPU       time.Duration
	rawDumpCPU, gzipDumpCPU, pgRestoreCPU time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	sizes := []int{1000, 2000}
	if s := os.Getenv("BENCH_SIZES_MB"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("BENCH_SIZES_MB: %q is not a size in MB", f)
			}
			sizes = append(sizes, n)
		}
	}
	compression := envOr("BENCH_COMPRESSION", "zstd")
	jobs := envOr("BENCH_JOBS", "")
	restoreRuns, err := strconv.Atoi(envOr("BENCH_RESTORE_RUNS", "3"))
	if err != nil || restoreRuns < 1 {
		return fmt.Errorf("BENCH_RESTORE_RUNS: %q is not a positive number", os.Getenv("BENCH_RESTORE_RUNS"))
	}

	tmp, err := os.MkdirTemp("", "bench-backup-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	agentBin := os.Getenv("BENCH_AGENT")
	if agentBin == "" {
		agentBin = filepath.Join(tmp, "agent")
		if out, err := exec.Command("go", "build", "-o", agentBin, "runbook-operator/cmd/agent").CombinedOutput(); err != nil {
			return fmt.Errorf("build agent: %v: %s", err, out)
		}
	}
	pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = pg.Stop() }()
	s3, err := harness.StartS3(ctx, harness.S3Options{})
	if err != nil {
		return err
	}
	defer func() { _ = s3.Stop() }()
	if err := s3.CreateBucket(ctx, "bench"); err != nil {
		return err
	}
	fmt.Printf("bench: PostgreSQL %s:%d, versitygw %s, %d CPUs, compression %s\n", pg.Host, pg.Port, s3.Endpoint, numCPU(), compression)

	var results []measurement
	for _, size := range sizes {
		m, err := measure(ctx, pg, s3, agentBin, tmp, size, compression, jobs, restoreRuns)
		if err != nil {
			return err
		}
		results = append(results, m)
		report(m)
	}
	summary(results)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func baseEnv(pg *harness.Postgres, s3 *harness.S3, db string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, pg.Env(db)...), s3.Env()...)
}

// generate fills db with about sizeMB of data of realistic entropy: hex digests,
// random text, jsonb documents, timestamps and numerics, with indexes.
func generate(ctx context.Context, pg *harness.Postgres, db string, sizeMB int) (int64, error) {
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = admin.Close(ctx) }()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		return 0, err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `
CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL, name text, token text, created_at timestamptz, balance numeric(14,2));
CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint, kind text, payload jsonb, body text, at timestamptz);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, actor text, action text, detail text, at timestamptz);`); err != nil {
		return 0, err
	}
	target := int64(sizeMB) << 20
	var size int64
	for batch := 0; size < target; batch++ {
		if _, err := conn.Exec(ctx, `
INSERT INTO accounts (email, name, token, created_at, balance)
SELECT md5(random()::text) || '@example.com', 'User ' || (random() * 1e6)::int, encode(sha256(random()::text::bytea), 'base64'),
       now() - random() * interval '1000 days', round((random() * 100000)::numeric, 2)
FROM generate_series(1, 20000);
INSERT INTO events (account_id, kind, payload, body, at)
SELECT (random() * 1e6)::int, (ARRAY['login','purchase','refund','view','signup'])[1 + (random() * 4)::int],
       jsonb_build_object('ip', '10.' || (random()*255)::int || '.' || (random()*255)::int || '.1', 'ua', md5(random()::text),
                          'amount', round((random() * 500)::numeric, 2), 'items', jsonb_build_array(md5(random()::text), (random() * 100)::int)),
       md5(random()::text) || ' ' || md5(random()::text) || ' lorem ipsum dolor sit amet ' || md5(random()::text),
       now() - random() * interval '365 days'
FROM generate_series(1, 100000);
INSERT INTO audit_log (actor, action, detail, at)
SELECT 'user' || (random() * 5000)::int, (ARRAY['update','delete','create'])[1 + (random() * 2)::int],
       repeat(md5(random()::text), 1 + (random() * 3)::int), now() - random() * interval '30 days'
FROM generate_series(1, 50000);`); err != nil {
			return 0, err
		}
		if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
			return 0, err
		}
	}
	for _, q := range []string{"CREATE INDEX ON events (account_id, at)", "CREATE INDEX ON accounts (email)", "VACUUM ANALYZE"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return 0, err
		}
	}
	err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size)
	return size, err
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// timed runs cmd and returns its wall time, user+system CPU time of it and its
// children, and peak RSS (KiB) of the largest process.
func timed(cmd *exec.Cmd) (time.Duration, time.Duration, int64, error) {
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return wall, 0, 0, err
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss, err
}

func measure(ctx context.Context, pg *harness.Postgres, s3 *harness.S3, agentBin, tmp string, sizeMB int, compression, jobs string, restoreRuns int) (measurement, error) {
	m := measurement{sizeMB: sizeMB}
	db := fmt.Sprintf("bench_%d", sizeMB)
	fmt.Printf("\n== %d MB: generating data…\n", sizeMB)
	t0 := time.Now()
	var err error
	if m.dbBytes, err = generate(ctx, pg, db, sizeMB); err != nil {
		return m, fmt.Errorf("generate: %w", err)
	}
	fmt.Printf("   database %s: %d MiB in %s\n", db, m.dbBytes>>20, time.Since(t0).Round(time.Second))
	env := baseEnv(pg, s3, db)

	// (a) pg_dump -Fc -Z0 to a counter (stands for > /dev/null), also kept as a file
	// for the pg_restore baseline.
	dumpFile := filepath.Join(tmp, db+".pgdump")
	f, err := os.Create(dumpFile)
	if err != nil {
		return m, err
	}
	cw := &countWriter{}
	cmd := exec.Command("pg_dump", "-Fc", "-Z0", "--no-sync")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.MultiWriter(f, cw), os.Stderr
	if m.rawDump, m.rawDumpCPU, _, err = timed(cmd); err != nil {
		return m, fmt.Errorf("pg_dump: %w", err)
	}
	_ = f.Close()
	m.rawBytes = cw.n
	fmt.Printf("   (a) pg_dump -Fc -Z0:            %8.1fs  %6d MiB\n", m.rawDump.Seconds(), m.rawBytes>>20)

	// (b) the runbook: pg_dump | gzip.
	sh := exec.Command("bash", "-o", "pipefail", "-c", "pg_dump | gzip")
	gz := &countWriter{}
	sh.Env, sh.Stdout, sh.Stderr = env, gz, os.Stderr
	if m.gzipDump, m.gzipDumpCPU, _, err = timed(sh); err != nil {
		return m, fmt.Errorf("pg_dump | gzip: %w", err)
	}
	m.gzipBytes = gz.n
	fmt.Printf("   (b) pg_dump | gzip:             %8.1fs  %6d MiB\n", m.gzipDump.Seconds(), m.gzipBytes>>20)

	// (c) agent backup to versitygw.
	key := db + "/bench.dump"
	out := &strings.Builder{}
	cmd = exec.Command(agentBin, "backup", "--bucket", "bench", "--key", key, "--endpoint", s3.Endpoint, "--path-style", "--compression", compression)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, io.Discard
	if m.agentBackup, m.agentBackupCPU, m.backupRSS, err = timed(cmd); err != nil {
		return m, fmt.Errorf("agent backup: %w: %s", err, out)
	}
	res, err := agent.ParseResult([]byte(out.String()))
	if err != nil {
		return m, err
	}
	m.agentBytes = res.SizeBytes
	fmt.Printf("   (c) agent backup (%s):        %8.1fs  %6d MiB  peak RSS %d MiB\n", compression, m.agentBackup.Seconds(), m.agentBytes>>20, m.backupRSS>>10)

	// (d) pg_restore from the local uncompressed file into a new database, vs
	// agent restore (download, verify, decompress, restore, ANALYZE, swap).
	j := jobs
	if j == "" {
		j = strconv.Itoa(min(4, numCPU()))
	}
	m.pgRestoreJobs, _ = strconv.Atoi(j)
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return m, err
	}
	defer func() { _ = admin.Close(ctx) }()
	// Restore timings swing with the load of a shared machine: run the pair
	// (pg_restore, then agent restore, back to back) several times and keep the
	// pair with the median ratio.
	var pairs []restorePair
	for run := 1; run <= restoreRuns; run++ {
		p, err := runRestorePair(ctx, admin, env, agentBin, s3, db, key, dumpFile, j, tmp)
		if err != nil {
			return m, err
		}
		pairs = append(pairs, p)
	}
	_ = os.Remove(dumpFile)
	for _, p := range pairs {
		m.restoreRSS = max(m.restoreRSS, p.rss)
	}
	slices.SortFunc(pairs, func(a, b restorePair) int { return cmp.Compare(ratio(a.agent, a.pg), ratio(b.agent, b.pg)) })
	med := pairs[len(pairs)/2]
	m.pgRestore, m.agentRestore, m.pgRestoreCPU, m.agentRestoreCPU, m.agentRestoreRows = med.pg, med.agent, med.pgCPU, med.agentCPU, med.rows
	if len(pairs) > 1 {
		fmt.Printf("   restore ratios: %.2f … %.2f over %d runs, median %.2f\n",
			ratio(pairs[0].agent, pairs[0].pg), ratio(pairs[len(pairs)-1].agent, pairs[len(pairs)-1].pg), len(pairs), ratio(med.agent, med.pg))
	}
	_, _ = admin.Exec(ctx, "DROP DATABASE "+db+" WITH (FORCE)")
	return m, nil
}

// restorePair is one pg_restore and one agent restore of the same dump, back to back.
type restorePair struct {
	pg, agent, pgCPU, agentCPU time.Duration
	rss, rows                  int64
}

// runRestorePair restores dumpFile with pg_restore -j j into a new database, then
// key with the agent's restore (download, verify, decompress, restore, ANALYZE, swap).
func runRestorePair(ctx context.Context, admin *pgx.Conn, env []string, agentBin string, s3 *harness.S3, db, key, dumpFile, j, tmp string) (restorePair, error) {
	var p restorePair
	base := db + "_pgrestore"
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+base); err != nil {
		return p, err
	}
	cmd := exec.Command("pg_restore", "--exit-on-error", "-j", j, "-d", base, dumpFile)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stderr, os.Stderr
	var err error
	if p.pg, p.pgCPU, _, err = timed(cmd); err != nil {
		return p, fmt.Errorf("pg_restore: %w", err)
	}
	fmt.Printf("   (d) pg_restore -j %s (local file): %7.1fs\n", j, p.pg.Seconds())
	_, _ = admin.Exec(ctx, "DROP DATABASE "+base+" WITH (FORCE)")

	out := &strings.Builder{}
	logs := &strings.Builder{}
	cmd = exec.Command(agentBin, "restore", "--bucket", "bench", "--key", key, "--endpoint", s3.Endpoint, "--path-style", "--jobs", j, "--keep-previous=false")
	cmd.Env, cmd.Stdout, cmd.Stderr = append(env, "TMPDIR="+tmp), out, logs
	if p.agent, p.agentCPU, p.rss, err = timed(cmd); err != nil {
		return p, fmt.Errorf("agent restore: %w: %s", err, out)
	}
	if res, err := agent.ParseResult([]byte(out.String())); err == nil {
		p.rows = res.Rows
	}
	fmt.Printf("       agent restore -j %s:          %7.1fs  peak RSS %d MiB (%d rows)  ratio %.2f\n",
		j, p.agent.Seconds(), p.rss>>10, p.rows, ratio(p.agent, p.pg))
	// The agent logs the time of each step as "timings: download 2.0s, …".
	for _, line := range strings.Split(logs.String(), "\n") {
		if _, after, ok := strings.Cut(line, "agent: timings: "); ok {
			fmt.Printf("       agent restore steps: %s\n", after)
		}
	}
	return p, nil
}

func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func report(m measurement) {
	cb, ca, dr := ratio(m.agentBackup, m.gzipDump), ratio(m.agentBackup, m.rawDump), ratio(m.agentRestore, m.pgRestore)
	fmt.Printf("   c/b = %.2f (target ≤ 0.45: %s)   c/a = %.2f (target ≤ 1.5: %s)   restore/pg_restore = %.2f (target ≤ 1.2: %s)\n",
		cb, verdict(cb <= 0.45), ca, verdict(ca <= 1.5), dr, verdict(dr <= 1.2))
	fmt.Printf("   sizes: pg_dump -Z0 %d MiB, gzip %d MiB (%.1f%%), agent %d MiB (%.1f%%)\n",
		m.rawBytes>>20, m.gzipBytes>>20, 100*float64(m.gzipBytes)/float64(m.rawBytes), m.agentBytes>>20, 100*float64(m.agentBytes)/float64(m.rawBytes))
	fmt.Printf("   CPU seconds: (a) %.1f (b) %.1f (c agent process) %.1f; pg_restore %.1f, agent restore %.1f\n",
		m.rawDumpCPU.Seconds(), m.gzipDumpCPU.Seconds(), m.agentBackupCPU.Seconds(), m.pgRestoreCPU.Seconds(), m.agentRestoreCPU.Seconds())
}

func summary(ms []measurement) {
	fmt.Printf("\n%-8s %9s %8s %8s %8s %6s %6s %8s %9s %9s %7s %7s\n", "size", "db MiB", "a s", "b s", "c s", "c/b", "c/a", "gz MiB", "agent MiB", "restore", "RSS bk", "RSS rs")
	var maxRSS, minRSS int64 = 0, 1 << 62
	for _, m := range ms {
		fmt.Printf("%-8s %9d %8.1f %8.1f %8.1f %6.2f %6.2f %8d %9d %9.2f %6dM %6dM\n",
			fmt.Sprintf("%dMB", m.sizeMB), m.dbBytes>>20, m.rawDump.Seconds(), m.gzipDump.Seconds(), m.agentBackup.Seconds(),
			ratio(m.agentBackup, m.gzipDump), ratio(m.agentBackup, m.rawDump), m.gzipBytes>>20, m.agentBytes>>20,
			ratio(m.agentRestore, m.pgRestore), m.backupRSS>>10, m.restoreRSS>>10)
		maxRSS = max(maxRSS, m.backupRSS, m.restoreRSS)
		minRSS = min(minRSS, m.backupRSS, m.restoreRSS)
	}
	fmt.Printf("peak agent RSS %d MiB (target ≤ 100 MiB: %s), spread across sizes %d MiB\n", maxRSS>>10, verdict(maxRSS>>10 <= 100), (maxRSS-minRSS)>>10)
}
