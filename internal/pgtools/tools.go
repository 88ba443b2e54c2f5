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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BinDir, when set, is where pg_dump and pg_restore are looked up first
// (also settable with the PG_BINDIR environment variable).
var BinDir = os.Getenv("PG_BINDIR")

// Tool returns the path of a PostgreSQL client program: BinDir, else the PATH.
func Tool(name string) (string, error) {
	if BinDir != "" {
		p := BinDir + "/" + name
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &Error{Msg: fmt.Sprintf("%s is not installed in the agent image", name), Permanent: true}
	}
	return p, nil
}

var versionRe = regexp.MustCompile(`(\d+)(?:\.(\d+))?`)

// Version is a PostgreSQL version: major and minor (15.4 → 15, 4).
type Version struct {
	Major, Minor int
	Text         string
}

func (v Version) String() string { return v.Text }

// ParseVersion reads the first version number in s ("pg_dump (PostgreSQL) 15.4").
func ParseVersion(s string) (Version, error) {
	if i := strings.Index(s, ")"); i >= 0 && strings.Contains(s[:i], "PostgreSQL") {
		s = s[i+1:]
	}
	m := versionRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("no version number in %q", s)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return Version{Major: major, Minor: minor, Text: m[0]}, nil
}

// program returns the path of the client program name of these tools, or
// Tool(name) for empty Tools.
func (t Tools) program(name string) (string, error) {
	if t.Dir == "" {
		return Tool(name)
	}
	return t.Path(name), nil
}

// stderrTail keeps the last few KiB written to it.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
	max int
	log io.Writer
}

func (s *stderrTail) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if len(s.buf) > s.max {
		s.buf = s.buf[len(s.buf)-s.max:]
	}
	if s.log != nil {
		_, _ = s.log.Write(p)
	}
	return len(p), nil
}

func (s *stderrTail) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(s.buf, nil)))
}

// command builds a client program invocation that is terminated gently (SIGTERM,
// then SIGKILL after 10 s) when ctx ends.
func command(ctx context.Context, path string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...) //nolint:gosec // G204: path is pg_dump, pg_restore or psql of the chosen Tools; args are built by this package, never a shell line
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// DumpOptions configure Dump.
type DumpOptions struct {
	Tools    Tools // from SelectTools; empty: pg_dump from PG_BINDIR or the PATH
	Target   Target
	Database string
	Log      io.Writer // pg_dump's stderr is copied here too (may be nil)
}

// Dump runs `pg_dump -Fc -Z0` (custom format, uncompressed: the agent compresses
// it faster and better) writing the archive to out. It returns only after
// pg_dump exited; a non-zero exit is an error carrying its last stderr lines.
func Dump(ctx context.Context, o DumpOptions, out io.Writer) error {
	path, err := o.Tools.program("pg_dump")
	if err != nil {
		return err
	}
	tail := &stderrTail{max: 4096, log: o.Log}
	cmd := command(ctx, path, o.Target.Env(o.Database), "-Fc", "-Z0", "--no-sync")
	cmd.Stdout = out
	cmd.Stderr = tail
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pg_dump interrupted: %w", context.Cause(ctx))
		}
		return dumpError("pg_dump", err, tail.String())
	}
	return nil
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Tools from SelectTools; empty: pg_restore from PG_BINDIR or the PATH.
	// Tools newer than their server may set what it lacks (UnknownSettings):
	// such restores go through psql without those statements.
	Tools    Tools
	Target   Target
	Database string // restore into this (existing, empty) database
	// File is the uncompressed custom-format archive; when empty, pg_restore
	// reads the archive from Stdin (no -j then: pg_restore refuses parallel
	// restores from a stream).
	File  string
	Stdin io.Reader
	// Sections limits the restore to pre-data, data and/or post-data.
	Sections []string
	// ListFile restores only the TOC entries listed (pg_restore -L), in its order.
	ListFile string
	Jobs     int  // parallel jobs (pg_restore -j)
	NoOwner  bool // --no-owner --no-privileges
	Log      io.Writer
}

// Restore runs pg_restore with --exit-on-error into an existing database.
func Restore(ctx context.Context, o RestoreOptions) error {
	path, err := o.Tools.program("pg_restore")
	if err != nil {
		return err
	}
	unknown := o.Tools.UnknownSettings()
	args := []string{"--exit-on-error"}
	if len(unknown) == 0 {
		args = append(args, "-d", o.Database)
	}
	if o.Jobs > 1 && o.File != "" && len(unknown) == 0 {
		args = append(args, "-j", strconv.Itoa(o.Jobs))
	}
	if o.NoOwner {
		args = append(args, "--no-owner", "--no-privileges")
	}
	for _, s := range o.Sections {
		args = append(args, "--section="+s)
	}
	if o.ListFile != "" {
		args = append(args, "-L", o.ListFile)
	}
	if o.File != "" {
		args = append(args, o.File)
	}
	if len(unknown) > 0 {
		return restoreThroughPsql(ctx, o, path, args, unknown)
	}
	tail := &stderrTail{max: 4096, log: o.Log}
	cmd := command(ctx, path, o.Target.Env(o.Database), args...)
	cmd.Stdout = tail
	cmd.Stderr = tail
	if err := runWithStdin(cmd, o.File == "", o.Stdin); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pg_restore interrupted: %w", context.Cause(ctx))
		}
		return dumpError("pg_restore", err, tail.String())
	}
	return nil
}

// runWithStdin runs cmd, feeding it in from a goroutine when useIn is set,
// through a 1 MiB pipe (the default 64 KiB makes the feeder and pg_restore take
// turns far more often). pg_restore stops reading once it has what it needs (the
// TOC, or the last selected data block), so the feeder is not waited for: it
// ends with a write error on the pipe nobody reads, or when in ends.
func runWithStdin(cmd *exec.Cmd, useIn bool, in io.Reader) error {
	if !useIn || in == nil {
		return cmd.Run()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	if rc, err := pw.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, 1<<20)
		})
	}
	cmd.Stdin = pr
	err = cmd.Start()
	_ = pr.Close()
	if err != nil {
		_ = pw.Close()
		return err
	}
	go func() {
		// Hide pw's ReadFrom, which would copy in 32 KiB pieces.
		_, _ = io.CopyBuffer(struct{ io.Writer }{pw}, in, make([]byte, 1<<20))
		_ = pw.Close()
	}()
	return cmd.Wait()
}

// fSetPipeSize is F_SETPIPE_SZ (Linux).
const fSetPipeSize = 1031

// TOCEntry is one line of `pg_restore -l`: the dump ID and the rest of the line
// ("0 16386 TABLE DATA public accounts owner").
type TOCEntry struct {
	ID   int
	Line string
}

// ListArchive runs `pg_restore -l` on the archive read from in (only its header
// and table of contents are read) and returns the entries of the given sections
// (all when none is given).
func ListArchive(ctx context.Context, tools Tools, in io.Reader, sections ...string) ([]TOCEntry, error) {
	out, err := readArchive(ctx, tools, in, []string{"-l"}, sections)
	if err != nil {
		return nil, err
	}
	var entries []TOCEntry
	for _, line := range strings.Split(out, "\n") {
		idText, rest, ok := strings.Cut(line, ";")
		if !ok || strings.HasPrefix(line, ";") {
			continue
		}
		id, err := strconv.Atoi(strings.TrimSpace(idText))
		if err != nil || id <= 0 {
			continue
		}
		entries = append(entries, TOCEntry{ID: id, Line: strings.TrimSpace(rest)})
	}
	return entries, nil
}

// OID returns the entry's catalog OID and the OID of its catalog (1259 for
// pg_class; 0 for table data, whose OID is the table's).
func (e TOCEntry) OID() (catalog, oid string) {
	f := strings.Fields(e.Line)
	if len(f) < 2 {
		return "", ""
	}
	return f[0], f[1]
}

// TOCItem is a TOC entry with its type and the IDs of the entries it depends on.
type TOCItem struct {
	ID   int
	Type string // INDEX, CONSTRAINT, FK CONSTRAINT, ACL…
	Deps []int
}

var (
	tocEntryRe = regexp.MustCompile(`^-- TOC entry (\d+) \(class \d+ OID \d+\)$`)
	tocTypeRe  = regexp.MustCompile(`^-- Name: .*; Type: (.+); Schema: .*; Owner: .*$`)
)

// Dependencies reads the entries of the given sections of the archive read from
// in, with their dependencies, from the comments of `pg_restore -v -f -` (only
// its table of contents is read for sections without data).
func Dependencies(ctx context.Context, tools Tools, in io.Reader, sections ...string) ([]TOCItem, error) {
	out, err := readArchive(ctx, tools, in, []string{"-v", "-f", "-"}, sections)
	if err != nil {
		return nil, err
	}
	var items []TOCItem
	var cur *TOCItem
	for _, line := range strings.Split(out, "\n") {
		if m := tocEntryRe.FindStringSubmatch(line); m != nil {
			id, _ := strconv.Atoi(m[1])
			items = append(items, TOCItem{ID: id})
			cur = &items[len(items)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if deps, ok := strings.CutPrefix(line, "-- Dependencies:"); ok {
			for _, f := range strings.Fields(deps) {
				d, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("pg_restore -v: unexpected dependency %q", f)
				}
				cur.Deps = append(cur.Deps, d)
			}
		} else if m := tocTypeRe.FindStringSubmatch(line); m != nil {
			cur.Type = m[1]
			cur = nil
		}
	}
	return items, nil
}

// readArchive runs pg_restore with args, limited to sections, on the archive
// read from in and returns its standard output.
func readArchive(ctx context.Context, tools Tools, in io.Reader, args, sections []string) (string, error) {
	path, err := tools.program("pg_restore")
	if err != nil {
		return "", err
	}
	for _, s := range sections {
		args = append(args, "--section="+s)
	}
	var out bytes.Buffer
	tail := &stderrTail{max: 4096}
	cmd := command(ctx, path, nil, args...)
	cmd.Stdout = &out
	cmd.Stderr = tail
	if err := runWithStdin(cmd, true, in); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("pg_restore %s interrupted: %w", args[0], context.Cause(ctx))
		}
		return "", dumpError("pg_restore "+args[0], err, tail.String())
	}
	return out.String(), nil
}

func dumpError(tool string, err error, stderr string) error {
	msg := fmt.Sprintf("%s failed", tool)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		msg = fmt.Sprintf("%s exited with status %d", tool, exitErr.ExitCode())
	}
	lines := strings.Split(stderr, "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	detail := strings.Join(lines, " | ")
	permanent := false
	switch {
	case strings.Contains(stderr, "server version mismatch"):
		msg += ": the server is newer than this " + tool + "; use an agent image with matching client tools"
		permanent = true
	case strings.Contains(stderr, "password authentication failed"):
		msg += ": authentication failed; check PGUSER/PGPASSWORD"
		permanent = true
	case strings.Contains(stderr, "does not exist") && strings.Contains(stderr, "database"):
		permanent = true
	case strings.Contains(stderr, "unsupported version") && strings.Contains(stderr, "in file header"):
		msg += ": the dump was made by a newer pg_dump than this " + tool + " can read; restore it with client tools at least as new as that pg_dump (the manifest's pgDumpVersion picks them)"
		permanent = true
	case strings.Contains(stderr, "input file does not appear to be a valid archive"),
		strings.Contains(stderr, "could not read input file"),
		strings.Contains(stderr, "unexpected end of file"):
		msg += ": the archive is damaged or truncated"
		permanent = true
	}
	if detail != "" {
		msg += ": " + detail
	}
	return &Error{Msg: msg, Permanent: permanent}
}
