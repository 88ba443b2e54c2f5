package demo

import (
	"os"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
)

// TestAlertOf finds the demo's alert in what Alertmanager 0.25 really posted on the
// devcluster (the receiver's fixture), and only there.
func TestAlertOf(t *testing.T) {
	f, err := os.Open("../alertreceiver/testdata/alertmanager-0.25-devcluster-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	m, err := alertreceiver.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, db, fingerprint string
	}{
		{"e2e-alerts-291907", "orders-db", "fdb40b376b4dba40"},
		{"e2e-alerts-291907", "billing-db", "b5d536cef2cedb26"},
		{"e2e-alerts-291907", "other-db", ""},
		{"demo", "orders-db", ""},
	} {
		a, ok := AlertOf(m, tc.ns, tc.db)
		if ok != (tc.fingerprint != "") || a.Fingerprint != tc.fingerprint {
			t.Errorf("AlertOf(%s, %s) = %s, %v; want %q", tc.ns, tc.db, a.Fingerprint, ok, tc.fingerprint)
		}
	}
	if _, ok := AlertOf(nil, "demo", "x"); ok {
		t.Error("AlertOf(nil) found an alert")
	}
}

func TestAlertsPrinting(t *testing.T) {
	at := time.Date(2026, 12, 7, 14, 11, 31, 0, time.UTC)
	line := FiringLine(promv1.Alert{State: promv1.AlertStateFiring, ActiveAt: at, Labels: model.LabelSet{
		"alertname": "RunbookBackupFailing", "namespace": "demo", "database": "demo-db-missing", "severity": "warning"}})
	if want := `RunbookBackupFailing{namespace="demo", database="demo-db-missing", severity="warning"} firing since 14:11:31`; line != want {
		t.Errorf("FiringLine = %q, want %q", line, want)
	}
	inc := &opsv1alpha1.Incident{
		Spec: opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP3, Title: "The newest backup of demo/x failed"},
		Status: opsv1alpha1.IncidentStatus{Phase: "Open",
			Evidence:  &opsv1alpha1.Evidence{ConfigMaps: []string{"alert-1-evidence-0"}, SizeBytes: 587, SHA256: "db3a"},
			Notifiers: []opsv1alpha1.NotifierStatus{{Name: "alerts", Deliveries: []opsv1alpha1.Delivery{{Transition: "Opened", State: opsv1alpha1.DeliveryDelivered}}}},
			Timeline:  []opsv1alpha1.TimelineEntry{{Time: metav1.NewTime(at), Type: "AlertFiring", Message: "RunbookBackupFailing firing"}},
		},
	}
	got := strings.Join(IncidentFields(inc), "|")
	if want := "severity|P3|title|The newest backup of demo/x failed|phase|Open|evidence|alert-1-evidence-0 (587 bytes, sha256 db3a)|notifier alerts|Opened Delivered"; got != want {
		t.Errorf("IncidentFields = %q, want %q", got, want)
	}
	if got, want := Timeline(inc), "14:11:31  AlertFiring      RunbookBackupFailing firing\n"; got != want {
		t.Errorf("Timeline = %q, want %q", got, want)
	}
}
