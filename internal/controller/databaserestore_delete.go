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
	"runbook-operator/internal/dblock"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/reconcile"
)

// reconcileDelete runs when the DatabaseRestore is being deleted before it resumed its
// workloads (mid-way, or failed with keepStoppedOnFailure). A restore Job still running
// is stopped first, and its pods waited for (foreground deletion): the application
// must not come back while the agent may still swap or drop the database. Then every
// workload still at zero gets its recorded count back, the Release annotation goes,
// and so does the finalizer.
func (r *DatabaseRestoreReconciler) reconcileDelete(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (res ctrl.Result, retErr error) {
	if !controllerutil.ContainsFinalizer(rs, opsv1alpha1.FinalizerRestoreWorkloads) {
		return ctrl.Result{}, nil
	}
	p := reconcile.NewStatusPatch(r.Client, rs)
	defer p.Finish(ctx, rs, &res, &retErr)

	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: jobs.RestoreJobName(rs)}, job)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, err
	case metav1.IsControlledBy(job, rs):
		if !jobstep.StateOf(job).Finished {
			msg := fmt.Sprintf("DatabaseRestore deleted before it finished: stopping restore Job %s, then scaling the workloads back", job.Name)
			if job.DeletionTimestamp.IsZero() {
				r.event(rs, corev1.EventTypeWarning, opsv1alpha1.ReasonCancelled, "Cancel", msg+". "+partialAdvice(rs))
				err = r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationForeground))
			}
			conditions.MarkReconciling(rs, opsv1alpha1.ReasonCancelled, msg)
			return ctrl.Result{}, client.IgnoreNotFound(err) // the Job's removal wakes us
		}
	}

	if !conditions.IsTrue(rs, opsv1alpha1.ConditionResumed) {
		msg, err := r.resume(ctx, rs)
		if err != nil {
			return ctrl.Result{}, err
		}
		if len(rs.Status.QuiescedWorkloads) > 0 {
			r.event(rs, corev1.EventTypeNormal, opsv1alpha1.ReasonResumed, "Resume", "DatabaseRestore deleted: "+msg)
		}
	}
	if err := dblock.Give(ctx, r.Client, r.APIReader, dblock.KindRestore, rs, rs.Spec.Database.SecretRef.Name); err != nil {
		return ctrl.Result{}, err
	}
	p.Done = true
	return reconcile.ConflictRequeue(r.setFinalizer(ctx, rs, false))
}
