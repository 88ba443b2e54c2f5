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

package alertreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func groupKeyOf(t testing.TB, body []byte) string {
	t.Helper()
	m, err := Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return m.GroupKey
}

func TestReceiverAuthAndBadBodies(t *testing.T) {
	_, srv := newReceiver(t, Options{})
	c := srv.Client()
	body := readFixture(t, "documented-firing.json", t.Name())
	for _, tc := range []struct {
		name, token string
		body        []byte
		want        int
	}{
		{"no token", "", body, http.StatusUnauthorized},
		{"wrong token", "not-the-token", body, http.StatusUnauthorized},
		{"token with a suffix", testToken + "x", body, http.StatusUnauthorized},
		{"not JSON", testToken, []byte("{"), http.StatusBadRequest},
		{"version 3", testToken, bytes.Replace(body, []byte(`"version": "4"`), []byte(`"version": "3"`), 1), http.StatusBadRequest},
		{"no namespace", testToken, bytes.ReplaceAll(body, []byte(`"namespace": "shop"`), []byte(`"zone": "shop"`)), http.StatusBadRequest},
		{"unknown namespace", testToken, bytes.ReplaceAll(body, []byte(`"namespace": "shop"`), []byte(`"namespace": "nowhere"`)), http.StatusUnprocessableEntity},
		{"too large", testToken, append(bytes.Repeat([]byte(" "), DefaultMaxBodyBytes), body...), http.StatusRequestEntityTooLarge},
	} {
		code, answer := post(t, c, srv.URL, tc.token, tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, answer, tc.want)
		}
		if strings.Contains(answer, testToken) {
			t.Errorf("%s: the answer holds the token", tc.name)
		}
	}
	if n := len(incidentsOf(t, "shop", groupKeyOf(t, body))); n != 0 {
		t.Errorf("refused posts opened %d Incidents", n)
	}
	resp, err := c.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}

	// A Secret the receiver cannot read is the receiver's failure: 503, and
	// Alertmanager retries.
	broken := &Receiver{Client: asMgr, Reader: asMgr, TokenSecret: types.NamespacedName{Namespace: "ops", Name: "missing"}}
	rec := httptestRecorder(broken, testToken, body)
	if rec != http.StatusServiceUnavailable {
		t.Errorf("missing token Secret: %d, want 503", rec)
	}
}

// httptestRecorder serves one post in-process and returns the status code.
func httptestRecorder(h http.Handler, token string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, "http://receiver"+Path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	w := &codeWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	return w.code
}

type codeWriter struct {
	header http.Header
	code   int
}

func (w *codeWriter) Header() http.Header { return w.header }
func (w *codeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}
func (w *codeWriter) WriteHeader(code int) { w.code = code }

func TestReceiverOpensDedupsAndResolves(t *testing.T) {
	_, srv := newReceiver(t, Options{ReleaseLabel: "release"})
	c := srv.Client()
	ctx := context.Background()
	fire := readFixture(t, "documented-firing.json", t.Name())
	gk := groupKeyOf(t, fire)

	code, answer := post(t, c, srv.URL, testToken, fire)
	var res Result
	if code != http.StatusOK || json.Unmarshal([]byte(answer), &res) != nil || !res.Created || !res.Recorded {
		t.Fatalf("first post: %d %s", code, answer)
	}
	// 2xx only after it is stored: the Incident and its entries are there now.
	incs := incidentsOf(t, "shop", gk)
	if len(incs) != 1 || res.Incident != "shop/"+Name(gk, 1) {
		t.Fatalf("%d Incidents (answer %s)", len(incs), answer)
	}
	inc := incs[0]
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.ReleaseRef == nil || inc.Spec.ReleaseRef.Name != "saas" {
		t.Errorf("spec %+v", inc.Spec)
	}
	if countType(&inc, TimelineAlertFiring) != 2 {
		t.Errorf("timeline %+v", inc.Status.Timeline)
	}

	// Repeats (repeat_interval, HA peers) change nothing.
	for i := 0; i < 3; i++ {
		code, answer = post(t, c, srv.URL, testToken, fire)
		if code != http.StatusOK || !strings.Contains(answer, `"recorded":false`) {
			t.Fatalf("repeat: %d %s", code, answer)
		}
	}
	got := &opsv1alpha1.Incident{}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(&inc), got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != inc.ResourceVersion {
		t.Errorf("a repeat wrote the Incident (resourceVersion %s → %s)", inc.ResourceVersion, got.ResourceVersion)
	}

	// Resolved: entries and a proposal; the incident stays open for a person.
	resolved := readFixture(t, "documented-resolved.json", t.Name())
	if code, answer = post(t, c, srv.URL, testToken, resolved); code != http.StatusOK {
		t.Fatalf("resolved: %d %s", code, answer)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(&inc), got); err != nil {
		t.Fatal(err)
	}
	if countType(got, TimelineAlertResolved) != 2 || countType(got, TimelineAlertsResolved) != 1 {
		t.Errorf("timeline after resolved %+v", got.Status.Timeline)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, ConditionResolutionProposed) || got.Spec.Resolution != "" {
		t.Errorf("conditions %+v, resolution %q", got.Status.Conditions, got.Spec.Resolution)
	}

	resolveAndFireAgain(t, c, srv.URL, fire, gk, got)
}

// resolveAndFireAgain: a person resolves got. A repeat of the old firing is not a new
// incident; the alert firing anew (a new startsAt) opens the group's second Incident,
// and a truncated list is recorded there.
func resolveAndFireAgain(t *testing.T, c *http.Client, url string, fire []byte, gk string, got *opsv1alpha1.Incident) {
	t.Helper()
	ctx := context.Background()
	var code int
	var answer string
	got.Spec.Resolution = "backups fixed"
	if err := admin.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if code, answer = post(t, c, url, testToken, fire); code != http.StatusOK || strings.Contains(answer, `"created":true`) {
		t.Fatalf("old firing after resolution: %d %s", code, answer)
	}
	again := bytes.ReplaceAll(fire, []byte("2026-12-07T10:"), []byte("2026-12-07T15:"))
	if code, answer = post(t, c, url, testToken, again); code != http.StatusOK || !strings.Contains(answer, Name(gk, 2)) {
		t.Fatalf("new firing after resolution: %d %s", code, answer)
	}
	if n := len(incidentsOf(t, "shop", gk)); n != 2 {
		t.Errorf("%d Incidents after a resolution and a new firing, want 2", n)
	}

	// truncatedAlerts is recorded.
	cut := bytes.Replace(again, []byte(`"truncatedAlerts": 0`), []byte(`"truncatedAlerts": 5`), 1)
	if code, answer = post(t, c, url, testToken, cut); code != http.StatusOK {
		t.Fatalf("truncated: %d %s", code, answer)
	}
	second := &opsv1alpha1.Incident{}
	if err := admin.Get(ctx, types.NamespacedName{Namespace: "shop", Name: Name(gk, 2)}, second); err != nil {
		t.Fatal(err)
	}
	if countType(second, TimelineAlertsCut) != 1 {
		t.Errorf("truncatedAlerts not recorded: %+v", second.Status.Timeline)
	}
}

// TestReceiverConcurrentSameGroup: 1,000 posts of one group, 50 at a time, open one
// Incident with each alert recorded once.
func TestReceiverConcurrentSameGroup(t *testing.T) {
	_, srv := newReceiver(t, Options{})
	body := readFixture(t, "documented-firing.json", t.Name())
	gk := groupKeyOf(t, body)
	tr := &http.Transport{MaxIdleConnsPerHost: 50}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	created := 0
	sem := make(chan struct{}, 50)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			code, answer := post(t, c, srv.URL, testToken, body)
			mu.Lock()
			codes[code]++
			if strings.Contains(answer, `"created":true`) {
				created++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusOK] != 1000 {
		t.Errorf("answers %v, want 1000 × 200", codes)
	}
	incs := incidentsOf(t, "shop", gk)
	if len(incs) != 1 || created != 1 {
		t.Fatalf("%d Incidents, %d answers said created; want 1 and 1", len(incs), created)
	}
	if n := countType(&incs[0], TimelineAlertFiring); n != 2 {
		t.Errorf("%d AlertFiring entries, want 2", n)
	}
}
