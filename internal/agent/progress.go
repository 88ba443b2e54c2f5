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
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"runbook-operator/internal/progress"
)

// meter prints the progress of a backup or restore every --progress-interval:
// a line for people and a progress.Prefix line for the controller. It only
// loads counters the streams already keep (atomic adds, no extra copy).
type meter struct {
	e        *env
	command  string
	every    time.Duration
	done     atomic.Pointer[atomic.Int64] // bytes read (pg_dump's output, or the object)
	uploaded atomic.Pointer[atomic.Int64] // backup: compressed bytes handed to the upload
	expected atomic.Int64
	phase    atomic.Pointer[string]
	tables   atomic.Int64 // restore: tables loaded …
	total    atomic.Int64 // … of this many
	started  atomic.Int64 // unix nanoseconds when the stream started

	// Only the printing goroutine (then finish, after it) uses these: the
	// throughput is the stream's, frozen once its bytes stop growing (a restore
	// goes on loading after the download).
	lastDone int64
	lastRate float64

	stop    chan struct{}
	stopped sync.WaitGroup
}

// startMeter starts printing; nil (printing nothing) when the interval is 0.
func (e *env) startMeter(ctx context.Context, command string) *meter {
	if e.o.ProgressInterval <= 0 {
		return nil
	}
	m := &meter{e: e, command: command, every: e.o.ProgressInterval, stop: make(chan struct{})}
	m.stopped.Add(1)
	go func() {
		defer m.stopped.Done()
		t := time.NewTicker(m.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.print(false, false)
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return m
}

// track names the counter of bytes done and what is expected, and restarts
// the throughput clock.
func (m *meter) track(done *atomic.Int64, expected int64) {
	if m == nil {
		return
	}
	m.expected.Store(expected)
	m.started.Store(time.Now().UnixNano())
	m.done.Store(done)
}

func (m *meter) trackUpload(n *atomic.Int64) {
	if m != nil {
		m.uploaded.Store(n)
	}
}

func (m *meter) setPhase(p string) {
	if m != nil {
		m.phase.Store(&p)
	}
}

func (m *meter) setTables(done, total int) {
	if m != nil {
		m.tables.Store(int64(done))
		m.total.Store(int64(total))
	}
}

// finish stops the ticker and prints the final line.
func (m *meter) finish(err error) {
	if m == nil {
		return
	}
	close(m.stop)
	m.stopped.Wait()
	m.print(true, err == nil)
}

// report reads the counters (printing goroutine only).
func (m *meter) report(now time.Time) progress.Report {
	r := progress.Report{Command: m.command, BytesExpected: m.expected.Load(), Time: now.UTC().Truncate(time.Millisecond),
		TablesDone: int(m.tables.Load()), TablesTotal: int(m.total.Load())}
	if p := m.phase.Load(); p != nil {
		r.Phase = *p
	}
	if d := m.done.Load(); d != nil {
		r.BytesDone = d.Load()
	}
	if u := m.uploaded.Load(); u != nil {
		r.BytesUploaded = u.Load()
	}
	r.BytesPerSecond = m.lastRate
	if s := m.started.Load(); s > 0 && r.BytesDone != m.lastDone {
		if el := now.Sub(time.Unix(0, s)).Seconds(); el > 0 {
			r.BytesPerSecond = float64(r.BytesDone) / el
		}
	}
	m.lastDone, m.lastRate = r.BytesDone, r.BytesPerSecond
	if r.BytesPerSecond > 0 && r.BytesExpected > r.BytesDone {
		r.ETASeconds = float64(r.BytesExpected-r.BytesDone) / r.BytesPerSecond
	}
	return r
}

func (m *meter) print(final, ok bool) {
	r := m.report(time.Now())
	r.Final, r.Succeeded = final, final && ok
	if final {
		r.ETASeconds = 0
	}
	m.e.logf("%s", humanProgress(r))
	_, _ = fmt.Fprintln(m.e.log, r.Line())
}

// humanProgress is the line for people.
func humanProgress(r progress.Report) string {
	s := r.Command + " progress"
	if r.Final {
		s = r.Command + " final progress"
	}
	if r.Phase != "" {
		s += " (" + r.Phase + ")"
	}
	if r.Command == "backup" {
		s += fmt.Sprintf(": %s read from pg_dump, %s uploaded", progress.Human(r.BytesDone), progress.Human(r.BytesUploaded))
		if r.BytesUploaded > 0 {
			s += fmt.Sprintf(" (ratio %.1f:1)", float64(r.BytesDone)/float64(r.BytesUploaded))
		}
	} else {
		s += fmt.Sprintf(": %s of the object read", progress.Human(r.BytesDone))
	}
	if r.BytesExpected > 0 {
		of := "of the object"
		if r.Command == "backup" {
			of = "of the database size"
		}
		s += fmt.Sprintf(", %s %s", progress.Human(r.BytesExpected), of)
		if p := r.Percent(); p >= 0 {
			s += fmt.Sprintf(" (%d%%)", p)
		}
	}
	if r.TablesTotal > 0 {
		s += fmt.Sprintf(", tables %d/%d loaded", r.TablesDone, r.TablesTotal)
	}
	s += fmt.Sprintf(", %s/s", progress.Human(int64(r.BytesPerSecond)))
	if r.ETASeconds > 0 {
		s += ", ETA " + time.Duration(r.ETASeconds*float64(time.Second)).Round(time.Second).String()
	}
	return s
}
