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

// Package evidence holds the pure parts of an Incident's evidence capture: redaction
// of what is stored (log lines, events, statuses), bounded log tails, and the bundle:
// sections assembled within a size bound, hashed with SHA-256, and split into pieces
// that fit in ConfigMaps. Reading pods, logs and events is the controller's job; what
// it read goes through here before anything is stored.
package evidence

import (
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces every secret this package removes.
const Redacted = "[REDACTED]"

// MinSecretValue is the shortest Secret value redacted wherever it appears. Shorter
// ones ("1", "true", a port) would blank out unrelated text; they are still removed
// after a key that names a secret (password=…).
const MinSecretValue = 4

// rules of secret-looking text. Each pattern keeps its first group (the key, the
// scheme) and replaces the rest; it runs only on lines holding one of its hints
// (lowercase), which keeps redaction of megabytes of logs fast.
var rules = []struct {
	hints []string
	re    *regexp.Regexp
}{
	// Authorization headers and bearer/basic credentials.
	{[]string{"authorization"}, regexp.MustCompile(`(?i)((?:authorization|proxy-authorization)["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+`)},
	{[]string{"bearer"}, regexp.MustCompile(`(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*`)},
	// URLs with credentials: scheme://user:password@host.
	{[]string{"://"}, regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s"']*:)[^@\s"'/]+(@)`)},
	// key=value, key: value and "key": "value" where the key names a secret.
	{[]string{"pass", "pwd", "secret", "token", "key", "credential", "session"},
		regexp.MustCompile(`(?i)((?:["']?)[A-Za-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|session[_-]?id)[A-Za-z0-9_.\-]*["']?\s*(?:=|:)\s*["']?)[^\s"',;&}]+`)},
	// AWS access key IDs.
	{[]string{"akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"}, regexp.MustCompile(`()\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b`)},
	// JSON Web Tokens.
	{[]string{"eyj"}, regexp.MustCompile(`()\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+`)},
	// Slack and GitHub tokens, Stripe live keys.
	{[]string{"xox", "gh", "_live_"}, regexp.MustCompile(`()\b(?:xox[abposr]-[A-Za-z0-9\-]{10,}|gh[pousr]_[A-Za-z0-9]{30,}|sk_live_[A-Za-z0-9]{16,}|rk_live_[A-Za-z0-9]{16,})`)},
}

var (
	beginKey = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	endKey   = regexp.MustCompile(`-----END [A-Z ]*PRIVATE KEY-----`)
)

// Redactor removes secrets from text: the values of the Secrets the pods use (their
// secretKeyRef env, envFrom Secrets), given by the caller, wherever they appear; and
// secret-looking strings (password=…, tokens, bearer credentials, AWS keys, private
// keys, credentials in URLs).
type Redactor struct {
	values []string
}

// NewRedactor redacts values (Secret data as text) besides the patterns. Values
// shorter than MinSecretValue are not searched for on their own.
func NewRedactor(values []string) *Redactor {
	seen := map[string]bool{}
	var vs []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinSecretValue || seen[v] {
			continue
		}
		seen[v] = true
		vs = append(vs, v)
	}
	// Longest first, so a value containing another is replaced whole.
	slices.SortStableFunc(vs, func(a, b string) int { return len(b) - len(a) })
	return &Redactor{values: vs}
}

// Text redacts s, line by line. A private key block is removed from its BEGIN line
// to its END line.
func (r *Redactor) Text(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inKey := false
	for len(s) > 0 {
		line := s
		nl := strings.IndexByte(s, '\n')
		if nl >= 0 {
			line, s = s[:nl+1], s[nl+1:]
		} else {
			s = ""
		}
		if inKey {
			if loc := endKey.FindStringIndex(line); loc != nil {
				inKey = false
				line = line[loc[1]:]
			} else {
				if strings.HasSuffix(line, "\n") {
					b.WriteString("\n")
				}
				continue
			}
		}
		if loc := beginKey.FindStringIndex(line); loc != nil {
			rest := line[loc[1]:]
			end := endKey.FindStringIndex(rest)
			tail := ""
			if end != nil {
				tail = r.line(rest[end[1]:])
			} else {
				inKey = true
				if strings.HasSuffix(line, "\n") {
					tail = "\n"
				}
			}
			b.WriteString(r.line(line[:loc[1]]) + Redacted + tail)
			continue
		}
		b.WriteString(r.line(line))
	}
	return b.String()
}

// line redacts one line (no private key in it).
func (r *Redactor) line(s string) string {
	if r != nil {
		for _, v := range r.values {
			if strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, Redacted)
			}
		}
	}
	lower := strings.ToLower(s)
	for _, rule := range rules {
		for _, h := range rule.hints {
			if strings.Contains(lower, h) {
				s = rule.re.ReplaceAllString(s, "${1}"+Redacted+"${2}")
				lower = strings.ToLower(s)
				break
			}
		}
	}
	return s
}
