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
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func load(t *testing.T, name string) *Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// fixtures are the documented shape (docs/configuration.md's webhook_config) and what
// Alertmanager 0.25 really posted (captured by TestRealAlertmanager).
var fixtures = []string{"documented-firing.json", "documented-resolved.json", "alertmanager-0.25-firing.json", "alertmanager-0.25-resolved.json"}

// TestAlertmanager025Fixture: what Alertmanager 0.25 posted has no field the
// upstream types lack, and maps to the Incident the e2e expects.
func TestAlertmanager025Fixture(t *testing.T) {
	for _, name := range []string{"alertmanager-0.25-firing.json", "alertmanager-0.25-resolved.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var m Message
		if err := dec.Decode(&m); err != nil {
			t.Errorf("%s has a field Message lacks: %v", name, err)
		}
	}
	m := load(t, "alertmanager-0.25-firing.json")
	inc := NewIncident(m, "shop", 1, Options{ReleaseLabel: DefaultReleaseLabel})
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.Title != "Backups of shop/orders are failing" || inc.Spec.ReleaseRef.Name != "saas" {
		t.Errorf("spec %+v", inc.Spec)
	}
	es := Entries(m, time.Now())
	if len(es) != 1 || es[0].Key != "alert/firing/c58563e7fe732ad8/2026-12-07T13:35:15Z" {
		t.Errorf("entries %+v", es)
	}
	r := load(t, "alertmanager-0.25-resolved.json")
	if !Record(inc, m, time.Now()) || !Record(inc, r, time.Now()) || countType(inc, TimelineAlertsResolved) != 1 {
		t.Errorf("timeline %+v", inc.Status.Timeline)
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range fixtures {
		m := load(t, name)
		if m.Version != "4" || m.GroupKey == "" || len(m.Alerts) == 0 {
			t.Errorf("%s: decoded %+v", name, m)
		}
		for i, a := range m.Alerts {
			if a.Fingerprint == "" || a.StartsAt.IsZero() {
				t.Errorf("%s: alert %d lacks fingerprint or startsAt: %+v", name, i, a)
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := `{"version":"4","groupKey":"{}:{alertname=\"A\"}","status":"firing","alerts":[{"status":"firing","labels":{},"startsAt":"2026-12-07T10:00:00Z","fingerprint":"abc"}]}`
	if _, err := Decode(strings.NewReader(good)); err != nil {
		t.Fatalf("good body refused: %v", err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `hello`, "not JSON"},
		{"empty", ``, "not JSON"},
		{"array", `[]`, "not JSON"},
		{"two values", good + good, "more than one JSON value"},
		{"version 3", strings.Replace(good, `"4"`, `"3"`, 1), `version "3"`},
		{"no group key", strings.Replace(good, `"groupKey":"{}:{alertname=\"A\"}"`, `"groupKey":""`, 1), "groupKey is empty"},
		{"long group key", strings.Replace(good, `{}:{alertname=\"A\"}`, strings.Repeat("k", MaxGroupKeyBytes+1), 1), "groupKey is"},
		{"no alerts", `{"version":"4","groupKey":"g","status":"firing","alerts":[]}`, "no alerts"},
		{"bad status", strings.Replace(good, `"status":"firing","alerts"`, `"status":"pending","alerts"`, 1), `status "pending"`},
		{"bad alert status", strings.Replace(good, `[{"status":"firing"`, `[{"status":"x"`, 1), `alerts[0].status "x"`},
		{"no fingerprint", strings.Replace(good, `"fingerprint":"abc"`, `"fingerprint":""`, 1), "fingerprint"},
		{"odd fingerprint", strings.Replace(good, `"fingerprint":"abc"`, `"fingerprint":"a/b"`, 1), "fingerprint"},
		{"no startsAt", strings.Replace(good, `"startsAt":"2026-12-07T10:00:00Z",`, ``, 1), "startsAt is missing"},
		{"bad startsAt", strings.Replace(good, `2026-12-07T10:00:00Z`, `yesterday`, 1), "not JSON"},
	} {
		_, err := Decode(strings.NewReader(tc.body))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrMalformed saying %q", tc.name, err, tc.want)
		}
	}
}

func TestSeverityMapping(t *testing.T) {
	for label, want := range map[string]opsv1alpha1.IncidentSeverity{
		"P0": "P0", "p1": "P1", "critical": "P1", "Critical": "P1", "page": "P1",
		"error": "P2", "high": "P2", "warning": "P3", "info": "P3", "none": "P3",
	} {
		if got, ok := Severity(label); !ok || got != want {
			t.Errorf("Severity(%q) = %q, %v; want %q", label, got, ok, want)
		}
	}
	for _, label := range []string{"", "urgent-ish", "P4"} {
		if _, ok := Severity(label); ok {
			t.Errorf("Severity(%q) mapped; want unknown", label)
		}
	}
	m := load(t, "documented-firing.json") // critical and warning firing: the most severe
	if got := GroupSeverity(m, Options{}); got != opsv1alpha1.SeverityP1 {
		t.Errorf("group severity %s, want P1", got)
	}
	for _, a := range m.Alerts {
		delete(a.Labels, SeverityLabel)
	}
	delete(m.CommonLabels, SeverityLabel)
	if got := GroupSeverity(m, Options{}); got != opsv1alpha1.SeverityP2 {
		t.Errorf("no severity label: %s, want the default P2", got)
	}
	if got := GroupSeverity(m, Options{DefaultSeverity: opsv1alpha1.SeverityP3}); got != opsv1alpha1.SeverityP3 {
		t.Errorf("no severity label with default P3: %s", got)
	}
}

func TestNameAndNamespace(t *testing.T) {
	m := load(t, "documented-firing.json")
	n1, n2 := Name(m.GroupKey, 1), Name(m.GroupKey, 2)
	if n1 != Name(m.GroupKey, 1) || n2 != n1+"-2" || Name("other", 1) == n1 {
		t.Errorf("names not deterministic per group: %s %s", n1, n2)
	}
	long := Name(strings.Repeat("x", MaxGroupKeyBytes), MaxOpenings)
	if errs := validation.IsDNS1123Label(long); len(errs) > 0 || len(long) > 28 {
		t.Errorf("name %q: %v", long, errs)
	}
	if ns, err := Namespace(m, Options{}); err != nil || ns != "shop" {
		t.Errorf("namespace %q, %v", ns, err)
	}
	delete(m.CommonLabels, NamespaceLabel)
	if ns, err := Namespace(m, Options{}); err != nil || ns != "shop" {
		t.Errorf("namespace shared by every alert but not in commonLabels: %q, %v", ns, err)
	}
	m.Alerts[1].Labels[NamespaceLabel] = "other"
	if _, err := Namespace(m, Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("alerts of two namespaces and no default: %v, want ErrMalformed", err)
	}
	if ns, err := Namespace(m, Options{DefaultNamespace: "ops"}); err != nil || ns != "ops" {
		t.Errorf("default namespace: %q, %v", ns, err)
	}
	m.CommonLabels[NamespaceLabel] = "Not_A_Namespace"
	if _, err := Namespace(m, Options{DefaultNamespace: "ops"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("invalid namespace label: %v", err)
	}
}

func TestNewIncident(t *testing.T) {
	m := load(t, "documented-firing.json")
	inc := NewIncident(m, "shop", 1, Options{ReleaseLabel: "release"})
	if inc.Name != Name(m.GroupKey, 1) || inc.Namespace != "shop" {
		t.Errorf("name %s/%s", inc.Namespace, inc.Name)
	}
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.ReleaseRef == nil || inc.Spec.ReleaseRef.Name != "saas" {
		t.Errorf("spec %+v", inc.Spec)
	}
	if inc.Spec.Title != "Backups of shop/orders are failing (2 alerts)" {
		t.Errorf("title %q", inc.Spec.Title)
	}
	if !strings.Contains(inc.Spec.Description, "The last 3 DatabaseBackups of orders failed.") ||
		!strings.Contains(inc.Spec.Description, "Runbook: https://example.invalid/runbook#backupfailing") ||
		!strings.Contains(inc.Spec.Description, `{alertname="BackupFailing", namespace="shop"}`) {
		t.Errorf("description %q", inc.Spec.Description)
	}
	r := inc.Spec.Response
	if r == nil || !r.CaptureEvidence || r.Isolate != nil || r.TakeOffline != nil || r.Rollback || len(r.RotateSecrets) > 0 || len(r.Diagnostics) > 0 {
		t.Errorf("an alert asks for evidence only, got %+v", r)
	}
	if inc.Annotations[AnnotationGroupKey] != m.GroupKey || !SameGroup(inc, m) {
		t.Errorf("annotations %v", inc.Annotations)
	}

	// Bounds: a huge summary and description are cut to the CRD's limits; a release
	// label that is no name is left out and said so.
	m.CommonAnnotations["summary"] = strings.Repeat("é", 500)
	m.CommonAnnotations["description"] = strings.Repeat("d", 20000)
	m.CommonLabels["release"] = "Not A Name"
	inc = NewIncident(m, "shop", 1, Options{ReleaseLabel: "release"})
	if len(inc.Spec.Title) > maxTitle || len(inc.Spec.Description) > maxDescription || inc.Spec.ReleaseRef != nil {
		t.Errorf("bounds: title %d, description %d bytes, releaseRef %v", len(inc.Spec.Title), len(inc.Spec.Description), inc.Spec.ReleaseRef)
	}
	m.TruncatedAlerts = 7
	if inc = NewIncident(m, "shop", 1, Options{}); !strings.Contains(inc.Spec.Description, "left out 7 alerts") {
		t.Errorf("truncatedAlerts not said: %q", inc.Spec.Description[len(inc.Spec.Description)-300:])
	}
}

func TestRecordIsIdempotent(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 1, 0, 0, time.UTC)
	m := load(t, "documented-firing.json")
	inc := NewIncident(m, "shop", 1, Options{})
	if !Record(inc, m, now) {
		t.Fatal("first notification recorded nothing")
	}
	if n := len(inc.Status.Timeline); n != 2 {
		t.Fatalf("%d entries, want one per alert: %+v", n, inc.Status.Timeline)
	}
	e := inc.Status.Timeline[0]
	for _, want := range []string{"BackupFailing firing since 2026-12-07T10:00:00Z", "fingerprint 7f3c2a1b9d8e4f60",
		"generatorURL http://prometheus.monitoring:9090/graph?g0.expr=runbook_backup_failed%3E0&g0.tab=1"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("entry %q lacks %q", e.Message, want)
		}
	}
	if e.Key != "alert/firing/7f3c2a1b9d8e4f60/2026-12-07T10:00:00.123Z" || e.Type != TimelineAlertFiring {
		t.Errorf("entry key %q type %q", e.Key, e.Type)
	}
	// Alertmanager re-sends the group every repeat_interval: nothing new.
	if Record(inc, load(t, "documented-firing.json"), now.Add(4*time.Hour)) || len(inc.Status.Timeline) != 2 {
		t.Errorf("a repeat changed the status: %+v", inc.Status.Timeline)
	}
	if NewFiring(inc, m) {
		t.Error("a repeat counts as a new firing")
	}
	// The same alert firing again later (a new startsAt) is a new entry.
	again := load(t, "documented-firing.json")
	again.Alerts = again.Alerts[:1]
	again.Alerts[0].StartsAt = again.Alerts[0].StartsAt.Add(6 * time.Hour)
	if !NewFiring(inc, again) || !Record(inc, again, now.Add(6*time.Hour)) || len(inc.Status.Timeline) != 3 {
		t.Errorf("a new firing of the same alert was not recorded: %d entries", len(inc.Status.Timeline))
	}
	// truncatedAlerts is recorded once per count.
	again.TruncatedAlerts = 3
	Record(inc, again, now)
	Record(inc, again, now)
	if n := countType(inc, TimelineAlertsCut); n != 1 {
		t.Errorf("%d AlertsTruncated entries, want 1", n)
	}
}

func TestRecordResolvedProposesResolution(t *testing.T) {
	now := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	inc := NewIncident(load(t, "documented-firing.json"), "shop", 1, Options{})
	inc.Generation = 1
	Record(inc, load(t, "documented-firing.json"), now)
	res := load(t, "documented-resolved.json")
	if !Record(inc, res, now) {
		t.Fatal("resolved notification recorded nothing")
	}
	if n := countType(inc, TimelineAlertResolved); n != 2 {
		t.Errorf("%d AlertResolved entries, want 2", n)
	}
	if n := countType(inc, TimelineAlertsResolved); n != 1 {
		t.Errorf("%d AlertsResolved entries, want 1", n)
	}
	c := findCondition(inc, ConditionResolutionProposed)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonAlertsResolved || c.ObservedGeneration != 1 {
		t.Fatalf("condition %+v", c)
	}
	if inc.Spec.Resolution != "" {
		t.Error("the receiver resolved the incident; a person does")
	}
	if Record(inc, load(t, "documented-resolved.json"), now.Add(time.Minute)) {
		t.Error("a repeated resolved notification changed the status")
	}
	// Firing again withdraws the proposal.
	fire := load(t, "documented-firing.json")
	fire.Alerts[0].StartsAt = now.Add(time.Hour)
	if !Record(inc, fire, now.Add(time.Hour)) {
		t.Fatal("new firing not recorded")
	}
	if c := findCondition(inc, ConditionResolutionProposed); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonAlertsFiring {
		t.Errorf("condition after firing again %+v", c)
	}
}

func TestEntriesBounded(t *testing.T) {
	m := load(t, "documented-firing.json")
	m.Alerts[0].GeneratorURL = "http://p/" + strings.Repeat("q", 5000)
	m.Alerts[0].Fingerprint = strings.Repeat("f", 64)
	for _, e := range Entries(m, time.Now()) {
		if len(e.Message) > opsv1alpha1.MaxTimelineMessageBytes || len(e.Key) > opsv1alpha1.MaxTimelineKeyBytes {
			t.Errorf("entry over bounds: message %d, key %d bytes", len(e.Message), len(e.Key))
		}
		if strings.HasSuffix(e.Key, "…") {
			t.Errorf("key %q was cut: keys must stay whole to deduplicate", e.Key)
		}
	}
}

func countType(inc *opsv1alpha1.Incident, typ string) int {
	n := 0
	for _, e := range inc.Status.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func findCondition(inc *opsv1alpha1.Incident, typ string) *metav1.Condition {
	for i := range inc.Status.Conditions {
		if inc.Status.Conditions[i].Type == typ {
			return &inc.Status.Conditions[i]
		}
	}
	return nil
}
