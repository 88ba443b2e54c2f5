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

// Package metrics holds the operator's Prometheus metrics, registered with
// controller-runtime's registry (served on the manager's metrics endpoint). Labels
// are namespace and database (the connection Secret's name), never values.
//
// Gauges are derived from the DatabaseBackup objects a reconciler sees, so a
// restarted manager rebuilds them from the cluster; counters and histograms count
// transitions, which happen once per backup or restore.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// registered declares metrics registered with controller-runtime's registry (and
	// recorded for ServedNames).
	registered = promauto.With(served)
	served     = &recorder{Registerer: ctrlmetrics.Registry}
	// stepBuckets are for pipeline steps that take seconds to an hour.
	stepBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}
)

var (
	// LastSuccess is the completion time of the newest Completed backup.
	LastSuccess = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_backup_last_success_timestamp_seconds",
		Help: "Unix time at which the newest successful backup of the database completed.",
	}, []string{"namespace", "database"})
	// LastSize is the size of the newest Completed backup.
	LastSize = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_backup_last_size_bytes",
		Help: "Size in bytes of the newest successful backup of the database, as uploaded.",
	}, []string{"namespace", "database"})
	// Failing is 1 while the newest finished backup of the database failed.
	Failing = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_backup_failing",
		Help: "1 when the newest finished backup of the database failed, 0 once a later one succeeded.",
	}, []string{"namespace", "database"})
	// Failures counts failed backups.
	Failures = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_backup_failures_total",
		Help: "Backups of the database that ended Failed.",
	}, []string{"namespace", "database"})
	// Duration observes how long successful backups took (dump and upload).
	Duration = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_backup_duration_seconds",
		Help:    "Duration of successful backups (pg_dump, compression and upload), in seconds.",
		Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
	}, []string{"namespace", "database"})
)

// Restore metrics, counted once per DatabaseRestore when it finishes.
var (
	// RestoreDuration observes how long successful restores took, from the start of
	// the quiesce to the workloads' resume: the application's downtime.
	RestoreDuration = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_restore_duration_seconds",
		Help:    "Duration of successful restores from quiesce to resume (the application's downtime), in seconds.",
		Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
	}, []string{"namespace", "database"})
	// Restores counts finished restores by outcome: succeeded or failed.
	Restores = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_restores_total",
		Help: "Restores of the database that finished, by outcome (succeeded, failed).",
	}, []string{"namespace", "database", "outcome"})
)

// RecordRestore counts a restore that just finished and, when it succeeded, observes
// its duration. Call it once, when the phase becomes Completed or Failed.
func RecordRestore(namespace, database string, succeeded bool, duration time.Duration) {
	outcome := "failed"
	if succeeded {
		outcome = "succeeded"
		RestoreDuration.WithLabelValues(namespace, database).Observe(duration.Seconds())
	}
	Restores.WithLabelValues(namespace, database, outcome).Inc()
}

type dbKey struct{ namespace, database string }

type outcome struct{ success, failure time.Time }

// Backups keeps the per-database gauges moving forward only: an older backup seen
// after a newer one (as after a restart, in any order) does not set them back.
type Backups struct {
	mu   sync.Mutex
	last map[dbKey]*outcome
}

// Default is the tracker used by the reconcilers.
var Default = &Backups{}

func (b *Backups) get(k dbKey) *outcome {
	if b.last == nil {
		b.last = map[dbKey]*outcome{}
	}
	o := b.last[k]
	if o == nil {
		o = &outcome{}
		b.last[k] = o
	}
	return o
}

// ObserveSuccess records a Completed backup that completed at t with size bytes.
func (b *Backups) ObserveSuccess(namespace, database string, t time.Time, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.get(dbKey{namespace, database})
	if t.After(o.success) {
		o.success = t
		LastSuccess.WithLabelValues(namespace, database).Set(float64(t.Unix()))
		LastSize.WithLabelValues(namespace, database).Set(float64(size))
	}
	b.updateFailing(namespace, database, o)
}

// ObserveFailure records a Failed backup that ended at t.
func (b *Backups) ObserveFailure(namespace, database string, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.get(dbKey{namespace, database})
	if t.After(o.failure) {
		o.failure = t
	}
	b.updateFailing(namespace, database, o)
}

func (b *Backups) updateFailing(namespace, database string, o *outcome) {
	v := 0.0
	if o.failure.After(o.success) {
		v = 1
	}
	Failing.WithLabelValues(namespace, database).Set(v)
}

// RecordTransition counts a backup that just finished: the failure counter or the
// duration histogram. Call it once, when the phase changes.
func RecordTransition(namespace, database string, succeeded bool, duration time.Duration) {
	if succeeded {
		Duration.WithLabelValues(namespace, database).Observe(duration.Seconds())
		return
	}
	Failures.WithLabelValues(namespace, database).Inc()
}
