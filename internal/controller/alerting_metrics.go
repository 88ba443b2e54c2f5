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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/release"
)

// The per-object gauges the shipped alerts read (config/prometheus), set from the
// object as the reconciler leaves it and removed when it is deleted.

// observeScheduleMetrics: an unsuspended schedule expects backups of its database.
func observeScheduleMetrics(s *opsv1alpha1.BackupSchedule) {
	if s.Spec.Suspend {
		metrics.Schedules.Delete(s.Namespace, s.Name)
		return
	}
	metrics.Schedules.Set(s.Namespace, s.Name, 1, s.Name, s.Spec.Template.Spec.Database.SecretRef.Name)
}

// observeReleaseMetrics: the phase, and when a rollout in progress should be Deployed.
// The rollback counters start at 0, so that the first rollback is an increase.
func observeReleaseMetrics(rel *opsv1alpha1.Release) {
	for _, step := range []string{"canary", "rollout", "verify"} {
		metrics.Rollbacks.WithLabelValues(rel.Namespace, rel.Name, step).Add(0)
	}
	if rel.Status.Phase != "" {
		metrics.ReleasePhases.Set(rel.Namespace, rel.Name, 1, rel.Name, string(rel.Status.Phase))
	}
	metrics.ReleaseDeadlines.SetTime(rel.Namespace, rel.Name, releaseDeployDeadline(rel), rel.Name)
}

// releaseDeployDeadline is rollout start + progressDeadline + window while a rollout
// is in progress, canary start + progressDeadline + canary window while a canary
// runs, zero otherwise.
func releaseDeployDeadline(rel *opsv1alpha1.Release) time.Time {
	p := rel.Status.Progress
	if c := release.CanaryRunning(&rel.Spec, &rel.Status); c != nil && c.StartTime != nil {
		return c.StartTime.Add(release.ProgressDeadline(rel.Spec.Verify) + rel.Spec.Canary.WindowOrDefault())
	}
	if p == nil || p.RolloutStartTime == nil || rel.Status.Phase == opsv1alpha1.ReleasePhaseDeployed {
		return time.Time{}
	}
	return p.RolloutStartTime.Add(release.ProgressDeadline(rel.Spec.Verify) + release.Window(rel.Spec.Verify))
}

// observeRestoreMetrics starts an unfinished restore's outcome counters at 0, so that
// its failure is an increase (a series first seen at 1 shows no increase()).
func observeRestoreMetrics(rs *opsv1alpha1.DatabaseRestore) {
	for _, outcome := range []string{"succeeded", "failed"} {
		metrics.Restores.WithLabelValues(rs.Namespace, rs.Spec.Database.SecretRef.Name, outcome).Add(0)
	}
}

// observeRotationMetrics: when the next scheduled rotation is due (none while suspended).
func observeRotationMetrics(sr *opsv1alpha1.SecretRotation) {
	var next time.Time
	if !sr.Spec.Suspend && sr.Status.NextRotationTime != nil {
		next = sr.Status.NextRotationTime.Time
	}
	metrics.NextRotations.SetTime(sr.Namespace, sr.Name, next, sr.Spec.SecretName)
}

// observeIncidentMetrics: the response deadline of an open, unacknowledged incident.
func observeIncidentMetrics(inc *opsv1alpha1.Incident) {
	var due time.Time
	if inc.Status.AcknowledgedAt == nil && inc.Status.ResolvedAt == nil && inc.Status.ResponseDeadline != nil {
		due = inc.Status.ResponseDeadline.Time
	}
	metrics.ResponseDeadlines.SetTime(inc.Namespace, inc.Name, due, inc.Name, string(inc.Spec.Severity))
}

// forgetObjectMetrics removes a deleted object's series from the gauges given.
func forgetObjectMetrics(req ctrl.Request, err error, gauges ...*metrics.ObjectGauge) {
	if apierrors.IsNotFound(err) {
		for _, g := range gauges {
			g.Delete(req.Namespace, req.Name)
		}
	}
}
