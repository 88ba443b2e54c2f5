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
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Release metrics, counted once per revision when it ends and once per pipeline step.
var (
	// Releases counts revisions that ended, by outcome: succeeded, failed, rolledback.
	Releases = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_releases_total",
		Help: "Release revisions that ended, by outcome (succeeded, failed, rolledback).",
	}, []string{"namespace", "release", "outcome"})
	// Rollbacks counts automatic rollbacks, by the step that failed (rollout, verify).
	Rollbacks = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_release_rollbacks_total",
		Help: "Automatic rollbacks of a Release to its stable revision, by the step that failed (rollout, verify).",
	}, []string{"namespace", "release", "step"})
	// ReleaseStepDuration observes how long each pipeline step took, Jobs included.
	ReleaseStepDuration = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_release_step_duration_seconds",
		Help:    "Duration of a Release pipeline step (backup, migrate, predeploy, rollout, verify), in seconds.",
		Buckets: stepBuckets,
	}, []string{"namespace", "release", "step"})
)

// RecordReleaseStep observes one finished step.
func RecordReleaseStep(namespace, release, step string, d time.Duration) {
	ReleaseStepDuration.WithLabelValues(namespace, release, step).Observe(d.Seconds())
}
