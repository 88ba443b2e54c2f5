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
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// fetched is a downloaded, verified, uncompressed custom-format archive.
type fetched struct {
	Path        string
	Compression string
	SHA256      string
	Size        int64
	Manifest    *Manifest
}

// sourceReader records read errors of the object stream, so they are not
// mistaken for a damaged archive.
// n counts the bytes read, for the progress meter.
type sourceReader struct {
	r   io.Reader
	err error
	n   atomic.Int64
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n.Add(int64(n))
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type hashingWriter struct {
	h io.Writer
	w io.Writer
}

func (hw hashingWriter) Write(p []byte) (int, error) {
	_, _ = hw.h.Write(p)
	return hw.w.Write(p)
}

// fetch downloads the dump into dir, decompressing on the fly while hashing the
// object's bytes, and returns only once its SHA-256 matched --sha256 or the
// manifest: for inplace restores (which drop the live database first) and
// verify, nothing happens before the whole object is checked. Needs free space
// in $TMPDIR of about the uncompressed dump size.
func (e *env) fetch(ctx context.Context, store objectstore.Store, dir string) (*fetched, error) {
	m, want, err := e.source(ctx, store, dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "dump.pgdump")
	f, err := os.Create(path) //nolint:gosec // G304: dump.pgdump in the agent's own temporary folder
	if err != nil {
		return nil, err
	}
	out, err := e.download(ctx, store, want, dir, bufio.NewWriterSize(f, 1<<20), "no database was touched")
	closeErr := f.Close()
	if err == nil && closeErr != nil {
		err = fmt.Errorf("writing the dump to %s failed: %w", dir, closeErr)
	}
	if err != nil {
		return nil, err
	}
	out.Path, out.Manifest = path, m
	return out, nil
}

// source reads the manifest and checks that the dump can be restored here: the
// expected SHA-256 is known, pg_restore is recent enough and dir has room for
// the uncompressed archive.
func (e *env) source(ctx context.Context, store objectstore.Store, dir string) (*Manifest, string, error) {
	m, err := readManifest(ctx, store, e.o.Key)
	if err != nil {
		return nil, "", err
	}
	want := strings.ToLower(strings.TrimSpace(e.o.SHA256))
	switch {
	case m == nil && want == "":
		return nil, "", permanent("s3://%s/%s has no manifest (%s) and no --sha256 was given: the backup is incomplete or unverifiable; nothing was restored",
			e.o.Bucket, e.o.Key, ManifestKey(e.o.Key))
	case m != nil && want != "" && m.SHA256 != want:
		return nil, "", permanent("--sha256 %s differs from the manifest's %s: refusing to restore", want, m.SHA256)
	case want == "":
		want = m.SHA256
	}
	if err := e.chooseTools(ctx, m); err != nil {
		return nil, "", err
	}
	if m != nil {
		if m.UncompressedBytes > 0 {
			var st syscall.Statfs_t
			if syscall.Statfs(dir, &st) == nil {
				free := int64(st.Bavail) * st.Bsize //nolint:gosec // G115: free blocks of a file system fit in int64
				if need := m.UncompressedBytes + 64<<20; free < need {
					return nil, "", permanent("not enough space in %s for the uncompressed dump: %d MiB free, %d MiB needed (mount a larger emptyDir at TMPDIR)", dir, free>>20, need>>20)
				}
			}
		}
	}
	return m, want, nil
}

// chooseTools picks the client tools for the server restored into (e.server)
// and the dump: the server's own major, else the nearest newer, and never older
// than the pg_dump that made the dump (older pg_restores cannot read it). Tools
// newer than the server restore through psql without the settings the server
// lacks (pgtools.Tools.UnknownSettings). Without a manifest the dump's pg_dump
// is unknown: the server's tools are tried, and pg_restore says so if it
// cannot read the archive.
func (e *env) chooseTools(ctx context.Context, m *Manifest) error {
	minMajor := 0
	if m != nil {
		if dv, err := pgtools.ParseVersion(m.PgDumpVersion); err == nil {
			minMajor = dv.Major
		}
	}
	tools, err := pgtools.SelectTools(ctx, e.server, minMajor)
	if err != nil {
		return err
	}
	e.tools = tools
	how := ""
	if u := tools.UnknownSettings(); len(u) > 0 {
		how = fmt.Sprintf(", through psql without %s (unknown to PostgreSQL %d)", strings.Join(u, ", "), e.server.Major)
	}
	e.logf("using %s for PostgreSQL %s%s", tools, e.server.Text, how)
	e.toolsNote = tools.String() + how
	return nil
}

// download streams the object into w uncompressed, hashing the bytes as stored,
// and fails unless their SHA-256 is want. A mismatch is reported as such even
// when the damage also broke decompression or w's consumer.
func (e *env) download(ctx context.Context, store objectstore.Store, want, dir string, w io.Writer, consequence string) (*fetched, error) {
	rc, size, err := store.Get(ctx, e.o.Key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	e.logf("downloading %s (%d bytes) into %s", "s3://"+e.o.Bucket+"/"+e.o.Key, size, dir)
	// Network and hashing run in their own goroutine, decompression and the file
	// write in this one.
	h := sha256.New()
	src := &sourceReader{r: rc}
	e.meter.track(&src.n, size)
	pr, pw := io.Pipe()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, err := io.CopyBuffer(hashingWriter{h: h, w: pw}, src, make([]byte, 1<<20))
		_ = pw.CloseWithError(err)
	}()
	defer func() { _ = pr.Close(); <-copied }()
	br := bufio.NewReaderSize(pr, 1<<20)
	out := &fetched{}
	var decErr error
	dec, kind, err := newDecompressor(br)
	if err != nil {
		decErr = err
	} else {
		out.Compression = kind
		_, decErr = io.Copy(w, dec)
		_ = dec.Close()
		if f, ok := w.(interface{ Flush() error }); ok && decErr == nil {
			decErr = f.Flush()
		}
	}
	// Hash the rest of the object even when decompression stopped early, so a
	// damaged object is reported as such.
	_, _ = io.Copy(io.Discard, br)
	<-copied
	if src.err != nil {
		return nil, fmt.Errorf("download of s3://%s/%s failed: %w", e.o.Bucket, e.o.Key, src.err)
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	out.SHA256 = hex.EncodeToString(h.Sum(nil))
	out.Size = size
	if out.SHA256 != want {
		return nil, permanent("SHA-256 mismatch for s3://%s/%s: expected %s, got %s: the object is damaged or was replaced; nothing was restored: %s",
			e.o.Bucket, e.o.Key, want, out.SHA256, consequence)
	}
	if decErr != nil {
		var pe *os.PathError
		if errors.As(decErr, &pe) {
			return nil, fmt.Errorf("writing the dump to %s failed: %w", dir, decErr)
		}
		return nil, permanent("the object's checksum matches but it is not a readable dump (%v): nothing was restored: %s", decErr, consequence)
	}
	e.logf("downloaded and verified sha256 %s (%s)", out.SHA256, out.Compression)
	return out, nil
}

// restore restores the dump: swap mode while it downloads (into a new database
// that goes live only after the checksum matched), inplace mode after it was
// downloaded and verified (see cmd/agent/README.md).
func (e *env) restore(ctx context.Context, res *Result) error {
	switch e.o.Mode {
	case "swap", "":
		e.o.Mode = "swap"
	case "inplace":
		if !e.o.ConfirmInplace {
			return usageError{errors.New("--mode inplace drops the live database before restoring; add --confirm-inplace to do that, or use --mode swap")}
		}
	default:
		return usageError{fmt.Errorf("unknown --mode %q (swap or inplace)", e.o.Mode)}
	}
	res.Mode = e.o.Mode
	t, err := e.target()
	if err != nil {
		return err
	}
	target := e.o.TargetDatabase
	if target == "" {
		target = t.Database
	}
	if target == pgtools.MaintenanceDB || strings.HasPrefix(target, "template") {
		return permanent("refusing to restore into %q", target)
	}
	res.Database = target
	store, err := e.store(ctx)
	if err != nil {
		return err
	}
	// Reach the server before downloading gigabytes.
	if err := e.readServer(ctx, t, res); err != nil {
		return err
	}
	defer func() { res.ClientTools = e.toolsNote }()

	dir, err := os.MkdirTemp("", "agent-restore-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	defer func() { e.logf("timings: %s", &e.ph) }()
	if e.o.Mode == "inplace" {
		// Nothing may be dropped before the whole object is verified.
		e.meter.setPhase("download")
		t0 := time.Now()
		dl, err := e.fetch(ctx, store, dir)
		e.ph.since("download", t0)
		if err != nil {
			return err
		}
		res.SHA256, res.SizeBytes, res.Compression = dl.SHA256, dl.Size, dl.Compression
		return e.restoreInplace(ctx, t, target, dl, res)
	}
	return e.restoreSwap(ctx, t, store, dir, target, timestamp(time.Now()), res)
}

// restoreSwap restores into a new database while the object downloads, and
// swaps it in only once the download's SHA-256 matched and the restore, the
// counts and ANALYZE succeeded. Until the swap the live database is not touched;
// on any failure (a damaged object included) the new database is dropped.
func (e *env) restoreSwap(ctx context.Context, t pgtools.Target, store objectstore.Store, dir, target, ts string, res *Result) error {
	m, want, err := e.source(ctx, store, dir)
	if err != nil {
		return err
	}
	newName := dbName(target, "_restoring_"+ts)
	admin, err := t.Connect(ctx, pgtools.MaintenanceDB)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close(context.WithoutCancel(ctx)) }()
	like, err := pgtools.LookupDatabase(ctx, admin, target)
	if err != nil {
		return err
	}
	if err := pgtools.CreateDatabase(ctx, admin, newName, like); err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Never leave a half-restored database behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		c, err := t.Connect(dctx, pgtools.MaintenanceDB)
		if err == nil {
			if derr := pgtools.DropDatabase(dctx, c, newName); derr != nil {
				e.logf("could not drop the half-restored database %q: %v", newName, derr)
			}
			_ = c.Close(dctx)
		}
	}()
	e.logf("restoring into new database %q while downloading, %d jobs", newName, e.o.Jobs)
	dl, err := e.streamRestore(ctx, t, store, dir, newName, m, want,
		fmt.Sprintf("the database being restored (%s) is dropped and the live database %q was not touched", newName, target))
	var se stepError
	if errors.As(err, &se) {
		return fmt.Errorf("restore failed; the live database %q was not touched: %w", target, se.error)
	}
	if err != nil {
		return err // the download's verdict, which says what happened to the databases
	}
	res.SHA256, res.SizeBytes, res.Compression = dl.SHA256, dl.Size, dl.Compression
	if err := e.afterRestore(ctx, t, newName, res); err != nil {
		return fmt.Errorf("restored database check failed; the live database %q was not touched: %w", target, err)
	}
	previous := ""
	if like != nil {
		previous = dbName(target, "_pre_restore_"+ts)
	}
	// The admin connection may have idled through a long restore: use a fresh one.
	_ = admin.Close(ctx)
	admin, err = t.Connect(ctx, pgtools.MaintenanceDB)
	if err != nil {
		return err
	}
	t0 := time.Now()
	n, err := pgtools.SwapDatabases(ctx, admin, target, newName, previous)
	e.ph.since("swap", t0)
	res.TerminatedConnections = n
	if err != nil {
		return fmt.Errorf("the live database %q was not changed: %w", target, err)
	}
	committed = true
	res.PreviousDatabase = previous
	e.logf("swapped: %q is the restored database, the former one is %q (%d sessions terminated)", target, previous, n)
	if previous != "" && !e.o.KeepPrevious {
		if err := pgtools.DropDatabase(ctx, admin, previous); err != nil {
			return fmt.Errorf("the restore succeeded but the previous database %q could not be dropped: %w", previous, err)
		}
		res.PreviousDatabase = ""
		e.logf("dropped the previous database %q (--keep-previous=false)", previous)
	}
	return nil
}

func (e *env) restoreInplace(ctx context.Context, t pgtools.Target, target string, dl *fetched, res *Result) error {
	admin, err := t.Connect(ctx, pgtools.MaintenanceDB)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close(context.WithoutCancel(ctx)) }()
	like, err := pgtools.LookupDatabase(ctx, admin, target)
	if err != nil {
		return err
	}
	if like != nil {
		n, _ := pgtools.TerminateConnections(ctx, admin, target)
		res.TerminatedConnections = n
		e.logf("inplace: dropping database %q (%d sessions terminated)", target, n)
		if err := pgtools.DropDatabase(ctx, admin, target); err != nil {
			return err
		}
	}
	if err := pgtools.CreateDatabase(ctx, admin, target, like); err != nil {
		return fmt.Errorf("the database %q was dropped but could not be recreated: %w", target, err)
	}
	e.meter.setPhase("pg_restore")
	t0 := time.Now()
	err = pgtools.Restore(ctx, pgtools.RestoreOptions{Tools: e.tools, Target: t, Database: target, File: dl.Path, Jobs: e.o.Jobs, NoOwner: e.o.NoOwner, Log: e.log})
	e.ph.since("pg_restore", t0)
	if err != nil {
		return fmt.Errorf("inplace restore failed; database %q is incomplete, restore again: %w", target, err)
	}
	return e.afterRestore(ctx, t, target, res)
}

// afterRestore counts what was restored and ANALYZEs (pg_restore does not), so
// the first queries on the swapped-in database get sensible plans.
func (e *env) afterRestore(ctx context.Context, t pgtools.Target, db string, res *Result) error {
	conn, err := t.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	e.meter.setPhase("count")
	// pg_restore's sessions flush their statistics as they exit: wait for them
	// (client sessions only: autovacuum may be busy with the new tables).
	t0 := time.Now()
	for i := 0; i < 200; i++ {
		var others int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'").Scan(&others); err != nil || others == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tables, rows, ok, err := pgtools.RestoredRows(ctx, conn)
	if err == nil && !ok {
		// track_counts is off: count every table.
		var counts []pgtools.TableCount
		counts, err = pgtools.CountRows(ctx, conn)
		tables, rows = len(counts), 0
		for _, c := range counts {
			rows += c.Rows
		}
	}
	e.ph.since("count", t0)
	if err != nil {
		return err
	}
	res.Tables, res.Rows = tables, rows
	if e.o.Analyze {
		e.meter.setPhase("analyze")
		t0 = time.Now()
		err := pgtools.AnalyzeParallel(ctx, t, db, e.o.Jobs)
		e.ph.since("analyze", t0)
		if err != nil {
			return fmt.Errorf("ANALYZE: %w", err)
		}
	}
	return nil
}
