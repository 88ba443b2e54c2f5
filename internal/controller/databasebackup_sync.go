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
	"cmp"
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/dblock"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/progress"
	"runbook-operator/internal/reconcile"
)

// reconcilePending takes the database lock or waits for it. Taking it records the
// phase Running, the start time and the object key in status before any Job exists,
// so a restarted manager computes nothing again.
//
// Conditions: Ready=False, Reconciling=True (WaitingForDatabaseLock or JobCreated),
// BackupSucceeded=Unknown.
func (r *DatabaseBackupReconciler) reconcilePending(ctx context.Context, b *opsv1alpha1.DatabaseBackup, p *reconcile.StatusPatch) (ctrl.Result, error) {
	claim, err := dblock.Claim(ctx, r.Client, r.APIReader, dblock.FromBackup(b), b)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !claim.Granted {
		waitMsg := claim.Message
		prev := conditions.Get(b, opsv1alpha1.ConditionReconciling)
		b.Status.Phase = opsv1alpha1.BackupPhasePending
		conditions.MarkReconciling(b, opsv1alpha1.ReasonWaitingForLock, waitMsg)
		conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionUnknown, opsv1alpha1.ReasonWaitingForLock, waitMsg)
		if prev == nil || prev.Message != waitMsg {
			r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonWaitingForLock, "Wait", waitMsg)
		}
		// Soon after a lost Lease race (the holder may not wake us), else the safety net.
		return ctrl.Result{RequeueAfter: cmp.Or(claim.Recheck, waitingRecheck)}, nil
	}

	if b.Status.Key == "" {
		start := metav1.NewTime(r.Clock.Now().UTC().Truncate(time.Second))
		b.Status.StartTime = &start
		b.Status.Key = jobs.ObjectKey(b.Spec.Destination.S3.Prefix, b.Namespace, b.Name, start.Time, b.Spec.Compression)
	}
	b.Status.Phase = opsv1alpha1.BackupPhaseRunning
	msg := fmt.Sprintf("Starting the backup of database Secret %s to %s", b.Spec.Database.SecretRef.Name, s3URL(b))
	conditions.MarkReconciling(b, opsv1alpha1.ReasonJobCreated, msg)
	conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionUnknown, opsv1alpha1.ReasonProgressing, msg)
	// Persist the lock and the key before the Job can exist.
	if err := p.Patch(ctx, b); err != nil {
		return ctrl.Result{}, err
	}
	r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonBackingUp, "Backup", msg)
	return r.reconcileRunning(ctx, b)
}

// reconcileRunning creates the backup Job if absent (adopting one a previous manager
// created), then waits for it to finish and records the agent's result.
//
// Conditions: BackupSucceeded (True/False), Ready, Reconciling, Stalled.
func (r *DatabaseBackupReconciler) reconcileRunning(ctx context.Context, b *opsv1alpha1.DatabaseBackup) (ctrl.Result, error) {
	name := jobs.BackupJobName(b)
	step := r.jobStep(b, "Backup Job "+name, fmt.Sprintf(
		"Backup Job %s was deleted before it finished, so the backup is incomplete; it is not run again. Create a new DatabaseBackup to retry", name))
	job, err := step.Ensure(ctx, jobs.Backup(b, b.Status.Key, r.Agent), b.Status.JobName != "")
	if err != nil {
		return ctrl.Result{}, err
	}
	running := fmt.Sprintf("Job %s is dumping database Secret %s to %s", job.Name, b.Spec.Database.SecretRef.Name, s3URL(b))
	if b.Status.JobName == "" {
		b.Status.JobName = job.Name
		// An adopted Job knows the key it uploads to; it wins over anything recomputed.
		if k := job.Annotations[jobs.AnnotationKey]; k != "" {
			b.Status.Key = k
		}
		conditions.MarkReconciling(b, opsv1alpha1.ReasonJobRunning, running)
		conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionUnknown, opsv1alpha1.ReasonJobRunning, running)
	}

	end, err := step.Wait(ctx, job, r.Progress.follow(b, &b.Status.Progress, r.Clock.Now(), running))
	if err != nil {
		return ctrl.Result{}, err // a failed Job (or one whose result is an error) stalls
	}
	res, resErr := jobstep.AgentResult(end.Term)

	b.Status.Location = s3URL(b)
	if resErr == nil {
		if res.Location != "" {
			b.Status.Location = res.Location
		}
		b.Status.SizeBytes = res.SizeBytes
		b.Status.SHA256 = res.SHA256
		b.Status.ServerVersion = res.ServerVersion
		b.Status.DurationSeconds = int64(res.DurationSeconds + 0.5)
	}
	msg := fmt.Sprintf("Uploaded %s to %s in %ds (sha256 %s, PostgreSQL %s)",
		progress.Human(b.Status.SizeBytes), b.Status.Location, b.Status.DurationSeconds, progress.Short(b.Status.SHA256), b.Status.ServerVersion)
	if resErr != nil {
		msg = fmt.Sprintf("Job %s succeeded and uploaded %s, but its result could not be read (%v): size and checksum are unknown",
			job.Name, b.Status.Location, resErr)
		r.event(b, corev1.EventTypeWarning, opsv1alpha1.ReasonResultUnavailable, "Backup", msg)
	}
	conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
	if b.Spec.Verify {
		b.Status.Phase = opsv1alpha1.BackupPhaseVerifying
		vmsg := "Verifying the dump: restore into a scratch database and comparison with the manifest"
		conditions.MarkReconciling(b, opsv1alpha1.ReasonVerifying, vmsg)
		conditions.Set(b, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonVerifying, vmsg)
		r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Backup", msg)
		return ctrl.Result{}, nil // the status write wakes us for the verify Job
	}
	r.complete(b, job, msg)
	return ctrl.Result{}, nil
}

// reconcileVerifying runs `agent verify` once the dump is uploaded.
//
// Conditions: Verified (True/False), Ready, Reconciling, Stalled.
func (r *DatabaseBackupReconciler) reconcileVerifying(ctx context.Context, b *opsv1alpha1.DatabaseBackup) (ctrl.Result, error) {
	created := conditions.Get(b, opsv1alpha1.ConditionVerified)
	wasCreated := created != nil && created.Reason == opsv1alpha1.ReasonJobRunning
	name := jobs.VerifyJobName(b)
	step := r.jobStep(b, "Verify Job "+name, fmt.Sprintf(
		"Verify Job %s was deleted before it finished; the dump at %s is uploaded but unverified", name, b.Status.Location))
	job, err := step.Ensure(ctx, jobs.Verify(b, r.Agent), wasCreated)
	if err != nil {
		return ctrl.Result{}, err // a stop fails Verified too (stalled)
	}
	if !wasCreated {
		msg := fmt.Sprintf("Job %s is restoring %s into a scratch database to verify it", job.Name, b.Status.Location)
		conditions.Set(b, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonJobRunning, msg)
		conditions.MarkReconciling(b, opsv1alpha1.ReasonVerifying, msg)
	}
	end, err := step.Wait(ctx, job, nil)
	if end == nil {
		return ctrl.Result{}, err
	}
	res, resErr := jobstep.AgentResult(end.Term)
	if err == nil {
		msg := fmt.Sprintf("Restored %s into a scratch database: %d tables, %d rows, matching the manifest", b.Status.Location, res.Tables, res.Rows)
		if resErr != nil {
			msg = fmt.Sprintf("Verify Job %s succeeded (its result could not be read: %v)", job.Name, resErr)
		}
		conditions.Set(b, opsv1alpha1.ConditionVerified, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
		r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Verify", msg)
		r.complete(b, job, "Backup uploaded and verified: "+msg)
		return ctrl.Result{}, nil
	}
	detail := err.Error()
	if len(res.Problems) > 0 {
		detail = fmt.Sprintf("%s; problems: %v", detail, res.Problems)
	}
	return ctrl.Result{}, reconcile.Stall(opsv1alpha1.ReasonVerifyFailed, "The dump at %s is uploaded but failed verification: %s", b.Status.Location, detail)
}

// complete ends the backup Completed.
func (r *DatabaseBackupReconciler) complete(b *opsv1alpha1.DatabaseBackup, job *batchv1.Job, msg string) {
	now := metav1.NewTime(r.Clock.Now())
	if job.Status.CompletionTime != nil {
		now = *job.Status.CompletionTime
	}
	b.Status.Phase = opsv1alpha1.BackupPhaseCompleted
	b.Status.CompletionTime = &now
	conditions.MarkReady(b, opsv1alpha1.ReasonSucceeded, msg)
	db := b.Spec.Database.SecretRef.Name
	metrics.RecordTransition(b.Namespace, db, true, time.Duration(b.Status.DurationSeconds)*time.Second)
	observeFinished(b)
	r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Backup", msg)
}

// stalled records a stop (reconcile.Apply's OnStall): a stop while verifying fails
// Verified, and any stop fails the backup.
func (r *DatabaseBackupReconciler) stalled(b *opsv1alpha1.DatabaseBackup, reason, msg string) {
	if b.Status.Phase == opsv1alpha1.BackupPhaseVerifying {
		conditions.Set(b, opsv1alpha1.ConditionVerified, metav1.ConditionFalse, reason, msg)
	}
	r.fail(b, reason, msg)
}

// fail ends the backup Failed and Stalled: a person decides what happens next.
func (r *DatabaseBackupReconciler) fail(b *opsv1alpha1.DatabaseBackup, reason, msg string) {
	now := metav1.NewTime(r.Clock.Now())
	b.Status.Phase = opsv1alpha1.BackupPhaseFailed
	b.Status.CompletionTime = &now
	if c := conditions.Get(b, opsv1alpha1.ConditionBackupSucceeded); c == nil || c.Status != metav1.ConditionTrue {
		conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionFalse, reason, msg)
	}
	conditions.MarkStalled(b, reason, msg)
	metrics.RecordTransition(b.Namespace, b.Spec.Database.SecretRef.Name, false, 0)
	observeFinished(b)
	r.event(b, corev1.EventTypeWarning, reason, "Backup", msg)
}

// observeFinished feeds a finished backup to the per-database gauges.
func observeFinished(b *opsv1alpha1.DatabaseBackup) {
	if b.Status.CompletionTime == nil {
		return
	}
	db := b.Spec.Database.SecretRef.Name
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		metrics.Default.ObserveSuccess(b.Namespace, db, b.Status.CompletionTime.Time, b.Status.SizeBytes)
	case opsv1alpha1.BackupPhaseFailed:
		metrics.Default.ObserveFailure(b.Namespace, db, b.Status.CompletionTime.Time)
	}
}

// jobStep is the shared Job step (internal/jobstep) for one of the backup's agent
// Jobs; deleted says what a Job deleted before it finished means.
func (r *DatabaseBackupReconciler) jobStep(b *opsv1alpha1.DatabaseBackup, title, deleted string) jobstep.Step {
	timeout := jobs.DefaultBackupTimeout
	if b.Spec.Timeout != nil {
		timeout = b.Spec.Timeout.Duration
	}
	return jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: b, Title: title, Kind: "DatabaseBackup", Deleted: deleted,
		Container: jobs.ContainerName, Report: jobstep.AgentReport, Limit: "spec.timeout", Timeout: timeout,
		OnTimeout: "; nothing is kept from it. Raise spec.timeout or find what slows the dump, then create a new DatabaseBackup"}
}
