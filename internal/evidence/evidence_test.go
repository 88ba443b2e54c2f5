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
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedactorRemovesSecretsFromLogLines(t *testing.T) {
	// Values of the Secrets the pod's env came from, as the controller passes them.
	r := NewRedactor([]string{"s3cr3t-db-pass", "django-insecure-0123456789abcdef", "ab", "  whsec_live_9f8e7d6c  "})
	for _, tc := range []struct{ in, want string }{
		{`connecting with s3cr3t-db-pass to db`, `connecting with [REDACTED] to db`},
		{`SECRET_KEY loaded: django-insecure-0123456789abcdef`, `SECRET_KEY loaded: [REDACTED]`},
		{`stripe whsec_live_9f8e7d6c ok`, `stripe [REDACTED] ok`},
		{`a short value ab stays: table, about`, `a short value ab stays: table, about`},
		{`psql: password=hunter2 host=db`, `psql: password=[REDACTED] host=db`},
		{`DB_PASSWORD="x1y2z3" next`, `DB_PASSWORD="[REDACTED]" next`},
		{`{"password": "p@ss", "user": "app"}`, `{"password": "[REDACTED]", "user": "app"}`},
		{`'PASSWORD': 'django-pw', 'HOST': 'db'`, `'PASSWORD': '[REDACTED]', 'HOST': 'db'`},
		{`GET /api?token=abc123&page=2`, `GET /api?token=[REDACTED]&page=2`},
		{`Authorization: Bearer eyJhbGciOi.abc.def`, `Authorization: Bearer [REDACTED]`},
		{`curl -H "Authorization: Basic dXNlcjpwYXNz"`, `curl -H "Authorization: Basic [REDACTED]"`},
		{`sending bearer abcDEF123-._~+/ to upstream`, `sending bearer [REDACTED] to upstream`},
		{`postgres://app:pa55word@db:5432/app`, `postgres://app:[REDACTED]@db:5432/app`},
		{`redis://:redispass@cache:6379/0`, `redis://:[REDACTED]@cache:6379/0`},
		{`key AKIAIOSFODNN7EXAMPLE used`, `key [REDACTED] used`},
		{`aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, `aws_secret_access_key = [REDACTED]`},
		{`jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end`, `jwt [REDACTED] end`},
		{`-----BEGIN RSA PRIVATE KEY-----MIIEpAIBAAKCAQEA-----END RSA PRIVATE KEY-----`, `-----BEGIN RSA PRIVATE KEY-----[REDACTED]`},
		{`slack xoxb-1234567890-abcdefghij posted`, `slack [REDACTED] posted`},
		{`api_key: 12345abcde`, `api_key: [REDACTED]`},
		{`GET /health 200 12ms`, `GET /health 200 12ms`},
		{`Traceback: ValueError: invalid literal for int()`, `Traceback: ValueError: invalid literal for int()`},
	} {
		if got := r.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestTailLinesBoundsLinesAndBytes(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "line %04d ü\n", i)
	}
	log := b.String()
	got, cut := TailLines(log, 10, 0)
	if !cut || strings.Count(got, "\n") != 10 || !strings.HasPrefix(got, "line 0990") {
		t.Fatalf("10 lines: cut=%v %q…", cut, got[:20])
	}
	got, cut = TailLines(log, 0, 100)
	if !cut || len(got) > 100 || !utf8.ValidString(got) || !strings.HasPrefix(got, "line ") || !strings.HasSuffix(got, "line 0999 ü\n") {
		t.Fatalf("100 bytes: cut=%v %q", cut, got)
	}
	got, cut = TailLines("a\nb\n", 10, 100)
	if cut || got != "a\nb\n" {
		t.Fatalf("short log: cut=%v %q", cut, got)
	}
	got, cut = TailLines("a\nb\nc", 2, 0)
	if !cut || got != "b\nc" {
		t.Fatalf("no trailing newline: cut=%v %q", cut, got)
	}
}

func TestAssembleRedactsBoundsAndHashes(t *testing.T) {
	r := NewRedactor([]string{"topsecretvalue"})
	big := strings.Repeat("GET /checkout 500 password=hunter2 topsecretvalue\n", 5000) // ~255 KB
	sections := []Section{
		{Name: "pods", Content: "saas-web-1 CrashLoopBackOff restarts=7\n"},
		{Name: "events", Content: "Warning BackOff saas-web-1\n"},
		{Name: "logs/saas-web-1/web", Content: big + "LAST LINE\n", Tail: true},
		{Name: "logs/saas-web-1/web (previous)", Content: "FIRST LINE\n" + big, Truncated: true},
	}
	const max = 64 << 10
	b := Assemble(sections, r, max)
	if len(b.Data) > max {
		t.Fatalf("bundle of %d bytes, over %d", len(b.Data), max)
	}
	if !b.Truncated || strings.Contains(b.Data, "hunter2") || strings.Contains(b.Data, "topsecretvalue") {
		t.Fatal("not redacted, or not marked truncated")
	}
	for _, want := range []string{"=== pods ===\nsaas-web-1 CrashLoopBackOff", "=== events ===\n", "LAST LINE\n", "=== logs/saas-web-1/web (previous) (the tail only) (cut: ", "FIRST LINE"} {
		if !strings.Contains(b.Data, want) {
			t.Fatalf("bundle lacks %q", want)
		}
	}
	// Small sections are kept whole; the two logs share the rest.
	if !utf8.ValidString(b.Data) {
		t.Fatal("not UTF-8")
	}
	if again := Assemble(sections, r, max); again.SHA256 != b.SHA256 || len(b.SHA256) != 64 {
		t.Fatal("the hash is not stable for the same input")
	}
	small := Assemble(sections[:2], r, max)
	if small.Truncated || small.Data != "=== pods ===\nsaas-web-1 CrashLoopBackOff restarts=7\n=== events ===\nWarning BackOff saas-web-1\n" {
		t.Fatalf("small bundle: %q", small.Data)
	}
}

func TestPiecesFitConfigMapsAndReassembleToTheHash(t *testing.T) {
	var b strings.Builder
	for i := range 40000 {
		fmt.Fprintf(&b, "log line %d with ümlauts and €\n", i)
	}
	bundle := Assemble([]Section{{Name: "logs", Content: b.String(), Tail: true}}, nil, 2<<20)
	pieces := bundle.Pieces(300 << 10)
	if len(pieces) < 4 {
		t.Fatalf("%d pieces for %d bytes", len(pieces), len(bundle.Data))
	}
	for i, p := range pieces {
		if len(p) > 300<<10 || !utf8.ValidString(p) {
			t.Fatalf("piece %d: %d bytes, valid UTF-8 %v", i, len(p), utf8.ValidString(p))
		}
	}
	if strings.Join(pieces, "") != bundle.Data || !Verify(pieces, bundle.SHA256) {
		t.Fatal("pieces do not reassemble to the hashed bundle")
	}
	pieces[1] = strings.Replace(pieces[1], "log", "LOG", 1)
	if Verify(pieces, bundle.SHA256) {
		t.Fatal("an altered piece verified")
	}
	if p := (Bundle{}).Pieces(0); len(p) != 1 || p[0] != "" {
		t.Fatalf("empty bundle: %q", p)
	}
}

func TestRedactorRemovesAPrivateKeySpanningLines(t *testing.T) {
	in := "loading key\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY----- loaded\nnext line\n"
	got := NewRedactor(nil).Text(in)
	want := "loading key\n-----BEGIN PRIVATE KEY-----[REDACTED]\n\n\n loaded\nnext line\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := NewRedactor(nil).Text("-----BEGIN EC PRIVATE KEY-----\nAAAA\n"); strings.Contains(got, "AAAA") {
		t.Fatalf("an unterminated key leaked: %q", got)
	}
}

// Redaction runs over up to DefaultMaxBytes of logs per incident, within the ~2 s the
// issue allows from rollback decision to stored evidence.
func BenchmarkRedactLogs(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 4<<20; i++ {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&sb, "2026-12-07T10:00:%02d ERROR db connect failed password=hunter%d host=db\n", i%60, i)
		case 1:
			fmt.Fprintf(&sb, "10.0.0.%d - - \"GET /api/orders?token=abc%d HTTP/1.1\" 500 123\n", i%255, i)
		default:
			fmt.Fprintf(&sb, "10.0.0.%d - - \"GET /checkout/%d HTTP/1.1\" 200 5123 \"-\" \"Mozilla/5.0\"\n", i%255, i)
		}
	}
	logs := sb.String()
	r := NewRedactor([]string{"django-insecure-0123456789abcdef", "s3cr3t-db-pass", "whsec_live_9f8e7d6c"})
	b.SetBytes(int64(len(logs)))
	for b.Loop() {
		_ = r.Text(logs)
	}
}
