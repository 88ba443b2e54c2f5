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
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

const routingKey = "R0UT1NGKEY0123456789abcdefSECRET"

func event(tr opsv1alpha1.Transition, sev opsv1alpha1.IncidentSeverity) Event {
	return Event{Transition: tr, Sequence: 1, Time: t0, Namespace: "shop", Name: "payments-failing", UID: "3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39",
		Title: "Payment failures after v2.4.0", Description: "Stripe webhooks return 500", Severity: sev, Phase: opsv1alpha1.IncidentPhaseOpen,
		Release: "saas", DedupKey: "runbook-incident-3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39", OpenedAt: t0, ResponseDeadline: t0.Add(time.Hour),
		Message: "opened by Release saas rolling back revision 7", Details: map[string]string{"evidence_sha256": strings.Repeat("a", 64)},
		Links: []Link{{Href: "https://console.example/incidents/shop/payments-failing", Text: "Incident"}}}
}

// receiver is an httptest server answering from a script, one response per request
// (the last repeats), recording what it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	answers []answer
}

type answer struct {
	status int
	body   string
	header map[string]string
}

func newReceiver(t *testing.T, answers ...answer) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		a := r.answers[min(len(r.bodies), len(r.answers))-1]
		r.mu.Unlock()
		if req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *receiver) last(t *testing.T) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("the receiver got nothing")
	}
	var m map[string]any
	if err := json.Unmarshal(r.bodies[len(r.bodies)-1], &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return m
}

func keys(m map[string]any) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return strings.Join(k, ",")
}

// recordingSleep replaces Sender.Sleep, recording the waits instead of sleeping.
type recordingSleep struct{ waits []time.Duration }

func (s *recordingSleep) sleep(_ context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return nil
}

func sender(s *recordingSleep) *Sender {
	return &Sender{Sleep: s.sleep, MaxAttempts: 4}
}

func TestPagerDutyTriggerHasEventsV2FieldsAndSeverities(t *testing.T) {
	for sev, want := range map[opsv1alpha1.IncidentSeverity]string{
		opsv1alpha1.SeverityP0: "critical", opsv1alpha1.SeverityP1: "error", opsv1alpha1.SeverityP2: "warning", opsv1alpha1.SeverityP3: "info",
	} {
		rcv := newReceiver(t, answer{202, `{"status":"success","message":"Event processed","dedup_key":"x"}`, nil})
		err := (&Sender{}).Send(context.Background(), Target{Name: "oncall", Type: opsv1alpha1.NotifierPagerDuty, URL: rcv.URL + "/v2/enqueue", RoutingKey: routingKey}, event(opsv1alpha1.TransitionOpened, sev))
		if err != nil {
			t.Fatal(err)
		}
		m := rcv.last(t)
		if keys(m) != "client,dedup_key,event_action,links,payload,routing_key" {
			t.Fatalf("top-level fields %s", keys(m))
		}
		if m["routing_key"] != routingKey || m["event_action"] != "trigger" || m["dedup_key"] != "runbook-incident-3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39" {
			t.Fatalf("event %v", m)
		}
		p := m["payload"].(map[string]any)
		if keys(p) != "class,component,custom_details,group,severity,source,summary,timestamp" {
			t.Fatalf("payload fields %s", keys(p))
		}
		if p["severity"] != want || p["source"] != "shop/saas" || p["timestamp"] != "2026-12-07T10:00:00Z" {
			t.Fatalf("%s: payload %v", sev, p)
		}
		if s := p["summary"].(string); !strings.HasPrefix(s, "["+string(sev)+"] Opened: Payment failures after v2.4.0") {
			t.Fatalf("summary %q", s)
		}
		cd := p["custom_details"].(map[string]any)
		if cd["incident"] != "shop/payments-failing" || cd["evidence_sha256"] != strings.Repeat("a", 64) || cd["response_deadline"] != "2026-12-07T11:00:00Z" {
			t.Fatalf("custom_details %v", cd)
		}
		links := m["links"].([]any)
		if l := links[0].(map[string]any); l["href"] != "https://console.example/incidents/shop/payments-failing" || l["text"] != "Incident" {
			t.Fatalf("links %v", links)
		}
	}
}

func TestPagerDutyAcknowledgeAndResolveCarryOnlyKeyDedupAndAction(t *testing.T) {
	for tr, action := range map[opsv1alpha1.Transition]string{opsv1alpha1.TransitionAcknowledged: "acknowledge", opsv1alpha1.TransitionResolved: "resolve"} {
		rcv := newReceiver(t, answer{202, `{"status":"success"}`, nil})
		if err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierPagerDuty, URL: rcv.URL, RoutingKey: routingKey}, event(tr, opsv1alpha1.SeverityP1)); err != nil {
			t.Fatal(err)
		}
		m := rcv.last(t)
		if keys(m) != "dedup_key,event_action,routing_key" || m["event_action"] != action || m["routing_key"] != routingKey ||
			m["dedup_key"] != "runbook-incident-3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39" {
			t.Fatalf("%s: %v", tr, m)
		}
	}
	if got := PagerDutyAction(opsv1alpha1.TransitionEscalated); got != "trigger" {
		t.Fatalf("escalation sends %s", got)
	}
}

func TestPagerDutyLimits(t *testing.T) {
	ev := event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP0)
	ev.Title = strings.Repeat("é", 2000)
	ev.Details = map[string]string{"huge": strings.Repeat("x", 600*1000)}
	b, err := PagerDutyBody(ev, routingKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > PagerDutyEventMax {
		t.Fatalf("event of %d bytes, over 512 KB", len(b))
	}
	var e PagerDutyEvent
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(e.Payload.Summary); n != PagerDutySummaryMax {
		t.Fatalf("summary of %d characters, want cut to %d", n, PagerDutySummaryMax)
	}
	if _, ok := e.Payload.CustomDetails["truncated"]; !ok || e.Payload.CustomDetails["huge"] != nil {
		t.Fatalf("custom_details not replaced by a note: %d keys", len(e.Payload.CustomDetails))
	}
	ev.DedupKey = strings.Repeat("k", 256)
	if _, err := PagerDutyBody(ev, routingKey); err == nil {
		t.Fatal("a dedup key of 256 characters was accepted")
	}
	ev.DedupKey = ""
	if _, err := PagerDutyBody(ev, routingKey); err == nil {
		t.Fatal("an empty dedup key was accepted: PagerDuty would invent one and acknowledge/resolve could not match")
	}
}

func TestSlackMessageHasTextAndBlocksWithinLimits(t *testing.T) {
	rcv := newReceiver(t, answer{200, "ok", nil})
	ev := event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1)
	ev.Description = strings.Repeat("<b>&", 2000) // 8,000 characters, 18,000 escaped
	if err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/T0/B0/SECRETTOKEN"}, ev); err != nil {
		t.Fatal(err)
	}
	m := rcv.last(t)
	if keys(m) != "blocks,text" || m["text"] != "[P1] Opened: Payment failures after v2.4.0" {
		t.Fatalf("message %v", keys(m))
	}
	blocks := m["blocks"].([]any)
	if len(blocks) != 3 {
		t.Fatalf("%d blocks", len(blocks))
	}
	header := blocks[0].(map[string]any)["text"].(map[string]any)
	section := blocks[1].(map[string]any)
	if blocks[0].(map[string]any)["type"] != "header" || header["type"] != "plain_text" || section["type"] != "section" {
		t.Fatalf("blocks %v", blocks)
	}
	text := section["text"].(map[string]any)["text"].(string)
	if n := utf8.RuneCountInString(text); n > SlackSectionTextMax {
		t.Fatalf("section text of %d characters, over 3,000", n)
	}
	if strings.Contains(text, "<b>") || strings.HasSuffix(strings.TrimSuffix(text, "…"), "&amp") || strings.HasSuffix(strings.TrimSuffix(text, "…"), "&l") {
		t.Fatalf("section text not escaped or cut inside an entity: …%s", text[len(text)-20:])
	}
	if !strings.HasPrefix(text, "opened by Release saas") {
		t.Fatalf("section starts %q", text[:40])
	}
}

func TestSlackTwoHundredWithoutOkIsAFailure(t *testing.T) {
	rcv := newReceiver(t, answer{200, "invalid_payload", nil})
	err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/T0/B0/SECRETTOKEN"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err == nil || !Permanent(err) || !strings.Contains(err.Error(), "invalid_payload") {
		t.Fatalf("got %v", err)
	}
}

func TestWebhookIsTheDocumentedVersionedJSON(t *testing.T) {
	rcv := newReceiver(t, answer{204, "", nil})
	ev := event(opsv1alpha1.TransitionEscalated, opsv1alpha1.SeverityP2)
	ev.Sequence = 3
	if err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierWebhook, URL: rcv.URL + "/hook?token=SECRETTOKEN"}, ev); err != nil {
		t.Fatal(err)
	}
	m := rcv.last(t)
	if keys(m) != "details,incident,links,message,sequence,time,transition,version" || m["version"] != "ops.runbook.dev/incident-notification/v1" ||
		m["transition"] != "Escalated" || m["sequence"] != float64(3) || m["time"] != "2026-12-07T10:00:00Z" {
		t.Fatalf("message %v", m)
	}
	inc := m["incident"].(map[string]any)
	if keys(inc) != "acknowledgedBy,dedupKey,description,name,namespace,openedAt,phase,release,resolution,responseDeadline,severity,title,uid" &&
		keys(inc) != "dedupKey,description,name,namespace,openedAt,phase,release,responseDeadline,severity,title,uid" {
		t.Fatalf("incident fields %s", keys(inc))
	}
	if inc["severity"] != "P2" || inc["uid"] != "3f1c2b9a-7d4e-4c1b-9a8f-0e2d6c5b4a39" || inc["dedupKey"] == "" {
		t.Fatalf("incident %v", inc)
	}
}

func TestRetriesOn5xxWithBackoffThenDelivers(t *testing.T) {
	rcv := newReceiver(t, answer{500, "rollup_error", nil}, answer{503, "", nil}, answer{200, "ok", nil})
	rs := &recordingSleep{}
	err := sender(rs).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/T0/B0/SECRETTOKEN"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err != nil {
		t.Fatal(err)
	}
	if rcv.requests() != 3 || len(rs.waits) != 2 || rs.waits[0] != time.Second || rs.waits[1] != 2*time.Second {
		t.Fatalf("%d requests, waits %v; want 3 and [1s 2s]", rcv.requests(), rs.waits)
	}
}

func TestRetriesOn429AfterRetryAfter(t *testing.T) {
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	rcv := newReceiver(t, answer{429, `{"status":"throttle"}`, map[string]string{"Retry-After": "7"}}, answer{429, "", map[string]string{"Retry-After": date}}, answer{202, `{"status":"success"}`, nil})
	rs := &recordingSleep{}
	err := sender(rs).Send(context.Background(), Target{Type: opsv1alpha1.NotifierPagerDuty, URL: rcv.URL, RoutingKey: routingKey}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err != nil {
		t.Fatal(err)
	}
	if rcv.requests() != 3 || len(rs.waits) != 2 || rs.waits[0] != 7*time.Second || rs.waits[1] < 15*time.Second || rs.waits[1] > 21*time.Second {
		t.Fatalf("%d requests, waits %v; want 3 and [7s ~20s]", rcv.requests(), rs.waits)
	}
}

func TestRetryAfterLongerThanMaxWaitIsReturnedNotSlept(t *testing.T) {
	rcv := newReceiver(t, answer{429, "rate_limited", map[string]string{"Retry-After": "120"}})
	rs := &recordingSleep{}
	err := sender(rs).Send(context.Background(), Target{Name: "chat", Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/T0/B0/SECRETTOKEN"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	var e *Error
	if err == nil || !asError(err, &e) || e.Permanent || e.RetryAfter != 2*time.Minute || rcv.requests() != 1 || len(rs.waits) != 0 {
		t.Fatalf("got %v (%d requests, waits %v)", err, rcv.requests(), rs.waits)
	}
}

func TestNoRetryOnClientErrorsAndTheirReasonIsKept(t *testing.T) {
	for _, tc := range []struct {
		typ    opsv1alpha1.NotifierType
		status int
		body   string
		want   string
	}{
		{opsv1alpha1.NotifierSlack, 400, "invalid_payload", "400 invalid_payload"},
		{opsv1alpha1.NotifierSlack, 403, "invalid_token", "403 invalid_token"},
		{opsv1alpha1.NotifierSlack, 404, "no_service", "404 no_service"},
		{opsv1alpha1.NotifierSlack, 410, "channel_is_archived", "410 channel_is_archived"},
		{opsv1alpha1.NotifierPagerDuty, 400, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`, "400 Event object is invalid Length of 'routing_key' is incorrect"},
		{opsv1alpha1.NotifierWebhook, 404, "not found", "404 not found"},
	} {
		rcv := newReceiver(t, answer{tc.status, tc.body, nil})
		rs := &recordingSleep{}
		err := sender(rs).Send(context.Background(), Target{Name: "n", Type: tc.typ, URL: rcv.URL + "/services/T0/B0/SECRETTOKEN", RoutingKey: routingKey}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
		if err == nil || !Permanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s %d: got %v, want permanent naming %q", tc.typ, tc.status, err, tc.want)
		}
		if rcv.requests() != 1 || len(rs.waits) != 0 {
			t.Fatalf("%s %d: %d requests, waits %v: retried", tc.typ, tc.status, rcv.requests(), rs.waits)
		}
	}
}

func TestURLAndRoutingKeyNeverInErrors(t *testing.T) {
	const token = "SECRETTOKEN"
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		return "http://" + addr
	}()
	echo := newReceiver(t, answer{400, `{"message":"bad routing key ` + routingKey + ` for /services/T0/B0/` + token + `"}`, nil})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
	defer slow.Close()
	redirect := newReceiver(t, answer{302, "", map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}})
	for _, tc := range []struct {
		what   string
		target Target
		client *http.Client
	}{
		{"connection refused", Target{Type: opsv1alpha1.NotifierSlack, URL: closed + "/services/T0/B0/" + token}, nil},
		{"connection refused, PagerDuty", Target{Type: opsv1alpha1.NotifierPagerDuty, URL: closed + "/v2/enqueue?k=" + token, RoutingKey: routingKey}, nil},
		{"a body echoing the key and path", Target{Type: opsv1alpha1.NotifierPagerDuty, URL: echo.URL + "/services/T0/B0/" + token, RoutingKey: routingKey}, nil},
		{"timeout", Target{Type: opsv1alpha1.NotifierWebhook, URL: slow.URL + "/hook/" + token}, &http.Client{Timeout: 50 * time.Millisecond}},
		{"redirect", Target{Type: opsv1alpha1.NotifierWebhook, URL: redirect.URL + "/hook/" + token}, nil},
		{"not http(s)", Target{Type: opsv1alpha1.NotifierSlack, URL: "ftp://hooks.example/services/T0/B0/" + token}, nil},
		{"no scheme", Target{Type: opsv1alpha1.NotifierSlack, URL: "hooks.example/services/T0/B0/" + token}, nil},
		{"garbage", Target{Type: opsv1alpha1.NotifierWebhook, URL: "http://[::1" + token}, nil},
		{"credentials in the URL", Target{Type: opsv1alpha1.NotifierWebhook, URL: "http://user:" + token + "@" + strings.TrimPrefix(closed, "http://") + "/x"}, nil},
	} {
		rs := &recordingSleep{}
		s := sender(rs)
		s.Client = tc.client
		err := s.Send(context.Background(), tc.target, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
		if err == nil {
			t.Fatalf("%s: no error", tc.what)
		}
		msg := err.Error()
		if strings.Contains(msg, token) || strings.Contains(msg, routingKey) || strings.Contains(msg, "/services/") || strings.Contains(msg, "/hook") {
			t.Fatalf("%s: the error shows a secret: %s", tc.what, msg)
		}
		t.Logf("%-32s %s", tc.what, msg)
	}
	// The host may appear, so a person can tell which receiver failed.
	err := sender(&recordingSleep{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: closed + "/services/T0/B0/" + token}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if !strings.Contains(err.Error(), strings.TrimPrefix(closed, "http://")) || Permanent(err) {
		t.Fatalf("a network error should name the host and be retryable: %v", err)
	}
}

func TestNonHTTPURLIsRefusedWithoutSending(t *testing.T) {
	for _, u := range []string{"ftp://hooks.example/x", "file:///etc/passwd", "javascript:alert(1)", "", "http://"} {
		err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierWebhook, URL: u}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
		if err == nil || !Permanent(err) || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Fatalf("%q: got %v", u, err)
		}
	}
	err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierPagerDuty, URL: "http://127.0.0.1:1"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err == nil || !Permanent(err) || !strings.Contains(err.Error(), "routing key is empty") {
		t.Fatalf("empty routing key: %v", err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	target := newReceiver(t, answer{200, "ok", nil})
	rcv := newReceiver(t, answer{307, "", map[string]string{"Location": target.URL + "/stolen"}})
	err := (&Sender{}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/x"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err == nil || !Permanent(err) || target.requests() != 0 {
		t.Fatalf("got %v, redirect target got %d requests", err, target.requests())
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	rcv := newReceiver(t, answer{502, "bad gateway", nil})
	rs := &recordingSleep{}
	err := (&Sender{Sleep: rs.sleep, MaxAttempts: 3}).Send(context.Background(), Target{Name: "hook", Type: opsv1alpha1.NotifierWebhook, URL: rcv.URL}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	if err == nil || Permanent(err) || rcv.requests() != 3 || !strings.Contains(err.Error(), "failed after 3 attempts: 502 bad gateway") {
		t.Fatalf("got %v after %d requests", err, rcv.requests())
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestRetryAfterIsReturnedWhenNoAttemptIsLeft(t *testing.T) {
	rcv := newReceiver(t, answer{429, "rate_limited", map[string]string{"Retry-After": "3"}})
	err := (&Sender{MaxAttempts: 1}).Send(context.Background(), Target{Type: opsv1alpha1.NotifierSlack, URL: rcv.URL + "/services/x"}, event(opsv1alpha1.TransitionOpened, opsv1alpha1.SeverityP1))
	var e *Error
	if err == nil || !asError(err, &e) || e.Permanent || e.RetryAfter != 3*time.Second || rcv.requests() != 1 {
		t.Fatalf("got %v after %d requests", err, rcv.requests())
	}
}
