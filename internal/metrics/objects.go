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
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-object gauges the shipped alerts (config/prometheus) need: each is set from the
// object a reconciler sees, so a restarted manager rebuilds it, and is removed when the
// object is deleted or no longer in the state the gauge describes.
var (
	// BackupScheduleInfo is 1 for each BackupSchedule that is not suspended, with the
	// database it backs up: the alerts expect a backup of that database.
	BackupScheduleInfo = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_backup_schedule_info",
		Help: "1 for each BackupSchedule that is not suspended, labelled with the database it backs up.",
	}, []string{"namespace", "schedule", "database"})
	// ReleasePhase is 1 for the current phase of each Release.
	ReleasePhase = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_release_phase",
		Help: "1 for the current phase of the Release (Pending, BackingUp, Migrating, PreDeploy, RollingOut, Verifying, Deployed, RollingBack, RolledBack, Failed, Paused).",
	}, []string{"namespace", "release", "phase"})
	// ReleaseDeployDeadline is when a Release whose rollout began should be Deployed.
	ReleaseDeployDeadline = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_release_deploy_deadline_timestamp_seconds",
		Help: "Unix time by which the Release's revision in progress should be Deployed: rollout start + verify.progressDeadline + verify.window. Absent when no rollout is in progress.",
	}, []string{"namespace", "release"})
	// SecretNextRotation is when the Secret's next scheduled rotation is due.
	SecretNextRotation = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_secret_next_rotation_timestamp_seconds",
		Help: "Unix time at which the next scheduled rotation of the Secret's managed keys is due. Absent while the SecretRotation is suspended.",
	}, []string{"namespace", "secret"})
	// IncidentResponseDeadline is when an open, unacknowledged incident must be
	// acknowledged.
	IncidentResponseDeadline = registered.NewGaugeVec(prometheus.GaugeOpts{
		Name: "runbook_incident_response_deadline_timestamp_seconds",
		Help: "Unix time by which the open incident must be acknowledged. Absent once it is acknowledged or resolved.",
	}, []string{"namespace", "incident", "severity"})
)

// ObjectGauge keeps one series of a gauge per object (namespace/name): setting it
// under other label values (a new phase, a raised severity) removes the old series.
// The gauge's first label is the namespace.
type ObjectGauge struct {
	vec    *prometheus.GaugeVec
	mu     sync.Mutex
	labels map[[2]string][]string
}

// NewObjectGauge keeps vec's series per object.
func NewObjectGauge(vec *prometheus.GaugeVec) *ObjectGauge { return &ObjectGauge{vec: vec} }

// Set sets the object's series, labelled namespace then rest, to v.
func (g *ObjectGauge) Set(namespace, name string, v float64, rest ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.labels == nil {
		g.labels = map[[2]string][]string{}
	}
	lv := append([]string{namespace}, rest...)
	k := [2]string{namespace, name}
	if old, ok := g.labels[k]; ok && !slices.Equal(old, lv) {
		g.vec.DeleteLabelValues(old...)
	}
	g.labels[k] = lv
	g.vec.WithLabelValues(lv...).Set(v)
}

// SetTime sets the object's series to t as Unix seconds, or removes it when t is zero.
func (g *ObjectGauge) SetTime(namespace, name string, t time.Time, rest ...string) {
	if t.IsZero() {
		g.Delete(namespace, name)
		return
	}
	g.Set(namespace, name, float64(t.Unix()), rest...)
}

// Delete removes the object's series (deleted, or no longer in the state counted).
func (g *ObjectGauge) Delete(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{namespace, name}
	if old, ok := g.labels[k]; ok {
		g.vec.DeleteLabelValues(old...)
		delete(g.labels, k)
	}
}

// The trackers the reconcilers use, keyed by the object they read.
var (
	// Schedules: BackupSchedule → BackupScheduleInfo{schedule, database}.
	Schedules = NewObjectGauge(BackupScheduleInfo)
	// ReleasePhases: Release → ReleasePhase{release, phase}.
	ReleasePhases = NewObjectGauge(ReleasePhase)
	// ReleaseDeadlines: Release → ReleaseDeployDeadline{release}.
	ReleaseDeadlines = NewObjectGauge(ReleaseDeployDeadline)
	// NextRotations: SecretRotation → SecretNextRotation{secret}.
	NextRotations = NewObjectGauge(SecretNextRotation)
	// ResponseDeadlines: Incident → IncidentResponseDeadline{incident, severity}.
	ResponseDeadlines = NewObjectGauge(IncidentResponseDeadline)
)
