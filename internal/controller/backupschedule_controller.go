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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/names"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/schedule"
)

// BackupScheduleReconciler creates DatabaseBackups on a cron schedule and prunes them
// by retention. Everything it decides is derived from the schedule's status
// (lastScheduleTime) and the backups that exist, so a restart repeats nothing: backup
// names are derived from the scheduled time and creation is create-if-absent.
type BackupScheduleReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Clock    clock.Clock
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=backupschedules/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=backupschedules/finalizers,verbs=update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs the due run (if any), prunes, records status and requeues at the
// next scheduled time.
func (r *BackupScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	s := &opsv1alpha1.BackupSchedule{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		forgetObjectMetrics(req, err, metrics.Schedules)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its backups go with it (owner references)
	}
	observeScheduleMetrics(s)
	p := reconcile.NewStatusPatch(r.Client, s)
	defer p.Finish(ctx, s, &res, &retErr)
	res, err := r.reconcile(ctx, s)
	return reconcile.Apply(s, res, err, reconcile.OnStall(func(reason, msg string) { markInvalid(s, reason, msg) }))
}

// markInvalid records a schedule that cannot run (reconcile.Apply's OnStall).
func markInvalid(s *opsv1alpha1.BackupSchedule, reason, msg string) {
	s.Status.NextScheduleTime = nil
	s.Status.Phase = opsv1alpha1.SchedulePhaseInvalid
	conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionFalse, reason, msg)
	conditions.MarkStalled(s, reason, msg)
}

func (r *BackupScheduleReconciler) reconcile(ctx context.Context, s *opsv1alpha1.BackupSchedule) (ctrl.Result, error) {
	sched, err := schedule.Parse(s.Spec.Schedule, s.Spec.TimeZone)
	reason := opsv1alpha1.ReasonInvalidSchedule
	if err == nil {
		// Stored before the API server bounded durations: every backup would stall.
		err, reason = opsv1alpha1.InvalidDurations("spec.template.spec", &s.Spec.Template.Spec), opsv1alpha1.ReasonInvalidSpec
	} else {
		err = fmt.Errorf("spec.%w", err)
	}
	if err != nil {
		return ctrl.Result{}, reconcile.Stall(reason, "%v", err)
	}
	backups, err := r.ownedBackups(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()

	if backups, err = r.reconcileRun(ctx, s, sched, backups, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.reconcileRetention(ctx, s, sched, backups); err != nil {
		return ctrl.Result{}, err
	}
	schedule.Summarise(s, backups)

	if s.Spec.Suspend || s.Status.NextScheduleTime == nil {
		return ctrl.Result{}, nil
	}
	wait := s.Status.NextScheduleTime.Sub(now) + time.Second
	return ctrl.Result{RequeueAfter: max(wait, time.Second)}, nil
}

// reconcileRun records schedule.Decide's decision about the due run and, when it is
// to be created, creates its backup. It returns backups with the one it created.
func (r *BackupScheduleReconciler) reconcileRun(ctx context.Context, s *opsv1alpha1.BackupSchedule, sched *schedule.Schedule,
	backups []*opsv1alpha1.DatabaseBackup, now time.Time) ([]*opsv1alpha1.DatabaseBackup, error) {
	d := schedule.Decide(schedule.Input{Schedule: s, Cron: sched, Backups: backups, Now: now})
	var err error
	if d.Step == schedule.StepCreate {
		b := schedule.BackupFor(s, d.Run)
		switch err = r.Create(ctx, b); {
		case err == nil:
			backups = append(backups, b)
		case apierrors.IsAlreadyExists(err):
			d.Event, err = nil, nil // said when it was created
		default:
			// Shown on the schedule, not only in the manager's log. The run stays due
			// and is retried with backoff.
			err = &reconcile.CreateFailed{What: fmt.Sprintf("DatabaseBackup %s for the run of %s", b.Name, d.Run.Format(time.RFC3339)), Err: err}
			d = d.Refused(err.Error())
		}
	}
	d.Record(s)
	if e := d.Event; e != nil {
		r.event(s, e.Type, e.Reason, e.Message)
	}
	return backups, err
}

// reconcileRetention deletes the finished backups retention does not keep. Their
// deletionPolicy decides about the S3 objects.
func (r *BackupScheduleReconciler) reconcileRetention(ctx context.Context, s *opsv1alpha1.BackupSchedule, sched *schedule.Schedule,
	backups []*opsv1alpha1.DatabaseBackup) error {
	var pruned []string
	for _, b := range schedule.Prune(s, sched.Location(), backups) {
		if err := r.Delete(ctx, b, client.Preconditions{UID: &b.UID}); client.IgnoreNotFound(err) != nil {
			return err
		}
		pruned = append(pruned, b.Name)
	}
	if len(pruned) > 0 {
		r.event(s, corev1.EventTypeNormal, opsv1alpha1.ReasonPruned,
			fmt.Sprintf("Pruned %d backup(s) by retention: %s", len(pruned), strings.Join(pruned, ", ")))
	}
	return nil
}

// ownedBackups lists the backups this schedule created.
func (r *BackupScheduleReconciler) ownedBackups(ctx context.Context, s *opsv1alpha1.BackupSchedule) ([]*opsv1alpha1.DatabaseBackup, error) {
	var list opsv1alpha1.DatabaseBackupList
	if err := r.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{opsv1alpha1.LabelBackupSchedule: names.LabelValue(s.Name)}); err != nil {
		return nil, err
	}
	var out []*opsv1alpha1.DatabaseBackup
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], s) {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

func (r *BackupScheduleReconciler) event(s *opsv1alpha1.BackupSchedule, eventType, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, eventType, reason, "Schedule", "%s", note)
	}
}

// SetupWithManager registers the reconciler; it owns the backups it creates.
func (r *BackupScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.BackupSchedule{}).
		Owns(&opsv1alpha1.DatabaseBackup{}).
		Named("backupschedule").
		Complete(r)
}
