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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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

// waitingRecheck is the safety-net requeue of a backup waiting for the database lock;
// normally the holder's status change wakes it at once.
const waitingRecheck = 2 * time.Minute

// DatabaseBackupReconciler runs one backup Job per DatabaseBackup and records the
// agent's result. See the package doc of internal/jobs for the Jobs it creates.
type DatabaseBackupReconciler struct {
	client.Client
	// APIReader reads from the API server directly: pods of a finished Job (not
	// cached, to keep every pod of the cluster out of the manager's memory) and Jobs
	// the cache has not seen yet.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Agent     jobs.Agent
	// Progress keeps status.progress of the running Job (progress.go).
	Progress progressRefresher
	// Clock is the backup's clock; the start time fixes the object key.
	Clock clock.Clock
	// MaxConcurrentReconciles defaults to 4: on 2 cores the API server, not the worker count, bounds throughput (8 workers were no faster in BenchmarkThousandBackups).
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databaserestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves a DatabaseBackup through Pending → Running → (Verifying →)
// Completed or Failed. A finished backup is never run again.
func (r *DatabaseBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	b := &opsv1alpha1.DatabaseBackup{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, b)
	}
	if err := r.reconcileFinalizer(ctx, b); err != nil {
		return reconcile.ConflictRequeue(err)
	}

	p := reconcile.NewStatusPatch(r.Client, b)
	defer p.Finish(ctx, b, &res, &retErr)

	switch b.Status.Phase {
	case "", opsv1alpha1.BackupPhasePending:
		if err := opsv1alpha1.InvalidDurations("spec", &b.Spec); err != nil {
			// Stored before the API server bounded durations. Not started, so the
			// spec may still be corrected; a new generation is reconciled again.
			b.Status.Phase = opsv1alpha1.BackupPhasePending
			msg := err.Error() + "; correct it to start the backup"
			conditions.Set(b, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionFalse, opsv1alpha1.ReasonInvalidSpec, msg)
			conditions.MarkStalled(b, opsv1alpha1.ReasonInvalidSpec, msg)
			return ctrl.Result{}, nil
		}
		return r.outcome(ctx, b)(r.reconcilePending(ctx, b, p))
	case opsv1alpha1.BackupPhaseRunning:
		return r.outcome(ctx, b)(r.reconcileRunning(ctx, b))
	case opsv1alpha1.BackupPhaseVerifying:
		return r.outcome(ctx, b)(r.reconcileVerifying(ctx, b))
	default:
		// Completed or Failed: nothing runs again, but a permitted spec change
		// (deletionPolicy) is a generation acted on. Rebuild the gauges after a restart.
		conditions.Observe(b)
		observeFinished(b)
		return ctrl.Result{}, nil
	}
}

// outcome records a step's outcome (reconcile.Apply: a stop fails the backup), then
// gives up the database Lease once the reconcile finished the backup. Should the
// manager stop before, the next claimant takes the Lease over from the finished holder.
func (r *DatabaseBackupReconciler) outcome(ctx context.Context, b *opsv1alpha1.DatabaseBackup) func(ctrl.Result, error) (ctrl.Result, error) {
	return func(res ctrl.Result, err error) (ctrl.Result, error) {
		res, err = reconcile.Apply(b, res, err, reconcile.OnStall(func(reason, msg string) { r.stalled(b, reason, msg) }))
		if err == nil && dblock.BackupState(b) == dblock.Done {
			err = dblock.Give(ctx, r.Client, r.APIReader, dblock.KindBackup, b, b.Spec.Database.SecretRef.Name)
		}
		return res, err
	}
}

// reconcileFinalizer keeps the finalizer exactly when deletionPolicy is Delete (the
// policy may change at any time).
func (r *DatabaseBackupReconciler) reconcileFinalizer(ctx context.Context, b *opsv1alpha1.DatabaseBackup) error {
	want := b.Spec.DeletionPolicy == opsv1alpha1.DeletionPolicyDelete
	if want == controllerutil.ContainsFinalizer(b, opsv1alpha1.FinalizerBackupObjects) {
		return nil
	}
	before := b.DeepCopy()
	if want {
		controllerutil.AddFinalizer(b, opsv1alpha1.FinalizerBackupObjects)
	} else {
		controllerutil.RemoveFinalizer(b, opsv1alpha1.FinalizerBackupObjects)
	}
	return r.Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// SetupWithManager registers the reconciler: it owns its Jobs and wakes backups
// waiting for the database lock when another backup or restore of the database changes.
func (r *DatabaseBackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &opsv1alpha1.DatabaseBackup{}, dblock.IndexBackupDatabase,
		func(o client.Object) []string {
			return []string{o.(*opsv1alpha1.DatabaseBackup).Spec.Database.SecretRef.Name}
		}); err != nil {
		return err
	}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.DatabaseBackup{}).
		Owns(&batchv1.Job{}).
		Watches(&opsv1alpha1.DatabaseBackup{}, handler.EnqueueRequestsFromMapFunc(r.waitersOf)).
		Watches(&opsv1alpha1.DatabaseRestore{}, handler.EnqueueRequestsFromMapFunc(r.waitersOf)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("databasebackup").
		Complete(r)
}

// waitersOf maps a backup or restore to the backups waiting for its database.
func (r *DatabaseBackupReconciler) waitersOf(ctx context.Context, o client.Object) []ctrl.Request {
	var secret string
	switch v := o.(type) {
	case *opsv1alpha1.DatabaseBackup:
		if dblock.BackupState(v) == dblock.Waiting && v.DeletionTimestamp.IsZero() {
			return nil // a waiting backup frees nothing
		}
		secret = v.Spec.Database.SecretRef.Name
	case *opsv1alpha1.DatabaseRestore:
		secret = v.Spec.Database.SecretRef.Name
	default:
		return nil
	}
	return reconcile.RequestsFor(ctx, r, &opsv1alpha1.DatabaseBackupList{}, o.GetNamespace(), func(w *opsv1alpha1.DatabaseBackup) bool {
		return w.Name != o.GetName() && dblock.BackupState(w) == dblock.Waiting
	}, client.MatchingFields{dblock.IndexBackupDatabase: secret})
}
