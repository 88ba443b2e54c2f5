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

package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Default bounds of a bundle.
const (
	// DefaultMaxBytes bounds a whole bundle: 4 MiB, five ConfigMaps.
	DefaultMaxBytes = 4 << 20
	// DefaultPieceBytes bounds one ConfigMap's piece, under the API server's 1 MiB
	// object limit with room for metadata.
	DefaultPieceBytes = 900 << 10
	// DefaultLogLines and DefaultLogBytes bound one container's log tail.
	DefaultLogLines = 500
	DefaultLogBytes = 256 << 10
)

// TailLines keeps the last lines of s, at most lines lines and bytes bytes (whole
// lines, on a UTF-8 boundary), and says whether anything was cut. Logs are read with
// the same bounds (tailLines, limitBytes); this re-applies them to what came back.
func TailLines(s string, lines, bytes int) (string, bool) {
	cut := false
	if lines > 0 {
		// Index of the start of the last `lines` lines (a trailing newline ends a line).
		trimmed := strings.TrimSuffix(s, "\n")
		n, i := 0, len(trimmed)
		for i > 0 {
			j := strings.LastIndexByte(trimmed[:i], '\n')
			n++
			if n == lines {
				if j >= 0 {
					s, cut = s[j+1:], true
				}
				break
			}
			i = j
			if j < 0 {
				break
			}
		}
	}
	if bytes > 0 && len(s) > bytes {
		s, cut = s[len(s)-bytes:], true
		if nl := strings.IndexByte(s, '\n'); nl >= 0 && nl < len(s)-1 {
			s = s[nl+1:] // start at a whole line
		}
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
	}
	return s, cut
}

// Section is one part of a bundle: pod statuses, events, a container's log tail, the
// database check, a diagnostic's output.
type Section struct {
	// Name says what it is, e.g. `logs/saas-web-7d9f/web (previous)`.
	Name string
	// Content as read; it is redacted when assembled.
	Content string
	// Tail: when the bundle is over its bound, keep the end (logs) rather than the
	// start.
	Tail bool
	// Truncated is set when the content was already cut when read.
	Truncated bool
}

// Bundle is the evidence as stored.
type Bundle struct {
	// Data is the whole bundle: every section under a header line, in order.
	Data string
	// SHA256 of Data, hex.
	SHA256 string
	// Truncated: a section was cut to fit (its header says so).
	Truncated bool
}

// Assemble redacts every section, fits them into maxBytes (≤ 0: DefaultMaxBytes) by
// cutting the largest sections first, each to a fair share of what is left, and
// returns the bundle with its SHA-256. Every section keeps its header, so what was cut
// is visible.
func Assemble(sections []Section, r *Redactor, maxBytes int) Bundle {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	contents := make([]string, len(sections))
	headers := make([]string, len(sections))
	overhead := 0
	for i, s := range sections {
		contents[i] = r.Text(s.Content)
		headers[i] = header(s.Name, s.Truncated, 0)
		overhead += len(headers[i]) + len("\n") + len(cutNote)
	}
	budget := maxBytes - overhead
	if budget < 0 {
		budget = 0
	}
	limits := fairShares(contents, budget)
	var b strings.Builder
	truncated := false
	for i, s := range sections {
		c := contents[i]
		cut := 0
		if len(c) > limits[i] {
			cut = len(c) - limits[i]
			c = cutBytes(c, limits[i], s.Tail)
			truncated = true
		}
		b.WriteString(header(s.Name, s.Truncated, cut))
		b.WriteString(c)
		if !strings.HasSuffix(c, "\n") {
			b.WriteString("\n")
		}
		truncated = truncated || s.Truncated
	}
	data := b.String()
	sum := sha256.Sum256([]byte(data))
	return Bundle{Data: data, SHA256: hex.EncodeToString(sum[:]), Truncated: truncated}
}

const cutNote = " (cut: 9999999999 bytes left out to fit the bundle)"

func header(name string, readTruncated bool, cut int) string {
	h := "=== " + strings.ReplaceAll(name, "\n", " ")
	if readTruncated {
		h += " (the tail only)"
	}
	if cut > 0 {
		h += fmt.Sprintf(" (cut: %d bytes left out to fit the bundle)", cut)
	}
	return h + " ===\n"
}

// fairShares gives each content at most an equal share of budget, handing what small
// contents leave over to the larger ones (water-filling).
func fairShares(contents []string, budget int) []int {
	limits := make([]int, len(contents))
	left := map[int]bool{}
	for i := range contents {
		left[i] = true
	}
	for len(left) > 0 {
		share := budget / len(left)
		fixed := false
		for i := range left {
			if len(contents[i]) <= share {
				limits[i] = len(contents[i])
				budget -= len(contents[i])
				delete(left, i)
				fixed = true
			}
		}
		if !fixed {
			for i := range left {
				limits[i] = share
			}
			break
		}
	}
	return limits
}

// cutBytes keeps n bytes of s, its end (tail) or its start, on UTF-8 boundaries.
func cutBytes(s string, n int, tail bool) string {
	if n <= 0 {
		return ""
	}
	if tail {
		s = s[len(s)-n:]
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Pieces splits the bundle into parts of at most pieceBytes (≤ 0: DefaultPieceBytes),
// on UTF-8 boundaries and preferably at a line end, to store one per ConfigMap (its
// data must be UTF-8). Concatenated in order they are Data again, so the SHA-256 in
// status can be checked against what is stored.
func (b Bundle) Pieces(pieceBytes int) []string {
	if pieceBytes <= 0 {
		pieceBytes = DefaultPieceBytes
	}
	var out []string
	s := b.Data
	for len(s) > pieceBytes {
		end := pieceBytes
		if nl := strings.LastIndexByte(s[:end], '\n'); nl > pieceBytes/2 {
			end = nl + 1
		}
		for end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	if len(s) > 0 || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

// Sum is the hex SHA-256 of data, as Bundle.SHA256 and status.evidence.sha256 say it.
func Sum(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether pieces, concatenated, hash to sum.
func Verify(pieces []string, sum string) bool {
	h := sha256.New()
	for _, p := range pieces {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)) == sum
}
