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

// Package harness starts real, throwaway PostgreSQL and S3 (versitygw) servers on
// loopback ports for tests. Every server runs in its own process group with a
// parent-death signal, so a crashed test leaves nothing running.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Version is the PostgreSQL major version under /usr/lib/postgresql (for
	// example "15"). Empty picks the newest installed one, else the PATH.
	Version string
	// Rootfs, when set, is a Debian file system (hack/rootfs.sh server-17) in
	// which the server runs, chrooted, as that system's postgres user: Version is
	// then required and names /usr/lib/postgresql/<Version> inside it. The
	// cluster's folder is under its /tmp; it still listens on 127.0.0.1.
	Rootfs string
}

// Postgres is a running throwaway PostgreSQL cluster listening on 127.0.0.1.
// Its pg_hba.conf also accepts clients from the whole 127.0.0.0/8 range.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	DataDir  string

	root    string // temp folder holding DataDir, removed by Stop
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopMu  sync.Mutex
	stopped bool
	logPath string
	chroot  string // the Rootfs the server runs in, if any
}

// serverEnv is the environment of initdb and postgres: this process's, or in a
// Rootfs a clean one (the host's locale settings may not exist there).
func (p *Postgres) serverEnv() []string {
	if p.chroot == "" {
		return nil
	}
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
}

// StartPostgres initialises a new cluster in a temp folder and starts it on a free
// loopback port with scram-sha-256 password authentication and a random password.
// As root it runs initdb and postgres as the "postgres" user.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	bin, err := postgresBinDir(opts.Rootfs, opts.Version)
	if err != nil {
		return nil, err
	}
	// in maps a path as the server sees it to this process's view.
	in := func(p string) string { return filepath.Join(opts.Rootfs, p) }
	base := os.TempDir()
	if opts.Rootfs != "" {
		base = in("/tmp")
	}
	hostRoot, err := newTempDirIn(base, "harness-pg-")
	if err != nil {
		return nil, err
	}
	root := strings.TrimPrefix(hostRoot, filepath.Clean(opts.Rootfs))
	if opts.Rootfs == "" {
		root = hostRoot
	}
	p := &Postgres{
		Host:     "127.0.0.1",
		User:     "postgres",
		Password: randomHex(16),
		DataDir:  filepath.Join(root, "data"),
		root:     hostRoot,
		chroot:   opts.Rootfs,
		logPath:  filepath.Join(hostRoot, "postgres.log"),
	}
	ok := false
	defer func() {
		if !ok {
			_ = p.Stop()
		}
	}()
	cred, err := postgresCredential(opts.Rootfs)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(hostRoot, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s to postgres: %w", hostRoot, err)
		}
	}
	if err := os.Chmod(hostRoot, 0o700); err != nil {
		return nil, err
	}
	pwfile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(in(pwfile), []byte(p.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(in(pwfile), int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", p.DataDir, "-U", p.User, "--pwfile", pwfile, "-A", "scram-sha-256",
		"-E", "UTF8", "--locale", "C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Chroot: opts.Rootfs}
	initdb.Env = p.serverEnv()
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 10))
	}
	_ = os.Remove(in(pwfile))
	hba, err := os.OpenFile(in(filepath.Join(p.DataDir, "pg_hba.conf")), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = hba.WriteString("host all all 127.0.0.0/8 scram-sha-256\n")
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.Port = port
		if lastErr = p.start(ctx, bin, cred); lastErr == nil {
			ok = true
			return p, nil
		}
	}
	return nil, lastErr
}

func (p *Postgres) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.DataDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "shared_buffers=128MB",
		"-c", "max_wal_size=2GB",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT, Chroot: p.chroot}
	cmd.Env = p.serverEnv()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			log, _ := os.ReadFile(p.logPath)
			return fmt.Errorf("postgres exited during start-up: %v: %s", p.waitErr, lastLines(string(log), 10))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, p.DSN("postgres"))
		if err == nil {
			_ = conn.Close(cctx)
			cancel()
			return nil
		}
		cancel()
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return fmt.Errorf("postgres did not accept connections on port %d: %w", p.Port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *Postgres) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	// SIGINT is PostgreSQL's fast shutdown; SIGKILL the whole group if it hangs.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Stop shuts the server down and removes its folder. It is safe to call twice.
func (p *Postgres) Stop() error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	p.kill()
	if p.root != "" {
		return os.RemoveAll(p.root)
	}
	return nil
}

// DSN returns a postgres:// URL for dbname, with the password in it.
func (p *Postgres) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Env returns the libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
// PGPASSWORD, PGSSLMODE) for dbname.
func (p *Postgres) Env(dbname string) []string {
	return []string{
		"PGHOST=" + p.Host,
		"PGPORT=" + strconv.Itoa(p.Port),
		"PGDATABASE=" + dbname,
		"PGUSER=" + p.User,
		"PGPASSWORD=" + p.Password,
		"PGSSLMODE=disable",
	}
}

// LogTail returns the last lines of the server log, for test failure messages.
func (p *Postgres) LogTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	return lastLines(string(b), n)
}

func postgresBinDir(rootfs, version string) (string, error) {
	if rootfs != "" {
		dir := filepath.Join("/usr/lib/postgresql", version, "bin")
		if _, err := os.Stat(filepath.Join(rootfs, dir, "postgres")); version == "" || err != nil {
			return "", fmt.Errorf("no PostgreSQL %q server in the file system %s (build it with hack/rootfs.sh)", version, rootfs)
		}
		return dir, nil
	}
	if version != "" {
		dir := filepath.Join("/usr/lib/postgresql", version, "bin")
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("PostgreSQL %s is not installed (%s): %w", version, dir, err)
		}
		return dir, nil
	}
	entries, _ := os.ReadDir("/usr/lib/postgresql")
	var versions []int
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil {
			if _, err := os.Stat(filepath.Join("/usr/lib/postgresql", e.Name(), "bin", "postgres")); err == nil {
				versions = append(versions, v)
			}
		}
	}
	if len(versions) > 0 {
		slices.Sort(versions)
		return filepath.Join("/usr/lib/postgresql", strconv.Itoa(versions[len(versions)-1]), "bin"), nil
	}
	path, err := exec.LookPath("postgres")
	if err != nil {
		return "", errors.New("no PostgreSQL server found under /usr/lib/postgresql or on the PATH")
	}
	return filepath.Dir(path), nil
}

// postgresCredential returns the postgres user's credential when running as root
// (PostgreSQL refuses to run as root), else nil; in rootfs, that system's
// postgres user (from its /etc/passwd).
func postgresCredential(rootfs string) (*syscall.Credential, error) {
	if rootfs != "" {
		b, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 3 && f[0] == "postgres" {
				return credential(f[2], f[3])
			}
		}
		return nil, fmt.Errorf("%s has no postgres user", rootfs)
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the server: %w", err)
	}
	return credential(u.Uid, u.Gid)
}

// credential parses a user's ids. An id that does not parse is an error, not 0
// (root), which running the server as root would mean.
func credential(uid, gid string) (*syscall.Credential, error) {
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user id %q: %w", uid, err)
	}
	g, err := strconv.ParseUint(gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres group id %q: %w", gid, err)
	}
	return &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newTempDir makes a temp folder recording the owning test process, after
// removing folders of earlier test processes that died without cleaning up.
func newTempDir(prefix string) (string, error) { return newTempDirIn(os.TempDir(), prefix) }

// newTempDirIn is newTempDir in base.
func newTempDirIn(base, prefix string) (string, error) {
	sweepStale(base, prefix)
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

func sweepStale(base, prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(base, prefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}
