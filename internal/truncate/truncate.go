// Package truncate shortens strings to a byte bound on a rune boundary, for status
// fields, messages, annotations and events whose size the API server or a receiver
// bounds. One function, so that no caller cuts a multi-byte character in half.
package truncate

import "unicode/utf8"

// Ellipsis ends a string that was cut.
const Ellipsis = "…"

// String shortens s to at most n bytes (n ≥ 3) on a rune boundary, ending it with
// Ellipsis when cut.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n-len(Ellipsis), 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + Ellipsis
}
