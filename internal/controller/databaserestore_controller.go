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
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/dblock"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/reconcile"
)

// podsGonePoll is how often a quiescing restore looks again for pods of its workloads
// (pods are read from the API server, not watched); Deployment status changes wake it
// sooner.
const podsGonePoll = 2 * time.Second

// DatabaseRestoreReconciler restores a dump without losing the live database:
// Pending (source Completed, workloads exist, database lock) → Quiescing (replica
// counts recorded in status, then scaled to zero, until their pods are gone) →
// Restoring (one `agent restore` Job) → Resuming (scaled back to the recorded counts)
// → Completed or Failed. A finished restore is never run again.
type DatabaseRestoreReconciler struct {
	client.Client
	// APIReader reads from the API server directly: the replica counts recorded
	// before scaling, pods of the quiesced workloads and of the restore Job (not
	// cached), and Jobs the cache has not seen yet.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Agent     jobs.Agent
	// Progress keeps status.progress of the running Job (progress.go).
	Progress progressRefresher
	Clock    clock.Clock
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databaserestores,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databaserestores/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databaserestores/finalizers,verbs=update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments/scale,verbs=patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves a DatabaseRestore one step along its phases. Every step is derived
// from status and the cluster, so a restarted manager continues where the last one
// stopped: it never records replica counts twice and never creates a second Job.
func (r *DatabaseRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	rs := &opsv1alpha1.DatabaseRestore{}
	if err := r.Get(ctx, req.NamespacedName, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !restoreFinished(rs) {
		observeRestoreMetrics(rs)
		// Scaling decisions need the latest status, not the cache's: a reconcile woken
		// by this controller's own scale-up must not see the restore still Restoring and
		// scale the workloads down again after it completed. Restores are few; this is
		// one GET per reconcile of an unfinished one.
		if err := r.APIReader.Get(ctx, req.NamespacedName, rs); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !rs.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, rs)
	}
	if restoreFinished(rs) {
		// Nothing runs again, but the generation is recorded as seen (the spec is
		// immutable today; this keeps kstatus and Argo CD truthful if that changes).
		// The finalizer stays only while workloads are kept stopped.
		p := reconcile.NewStatusPatch(r.Client, rs)
		conditions.Observe(rs)
		if err := p.Patch(ctx, rs); err != nil {
			return reconcile.ConflictRequeue(err)
		}
		if keptStopped(rs) {
			return ctrl.Result{}, nil
		}
		return reconcile.ConflictRequeue(r.setFinalizer(ctx, rs, false))
	}
	if err := r.setFinalizer(ctx, rs, true); err != nil {
		return reconcile.ConflictRequeue(err)
	}

	p := reconcile.NewStatusPatch(r.Client, rs)
	defer p.Finish(ctx, rs, &res, &retErr)
	res, err := r.reconcilePhase(ctx, rs, p)
	return reconcile.Apply(rs, res, err, reconcile.OnStall(func(reason, msg string) { r.stalled(rs, reason, msg) }))
}

// reconcilePhase takes the step of the restore's phase.
func (r *DatabaseRestoreReconciler) reconcilePhase(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, p *reconcile.StatusPatch) (ctrl.Result, error) {
	switch rs.Status.Phase {
	case "", opsv1alpha1.RestorePhasePending:
		if err := opsv1alpha1.InvalidDurations("spec", &rs.Spec); err != nil {
			// Stored before the API server bounded durations; the spec is immutable,
			// so this restore can never run. Nothing was stopped yet.
			return ctrl.Result{}, reconcile.Stall(opsv1alpha1.ReasonInvalidSpec,
				"%v; nothing was changed. Create a new DatabaseRestore with a valid spec", err)
		}
		return r.reconcilePending(ctx, rs, p)
	case opsv1alpha1.RestorePhaseQuiescing:
		return r.reconcileQuiescing(ctx, rs)
	case opsv1alpha1.RestorePhaseRestoring:
		return r.reconcileRestoring(ctx, rs)
	default:
		res, err := r.reconcileResuming(ctx, rs)
		if err == nil && restoreFinished(rs) {
			// Should the manager stop before, the next claimant takes the Lease over.
			err = dblock.Give(ctx, r.Client, r.APIReader, dblock.KindRestore, rs, rs.Spec.Database.SecretRef.Name)
		}
		return res, err
	}
}

func restoreFinished(rs *opsv1alpha1.DatabaseRestore) bool {
	return rs.Status.Phase == opsv1alpha1.RestorePhaseCompleted || rs.Status.Phase == opsv1alpha1.RestorePhaseFailed
}

// keptStopped says a failed restore left its workloads at zero
// (spec.quiesce.keepStoppedOnFailure): they come back when the restore is deleted.
func keptStopped(rs *opsv1alpha1.DatabaseRestore) bool {
	c := conditions.Get(rs, opsv1alpha1.ConditionResumed)
	return rs.Status.Phase == opsv1alpha1.RestorePhaseFailed && c != nil && c.Reason == opsv1alpha1.ReasonKeptStopped
}

// holdsWorkloads says rs holds its recorded workloads at zero (or is about to).
func holdsWorkloads(rs *opsv1alpha1.DatabaseRestore) bool {
	return dblock.RestoreState(rs) == dblock.Active || keptStopped(rs) ||
		!rs.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(rs, opsv1alpha1.FinalizerRestoreWorkloads)
}

// setFinalizer adds or removes the finalizer that resumes the workloads on deletion.
func (r *DatabaseRestoreReconciler) setFinalizer(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, want bool) error {
	if want == controllerutil.ContainsFinalizer(rs, opsv1alpha1.FinalizerRestoreWorkloads) {
		return nil
	}
	before := rs.DeepCopy()
	if want {
		controllerutil.AddFinalizer(rs, opsv1alpha1.FinalizerRestoreWorkloads)
	} else {
		controllerutil.RemoveFinalizer(rs, opsv1alpha1.FinalizerRestoreWorkloads)
	}
	err := r.Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	return client.IgnoreNotFound(err)
}

// SetupWithManager registers the reconciler: it owns its Job, and wakes restores
// waiting for a source backup, the database lock or a workload, and restores whose
// quiesced Deployments change.
func (r *DatabaseRestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.DatabaseRestore{}).
		Owns(&batchv1.Job{}).
		Watches(&opsv1alpha1.DatabaseBackup{}, handler.EnqueueRequestsFromMapFunc(r.pendingRestores)).
		Watches(&opsv1alpha1.DatabaseRestore{}, handler.EnqueueRequestsFromMapFunc(r.pendingRestores)).
		Watches(&opsv1alpha1.Release{}, handler.EnqueueRequestsFromMapFunc(r.pendingRestores)).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.restoresOfDeployment)).
		Named("databaserestore").
		Complete(r)
}

// pendingRestores maps a backup, restore or Release to the other restores of its
// namespace that wait (for a source, the lock, or a workload): any of them may be
// what they wait for.
func (r *DatabaseRestoreReconciler) pendingRestores(ctx context.Context, o client.Object) []ctrl.Request {
	return reconcile.RequestsFor(ctx, r, &opsv1alpha1.DatabaseRestoreList{}, o.GetNamespace(), func(rs *opsv1alpha1.DatabaseRestore) bool {
		return (rs.Status.Phase == "" || rs.Status.Phase == opsv1alpha1.RestorePhasePending) &&
			(rs.Name != o.GetName() || !isRestore(o))
	})
}

// restoresOfDeployment maps a Deployment to the restores that quiesce it, or that
// wait for it to exist or to be released by another restore.
func (r *DatabaseRestoreReconciler) restoresOfDeployment(ctx context.Context, o client.Object) []ctrl.Request {
	name := o.GetName()
	return reconcile.RequestsFor(ctx, r, &opsv1alpha1.DatabaseRestoreList{}, o.GetNamespace(), func(rs *opsv1alpha1.DatabaseRestore) bool {
		if rs.Status.Phase == "" || rs.Status.Phase == opsv1alpha1.RestorePhasePending {
			q := rs.Spec.Quiesce
			return q != nil && (slices.Contains(q.Deployments, name) || q.ReleaseRef != nil && strings.HasPrefix(name, q.ReleaseRef.Name+"-"))
		}
		return holdsWorkloads(rs) && slices.ContainsFunc(rs.Status.QuiescedWorkloads, func(w opsv1alpha1.QuiescedWorkload) bool { return w.Name == name })
	})
}

func isRestore(o client.Object) bool {
	_, ok := o.(*opsv1alpha1.DatabaseRestore)
	return ok
}
