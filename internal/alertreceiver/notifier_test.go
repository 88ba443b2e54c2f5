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
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestParseNotifier(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    *opsv1alpha1.Notifier
		wantErr string
	}{
		{in: ""},
		{in: "Webhook:alert-notifications/url", want: &opsv1alpha1.Notifier{Name: NotifierName, Type: opsv1alpha1.NotifierWebhook,
			SecretRef: opsv1alpha1.SecretKeyReference{Name: "alert-notifications", Key: "url"}}},
		{in: "slack:chat.hooks/SLACK_URL", want: &opsv1alpha1.Notifier{Name: NotifierName, Type: opsv1alpha1.NotifierSlack,
			SecretRef: opsv1alpha1.SecretKeyReference{Name: "chat.hooks", Key: "SLACK_URL"}}},
		{in: "PagerDuty:pd/routing-key", want: &opsv1alpha1.Notifier{Name: NotifierName, Type: opsv1alpha1.NotifierPagerDuty,
			SecretRef: opsv1alpha1.SecretKeyReference{Name: "pd", Key: "routing-key"}}},
		{in: "Webhook:alert-notifications", wantErr: "want TYPE:SECRET/KEY"},
		{in: "alert-notifications/url", wantErr: "want TYPE:SECRET/KEY"},
		{in: "Webhook:/url", wantErr: "want TYPE:SECRET/KEY"},
		{in: "Email:n/url", wantErr: `type "Email" is not Slack, PagerDuty or Webhook`},
		{in: "Webhook:Bad_Name/url", wantErr: `Secret name "Bad_Name"`},
		{in: "Webhook:n/bad key", wantErr: `key "bad key"`},
	} {
		got, err := ParseNotifier(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseNotifier(%q) error %v, want one saying %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNotifier(%q): %v", tc.in, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("ParseNotifier(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestNewIncidentNotifier(t *testing.T) {
	m := load(t, "alertmanager-0.25-firing.json")
	if inc := NewIncident(m, "shop", 1, Options{}); len(inc.Spec.Notify) != 0 {
		t.Errorf("no notifier option: notify %+v", inc.Spec.Notify)
	}
	n := &opsv1alpha1.Notifier{Name: NotifierName, Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "hooks", Key: "url"}}
	inc := NewIncident(m, "shop", 1, Options{Notifier: n})
	if len(inc.Spec.Notify) != 1 || inc.Spec.Notify[0] != *n {
		t.Errorf("notify %+v, want [%+v]", inc.Spec.Notify, *n)
	}
}

// TestDevclusterFixture: what Alertmanager 0.25 posted in the e2e (test/e2e/alerts_test.go,
// E2E_UPDATE_FIXTURES=1) for a group of two alerts Prometheus raised from the shipped
// RunbookBackupFailing rule has no field the upstream types lack, and maps to the
// Incident the e2e saw: severity from `warning`, one timeline entry per alert.
func TestDevclusterFixture(t *testing.T) {
	const name = "alertmanager-0.25-devcluster-firing.json"
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var strict Message
	if err := dec.Decode(&strict); err != nil {
		t.Errorf("%s has a field Message lacks: %v", name, err)
	}
	m := load(t, name)
	ns, err := Namespace(m, Options{})
	if err != nil || ns != "e2e-alerts-291907" {
		t.Errorf("namespace %q, %v", ns, err)
	}
	inc := NewIncident(m, ns, 1, Options{ReleaseLabel: DefaultReleaseLabel})
	if inc.Spec.Severity != opsv1alpha1.SeverityP3 || inc.Spec.ReleaseRef != nil ||
		inc.Spec.Title != "The newest backup of e2e-alerts-291907/billing-db failed (2 alerts)" {
		t.Errorf("spec %+v", inc.Spec)
	}
	es := Entries(m, time.Now())
	if len(es) != 2 || es[0].Key != "alert/firing/b5d536cef2cedb26/2026-12-07T14:09:25.73Z" || es[1].Key != "alert/firing/fdb40b376b4dba40/2026-12-07T14:09:21.73Z" {
		t.Errorf("entries %+v", es)
	}
}
