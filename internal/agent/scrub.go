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
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Scrubber removes secret values from text before it is printed or logged.
type Scrubber struct {
	secrets []string
}

var uriPassword = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@`)
var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// NewScrubber collects the secrets of this process's environment: PGPASSWORD,
// the AWS secret key and session token, and any password in DATABASE_URL.
func NewScrubber() *Scrubber {
	s := &Scrubber{}
	for _, name := range []string{"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		s.Add(os.Getenv(name))
	}
	if u, err := url.Parse(os.Getenv("DATABASE_URL")); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			s.Add(p)
			s.Add(url.QueryEscape(p))
			s.Add(url.PathEscape(p))
		}
	}
	return s
}

// Add registers another secret value. Very short values are ignored (they would
// blank out ordinary words); they are still removed from URIs and key=value text.
func (s *Scrubber) Add(v string) {
	if len(v) < 4 {
		return
	}
	s.secrets = append(s.secrets, v)
	slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
}

// String returns text with every secret replaced by "***".
func (s *Scrubber) String(text string) string {
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	text = uriPassword.ReplaceAllString(text, "${1}***@")
	return kvPassword.ReplaceAllString(text, "${1}***")
}

// Writer wraps w so that complete lines written through it are scrubbed.
func (s *Scrubber) Writer(w io.Writer) io.Writer { return &scrubWriter{s: s, w: w} }

type scrubWriter struct {
	mu  sync.Mutex
	s   *Scrubber
	w   io.Writer
	buf []byte
}

func (w *scrubWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(w.w, w.s.String(string(w.buf[:i+1]))); err != nil {
			return len(p), err
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line: flush what we have
		_, _ = io.WriteString(w.w, w.s.String(string(w.buf)))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
