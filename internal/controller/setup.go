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

// Package controller holds one reconciler per kind of ops.runbook.dev/v1alpha1, and
// the explicit list of them the manager runs (Reconcilers). What they share lives in
// packages of its own: internal/reconcile (typed outcomes, Apply, the status patch),
// internal/jobstep (running a Job to its end), internal/dblock (the database lock),
// internal/clock, internal/progress.
package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"runbook-operator/internal/clock"
	"runbook-operator/internal/healthcheck"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
)

// The Alertmanager webhook receiver (internal/alertreceiver, started by cmd/manager)
// creates Incidents and records alerts in their status; it reads its token with a
// get of one Secret (secrets get is the Incident controller's already).
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents,verbs=create;get
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents/status,verbs=get;update

// Config is what the manager gives every reconciler: its flags, and what tests replace.
type Config struct {
	// AgentImage is the image of Jobs that run cmd/agent (backup, restore, verify, delete).
	AgentImage string
	// AgentServiceAccount is the ServiceAccount of agent Jobs (for IRSA); empty means default.
	AgentServiceAccount string

	// ProgressInterval is how often the status.progress of a running backup or
	// restore is refreshed from its pod's log (0: DefaultProgressInterval).
	ProgressInterval time.Duration
	// ProgressStallAfter: a progress that has not moved for longer is said so in
	// the Reconciling message (0: DefaultProgressStallAfter).
	ProgressStallAfter time.Duration
	// ProgressLogs reads the agent's log (nil: pods/log through the API server).
	ProgressLogs jobstep.JobLogs

	// Clock is every reconciler's clock (nil: the wall clock).
	Clock clock.Clock
	// Checker makes Releases' verification checks (nil: healthcheck.HTTP). The
	// release benchmark wraps the HTTP checker with one that times every check.
	Checker healthcheck.Checker
	// PodAddress gives the host:port a Release's pod port is reached at (nil: the pod IP).
	PodAddress func(pod *corev1.Pod, port int32) (string, error)
	// IncidentTimeZone is the IANA zone a P3 Incident's next business day is counted
	// in when its spec.responseClock.timeZone is empty ("": UTC).
	IncidentTimeZone string
	// IncidentConcurrency is how many Incidents are reconciled at once (0:
	// DefaultIncidentConcurrency).
	IncidentConcurrency int
}

// IncidentZone loads cfg.IncidentTimeZone ("" and "UTC": UTC). "Local" is refused:
// the manager's own zone would differ between pods.
func (cfg Config) IncidentZone() (*time.Location, error) {
	switch cfg.IncidentTimeZone {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("incident time zone: Local is the manager's own zone, not an IANA name; give one such as Europe/Berlin or UTC")
	}
	loc, err := time.LoadLocation(cfg.IncidentTimeZone)
	if err != nil {
		return nil, fmt.Errorf("incident time zone %q is not in the manager's time zone database: give an IANA name such as Europe/Berlin or UTC", cfg.IncidentTimeZone)
	}
	return loc, nil
}

// Reconcilers is every reconciler the manager runs, each built from the Config. A
// test may replace a field of one (e.g. its Clock) before SetupWithManager.
type Reconcilers struct {
	Release  *ReleaseReconciler
	Backup   *DatabaseBackupReconciler
	Restore  *DatabaseRestoreReconciler
	Schedule *BackupScheduleReconciler
	Rotation *SecretRotationReconciler
	Incident *IncidentReconciler
}

// NewReconcilers builds every reconciler for mgr from cfg.
func NewReconcilers(mgr ctrl.Manager, cfg Config) (*Reconcilers, error) {
	prog, err := newProgressRefresher(mgr, cfg)
	if err != nil {
		return nil, err
	}
	clk := clock.Or(cfg.Clock)
	zone, err := cfg.IncidentZone()
	if err != nil {
		return nil, err
	}
	agent := jobs.Agent{Image: cfg.AgentImage, ServiceAccount: cfg.AgentServiceAccount,
		ProgressInterval: agentProgressInterval(cfg.ProgressInterval)}
	rs := &Reconcilers{
		Release: &ReleaseReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("release-controller"), Checker: cfg.Checker, PodAddress: cfg.PodAddress, Clock: clk,
			Logs: incidentPodLogs(mgr)},
		Backup: &DatabaseBackupReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("databasebackup-controller"), Agent: agent, Progress: prog, Clock: clk},
		Restore: &DatabaseRestoreReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("databaserestore-controller"), Agent: agent, Progress: prog, Clock: clk},
		Schedule: &BackupScheduleReconciler{Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorder("backupschedule-controller"), Clock: clk},
		Rotation: &SecretRotationReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("secretrotation-controller"), Clock: clk},
		Incident: &IncidentReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("incident-controller"), Clock: clk, Logs: incidentPodLogs(mgr), Agent: agent, Zone: zone,
			Concurrency: cfg.IncidentConcurrency},
	}
	if rs.Release.Checker == nil {
		rs.Release.Checker = healthcheck.HTTP{}
	}
	if rs.Release.PodAddress == nil {
		rs.Release.PodAddress = defaultPodAddress
	}
	return rs, nil
}

// SetupWithManager registers every reconciler with the manager.
func (rs *Reconcilers) SetupWithManager(mgr ctrl.Manager) error {
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		rs.Schedule, rs.Backup, rs.Restore, rs.Release, rs.Rotation, rs.Incident,
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}

// SetupWithManager builds every reconciler from cfg and registers it with the manager.
func SetupWithManager(mgr ctrl.Manager, cfg Config) error {
	rs, err := NewReconcilers(mgr, cfg)
	if err != nil {
		return err
	}
	return rs.SetupWithManager(mgr)
}
