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

package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/metrics"
)

// The gauges the shipped alerts read follow the object and go with it.
func TestAlertingGaugesFollowTheObject(t *testing.T) {
	const ns = "alerting-gauges"
	t0 := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	meta := metav1.ObjectMeta{Namespace: ns, Name: "x"}
	gone := apierrors.NewNotFound(schema.GroupResource{Resource: "things"}, "x")
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "x"}}

	s := &opsv1alpha1.BackupSchedule{ObjectMeta: meta}
	s.Spec.Template.Spec.Database.SecretRef = opsv1alpha1.LocalObjectReference{Name: "saas-db"}
	observeScheduleMetrics(s)
	if got := testutil.ToFloat64(metrics.BackupScheduleInfo.WithLabelValues(ns, "x", "saas-db")); got != 1 {
		t.Fatalf("schedule info %v, want 1", got)
	}
	s.Spec.Suspend = true
	observeScheduleMetrics(s)
	if n := seriesIn(metrics.BackupScheduleInfo, ns); n != 0 {
		t.Fatalf("a suspended schedule expects no backup: %d series", n)
	}

	rel := &opsv1alpha1.Release{ObjectMeta: meta}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseRollingOut
	rel.Status.Progress = &opsv1alpha1.ReleaseProgress{Revision: "r1", RolloutStartTime: &metav1.Time{Time: t0}}
	observeReleaseMetrics(rel)
	if got := testutil.ToFloat64(metrics.ReleaseDeployDeadline.WithLabelValues(ns, "x")); got != float64(t0.Add(12*time.Minute).Unix()) {
		t.Fatalf("deploy deadline %v, want rollout start + 10m progressDeadline + 2m window (defaults)", got)
	}
	rel.Spec.Canary = &opsv1alpha1.ReleaseCanary{Component: "web"}
	rel.Status.History = []opsv1alpha1.RevisionRecord{{Revision: "r1", Result: opsv1alpha1.RevisionInProgress}}
	rel.Status.Progress = &opsv1alpha1.ReleaseProgress{Revision: "r1", Canary: &opsv1alpha1.CanaryProgress{Component: "web", StartTime: &metav1.Time{Time: t0}}}
	observeReleaseMetrics(rel)
	if got := testutil.ToFloat64(metrics.ReleaseDeployDeadline.WithLabelValues(ns, "x")); got != float64(t0.Add(10*time.Minute+30*time.Second).Unix()) {
		t.Fatalf("deploy deadline during the canary %v, want canary start + 10m progressDeadline + 30s canary window (defaults)", got)
	}
	rel.Spec.Canary, rel.Status.History = nil, nil
	rel.Status.Progress = &opsv1alpha1.ReleaseProgress{Revision: "r1", RolloutStartTime: &metav1.Time{Time: t0}}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseDeployed // progress not yet cleared
	observeReleaseMetrics(rel)
	if n := seriesIn(metrics.ReleaseDeployDeadline, ns); n != 0 {
		t.Fatalf("a Deployed release has no deadline: %d series", n)
	}
	rel.Status.Phase, rel.Status.Progress = opsv1alpha1.ReleasePhaseVerifying, nil
	observeReleaseMetrics(rel)
	if n := seriesIn(metrics.ReleaseDeployDeadline, ns); n != 0 {
		t.Fatalf("no rollout in progress, no deadline: %d series", n)
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseDeployed
	observeReleaseMetrics(rel)
	if n, got := seriesIn(metrics.ReleasePhase, ns), testutil.ToFloat64(metrics.ReleasePhase.WithLabelValues(ns, "x", "Deployed")); n != 1 || got != 1 {
		t.Fatalf("release phase: %d series, Deployed %v; want the one current phase", n, got)
	}
	for _, step := range []string{"canary", "rollout", "verify"} { // the first rollback is an increase from 0
		if n := seriesIn(metrics.Rollbacks, ns); n != 3 || testutil.ToFloat64(metrics.Rollbacks.WithLabelValues(ns, "x", step)) != 0 {
			t.Fatalf("rollback counters: %d series in the namespace, want canary, rollout and verify at 0", n)
		}
	}
	rs := &opsv1alpha1.DatabaseRestore{ObjectMeta: meta}
	rs.Spec.Database.SecretRef.Name = "saas-db"
	observeRestoreMetrics(rs)
	if n := seriesIn(metrics.Restores, ns); n != 2 {
		t.Fatalf("restore counters: %d series, want succeeded and failed at 0", n)
	}
	forgetObjectMetrics(req, errors.New("connection refused"), metrics.ReleasePhases) // not a deletion
	if n := seriesIn(metrics.ReleasePhase, ns); n != 1 {
		t.Fatal("an error other than NotFound must keep the series")
	}
	forgetObjectMetrics(req, gone, metrics.ReleasePhases, metrics.ReleaseDeadlines)
	if n := seriesIn(metrics.ReleasePhase, ns); n != 0 {
		t.Fatal("a deleted release keeps its phase series")
	}

	sr := &opsv1alpha1.SecretRotation{ObjectMeta: meta}
	sr.Spec.SecretName = "saas-app"
	sr.Status.NextRotationTime = &metav1.Time{Time: t0}
	observeRotationMetrics(sr)
	if got := testutil.ToFloat64(metrics.SecretNextRotation.WithLabelValues(ns, "saas-app")); got != float64(t0.Unix()) {
		t.Fatalf("next rotation %v", got)
	}
	sr.Spec.Suspend = true
	observeRotationMetrics(sr)
	if n := seriesIn(metrics.SecretNextRotation, ns); n != 0 {
		t.Fatal("a suspended rotation is never overdue")
	}

	inc := &opsv1alpha1.Incident{ObjectMeta: meta}
	inc.Spec.Severity = "P1"
	inc.Status.ResponseDeadline = &metav1.Time{Time: t0}
	observeIncidentMetrics(inc)
	if got := testutil.ToFloat64(metrics.IncidentResponseDeadline.WithLabelValues(ns, "x", "P1")); got != float64(t0.Unix()) {
		t.Fatalf("response deadline %v", got)
	}
	inc.Status.AcknowledgedAt = &metav1.Time{Time: t0.Add(-time.Minute)}
	observeIncidentMetrics(inc)
	if n := seriesIn(metrics.IncidentResponseDeadline, ns); n != 0 {
		t.Fatal("an acknowledged incident has no response deadline left")
	}
}

// seriesIn counts the collector's series in namespace ns (other specs fill others).
func seriesIn(c prometheus.Collector, ns string) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			continue
		}
		for _, l := range out.GetLabel() {
			if l.GetName() == "namespace" && l.GetValue() == ns {
				n++
			}
		}
	}
	return n
}
