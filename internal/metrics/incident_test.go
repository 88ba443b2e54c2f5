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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestIncidentsOpenCountsEachIncidentOnceUntilResolved(t *testing.T) {
	tr := &IncidentTracker{}
	open := func(sev string) float64 { return testutil.ToFloat64(IncidentsOpen.WithLabelValues("inc-test", sev)) }
	tr.Observe("inc-test", "a", "P1", true)
	tr.Observe("inc-test", "a", "P1", true) // seen again: not counted twice
	tr.Observe("inc-test", "b", "P1", true)
	if open("P1") != 2 {
		t.Fatalf("P1 open = %v, want 2", open("P1"))
	}
	tr.Observe("inc-test", "b", "P0", true) // severity raised
	if open("P1") != 1 || open("P0") != 1 {
		t.Fatalf("P1 %v P0 %v, want 1 and 1", open("P1"), open("P0"))
	}
	tr.Observe("inc-test", "a", "P1", false) // resolved
	tr.Forget("inc-test", "b")               // deleted
	tr.Forget("inc-test", "never-seen")
	if open("P1") != 0 || open("P0") != 0 {
		t.Fatalf("P1 %v P0 %v after resolution and deletion, want 0", open("P1"), open("P0"))
	}
}

func TestIncidentMetricsAreServed(t *testing.T) {
	for _, c := range []prometheus.Collector{IncidentsOpen, IncidentTimeToAcknowledge, IncidentTimeToResolve, IncidentEscalations, IncidentNotifications} {
		var already prometheus.AlreadyRegisteredError
		if err := ctrlmetrics.Registry.Register(c); !errors.As(err, &already) {
			t.Errorf("%v is not registered (Register: %v)", c, err)
		}
	}
}
