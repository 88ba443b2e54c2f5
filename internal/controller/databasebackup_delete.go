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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/reconcile"
)

// reconcileDelete runs when the DatabaseBackup is being deleted. With deletionPolicy
// Delete and a dump that may exist, a running backup Job is stopped first, then a
// delete Job removes the dump and its manifest; the finalizer goes when it succeeds.
// A failed delete keeps the finalizer and says why. Otherwise the finalizer just goes.
//
// Conditions: Deleted (Unknown while deleting, False when the delete failed).
func (r *DatabaseBackupReconciler) reconcileDelete(ctx context.Context, b *opsv1alpha1.DatabaseBackup) (res ctrl.Result, retErr error) {
	if !controllerutil.ContainsFinalizer(b, opsv1alpha1.FinalizerBackupObjects) {
		return ctrl.Result{}, nil
	}
	if b.Spec.DeletionPolicy != opsv1alpha1.DeletionPolicyDelete || !mayHaveObject(b) {
		if b.Spec.DeletionPolicy != opsv1alpha1.DeletionPolicyDelete && b.Status.Location != "" {
			r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonRetained, "Delete",
				fmt.Sprintf("deletionPolicy is Retain: %s and its manifest are kept", b.Status.Location))
		}
		return reconcile.ConflictRequeue(r.dropFinalizer(ctx, b))
	}

	p := reconcile.NewStatusPatch(r.Client, b)
	defer p.Finish(ctx, b, &res, &retErr)

	// A backup still running could finish its upload after the delete: stop it first.
	if b.Status.Phase == opsv1alpha1.BackupPhaseRunning {
		running := &batchv1.Job{}
		err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: jobs.BackupJobName(b)}, running)
		if err == nil {
			conditions.Set(b, opsv1alpha1.ConditionDeleted, metav1.ConditionUnknown, opsv1alpha1.ReasonDeleting,
				fmt.Sprintf("Stopping backup Job %s before deleting %s", running.Name, s3URL(b)))
			if running.DeletionTimestamp.IsZero() {
				err = r.Delete(ctx, running, client.PropagationPolicy(metav1.DeletePropagationForeground))
			}
			return ctrl.Result{}, client.IgnoreNotFound(err) // the Job's deletion wakes us
		}
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
	}

	desired := jobs.Delete(b, r.Agent)
	step := r.jobStep(b, "Delete Job "+desired.Name, "")
	job, err := step.Ensure(ctx, desired, false)
	if _, ok := reconcile.AsStalling(err); ok {
		return ctrl.Result{}, nil // an unfinished Job being deleted: its removal wakes us
	}
	if err != nil {
		return reconcile.Apply(b, ctrl.Result{}, err)
	}
	end, err := step.Wait(ctx, job, nil)
	if end == nil && !jobstep.IsRunning(err) {
		return ctrl.Result{}, err
	}
	if end == nil {
		msg := fmt.Sprintf("Job %s is deleting %s and its manifest (deletionPolicy Delete)", job.Name, s3URL(b))
		if c := conditions.Get(b, opsv1alpha1.ConditionDeleted); c == nil || c.Reason != opsv1alpha1.ReasonDeleting || c.Message != msg {
			r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonDeleting, "Delete", msg)
		}
		conditions.Set(b, opsv1alpha1.ConditionDeleted, metav1.ConditionUnknown, opsv1alpha1.ReasonDeleting, msg)
		return ctrl.Result{}, nil
	}
	if err == nil {
		r.event(b, corev1.EventTypeNormal, opsv1alpha1.ReasonDeleted, "Delete",
			fmt.Sprintf("Deleted %s and its manifest from S3", s3URL(b)))
		p.Done = true
		return reconcile.ConflictRequeue(r.dropFinalizer(ctx, b))
	}
	msg := fmt.Sprintf("Could not delete %s: %s. Fix the cause and delete Job %s to retry, or set deletionPolicy: Retain to keep the objects",
		s3URL(b), err.Error(), job.Name)
	if c := conditions.Get(b, opsv1alpha1.ConditionDeleted); c == nil || c.Reason != opsv1alpha1.ReasonDeleteFailed {
		r.event(b, corev1.EventTypeWarning, opsv1alpha1.ReasonDeleteFailed, "Delete", msg)
	}
	conditions.Set(b, opsv1alpha1.ConditionDeleted, metav1.ConditionFalse, opsv1alpha1.ReasonDeleteFailed, msg)
	return ctrl.Result{}, nil
}

// mayHaveObject says whether S3 may hold this backup's dump: the upload succeeded, or
// a backup Job was started and could have finished it.
func mayHaveObject(b *opsv1alpha1.DatabaseBackup) bool {
	if b.Status.Key == "" {
		return false
	}
	if conditions.IsTrue(b, opsv1alpha1.ConditionBackupSucceeded) {
		return true
	}
	return b.Status.Phase == opsv1alpha1.BackupPhaseRunning || b.Status.Phase == opsv1alpha1.BackupPhaseVerifying
}

func (r *DatabaseBackupReconciler) dropFinalizer(ctx context.Context, b *opsv1alpha1.DatabaseBackup) error {
	before := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, opsv1alpha1.FinalizerBackupObjects)
	err := r.Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	return client.IgnoreNotFound(err)
}
