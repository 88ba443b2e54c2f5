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
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// batchJob is a revision's Job and its name in messages.
type batchJob struct {
	job   *batchv1.Job
	title string
}

func (r *ReleaseReconciler) revisionJob(s *releaseScope, step, title string, command []string, timeoutSeconds int64) *batchJob {
	j := release.Job(s.rel, s.snap, s.revision, step, command, timeoutSeconds)
	return &batchJob{job: j, title: title + " " + j.Name}
}

// plan runs migrations.planCommand and records its output in status.migrationPlan
// before anything is applied.
//
// Conditions: MigrationsApplied=Unknown while planning; False (MigrationFailed) when
// the plan fails.
func (r *ReleaseReconciler) plan(ctx context.Context, s *releaseScope) (bool, error) {
	rel, m := s.rel, s.rel.Spec.Migrations
	j := r.revisionJob(s, release.StepNamePlan, "Migration plan Job", release.PlanJobCommand(m), int64(release.MigrationTimeout(m).Seconds()))
	c := &j.job.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: release.PlanOutputEnv, Value: corev1.TerminationMessagePathDefault})
	if rel.Status.Phase != opsv1alpha1.ReleasePhaseMigrating {
		rel.Status.Phase = opsv1alpha1.ReleasePhaseMigrating
		msg := "Recording the migration plan with Job " + j.job.Name
		conditions.Set(rel, opsv1alpha1.ConditionMigrationsApplied, metav1.ConditionUnknown, opsv1alpha1.ReasonMigrating, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonMigrating, msg)
	}
	done, term, err := r.runJob(ctx, s, j, false)
	if st, ok := reconcile.AsStalling(err); ok {
		r.failRevision(s, opsv1alpha1.ConditionMigrationsApplied, opsv1alpha1.ReasonMigrationFailed, st.Message+"; nothing was migrated or rolled out")
		return false, nil
	}
	if !done {
		return false, err
	}
	plan := ""
	if term != nil {
		plan = term.Message
		rel.Status.MigrationPlan = truncate.String(plan, 4096)
	}
	if release.ChecksSQL(m) {
		// Recorded with the plan, in the same status write: the guard's decision is
		// taken before anything is migrated, and a restart finds it.
		if err := r.guardMigrations(ctx, s, j.job, plan); err != nil {
			return false, err
		}
	}
	rel.Status.Progress.Planned = true
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonMigrating, "Plan",
		fmt.Sprintf("Migration plan recorded: %d migrations to apply", len(release.AppliedMigrations(rel.Status.MigrationPlan))))
	return true, nil
}

// migrate runs the migration Job (backoffLimit 0, one name per revision: it never runs
// twice) and records the migrations it applied. This is the point of no return: a
// later rollback leaves them applied.
//
// Conditions: MigrationsApplied.
func (r *ReleaseReconciler) migrate(ctx context.Context, s *releaseScope) (bool, error) {
	rel, m, p := s.rel, s.rel.Spec.Migrations, s.rel.Status.Progress
	j := r.revisionJob(s, release.StepNameMigrate, "Migration Job", m.Command, int64(release.MigrationTimeout(m).Seconds()))
	created := p.MigrationJob == j.job.Name
	done, _, err := r.runJob(ctx, s, j, created)
	if !created && (err == nil || isWaitingForJob(err)) {
		// Recorded once the Job exists: a Job missing later was deleted, not never made.
		p.MigrationJob = j.job.Name
		rel.Status.Phase = opsv1alpha1.ReleasePhaseMigrating
		msg := "Applying migrations with Job " + j.job.Name
		conditions.Set(rel, opsv1alpha1.ConditionMigrationsApplied, metav1.ConditionUnknown, opsv1alpha1.ReasonMigrating, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonMigrating, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonMigrating, "Migrate", msg)
		r.migrateDespiteFindings(s)
	}
	if st, ok := reconcile.AsStalling(err); ok {
		r.failRevision(s, opsv1alpha1.ConditionMigrationsApplied, opsv1alpha1.ReasonMigrationFailed, st.Message+"; nothing was rolled out")
		return false, nil
	}
	if !done {
		return false, err
	}
	applied := release.AppliedMigrations(rel.Status.MigrationPlan)
	if rec := s.record(); rec != nil {
		rec.Migrated = true
		rec.AppliedMigrations = applied
	}
	msg := fmt.Sprintf("Migration Job %s succeeded", j.job.Name)
	if len(applied) > 0 {
		msg += fmt.Sprintf(": applied %d migrations (%s)", len(applied), truncate.String(joinNames(applied), 512))
	}
	conditions.Set(rel, opsv1alpha1.ConditionMigrationsApplied, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Migrate", msg)
	r.stepDone(s, "migrate")
	return true, nil
}

// preDeploy runs the next pre-deploy Job; a failure ends the revision before the rollout.
//
// Conditions: PreDeployCompleted.
func (r *ReleaseReconciler) preDeploy(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p := s.rel, s.rel.Status.Progress
	spec := &rel.Spec.PreDeploy[p.PreDeployDone]
	cmd := spec.Command
	if int(p.PreDeployDone) < len(s.snap.PreDeploy) {
		cmd = s.snap.PreDeploy[p.PreDeployDone].Command
	}
	j := r.revisionJob(s, spec.Name, "Pre-deploy Job", cmd, int64(release.PreDeployTimeout(spec).Seconds()))
	created := p.PreDeployJob == j.job.Name
	done, _, err := r.runJob(ctx, s, j, created)
	if !created && (err == nil || isWaitingForJob(err)) {
		p.PreDeployJob = j.job.Name
		rel.Status.Phase = opsv1alpha1.ReleasePhasePreDeploy
		msg := fmt.Sprintf("Running pre-deploy Job %s (%d of %d)", j.job.Name, p.PreDeployDone+1, len(rel.Spec.PreDeploy))
		conditions.Set(rel, opsv1alpha1.ConditionPreDeployCompleted, metav1.ConditionUnknown, opsv1alpha1.ReasonJobRunning, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonJobRunning, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonJobRunning, "PreDeploy", msg)
	}
	if st, ok := reconcile.AsStalling(err); ok {
		r.failRevision(s, opsv1alpha1.ConditionPreDeployCompleted, opsv1alpha1.ReasonPreDeployFailed, st.Message+"; nothing was rolled out"+
			release.KeptMessage(appliedOf(s)))
		return false, nil
	}
	if !done {
		return false, err
	}
	p.PreDeployDone++
	p.PreDeployJob = ""
	if int(p.PreDeployDone) == len(rel.Spec.PreDeploy) {
		msg := fmt.Sprintf("%d pre-deploy Jobs succeeded", p.PreDeployDone)
		conditions.Set(rel, opsv1alpha1.ConditionPreDeployCompleted, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
		r.stepDone(s, "predeploy")
	}
	return true, nil
}

// isWaitingForJob says err only waits for our Job to finish (it exists), as opposed
// to a foreign Job holding the name.
func isWaitingForJob(err error) bool { return jobstep.IsRunning(err) }

func appliedOf(s *releaseScope) []string {
	if rec := s.record(); rec != nil {
		return rec.AppliedMigrations
	}
	return nil
}

func joinNames(n []string) string {
	out := ""
	for i, x := range n {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
