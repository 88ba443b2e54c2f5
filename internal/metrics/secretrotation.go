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

// SecretRotation metrics, labelled by namespace and the managed Secret's name, never a
// value. The gauge is set from the record on the Secret, so a restarted manager
// rebuilds it; the counter and histogram count transitions, which happen once.
var (
	// SecretRotations counts completed rotations, by mode (TwoPhase, Immediate).
	SecretRotations = registered.NewCounterVec(prometheus.CounterOpts{
		Name: "runbook_secret_rotations_total",
		Help: "Completed rotations of the Secret's managed keys, by mode (TwoPhase, Immediate).",
	}, []string{"namespace", "secret", "mode"})
	// SecretLastRotation is when the Secret was last rotated (or first written).
	SecretLastRotation = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_secret_last_rotation_timestamp_seconds",
		Help: "Unix time of the last completed rotation (or first write) of the Secret's managed keys.",
	}, []string{"namespace", "secret"})
	// SecretRotationPhaseDuration observes how long each phase took, from writing the
	// Secret to the last target rolled out.
	SecretRotationPhaseDuration = registered.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runbook_secret_rotation_phase_duration_seconds",
		Help:    "Duration of a rotation phase (Publishing, Promoting, Replacing, Reencrypting, Dropping) from the Secret write to every target rolled out, in seconds.",
		Buckets: stepBuckets,
	}, []string{"namespace", "secret", "phase"})
)

// RecordRotationPhase observes one finished phase.
func RecordRotationPhase(namespace, secret, phase string, d time.Duration) {
	SecretRotationPhaseDuration.WithLabelValues(namespace, secret, phase).Observe(d.Seconds())
}
