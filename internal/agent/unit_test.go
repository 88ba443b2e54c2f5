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
	"strings"
	"testing"

	"runbook-operator/internal/pgtools"
)

func TestParseResult(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Result
		wantErr  bool
	}{
		{name: "termination message", in: `{"command":"backup","sizeBytes":12,"sha256":"ab","durationSeconds":1.5}`,
			want: Result{Command: "backup", SizeBytes: 12, SHA256: "ab", DurationSeconds: 1.5}},
		{name: "stdout with logs before", in: "progress\n{\"command\":\"restore\",\"previousDatabase\":\"x\",\"durationSeconds\":0}\n\n",
			want: Result{Command: "restore", PreviousDatabase: "x"}},
		{name: "failure", in: `{"command":"check","error":"boom","permanent":true,"durationSeconds":0}`,
			want: Result{Command: "check", Error: "boom", Permanent: true}},
		{name: "empty", in: "", wantErr: true},
		{name: "no json", in: "hello\nworld", wantErr: true},
		{name: "no command", in: `{"error":"x"}`, wantErr: true},
		{name: "broken json", in: `{"command":`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResult([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (got.Command != tc.want.Command || got.Error != tc.want.Error || got.SizeBytes != tc.want.SizeBytes ||
				got.PreviousDatabase != tc.want.PreviousDatabase || got.Permanent != tc.want.Permanent || got.DurationSeconds != tc.want.DurationSeconds) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMarshalStaysUnderLimit(t *testing.T) {
	r := Result{Command: "verify", Error: strings.Repeat("é long message ", 1000)}
	for i := 0; i < 500; i++ {
		r.Problems = append(r.Problems, "table x.y is missing")
	}
	b := r.Marshal()
	if len(b) > MaxResultBytes {
		t.Fatalf("%d bytes", len(b))
	}
	got, err := ParseResult(b)
	if err != nil || got.Command != "verify" || !strings.HasPrefix(got.Error, "é long message") || !strings.Contains(got.Error, "truncated") {
		t.Fatalf("%v %+v", err, got)
	}
	small := Result{Command: "backup", SHA256: "x"}
	if b := small.Marshal(); bytes.Contains(b, []byte("truncated")) {
		t.Fatalf("small result changed: %s", b)
	}
}

func TestScrubber(t *testing.T) {
	t.Setenv("PGPASSWORD", "s3cr3t-pg")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws/secret+key")
	t.Setenv("DATABASE_URL", "postgres://u:p%40ss-word@h/db")
	s := NewScrubber()
	for in, want := range map[string]string{
		"auth failed for s3cr3t-pg":                   "auth failed for ***",
		"key aws/secret+key used":                     "key *** used",
		"url postgres://u:p%40ss-word@h/db":           "url postgres://u:***@h/db",
		"other postgres://x:hunter2@host:5432/d":      "other postgres://x:***@host:5432/d",
		"dsn host=h password=abc123 user=u":           "dsn host=h password=*** user=u",
		"decoded p@ss-word":                           "decoded ***",
		"nothing secret here, just postgres://h:5432": "nothing secret here, just postgres://h:5432",
	} {
		if got := s.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	var buf bytes.Buffer
	w := s.Writer(&buf)
	_, _ = w.Write([]byte("first s3cr"))
	_, _ = w.Write([]byte("3t-pg line\nsecond\n"))
	if buf.String() != "first *** line\nsecond\n" {
		t.Errorf("writer: %q", buf.String())
	}
}

func TestCheckCounts(t *testing.T) {
	want := []pgtools.TableEstimate{
		{Schema: "a", Name: "big", Rows: 100000},
		{Schema: "a", Name: "close", Rows: 100000},
		{Schema: "a", Name: "gone", Rows: 10},
		{Schema: "a", Name: "emptied", Rows: 500},
		{Schema: "a", Name: "never_analyzed", Rows: -1},
		{Schema: "a", Name: "tiny", Rows: 50},
	}
	got := []pgtools.TableCount{
		{Schema: "a", Name: "big", Rows: 1000},
		{Schema: "a", Name: "close", Rows: 90000},
		{Schema: "a", Name: "emptied", Rows: 0},
		{Schema: "a", Name: "never_analyzed", Rows: 0},
		{Schema: "a", Name: "tiny", Rows: 0},
	}
	p := CheckCounts(want, got)
	joined := strings.Join(p, "\n")
	if len(p) != 3 || !strings.Contains(joined, "a.big has 1000 rows") || !strings.Contains(joined, "a.gone is missing") || !strings.Contains(joined, "a.emptied is empty") {
		t.Errorf("problems: %q", p)
	}
}

func TestDBName(t *testing.T) {
	if got := dbName("shop", "_pre_restore_20260101000000"); got != "shop_pre_restore_20260101000000" {
		t.Error(got)
	}
	long := strings.Repeat("x", 70)
	if got := dbName(long, "_pre_restore_20260101000000"); len(got) != 63 || !strings.HasSuffix(got, "_pre_restore_20260101000000") {
		t.Errorf("%q (%d)", got, len(got))
	}
}

func TestDetectCompression(t *testing.T) {
	for head, want := range map[string]string{"\x28\xb5\x2f\xfdxx": "zstd", "\x1f\x8b\x08": "gzip", "PGDMP\x01": "none"} {
		if got, err := detectCompression([]byte(head)); err != nil || got != want {
			t.Errorf("%q: %q %v", head, got, err)
		}
	}
	if _, err := detectCompression([]byte("hello")); err == nil {
		t.Error("plain text accepted as an archive")
	}
}
