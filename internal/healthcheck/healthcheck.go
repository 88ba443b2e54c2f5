/*
Copyright 2026 The runbook-operator Authors.

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

// Package healthcheck runs a Release's verification checks: HTTP GETs against the new
// revision's pods and the release's public URL. It tells an unhealthy target (a
// non-2xx answer, a refused connection) from a check that could not be made (the
// operator cannot reach the pod network, a timeout): the first fails a release, the
// second only pauses its verification.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Result of one check. Err set means the check could not be made; otherwise Healthy
// says whether the target answered 2xx, and Detail what it answered (the status, and
// for an answer other than 2xx its body's first line). Refused says the
// target refused (or reset) the connection: nothing listens there (yet).
type Result struct {
	Healthy bool
	Refused bool
	Detail  string
	Err     error
}

// Checker checks a URL.
type Checker interface {
	Check(ctx context.Context, url string) Result
}

// HTTP is the Checker of the manager: GET with a timeout, no redirects followed.
type HTTP struct {
	Timeout time.Duration
}

// Check GETs url.
func (h HTTP) Check(ctx context.Context, url string) Result {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{Err: err}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
			return Result{Refused: true, Detail: fmt.Sprintf("GET %s: connection refused", url)}
		}
		return Result{Err: fmt.Errorf("GET %s: %w", url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	detail := fmt.Sprintf("GET %s: %s", url, resp.Status)
	if line := FirstLine(body, maxBodyLine); !ok && line != "" {
		detail += ": " + line // what the app says is wrong, e.g. its failing dependency
	}
	return Result{Healthy: ok, Detail: detail}
}

// maxBodyLine is how much of an unhealthy answer's body a Result's Detail keeps.
const maxBodyLine = 300

// FirstLine is the first non-blank line of body, trimmed and cut to max bytes (on a
// rune boundary, "…" marking the cut), with control characters dropped.
func FirstLine(body []byte, max int) string {
	for _, l := range strings.Split(string(body), "\n") {
		l = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, l)
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if len(l) <= max {
			return l
		}
		cut := max
		for cut > 0 && !utf8.RuneStart(l[cut]) {
			cut--
		}
		return l[:cut] + "…"
	}
	return ""
}
