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
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
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
	f, err := os.Create(path)
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
	if m != nil {
		rv, err := pgtools.ToolVersion(ctx, "pg_restore")
		if err != nil {
			return nil, "", err
		}
		if dv, err := pgtools.ParseVersion(m.PgDumpVersion); err == nil && rv.Major < dv.Major {
			return nil, "", permanent("pg_restore %s cannot read a dump made by pg_dump %s: use an agent image with PostgreSQL %d client tools", rv.Text, dv.Text, dv.Major)
		}
		if m.UncompressedBytes > 0 {
			var st syscall.Statfs_t
			if syscall.Statfs(dir, &st) == nil {
				free := int64(st.Bavail) * st.Bsize
				if need := m.UncompressedBytes + 64<<20; free < need {
					return nil, "", permanent("not enough space in %s for the uncompressed dump: %d MiB free, %d MiB needed (mount a larger emptyDir at TMPDIR)", dir, free>>20, need>>20)
				}
			}
		}
	}
	return m, want, nil
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

	dir, err := os.MkdirTemp("", "agent-restore-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	defer func() { e.logf("timings: %s", &e.ph) }()
	if e.o.Mode == "inplace" {
		// Nothing may be dropped before the whole object is verified.
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

// streamRestore downloads the object into a spool file in dir and restores it
// into db (an existing, empty database) at the same time:
//
//   - pre-data (tables, types, functions…) from the archive's table of
//     contents, which comes first in the stream;
//   - data: up to --jobs pg_restore processes, each given a share of the
//     tables (balanced by the manifest's sizes) and reading the spool from the
//     start as it grows, so tables load while later ones are still downloading;
//   - post-data (indexes, constraints, triggers, ACLs) with pg_restore -j from
//     the complete spool file, once the SHA-256 matched.
//
// pg_restore -j cannot read a stream and a custom-format archive written to a
// pipe has no data offsets, so this split is what lets restoring overlap the
// download. The verdict of the download (damage, truncation, network) takes
// precedence over a pg_restore error, which damage would explain.
func (e *env) streamRestore(ctx context.Context, t pgtools.Target, store objectstore.Store, dir, db string, m *Manifest, want, consequence string) (*fetched, error) {
	path := filepath.Join(dir, "dump.pgdump")
	sp, err := newSpool(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sp.Close() }()
	// Readers (pg_restore's stdin) stop with rctx; the download only with ctx.
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	dl := &pendingDownload{ch: make(chan downloadOutcome, 1)}
	start := time.Now()
	go func() {
		f, err := e.download(ctx, store, want, dir, bufio.NewWriterSize(sp, 1<<20), consequence)
		sp.finish(err)
		e.ph.since("download", start)
		dl.ch <- downloadOutcome{f, err}
	}()
	defer func() { stopReaders(); dl.wait() }()
	fail := func(err error) error {
		if o := dl.wait(); o.err != nil {
			return o.err
		}
		return stepError{err}
	}
	base := pgtools.RestoreOptions{Target: t, Database: db, NoOwner: e.o.NoOwner, Log: e.log}

	t0 := time.Now()
	pre := base
	pre.Stdin, pre.Sections = sp.reader(rctx), []string{"pre-data"}
	if err := pgtools.Restore(rctx, pre); err != nil {
		return nil, fail(err)
	}
	e.ph.since("pre-data", t0)

	t0 = time.Now()
	entries, err := pgtools.ListArchive(rctx, sp.reader(rctx), "data")
	if err != nil {
		return nil, fail(err)
	}
	ld := &dataLoad{e: e, rctx: rctx, stop: stopReaders, sp: sp, base: base, dir: dir, path: path, dl: dl}
	ld.run(entries, m)
	e.ph.since("data", t0)
	firstErr := ld.firstErr
	if firstErr == nil && rctx.Err() != nil {
		firstErr = context.Cause(rctx)
	}
	o := dl.wait()
	if o.err != nil {
		return nil, o.err
	}
	if firstErr != nil {
		return nil, stepError{firstErr}
	}
	early, plan := ld.early, ld.plan

	t0 = time.Now()
	post := base
	post.File, post.Jobs, post.Sections = path, e.o.Jobs, []string{"post-data"}
	if early != nil {
		done := map[int]bool{}
		for _, id := range early {
			done[id] = true
		}
		var rest []int
		for _, it := range plan.post {
			if !done[it.ID] {
				rest = append(rest, it.ID)
			}
		}
		post.ListFile = filepath.Join(dir, "post-data.list")
		if err := os.WriteFile(post.ListFile, []byte(joinIDs(rest)), 0o600); err != nil {
			return nil, stepError{err}
		}
	}
	if err := pgtools.Restore(ctx, post); err != nil {
		return nil, stepError{err}
	}
	e.ph.since("post-data", t0)
	out := o.f
	out.Path, out.Manifest = path, m
	return out, nil
}

type downloadOutcome struct {
	f   *fetched
	err error
}

// pendingDownload is the download running beside the restore.
type pendingDownload struct {
	ch  chan downloadOutcome
	got *downloadOutcome
}

// wait returns the download's outcome, waiting for it the first time.
func (p *pendingDownload) wait() downloadOutcome {
	if p.got == nil {
		o := <-p.ch
		p.got = &o
	}
	return *p.got
}

// postDataPlan is the archive's table of contents with the post-data entries'
// dependencies.
type postDataPlan struct {
	all  []pgtools.TOCEntry
	post []pgtools.TOCItem
	err  error
}

// dataLoad loads the data section with up to --jobs pg_restore processes
// reading the spool, and starts the post-data entries of loaded tables early.
type dataLoad struct {
	e          *env
	rctx       context.Context
	stop       func()
	sp         *spool
	base       pgtools.RestoreOptions
	dir, path  string
	dl         *pendingDownload
	mu         sync.Mutex
	firstErr   error
	plan       *postDataPlan
	early      []int
	earlyDone  chan error
	running    int
	loadedData map[int]bool
}

// failed records the first failure that is not the consequence of another
// (which cancelled rctx) and stops every reader.
func (l *dataLoad) failed(err error) {
	if err == nil || l.rctx.Err() != nil {
		return
	}
	l.mu.Lock()
	if l.firstErr == nil {
		l.firstErr = err
	}
	l.mu.Unlock()
	l.stop()
}

// run returns once every share is loaded (or failed) and the early post-data
// run, if any, ended.
func (l *dataLoad) run(entries []pgtools.TOCEntry, m *Manifest) {
	shares := shareData(entries, m, l.e.o.Jobs)
	// What post-data depends on, read from the table of contents meanwhile.
	plans := make(chan postDataPlan, 1)
	go func() {
		var p postDataPlan
		if p.all, p.err = pgtools.ListArchive(l.rctx, l.sp.reader(l.rctx)); p.err == nil {
			p.post, p.err = pgtools.Dependencies(l.rctx, l.sp.reader(l.rctx), "post-data")
		}
		plans <- p
	}()
	finished := make(chan int, len(shares))
	for i, ids := range shares {
		list := filepath.Join(l.dir, fmt.Sprintf("data-%d.list", i))
		if err := os.WriteFile(list, []byte(joinIDs(ids)), 0o600); err != nil {
			l.failed(err)
			finished <- -1
			continue
		}
		o := l.base
		o.Stdin, o.ListFile = l.sp.reader(l.rctx), list
		go func() {
			err := pgtools.Restore(l.rctx, o)
			l.failed(err)
			if err != nil {
				i = -1
			}
			finished <- i
		}()
	}
	// Once the download is verified and some shares are loaded, the post-data
	// entries that only need those tables (their indexes, keys…) run beside the
	// loads still going, as pg_restore -j would.
	l.loadedData, l.running, l.earlyDone = map[int]bool{}, len(shares), make(chan error, 1)
	planWait, downloadWait := plans, l.dl.ch
	for l.running > 0 {
		select {
		case i := <-finished:
			l.running--
			if i >= 0 {
				for _, id := range shares[i] {
					l.loadedData[id] = true
				}
			}
		case p := <-planWait:
			l.plan, planWait = &p, nil
		case o := <-downloadWait:
			l.dl.got, downloadWait = &o, nil
			if o.err != nil {
				l.stop()
			}
		}
		l.startEarly(entries)
	}
	if l.early != nil {
		l.failed(<-l.earlyDone)
	}
}

// startEarly starts the early post-data run when the time has come.
func (l *dataLoad) startEarly(entries []pgtools.TOCEntry) {
	if l.early != nil || l.running == 0 || l.plan == nil || l.plan.err != nil || l.dl.got == nil || l.dl.got.err != nil ||
		len(l.loadedData) == 0 || l.rctx.Err() != nil {
		return
	}
	early := earlyPostData(l.plan.all, l.plan.post, entries, l.loadedData)
	if len(early) == 0 {
		return
	}
	list := filepath.Join(l.dir, "post-data-early.list")
	if err := os.WriteFile(list, []byte(joinIDs(early)), 0o600); err != nil {
		l.failed(err)
		return
	}
	l.early = early
	o := l.base
	o.File, o.ListFile, o.Jobs, o.Sections = l.path, list, max(1, l.e.o.Jobs-l.running), []string{"post-data"}
	l.e.logf("%d post-data entries of loaded tables start while %d loads run", len(early), l.running)
	go func() {
		start := time.Now()
		err := pgtools.Restore(l.rctx, o)
		l.e.ph.since("post-data early", start)
		l.earlyDone <- err
	}()
}

// earlyKinds are the post-data entries that build on their own tables' rows
// only; everything else (ACLs, materialized view refreshes, event triggers…)
// waits for all the data.
var earlyKinds = map[string]bool{
	"INDEX": true, "INDEX ATTACH": true, "CONSTRAINT": true, "CHECK CONSTRAINT": true,
	"FK CONSTRAINT": true, "TRIGGER": true, "STATISTICS": true, "COMMENT": true,
}

// earlyPostData returns, in archive order, the post-data entries that may run
// while other tables still load. It applies pg_restore -j's own rule (a
// post-data entry waits for the data of the tables it depends on) to the data
// entries loaded so far, for the kinds in earlyKinds, and only when every
// post-data entry it depends on qualifies too. A dependency it cannot place
// keeps the entry for later.
func earlyPostData(all []pgtools.TOCEntry, post []pgtools.TOCItem, data []pgtools.TOCEntry, loaded map[int]bool) []int {
	known := map[int]string{} // dump ID → catalog OID
	for _, en := range all {
		_, oid := en.OID()
		known[en.ID] = oid
	}
	isData := map[int]bool{}
	dataOf := map[string]int{} // table OID → its data entry
	for _, en := range data {
		isData[en.ID] = true
		if _, oid := en.OID(); oid != "" && oid != "0" {
			dataOf[oid] = en.ID
		}
	}
	items := map[int]pgtools.TOCItem{}
	for _, it := range post {
		items[it.ID] = it
	}
	const (
		visiting = iota + 1
		yes
		no
	)
	state := map[int]int{}
	var ready func(id int) bool
	ready = func(id int) bool {
		switch state[id] {
		case yes:
			return true
		case visiting, no:
			return false
		}
		state[id] = visiting
		it := items[id]
		ok := earlyKinds[it.Type]
		for _, d := range it.Deps {
			if !ok {
				break
			}
			oid, isKnown := known[d]
			switch {
			case items[d].ID != 0:
				ok = ready(d)
			case isData[d]:
				ok = loaded[d]
			case !isKnown:
				ok = false
			case dataOf[oid] != 0:
				ok = loaded[dataOf[oid]] // a table: its rows must be in
			}
		}
		state[id] = no
		if ok {
			state[id] = yes
		}
		return ok
	}
	var out []int
	for _, it := range post {
		if ready(it.ID) {
			out = append(out, it.ID)
		}
	}
	return out
}

// stepError is a failure of pg_restore (not of the download) in streamRestore.
type stepError struct{ error }

func (e stepError) Unwrap() error { return e.error }

// shareData splits the data entries of the archive (table data, sequence
// values, large objects) into at most jobs lists of dump IDs, each in archive
// order (a streamed archive is read front to back), balancing the tables'
// sizes recorded in the manifest: largest first, onto the least loaded list.
func shareData(entries []pgtools.TOCEntry, m *Manifest, jobs int) [][]int {
	sizes := map[string]int64{}
	if m != nil {
		for _, tb := range m.Tables {
			sizes[tb.Schema+"\x00"+tb.Name] = tb.Bytes
		}
	}
	type item struct {
		pos    int
		weight int64
	}
	items := make([]item, len(entries))
	for i, en := range entries {
		items[i] = item{pos: i, weight: 1 + sizes[tableDataKey(en.Line)]}
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(b.weight, a.weight) })
	n := max(1, min(jobs, len(entries)))
	load := make([]int64, n)
	assigned := make([][]int, n)
	for _, it := range items {
		k := 0
		for j := range load {
			if load[j] < load[k] {
				k = j
			}
		}
		load[k] += it.weight
		assigned[k] = append(assigned[k], it.pos)
	}
	var shares [][]int
	for _, positions := range assigned {
		if len(positions) == 0 {
			continue
		}
		slices.Sort(positions)
		ids := make([]int, len(positions))
		for i, p := range positions {
			ids[i] = entries[p].ID
		}
		shares = append(shares, ids)
	}
	return shares
}

// tableDataKey reads "schema\x00name" from a `pg_restore -l` line of table data
// ("0 16386 TABLE DATA public accounts owner"); names with spaces may not
// parse, which only makes the balance rougher.
func tableDataKey(line string) string {
	f := strings.Fields(line)
	if len(f) < 7 || f[2] != "TABLE" || f[3] != "DATA" {
		return ""
	}
	return f[4] + "\x00" + strings.Join(f[5:len(f)-1], " ")
}

func joinIDs(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strconv.Itoa(id))
		b.WriteByte('\n')
	}
	return b.String()
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
	t0 := time.Now()
	err = pgtools.Restore(ctx, pgtools.RestoreOptions{Target: t, Database: target, File: dl.Path, Jobs: e.o.Jobs, NoOwner: e.o.NoOwner, Log: e.log})
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
		t0 = time.Now()
		err := pgtools.AnalyzeParallel(ctx, t, db, e.o.Jobs)
		e.ph.since("analyze", t0)
		if err != nil {
			return fmt.Errorf("ANALYZE: %w", err)
		}
	}
	return nil
}
