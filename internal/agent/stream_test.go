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
