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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Incident metrics, labelled by namespace and severity (and notifier type), never a
// URL or key. The open gauge is derived from the Incidents the reconciler sees, so a
// restarted manager rebuilds it; the counters and histograms count transitions, which
// are recorded once.
var (
	// IncidentsOpen counts unresolved incidents.
	IncidentsOpen = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_incidents_open",
		Help: "Incidents not yet resolved, by severity.",
	}, []string{"namespace", "severity"})
	// IncidentTimeToAcknowledge observes openedAt → first acknowledgement.
	IncidentTimeToAcknowledge = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_incident_time_to_acknowledge_seconds",
		Help:    "Time from an incident's opening to its first acknowledgement, in seconds.",
		Buckets: incidentBuckets,
	}, []string{"namespace", "severity"})
	// IncidentTimeToResolve observes openedAt → resolution.
	IncidentTimeToResolve = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_incident_time_to_resolve_seconds",
		Help:    "Time from an incident's opening to its resolution, in seconds.",
		Buckets: incidentBuckets,
	}, []string{"namespace", "severity"})
	// IncidentEscalations counts escalations (unacknowledged past the deadline).
	IncidentEscalations = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_incident_escalations_total",
		Help: "Escalations of incidents unacknowledged past their response deadline.",
	}, []string{"namespace", "severity"})
	// IncidentNotifications counts notification attempts by notifier type and outcome
	// (delivered, failed: refused for good, retry: to be sent again).
	IncidentNotifications = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_incident_notifications_total",
		Help: "Incident notification attempts by notifier type (Slack, PagerDuty, Webhook) and outcome (delivered, failed, retry).",
	}, []string{"namespace", "type", "outcome"})
)

// incidentBuckets span a P0's minutes to a P3's long weekend.
var incidentBuckets = []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200}

// IncidentTracker keeps IncidentsOpen from the incidents seen: each incident counts
// once, under its latest severity, until it is resolved or deleted.
type IncidentTracker struct {
	mu   sync.Mutex
	open map[[2]string]string // namespace/name → severity
}

// Incidents is the tracker the reconciler uses.
var Incidents = &IncidentTracker{}

// Observe records whether the incident namespace/name of severity is open.
func (t *IncidentTracker) Observe(namespace, name, severity string, open bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		t.open = map[[2]string]string{}
	}
	k := [2]string{namespace, name}
	if old, ok := t.open[k]; ok {
		IncidentsOpen.WithLabelValues(namespace, old).Dec()
		delete(t.open, k)
	}
	if open {
		t.open[k] = severity
		IncidentsOpen.WithLabelValues(namespace, severity).Inc()
	}
}

// Forget drops a deleted incident.
func (t *IncidentTracker) Forget(namespace, name string) { t.Observe(namespace, name, "", false) }

// RecordAcknowledged observes a first acknowledgement.
func RecordAcknowledged(namespace, severity string, d time.Duration) {
	IncidentTimeToAcknowledge.WithLabelValues(namespace, severity).Observe(d.Seconds())
}

// RecordResolved observes a resolution.
func RecordResolved(namespace, severity string, d time.Duration) {
	IncidentTimeToResolve.WithLabelValues(namespace, severity).Observe(d.Seconds())
}
