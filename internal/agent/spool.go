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
	"errors"
	"io"
	"os"
	"sync"
)

// spool is a file written once, front to back, that readers follow while it
// is being written (like tail -f): the download writes the uncompressed
// archive into it and several pg_restore processes read it at their own pace.
// Memory stays bounded whatever the archive's size; the page cache holds what
// the readers have not caught up with yet.
type spool struct {
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	size int64 // bytes written so far
	done bool  // no more writes
	err  error // why writing stopped early, for the readers
}

func newSpool(path string) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600) //nolint:gosec // G304: the spool file in the agent's own temporary folder
	if err != nil {
		return nil, err
	}
	s := &spool{f: f}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// Write appends p and wakes the readers.
func (s *spool) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.mu.Lock()
	s.size += int64(n)
	s.mu.Unlock()
	s.cond.Broadcast()
	return n, err
}

// finish marks the end of the archive: readers get io.EOF at its end, or err
// (when not nil) once they have read what was written.
func (s *spool) finish(err error) {
	s.mu.Lock()
	if !s.done {
		s.done, s.err = true, err
	}
	s.mu.Unlock()
	s.cond.Broadcast()
}

// Close finishes the spool and closes the file (readers then fail).
func (s *spool) Close() error {
	s.finish(errors.New("the download was abandoned"))
	return s.f.Close()
}

// reader returns a reader of the archive from its start that waits for the
// writer; it fails with ctx's error once ctx ends.
func (s *spool) reader(ctx context.Context) io.Reader {
	return &spoolReader{s: s, ctx: ctx}
}

type spoolReader struct {
	s   *spool
	ctx context.Context
	off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	s := r.s
	stop := context.AfterFunc(r.ctx, func() {
		s.mu.Lock()
		s.mu.Unlock() //nolint:staticcheck // empty critical section: the waiter is in Wait or has not checked ctx yet
		s.cond.Broadcast()
	})
	defer stop()
	s.mu.Lock()
	for r.off >= s.size && !s.done && r.ctx.Err() == nil {
		s.cond.Wait()
	}
	size, done, werr := s.size, s.done, s.err
	s.mu.Unlock()
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.off >= size {
		if done && werr != nil {
			return 0, werr
		}
		return 0, io.EOF
	}
	if int64(len(p)) > size-r.off {
		p = p[:size-r.off]
	}
	n, err := s.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
