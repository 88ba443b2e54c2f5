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
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"runbook-operator/internal/pgtools"
)

// Readers follow the writer from the start, at their own pace, and end with
// io.EOF only once the writer finished.
func TestSpoolReadersFollowTheWriter(t *testing.T) {
	sp, err := newSpool(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sp.Close() }()
	want := bytes.Repeat([]byte("0123456789abcdef"), 100000)
	got := make([][]byte, 3)
	errs := make(chan error, len(got))
	for i := range got {
		r := sp.reader(context.Background())
		go func() {
			b, err := io.ReadAll(r)
			got[i] = b
			errs <- err
		}()
	}
	for off := 0; off < len(want); off += 70001 {
		if _, err := sp.Write(want[off:min(off+70001, len(want))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-errs:
		t.Fatalf("a reader ended before the writer finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	sp.finish(nil)
	for range got {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range got {
		if !bytes.Equal(b, want) {
			t.Errorf("reader %d read %d bytes, want the %d written", i, len(b), len(want))
		}
	}
	// A reader that starts late reads everything too.
	if b, err := io.ReadAll(sp.reader(context.Background())); err != nil || !bytes.Equal(b, want) {
		t.Errorf("late reader: %d bytes, %v", len(b), err)
	}
}

// A download that fails reaches the readers as an error, never as a clean end
// of the archive; a cancelled reader stops waiting.
func TestSpoolFailureAndCancel(t *testing.T) {
	sp, err := newSpool(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sp.Close() }()
	_, _ = sp.Write([]byte("PGDMP partial"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(sp.reader(ctx)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled reader: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled reader kept waiting")
	}
	boom := errors.New("SHA-256 mismatch")
	sp.finish(boom)
	b, err := io.ReadAll(sp.reader(context.Background()))
	if string(b) != "PGDMP partial" || !errors.Is(err, boom) {
		t.Errorf("after a failed download: %q, %v", b, err)
	}
}

func TestShareData(t *testing.T) {
	entries := []pgtools.TOCEntry{
		{ID: 10, Line: "0 16386 TABLE DATA public accounts bench"},
		{ID: 11, Line: "0 16404 TABLE DATA public audit_log bench"},
		{ID: 12, Line: "0 16395 TABLE DATA public events bench"},
		{ID: 13, Line: "0 16390 TABLE DATA app small table bench"},
		{ID: 14, Line: "0 0 SEQUENCE SET public accounts_id_seq bench"},
	}
	m := &Manifest{Tables: []pgtools.TableEstimate{
		{Schema: "public", Name: "accounts", Bytes: 100},
		{Schema: "public", Name: "audit_log", Bytes: 200},
		{Schema: "public", Name: "events", Bytes: 1000},
		{Schema: "app", Name: "small table", Bytes: 5},
	}}
	got := shareData(entries, m, 2)
	want := [][]int{{12}, {10, 11, 13, 14}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("shareData = %v, want %v (largest table alone, the rest in archive order)", got, want)
	}
	if got := shareData(entries, nil, 8); len(got) != 5 {
		t.Errorf("without a manifest and 8 jobs: %v, want one entry per list", got)
	}
	if got := shareData(entries, m, 1); !slices.EqualFunc(got, [][]int{{10, 11, 12, 13, 14}}, slices.Equal) {
		t.Errorf("one job: %v", got)
	}
	if got := shareData(nil, m, 4); len(got) != 0 {
		t.Errorf("no data entries: %v", got)
	}
}

// With accounts and audit_log loaded and events still loading, their indexes,
// keys and the foreign key between them may run; nothing that touches events,
// no ACL and no refresh, nor anything depending on an entry it cannot place.
func TestEarlyPostData(t *testing.T) {
	all := []pgtools.TOCEntry{
		{ID: 215, Line: "1259 16386 TABLE public accounts bench"},
		{ID: 219, Line: "1259 16404 TABLE public audit_log bench"},
		{ID: 217, Line: "1259 16395 TABLE public events bench"},
		{ID: 3361, Line: "0 16386 TABLE DATA public accounts bench"},
		{ID: 3365, Line: "0 16404 TABLE DATA public audit_log bench"},
		{ID: 3363, Line: "0 16395 TABLE DATA public events bench"},
		{ID: 3375, Line: "0 0 SEQUENCE SET public accounts_id_seq bench"},
		{ID: 220, Line: "1259 16500 MATERIALIZED VIEW public totals bench"},
	}
	data := all[3:7]
	post := []pgtools.TOCItem{
		{ID: 3212, Type: "CONSTRAINT", Deps: []int{215}},
		{ID: 3217, Type: "CONSTRAINT", Deps: []int{219}},
		{ID: 3215, Type: "CONSTRAINT", Deps: []int{217}},
		{ID: 3210, Type: "INDEX", Deps: []int{215}},
		{ID: 3213, Type: "INDEX", Deps: []int{217}},
		{ID: 3300, Type: "FK CONSTRAINT", Deps: []int{219, 3212, 215}},
		{ID: 3301, Type: "FK CONSTRAINT", Deps: []int{217, 3212}},
		{ID: 3302, Type: "TRIGGER", Deps: []int{215, 9999}},
		{ID: 3303, Type: "COMMENT", Deps: []int{3210}},
		{ID: 3304, Type: "COMMENT", Deps: []int{3213}},
		{ID: 3305, Type: "INDEX", Deps: []int{215, 3375}},
		{ID: 3400, Type: "MATERIALIZED VIEW DATA", Deps: []int{220}},
		{ID: 3401, Type: "ACL", Deps: []int{215}},
	}
	got := earlyPostData(all, post, data, map[int]bool{3361: true, 3365: true})
	if want := []int{3212, 3217, 3210, 3300, 3303}; !slices.Equal(got, want) {
		t.Errorf("earlyPostData = %v, want %v", got, want)
	}
	got = earlyPostData(all, post, data, map[int]bool{3361: true, 3365: true, 3363: true, 3375: true})
	if want := []int{3212, 3217, 3215, 3210, 3213, 3300, 3301, 3303, 3304, 3305}; !slices.Equal(got, want) {
		t.Errorf("everything loaded: %v, want %v", got, want)
	}
}
