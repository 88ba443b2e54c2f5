package truncate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStringKeepsWholeRunesWithinTheBound(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"aü" + strings.Repeat("x", 20), 5, "a…"},   // ü (2 bytes) would end at byte 3: left out whole
		{"aüx" + strings.Repeat("x", 20), 6, "aü…"}, // it fits
		{"日本語のテキスト", 9, "日本…"},
		{"Ärger über Überläufe", 5, "Ä…"}, {"Ärger über Überläufe", 4, "…"},
	} {
		got := String(tc.s, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("String(%q, %d) = %q (%d bytes), want %q", tc.s, tc.n, got, len(got), tc.want)
		}
	}
}
