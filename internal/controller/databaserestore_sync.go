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
	"path"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/dblock"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/reconcile"
)

// reconcilePending waits until the source is Completed, the workloads exist and the
// database lock is free, then records the workloads' replica counts and persists
// them, with the phase Quiescing (which holds the lock), before anything is scaled.
// A failed source is refused: Failed, with nothing touched.
//
// Conditions: Ready=False, Reconciling=True (WaitingForSource, WaitingForWorkloads,
// WaitingForDatabaseLock or Quiescing), Restored=Unknown; Stalled=True when refused.
func (r *DatabaseRestoreReconciler) reconcilePending(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, p *reconcile.StatusPatch) (ctrl.Result, error) {
	obj, err := r.resolveSource(ctx, rs)
	if w, ok := reconcile.AsWaiting(err); ok {
		return r.wait(rs, w.Reason, w.Message), nil
	}
	if err != nil {
		return ctrl.Result{}, err // a failed source stops the restore (stalled)
	}
	workloads, msg, err := r.resolveWorkloads(ctx, rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if msg != "" {
		return r.wait(rs, opsv1alpha1.ReasonWaitingForWorkloads, msg), nil
	}
	claim, err := dblock.Claim(ctx, r.Client, r.APIReader, dblock.FromRestore(rs), rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !claim.Granted {
		res := r.wait(rs, opsv1alpha1.ReasonWaitingForLock, claim.Message)
		if claim.Recheck > 0 { // lost the Lease race: the holder's status may not wake us
			res.RequeueAfter = claim.Recheck
		}
		return res, nil
	}

	start := metav1.NewTime(r.Clock.Now().UTC().Truncate(time.Second))
	rs.Status.Phase = opsv1alpha1.RestorePhaseQuiescing
	rs.Status.StartTime = &start
	rs.Status.SourceLocation = obj.Location()
	rs.Status.QuiescedWorkloads = workloads
	msg = fmt.Sprintf("Restoring %s into database Secret %s: stopping %s first", obj.Location(), rs.Spec.Database.SecretRef.Name, workloadCounts(workloads, ""))
	if len(workloads) == 0 {
		msg = fmt.Sprintf("Restoring %s into database Secret %s; spec.quiesce names no workloads to stop", obj.Location(), rs.Spec.Database.SecretRef.Name)
	}
	conditions.MarkReconciling(rs, opsv1alpha1.ReasonQuiescing, msg)
	conditions.Set(rs, opsv1alpha1.ConditionQuiesced, metav1.ConditionUnknown, opsv1alpha1.ReasonQuiescing, msg)
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionUnknown, opsv1alpha1.ReasonPending,
		"The restore Job starts once the workloads' pods are gone")
	// Persist the recorded replica counts (and the lock) before anything is scaled: a
	// restarted manager gives back these counts and never records zero as original.
	if err := p.Patch(ctx, rs); err != nil {
		return ctrl.Result{}, err
	}
	r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonQuiescing, "Quiesce", msg)
	return r.reconcileQuiescing(ctx, rs)
}

// wait keeps the restore Pending with the reason and message, and an event when the
// message changes. Watches wake it; the requeue is a safety net.
func (r *DatabaseRestoreReconciler) wait(rs *opsv1alpha1.DatabaseRestore, reason, msg string) ctrl.Result {
	prev := conditions.Get(rs, opsv1alpha1.ConditionReconciling)
	rs.Status.Phase = opsv1alpha1.RestorePhasePending
	conditions.MarkReconciling(rs, reason, msg)
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionUnknown, reason, msg)
	if prev == nil || prev.Message != msg {
		r.event(rs, corev1.EventTypeNormal, reason, "Wait", msg)
	}
	return ctrl.Result{RequeueAfter: waitingRecheck}
}

// resolveSource finds the dump to restore. Errors: a *reconcile.Waiting
// (WaitingForSource) when the backup is missing or unfinished, a *reconcile.Stalling
// (SourceFailed) when it failed (or its dump is being deleted).
func (r *DatabaseRestoreReconciler) resolveSource(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (jobs.RestoreObject, error) {
	if s := rs.Spec.Source.S3; s != nil {
		key := s.Key
		if s.Prefix != "" {
			key = path.Join(s.Prefix, s.Key)
		}
		return jobs.RestoreObject{S3: s.S3Location, Key: key, SHA256: s.SHA256}, nil
	}
	name := rs.Spec.Source.BackupRef.Name
	b := &opsv1alpha1.DatabaseBackup{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: name}, b); err != nil {
		if apierrors.IsNotFound(err) {
			return jobs.RestoreObject{}, reconcile.Wait(opsv1alpha1.ReasonWaitingForSource, waitingRecheck,
				"DatabaseBackup %s does not exist (yet); the restore starts when it is Completed. Nothing was stopped", name)
		}
		return jobs.RestoreObject{}, err
	}
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		if !b.DeletionTimestamp.IsZero() && b.Spec.DeletionPolicy == opsv1alpha1.DeletionPolicyDelete {
			return jobs.RestoreObject{}, reconcile.Stall(opsv1alpha1.ReasonSourceFailed,
				"DatabaseBackup %s is being deleted with deletionPolicy Delete, so its dump is going away: nothing was restored. Restore another backup with a new DatabaseRestore", name)
		}
		return jobs.RestoreObject{S3: b.Spec.Destination.S3, Key: b.Status.Key, SHA256: b.Status.SHA256}, nil
	case opsv1alpha1.BackupPhaseFailed:
		why := ""
		if c := conditions.Get(b, opsv1alpha1.ConditionReady); c != nil && c.Message != "" {
			why = " (" + strings.TrimSuffix(c.Message, ".") + ")"
		}
		return jobs.RestoreObject{}, reconcile.Stall(opsv1alpha1.ReasonSourceFailed,
			"DatabaseBackup %s failed%s, so there is no dump to restore: nothing was stopped or restored. Create a new DatabaseRestore from another backup", name, why)
	}
	phase := b.Status.Phase
	if phase == "" {
		phase = opsv1alpha1.BackupPhasePending
	}
	return jobs.RestoreObject{}, reconcile.Wait(opsv1alpha1.ReasonWaitingForSource, waitingRecheck,
		"DatabaseBackup %s is %s; the restore starts when it is Completed. Nothing was stopped", name, phase)
}

// reconcileQuiescing annotates the Release, scales every recorded workload to zero and
// waits until their pods are gone.
//
// Conditions: Quiesced (Unknown while pods remain, True when they are gone).
func (r *DatabaseRestoreReconciler) reconcileQuiescing(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (ctrl.Result, error) {
	if len(rs.Status.QuiescedWorkloads) == 0 {
		conditions.Set(rs, opsv1alpha1.ConditionQuiesced, metav1.ConditionTrue, opsv1alpha1.ReasonNothingToQuiesce,
			"Nothing to quiesce: spec.quiesce names no workloads")
		return r.startRestoring(ctx, rs)
	}
	if err := r.markRelease(ctx, rs, true); err != nil {
		return ctrl.Result{}, err
	}
	running, err := r.scaleDown(ctx, rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if running != "" {
		msg := "Waiting for the pods of the quiesced workloads to stop: " + running
		conditions.Set(rs, opsv1alpha1.ConditionQuiesced, metav1.ConditionUnknown, opsv1alpha1.ReasonQuiescing, msg)
		conditions.MarkReconciling(rs, opsv1alpha1.ReasonQuiescing, msg)
		return ctrl.Result{RequeueAfter: podsGonePoll}, nil
	}
	msg := fmt.Sprintf("Scaled %s to zero replicas; their pods are gone", workloadNames(rs.Status.QuiescedWorkloads))
	conditions.Set(rs, opsv1alpha1.ConditionQuiesced, metav1.ConditionTrue, opsv1alpha1.ReasonQuiesced, msg)
	r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonQuiesced, "Quiesce", msg)
	return r.startRestoring(ctx, rs)
}

func (r *DatabaseRestoreReconciler) startRestoring(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (ctrl.Result, error) {
	rs.Status.Phase = opsv1alpha1.RestorePhaseRestoring
	msg := fmt.Sprintf("Restoring %s into database Secret %s (%s)", rs.Status.SourceLocation, rs.Spec.Database.SecretRef.Name, modeSummary(rs))
	conditions.MarkReconciling(rs, opsv1alpha1.ReasonRestoring, msg)
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionUnknown, opsv1alpha1.ReasonRestoring, msg)
	r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonRestoring, "Restore", msg)
	return r.reconcileRestoring(ctx, rs)
}

// reconcileRestoring keeps the workloads at zero, creates the restore Job if absent
// (adopting the one a previous manager created), and records the agent's result.
//
// Conditions: Restored (True/False), Ready, Reconciling.
func (r *DatabaseRestoreReconciler) reconcileRestoring(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (ctrl.Result, error) {
	if scaled, err := r.holdAtZero(ctx, rs); err != nil {
		return ctrl.Result{}, err
	} else if len(scaled) > 0 {
		r.event(rs, corev1.EventTypeWarning, opsv1alpha1.ReasonScaledUpDuringRestore, "Quiesce", fmt.Sprintf(
			"%s was scaled up while the restore ran and was scaled to zero again; it gets its recorded count back after the restore",
			strings.Join(scaled, ", ")))
	}
	step := r.jobStep(rs)
	job, err := r.ensureRestoreJob(ctx, rs, step)
	if err != nil {
		return ctrl.Result{}, err // a stop fails the restore (stalled)
	}
	running := fmt.Sprintf("Job %s is restoring %s into database Secret %s (%s)", job.Name, rs.Status.SourceLocation, rs.Spec.Database.SecretRef.Name, modeSummary(rs))
	if rs.Status.JobName == "" {
		rs.Status.JobName = job.Name
		conditions.MarkReconciling(rs, opsv1alpha1.ReasonJobRunning, running)
		conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionUnknown, opsv1alpha1.ReasonJobRunning, running)
	}

	end, err := step.Wait(ctx, job, r.Progress.follow(rs, &rs.Status.Progress, r.Clock.Now(), running))
	if err != nil {
		return ctrl.Result{}, err // a failed Job (or one whose result is an error) fails the restore
	}
	res, resErr := jobstep.AgentResult(end.Term)
	if resErr == nil {
		rs.Status.RestoredDatabase = res.Database
		rs.Status.PreviousDatabase = res.PreviousDatabase
		rs.Status.TablesRestored = int64(res.Tables)
		rs.Status.RowsRestored = res.Rows
	}
	msg := restoredMessage(rs, job, resErr)
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
	r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Restore", msg)
	// Resuming is written first (with the agent's result) so that a watcher sees the
	// phase and a crash while scaling back loses nothing; the status write wakes us.
	r.startResuming(rs, "The restore succeeded; scaling the workloads back")
	return ctrl.Result{}, nil
}

// ensureRestoreJob returns the restore Job, creating it when absent (the shared Job
// step, internal/jobstep). A Job deleted before it finished (it is never created
// twice) or a source no longer usable stops the restore (*reconcile.Stalling).
func (r *DatabaseRestoreReconciler) ensureRestoreJob(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, step jobstep.Step) (*batchv1.Job, error) {
	key := client.ObjectKey{Namespace: rs.Namespace, Name: jobs.RestoreJobName(rs)}
	job, err := step.EnsureBuilt(ctx, key, func(ctx context.Context) (*batchv1.Job, error) {
		obj, serr := r.resolveSource(ctx, rs)
		if _, ok := reconcile.AsWaiting(serr); ok {
			return nil, reconcile.Stall(opsv1alpha1.ReasonSourceFailed, "The source can no longer be restored: %s", serr.Error())
		}
		if st, ok := reconcile.AsStalling(serr); ok {
			return nil, reconcile.Stall(opsv1alpha1.ReasonSourceFailed, "The source can no longer be restored: %s", st.Message)
		}
		if serr != nil {
			return nil, serr
		}
		return jobs.Restore(rs, obj, r.Agent), nil
	}, rs.Status.JobName != "")
	if cf, ok := reconcile.AsCreateFailed(err); ok {
		cf.What = "restore Job " + key.Name
	}
	return job, err
}

// jobStep is the shared Job step (internal/jobstep) for the restore Job, with what a
// restore stopped part-way may have left behind in its failures.
func (r *DatabaseRestoreReconciler) jobStep(rs *opsv1alpha1.DatabaseRestore) jobstep.Step {
	name := jobs.RestoreJobName(rs)
	advice := ". " + partialAdvice(rs)
	return jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: rs, Title: "Restore Job " + name, Kind: "DatabaseRestore",
		Deleted: fmt.Sprintf("Restore Job %s was deleted before it finished, so whether the database was restored is unknown; it is not run again. %s",
			name, partialAdvice(rs)),
		Container: jobs.ContainerName, Report: jobstep.AgentReport, Limit: "spec.timeout", Timeout: jobs.DefaultRestoreTimeout,
		OnTimeout: advice + ". Raise spec.timeout in a new DatabaseRestore", OnFailure: advice}
}

// stalled records a stop (reconcile.Apply's OnStall): once the restore Job may have
// run, the workloads are resumed (restoreFailed); before, the restore ends Failed.
func (r *DatabaseRestoreReconciler) stalled(rs *opsv1alpha1.DatabaseRestore, reason, msg string) {
	if rs.Status.Phase == opsv1alpha1.RestorePhaseRestoring {
		r.restoreFailed(rs, reason, msg)
		return
	}
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionFalse, reason, msg)
	r.finish(rs, false, reason, msg)
}

// restoreFailed records the failed restore, then resumes the workloads, or keeps them
// stopped when the spec asks to (the restore ends Failed at once).
func (r *DatabaseRestoreReconciler) restoreFailed(rs *opsv1alpha1.DatabaseRestore, reason, msg string) {
	conditions.Set(rs, opsv1alpha1.ConditionRestored, metav1.ConditionFalse, reason, msg)
	r.event(rs, corev1.EventTypeWarning, reason, "Restore", msg)
	if q := rs.Spec.Quiesce; q != nil && q.KeepStoppedOnFailure && len(rs.Status.QuiescedWorkloads) > 0 {
		kept := fmt.Sprintf("The workloads are kept at zero replicas (spec.quiesce.keepStoppedOnFailure): delete this DatabaseRestore to scale them back to %s, or scale them by hand",
			workloadCounts(rs.Status.QuiescedWorkloads, ""))
		conditions.Set(rs, opsv1alpha1.ConditionResumed, metav1.ConditionFalse, opsv1alpha1.ReasonKeptStopped, kept)
		r.finish(rs, false, reason, msg+". "+kept)
		return
	}
	r.startResuming(rs, "The restore failed; scaling the workloads back")
}

func (r *DatabaseRestoreReconciler) startResuming(rs *opsv1alpha1.DatabaseRestore, why string) {
	rs.Status.Phase = opsv1alpha1.RestorePhaseResuming
	msg := fmt.Sprintf("%s to %s", why, workloadCounts(rs.Status.QuiescedWorkloads, "their counts (none were stopped)"))
	conditions.MarkReconciling(rs, opsv1alpha1.ReasonResuming, msg)
	if len(rs.Status.QuiescedWorkloads) > 0 {
		conditions.Set(rs, opsv1alpha1.ConditionResumed, metav1.ConditionUnknown, opsv1alpha1.ReasonResuming, msg)
		r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonResuming, "Resume", msg)
	}
}

// reconcileResuming scales every workload back to its recorded count, removes the
// Release annotation, and ends the restore Completed or Failed (from Restored).
//
// Conditions: Resumed=True; Ready, Reconciling, Stalled.
func (r *DatabaseRestoreReconciler) reconcileResuming(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (ctrl.Result, error) {
	msg, err := r.resume(ctx, rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	reason := opsv1alpha1.ReasonResumed
	if len(rs.Status.QuiescedWorkloads) == 0 {
		reason = opsv1alpha1.ReasonNothingToQuiesce
	} else {
		r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonResumed, "Resume", msg)
	}
	conditions.Set(rs, opsv1alpha1.ConditionResumed, metav1.ConditionTrue, reason, msg)
	restored := conditions.Get(rs, opsv1alpha1.ConditionRestored)
	if restored != nil && restored.Status == metav1.ConditionTrue {
		r.finish(rs, true, opsv1alpha1.ReasonSucceeded, restored.Message+". "+msg)
		return ctrl.Result{}, nil
	}
	failReason, failMsg := opsv1alpha1.ReasonJobFailed, "The restore failed"
	if restored != nil && restored.Message != "" {
		failReason, failMsg = restored.Reason, restored.Message
	}
	r.finish(rs, false, failReason, strings.TrimSuffix(failMsg, ".")+". "+msg)
	return ctrl.Result{}, nil
}

// finish ends the restore Completed (Ready) or Failed (Stalled: a person decides what
// happens next), once, with the completion time, an event and the metrics. Its event
// has the action Finish: the recorder folds an event into an earlier one of the same
// object version with the same type, reason and action, whatever its note, and the
// Succeeded event of the restore Job comes in the same reconcile.
func (r *DatabaseRestoreReconciler) finish(rs *opsv1alpha1.DatabaseRestore, succeeded bool, reason, msg string) {
	now := metav1.NewTime(r.Clock.Now())
	rs.Status.CompletionTime = &now
	var took time.Duration
	if rs.Status.StartTime != nil {
		took = now.Sub(rs.Status.StartTime.Time)
	}
	metrics.RecordRestore(rs.Namespace, rs.Spec.Database.SecretRef.Name, succeeded, took)
	if succeeded {
		rs.Status.Phase = opsv1alpha1.RestorePhaseCompleted
		conditions.MarkReady(rs, reason, msg)
		r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Finish", "Completed: "+msg)
		return
	}
	rs.Status.Phase = opsv1alpha1.RestorePhaseFailed
	conditions.MarkStalled(rs, reason, msg)
	r.event(rs, corev1.EventTypeWarning, opsv1alpha1.ReasonFailed, "Finish", "Failed: "+msg)
}
