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

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Sender sends notifications with the package's retry and redaction rules.
type Sender struct {
	// Client sends the requests; nil: a client with a 10 s timeout. Redirects are
	// never followed, whatever the client says.
	Client *http.Client
	// MaxAttempts per Send, the first included; 0: 3.
	MaxAttempts int
	// Backoff before retry n (1, 2, …) after a 5xx or network error; nil: 1 s, 2 s,
	// 4 s, … up to 30 s.
	Backoff func(n int) time.Duration
	// MaxWait is the longest Retry-After slept inside Send; a longer one ends Send
	// with an error carrying it. 0: 30 s.
	MaxWait time.Duration
	// Sleep waits d or until ctx ends; nil: a timer. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// UserAgent of the requests; "": runbook-operator.
	UserAgent string
}

// Error is a failed notification. Its text names the notifier, its type and the
// URL's host, never the URL's path or query nor the routing key.
type Error struct {
	Notifier string
	Type     opsv1alpha1.NotifierType
	Host     string
	// Status is the last HTTP status, 0 for a network error or a refused URL.
	Status int
	// Reason is the receiver's answer (Slack's `channel_is_archived`, PagerDuty's
	// message and errors), or what went wrong, scrubbed of the secrets.
	Reason string
	// Permanent: not worth retrying (4xx other than 429, a URL that is not http(s)).
	Permanent bool
	// RetryAfter is what the last 429 asked for (its Retry-After), for the caller to
	// wait at least that long: it was longer than Sender.MaxWait, or no attempt was
	// left.
	RetryAfter time.Duration
	// Attempts made.
	Attempts int
}

func (e *Error) Error() string {
	where := string(e.Type) + " notifier"
	if e.Notifier != "" {
		where += " " + e.Notifier
	}
	if e.Host != "" {
		where += " (" + e.Host + ")"
	}
	what := e.Reason
	if e.Status != 0 {
		what = strconv.Itoa(e.Status) + " " + e.Reason
	}
	kind := "failed after " + strconv.Itoa(e.Attempts) + " attempts"
	if e.Permanent {
		kind = "refused"
	}
	if e.RetryAfter > 0 {
		kind += ", retry after " + e.RetryAfter.String()
	}
	return fmt.Sprintf("%s %s: %s", where, kind, strings.TrimSpace(what))
}

// Permanent reports whether err is a notification refused for good.
func Permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// Send delivers ev to t, retrying as the package documents. It returns nil once the
// receiver accepted it, else an *Error.
func (s *Sender) Send(ctx context.Context, t Target, ev Event) error {
	fail := &Error{Notifier: t.Name, Type: t.Type}
	endpoint := t.URL
	if t.Type == opsv1alpha1.NotifierPagerDuty && endpoint == "" {
		endpoint = PagerDutyEventsURL
	}
	secrets := []string{t.URL, t.RoutingKey}
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail.Permanent = true
		fail.Reason = "the URL in the notifier's Secret is not an http(s) URL"
		if err == nil && u.Scheme != "" && len(u.Scheme) < 16 {
			fail.Reason += " (scheme " + strconv.Quote(u.Scheme) + ")"
		}
		return fail
	}
	fail.Host = u.Host
	if u.Path != "" && u.Path != "/" {
		secrets = append(secrets, u.Path)
	}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
	}
	if t.Type == opsv1alpha1.NotifierPagerDuty && t.RoutingKey == "" {
		fail.Permanent = true
		fail.Reason = "the notifier's Secret key holding the routing key is empty"
		return fail
	}
	body, err := Body(t, ev)
	if err != nil {
		fail.Permanent = true
		fail.Reason = scrub(err.Error(), secrets)
		return fail
	}

	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	for n := 1; ; n++ {
		fail.Attempts = n
		wait, out := s.attempt(ctx, u.String(), body, t.Type, fail, secrets)
		switch out {
		case delivered:
			return nil
		case refused:
			return fail
		}
		if n >= attempts || ctx.Err() != nil {
			return fail
		}
		if wait > s.maxWait() {
			return fail
		}
		if err := s.sleep(ctx, wait); err != nil {
			return fail
		}
		fail.Status, fail.Reason, fail.RetryAfter = 0, "", 0
	}
}

type outcome int

const (
	delivered outcome = iota
	refused           // for good: fail says why
	retry             // fail says why; wait before the next attempt
)

// attempt sends once and says how it ended.
func (s *Sender) attempt(ctx context.Context, target string, body []byte, typ opsv1alpha1.NotifierType, fail *Error, secrets []string) (time.Duration, outcome) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		fail.Permanent, fail.Reason = true, scrub(err.Error(), secrets)
		return 0, refused
	}
	req.Header.Set("Content-Type", "application/json")
	ua := s.UserAgent
	if ua == "" {
		ua = "runbook-operator"
	}
	req.Header.Set("User-Agent", ua)
	resp, err := s.client().Do(req)
	if err != nil {
		fail.Reason = networkReason(err, secrets)
		return s.backoff(fail.Attempts), retry
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(raw))
	switch {
	case resp.StatusCode/100 == 2:
		if typ == opsv1alpha1.NotifierSlack && (resp.StatusCode != http.StatusOK || text != "ok") {
			fail.Permanent, fail.Status = true, resp.StatusCode
			fail.Reason = "Slack answered " + quoteShort(scrub(text, secrets)) + " instead of ok"
			return 0, refused
		}
		return 0, delivered
	case resp.StatusCode == http.StatusTooManyRequests:
		fail.Status, fail.Reason = resp.StatusCode, reason(typ, text, secrets)
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			fail.RetryAfter = d
			return d, retry
		}
		return s.backoff(fail.Attempts), retry
	case resp.StatusCode >= 500:
		fail.Status, fail.Reason = resp.StatusCode, reason(typ, text, secrets)
		return s.backoff(fail.Attempts), retry
	}
	fail.Permanent, fail.Status, fail.Reason = true, resp.StatusCode, reason(typ, text, secrets)
	if resp.StatusCode/100 == 3 {
		fail.Reason = "redirect not followed: a notifier URL must answer itself"
	}
	return 0, refused
}

// reason is the receiver's explanation: Slack's plain-text code, PagerDuty's message
// and errors, or the start of any other body.
func reason(typ opsv1alpha1.NotifierType, body string, secrets []string) string {
	if typ == opsv1alpha1.NotifierPagerDuty {
		var r struct {
			Status  string   `json:"status"`
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		}
		if json.Unmarshal([]byte(body), &r) == nil && (r.Message != "" || len(r.Errors) > 0) {
			body = strings.TrimSpace(r.Message + " " + strings.Join(r.Errors, "; "))
		}
	}
	return quoteShort(scrub(body, secrets))
}

func quoteShort(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return cutRunes(s, 300)
}

// networkReason describes a transport error without the URL: *url.Error prints the
// whole request URL, so only its cause is kept, and scrubbed again.
func networkReason(err error, secrets []string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return scrub(err.Error(), secrets)
}

// scrub replaces every secret (URL, path, query, key) in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(h); err == nil {
		if d := at.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

func (s *Sender) backoff(n int) time.Duration {
	if s.Backoff != nil {
		return s.Backoff(n)
	}
	d := time.Second << (n - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	return d
}

func (s *Sender) maxWait() time.Duration {
	if s.MaxWait > 0 {
		return s.MaxWait
	}
	return 30 * time.Second
}

func (s *Sender) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Sender) client() *http.Client {
	c := &http.Client{Timeout: 10 * time.Second}
	if s.Client != nil {
		cp := *s.Client
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}
