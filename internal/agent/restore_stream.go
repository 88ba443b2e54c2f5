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
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

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
	base := pgtools.RestoreOptions{Tools: e.tools, Target: t, Database: db, NoOwner: e.o.NoOwner, Log: e.log}

	t0 := time.Now()
	pre := base
	pre.Stdin, pre.Sections = sp.reader(rctx), []string{"pre-data"}
	if err := pgtools.Restore(rctx, pre); err != nil {
		return nil, fail(err)
	}
	e.ph.since("pre-data", t0)

	t0 = time.Now()
	entries, err := pgtools.ListArchive(rctx, e.tools, sp.reader(rctx), "data")
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
		if p.all, p.err = pgtools.ListArchive(l.rctx, l.e.tools, l.sp.reader(l.rctx)); p.err == nil {
			p.post, p.err = pgtools.Dependencies(l.rctx, l.e.tools, l.sp.reader(l.rctx), "post-data")
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
