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

package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"runbook-operator/internal/evidence"
)

// The receiver answers as PagerDuty's Events API v2 does: 202 with the dedup key for a
// well-formed event, 400 otherwise, keeping only what it accepted.
func TestPagerDutyReceiverAnswersAsEventsAPIv2(t *testing.T) {
	p := NewPagerDutyReceiver()
	defer p.Close()
	post := func(body string) (int, map[string]string) {
		resp, err := http.Post(p.URL(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	code, answer := post(`{"routing_key":"k","event_action":"trigger","dedup_key":"d1","payload":{"summary":"s","source":"x","severity":"warning"}}`)
	if code != http.StatusAccepted || answer["status"] != "success" || answer["dedup_key"] != "d1" {
		t.Fatalf("trigger: %d %v", code, answer)
	}
	for _, bad := range []string{
		`{"event_action":"acknowledge","dedup_key":"d1"}`,                // no routing key
		`{"routing_key":"k","event_action":"trigger","dedup_key":"d1"}`,  // trigger without payload
		`{"routing_key":"k","event_action":"escalate","dedup_key":"d1"}`, // no such action
		`{"routing_key":"k","event_action":"resolve"}`,                   // no dedup key
		`not json`,
	} {
		if code, _ := post(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if got := p.Events(); len(got) != 1 || got[0].Severity != "warning" || got[0].RoutingKey != "k" {
		t.Fatalf("events %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx, "trigger", "d1"); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := p.Wait(short, "resolve", "d1"); err == nil {
		t.Fatal("Wait found a resolve that was never sent")
	}
}

func TestEvidenceSectionsSplitsABundleByHeader(t *testing.T) {
	b := evidence.Assemble([]evidence.Section{
		{Name: "pods", Content: "pod a phase=Running revision=r2 node=n\n"},
		{Name: "logs/a/app", Content: "line 1\nline 2\n", Truncated: true},
		{Name: "logs/a/app (previous)", Content: "Traceback\n"},
		{Name: "database check", Content: "connected\n"},
	}, evidence.NewRedactor(nil), 0)
	s := evidenceSections(b.Data)
	want := map[string]string{"pods": "pod a phase=Running revision=r2 node=n\n", "logs/a/app": "line 1\nline 2\n",
		"logs/a/app (previous)": "Traceback\n", "database check": "connected\n"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("section %q = %q, want %q", k, s[k], v)
		}
	}
}
