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

package metrics

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestObjectGaugeKeepsOneSeriesPerObject(t *testing.T) {
	vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_phase"}, []string{"namespace", "release", "phase"})
	g := NewObjectGauge(vec)
	g.Set("ns", "a", 1, "a", "RollingOut")
	g.Set("ns", "a", 1, "a", "Verifying") // phase moved on: the RollingOut series goes
	g.Set("ns", "b", 1, "b", "Verifying")
	g.Set("other", "a", 1, "a", "Deployed") // same name, other namespace: another object
	want := `
# HELP test_phase 
# TYPE test_phase gauge
test_phase{namespace="ns",phase="Verifying",release="a"} 1
test_phase{namespace="ns",phase="Verifying",release="b"} 1
test_phase{namespace="other",phase="Deployed",release="a"} 1
`
	if err := testutil.CollectAndCompare(vec, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	g.Delete("ns", "a")
	g.Delete("ns", "never-seen")
	g.SetTime("ns", "b", time.Time{}, "b", "Verifying") // zero time: removed
	if n := testutil.CollectAndCount(vec); n != 1 {
		t.Fatalf("%d series after deleting two objects, want 1 (other/a)", n)
	}
	at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	g.SetTime("ns", "c", at, "c", "Paused")
	if got := testutil.ToFloat64(vec.WithLabelValues("ns", "c", "Paused")); got != float64(at.Unix()) {
		t.Fatalf("SetTime stored %v, want %v", got, at.Unix())
	}
}

func TestServedNamesListsEveryRegisteredMetric(t *testing.T) {
	names := ServedNames()
	for _, want := range []string{
		"runbook_backup_last_success_timestamp_seconds", // gauge
		"runbook_backup_failures_total",                 // counter
		"runbook_backup_duration_seconds_bucket",        // histogram: its three sample names
		"runbook_backup_duration_seconds_sum",
		"runbook_backup_duration_seconds_count",
		"runbook_incident_response_deadline_timestamp_seconds",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("ServedNames lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "runbook_backup_duration_seconds") {
		t.Error("a histogram is served as _bucket, _sum and _count, not under its own name")
	}
	// Each collector gives at least one name: none was left unread by fqName.
	if len(names) < len(served.collectors) {
		t.Errorf("%d names from %d collectors: some Desc was not read", len(names), len(served.collectors))
	}
	if len(served.collectors) < 20 {
		t.Errorf("%d collectors recorded, want every metric of the package (over 20)", len(served.collectors))
	}
}

func TestAlertingGaugesAreServed(t *testing.T) {
	for _, c := range []prometheus.Collector{BackupScheduleInfo, ReleasePhase, ReleaseDeployDeadline, SecretNextRotation, IncidentResponseDeadline} {
		var already prometheus.AlreadyRegisteredError
		if err := ctrlmetrics.Registry.Register(c); !errors.As(err, &already) {
			t.Errorf("%v is not registered (Register: %v)", c, err)
		}
	}
}
