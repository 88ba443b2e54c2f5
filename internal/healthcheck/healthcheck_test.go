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

package healthcheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPTellsUnhealthyFromUncheckable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/schema":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("\n  {\"status\": \"error\", \"checks\": {\"schema\": \"ProgrammingError: column x does not exist\"}}\nsecond line\n"))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	// A port that was listening and is closed now: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()

	h := HTTP{Timeout: 500 * time.Millisecond}
	cases := []struct {
		name          string
		url           string
		healthy, err  bool
		refused       bool
		detailContain string
	}{
		{"2xx is healthy", srv.URL + "/ok", true, false, false, "200 OK"},
		{"503 is unhealthy", srv.URL + "/bad", false, false, false, "503"},
		{"503 says its body's first line", srv.URL + "/schema", false, false, false,
			`503 Service Unavailable: {"status": "error", "checks": {"schema": "ProgrammingError: column x does not exist"}}`},
		{"refused connection is unhealthy and says refused", closed, false, false, true, "connection refused"},
		{"timeout is a checker error", srv.URL + "/slow", false, true, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.Check(context.Background(), c.url)
			if r.Healthy != c.healthy || (r.Err != nil) != c.err || r.Refused != c.refused || !strings.Contains(r.Detail, c.detailContain) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestFirstLineKeepsTheFirstNonBlankLineCut(t *testing.T) {
	cases := []struct {
		body string
		max  int
		want string
	}{
		{"", 6, ""},
		{"\n \r\n\tschema: broken\r\nmore", 20, "schema: broken"},
		{"abcdefghij", 6, "abcdef…"},
		{"abcdé\x00fgh", 6, "abcdé…"},
		{"abcdéfgh", 5, "abcd…"},
		{"ab\x1b[31mc", 20, "ab[31mc"},
	}
	for _, c := range cases {
		if got := FirstLine([]byte(c.body), c.max); got != c.want {
			t.Errorf("FirstLine(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}
