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
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestGaugesMoveForwardAndFailureClears(t *testing.T) {
	b := &Backups{}
	t0 := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	gauge := func() (float64, float64, float64) {
		return testutil.ToFloat64(LastSuccess.WithLabelValues("ns", "db")),
			testutil.ToFloat64(LastSize.WithLabelValues("ns", "db")),
			testutil.ToFloat64(Failing.WithLabelValues("ns", "db"))
	}
	b.ObserveSuccess("ns", "db", t0, 100)
	b.ObserveSuccess("ns", "db", t0.Add(-time.Hour), 50) // an older one seen later (restart)
	if ts, size, failing := gauge(); ts != float64(t0.Unix()) || size != 100 || failing != 0 {
		t.Fatalf("after successes: %v %v %v", ts, size, failing)
	}
	b.ObserveFailure("ns", "db", t0.Add(time.Hour))
	if _, _, failing := gauge(); failing != 1 {
		t.Fatal("a newer failure must set failing")
	}
	b.ObserveFailure("ns", "db", t0.Add(-2*time.Hour)) // old failure: no change
	b.ObserveSuccess("ns", "db", t0.Add(2*time.Hour), 120)
	if ts, size, failing := gauge(); ts != float64(t0.Add(2*time.Hour).Unix()) || size != 120 || failing != 0 {
		t.Fatalf("a later success must clear failing: %v %v %v", ts, size, failing)
	}
	RecordTransition("ns", "db", false, 0)
	RecordTransition("ns", "db", true, 42*time.Second)
	if got := testutil.ToFloat64(Failures.WithLabelValues("ns", "db")); got != 1 {
		t.Errorf("failures %v", got)
	}
	if got := testutil.CollectAndCount(Duration); got != 1 {
		t.Errorf("duration series %d", got)
	}
}

func TestRecordRestore(t *testing.T) {
	RecordRestore("ns", "db", true, 90*time.Second)
	RecordRestore("ns", "db", false, 10*time.Second)
	RecordRestore("ns", "db", false, 0)
	if got := testutil.ToFloat64(Restores.WithLabelValues("ns", "db", "succeeded")); got != 1 {
		t.Errorf("succeeded %v", got)
	}
	if got := testutil.ToFloat64(Restores.WithLabelValues("ns", "db", "failed")); got != 2 {
		t.Errorf("failed %v", got)
	}
	if got := testutil.CollectAndCount(RestoreDuration); got != 1 {
		t.Errorf("duration series %d, want 1 (failed restores are not observed)", got)
	}
}

// TestEveryMetricIsServed checks that each metric is in controller-runtime's
// registry, the one the manager's metrics endpoint serves.
func TestEveryMetricIsServed(t *testing.T) {
	for _, c := range []prometheus.Collector{
		LastSuccess, LastSize, Failing, Failures, Duration, RestoreDuration, Restores,
		Releases, Rollbacks, ReleaseStepDuration,
		SecretRotations, SecretLastRotation, SecretRotationPhaseDuration,
	} {
		var already prometheus.AlreadyRegisteredError
		if err := ctrlmetrics.Registry.Register(c); !errors.As(err, &already) {
			t.Errorf("%v is not registered (Register: %v)", c, err)
		}
	}
}
