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
	"slices"
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
	"runbook-operator/internal/names"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/retention"
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
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its backups go with it (owner references)
	}
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
	r.summarise(s, backups)

	if s.Spec.Suspend || s.Status.NextScheduleTime == nil {
		return ctrl.Result{}, nil
	}
	wait := s.Status.NextScheduleTime.Sub(now) + time.Second
	return ctrl.Result{RequeueAfter: max(wait, time.Second)}, nil
}

// reconcileRun creates the backup of the due run, or records why it is skipped. It
// returns backups with the one it created.
//
// Conditions: Scheduled (True Scheduled / True RunSkipped / False Suspended).
func (r *BackupScheduleReconciler) reconcileRun(ctx context.Context, s *opsv1alpha1.BackupSchedule, sched *schedule.Schedule,
	backups []*opsv1alpha1.DatabaseBackup, now time.Time) ([]*opsv1alpha1.DatabaseBackup, error) {
	if s.Spec.Suspend {
		s.Status.NextScheduleTime = nil
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionFalse, opsv1alpha1.ReasonSuspended,
			"Suspended: no new backups are created; retention still applies")
		return backups, nil
	}
	last := s.CreationTimestamp.Time
	if s.Status.LastScheduleTime != nil {
		last = s.Status.LastScheduleTime.Time
	}
	policy := schedule.RunOnce
	if s.Spec.MissedRunPolicy == opsv1alpha1.MissedRunSkip {
		policy = schedule.Skip
	}
	d := sched.Due(last, now, policy)
	next := metav1.NewTime(d.Next)
	s.Status.NextScheduleTime = &next
	scheduled := fmt.Sprintf("Next backup at %s", d.Next.In(sched.Location()).Format(time.RFC3339))
	if d.Latest.IsZero() {
		if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c == nil || c.Reason != opsv1alpha1.ReasonRunSkipped {
			conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, scheduled)
		}
		return backups, nil
	}
	handled := metav1.NewTime(d.Latest)

	if d.Run.IsZero() { // missed, policy Skip
		msg := fmt.Sprintf("Missed %d run(s) up to %s while the operator was not running; missedRunPolicy is Skip. %s",
			d.Missed, d.Latest.Format(time.RFC3339), scheduled)
		r.event(s, corev1.EventTypeWarning, opsv1alpha1.ReasonRunSkipped, msg)
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped, msg)
		s.Status.LastScheduleTime = &handled
		return backups, nil
	}
	// A reconcile that read the schedule before the cache had its new lastScheduleTime
	// sees the run it just created the backup for as due again: it was handled, not
	// skipped because "its own backup is still running".
	runName := BackupName(s.Name, d.Run)
	if slices.ContainsFunc(backups, func(b *opsv1alpha1.DatabaseBackup) bool { return b.Name == runName }) {
		s.Status.LastScheduleTime = &handled
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, scheduled)
		return backups, nil
	}
	if active := activeNames(backups); len(active) > 0 {
		msg := fmt.Sprintf("Skipped the run of %s: backup %s is still running. %s",
			d.Run.Format(time.RFC3339), strings.Join(active, ", "), scheduled)
		r.event(s, corev1.EventTypeWarning, opsv1alpha1.ReasonRunSkipped, msg)
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonRunSkipped, msg)
		s.Status.LastScheduleTime = &handled
		return backups, nil
	}

	b := backupFor(s, d.Run)
	err := r.Create(ctx, b)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		// Shown on the schedule, not only in the manager's log: Ready must not stay
		// True while every run fails. The run stays due and is retried with backoff.
		cf := &reconcile.CreateFailed{What: fmt.Sprintf("DatabaseBackup %s for the run of %s", b.Name, d.Run.Format(time.RFC3339)), Err: err}
		r.event(s, corev1.EventTypeWarning, opsv1alpha1.ReasonCreateFailed, cf.Error())
		conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionFalse, opsv1alpha1.ReasonCreateFailed, cf.Error())
		return backups, cf
	}
	if err == nil {
		msg := fmt.Sprintf("Created DatabaseBackup %s for the run of %s", b.Name, d.Run.Format(time.RFC3339))
		reason := opsv1alpha1.ReasonScheduled
		if d.Late {
			reason = opsv1alpha1.ReasonCatchUp
			msg = fmt.Sprintf("Created DatabaseBackup %s as one catch-up for %d missed run(s), the last at %s",
				b.Name, d.Missed, d.Run.Format(time.RFC3339))
		}
		r.event(s, corev1.EventTypeNormal, reason, msg)
		backups = append(backups, b)
	}
	s.Status.LastScheduleTime = &handled
	conditions.Set(s, opsv1alpha1.ConditionScheduled, metav1.ConditionTrue, opsv1alpha1.ReasonScheduled, scheduled)
	return backups, nil
}

// reconcileRetention deletes the finished backups retention does not keep. Their
// deletionPolicy decides about the S3 objects.
func (r *BackupScheduleReconciler) reconcileRetention(ctx context.Context, s *opsv1alpha1.BackupSchedule, sched *schedule.Schedule,
	backups []*opsv1alpha1.DatabaseBackup) error {
	ret := s.Spec.Retention
	p := retention.Policy{
		KeepLast: derefInt(ret.KeepLast, 7), KeepFailed: derefInt(ret.KeepFailed, 3),
		KeepDaily: int(ret.KeepDaily), KeepWeekly: int(ret.KeepWeekly), KeepMonthly: int(ret.KeepMonthly),
		Location: sched.Location(),
	}
	in := make([]retention.Backup, 0, len(backups))
	byName := map[string]*opsv1alpha1.DatabaseBackup{}
	for _, b := range backups {
		byName[b.Name] = b
		in = append(in, retention.Backup{Name: b.Name, Time: backupTime(b), State: retentionState(b)})
	}
	var pruned []string
	for _, name := range retention.Decide(p, in).Prune {
		b := byName[name]
		if !b.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, b, client.Preconditions{UID: &b.UID}); client.IgnoreNotFound(err) != nil {
			return err
		}
		pruned = append(pruned, name)
	}
	if len(pruned) > 0 {
		r.event(s, corev1.EventTypeNormal, opsv1alpha1.ReasonPruned,
			fmt.Sprintf("Pruned %d backup(s) by retention: %s", len(pruned), strings.Join(pruned, ", ")))
	}
	return nil
}

// summarise writes the status fields, the phase and Ready from the backups: Ready
// reflects the newest finished backup, so an old failure does not keep the schedule red.
//
// Conditions: Ready, Reconciling, Stalled.
func (r *BackupScheduleReconciler) summarise(s *opsv1alpha1.BackupSchedule, backups []*opsv1alpha1.DatabaseBackup) {
	var lastOK, lastFailed *opsv1alpha1.DatabaseBackup
	for _, b := range backups {
		if !b.DeletionTimestamp.IsZero() || b.Status.CompletionTime == nil {
			continue
		}
		switch b.Status.Phase {
		case opsv1alpha1.BackupPhaseCompleted:
			if lastOK == nil || finishedAfter(b, lastOK) {
				lastOK = b
			}
		case opsv1alpha1.BackupPhaseFailed:
			if lastFailed == nil || finishedAfter(b, lastFailed) {
				lastFailed = b
			}
		}
	}
	s.Status.Active = activeNames(backups)
	s.Status.LastSuccessfulBackup, s.Status.LastSuccessfulTime = "", nil
	if lastOK != nil {
		s.Status.LastSuccessfulBackup = lastOK.Name
		s.Status.LastSuccessfulTime = lastOK.Status.CompletionTime.DeepCopy()
	}
	s.Status.LastFailedBackup = ""
	if lastFailed != nil {
		s.Status.LastFailedBackup = lastFailed.Name
	}

	failing := lastFailed != nil && (lastOK == nil || finishedAfter(lastFailed, lastOK))
	switch {
	case s.Spec.Suspend:
		s.Status.Phase = opsv1alpha1.SchedulePhaseSuspended
	case failing:
		s.Status.Phase = opsv1alpha1.SchedulePhaseFailing
	default:
		s.Status.Phase = opsv1alpha1.SchedulePhaseActive
	}
	switch {
	case failing:
		msg := fmt.Sprintf("The latest backup %s failed", lastFailed.Name)
		if c := conditions.Get(lastFailed, opsv1alpha1.ConditionReady); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		conditions.MarkNotReady(s, opsv1alpha1.ReasonBackupFailed, msg)
	case lastOK != nil:
		conditions.MarkReady(s, opsv1alpha1.ReasonSucceeded, fmt.Sprintf("The latest backup %s completed at %s",
			lastOK.Name, lastOK.Status.CompletionTime.UTC().Format(time.RFC3339)))
	default:
		msg := "No backup has finished yet"
		if c := conditions.Get(s, opsv1alpha1.ConditionScheduled); c != nil {
			msg += "; " + c.Message
		}
		conditions.MarkReady(s, opsv1alpha1.ReasonWaitingForRun, msg)
	}
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

// BackupName is the deterministic name of the backup of the run scheduled at t:
// `<schedule>-<YYYYMMDDHHMM>` in UTC, hash-shortened when the schedule's name is too
// long for it to fit 253 characters.
func BackupName(scheduleName string, t time.Time) string {
	return names.Join(scheduleName, t.UTC().Format("200601021504"), names.MaxObjectName)
}

// backupFor builds the DatabaseBackup of the run scheduled at t.
func backupFor(s *opsv1alpha1.BackupSchedule, t time.Time) *opsv1alpha1.DatabaseBackup {
	labels := map[string]string{}
	for k, v := range s.Spec.Template.Metadata.Labels {
		labels[k] = string(v)
	}
	labels[opsv1alpha1.LabelBackupSchedule] = names.LabelValue(s.Name)
	annotations := map[string]string{}
	for k, v := range s.Spec.Template.Metadata.Annotations {
		annotations[k] = v
	}
	annotations[opsv1alpha1.AnnotationScheduledTime] = t.UTC().Format(time.RFC3339)
	return &opsv1alpha1.DatabaseBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name: BackupName(s.Name, t), Namespace: s.Namespace,
			Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s, opsv1alpha1.GroupVersion.WithKind("BackupSchedule"))},
		},
		Spec: *s.Spec.Template.Spec.DeepCopy(),
	}
}

func activeNames(backups []*opsv1alpha1.DatabaseBackup) []string {
	var active []string
	for _, b := range backups {
		if retentionState(b) == retention.Unfinished && b.DeletionTimestamp.IsZero() {
			active = append(active, b.Name)
		}
	}
	slices.Sort(active)
	return active
}

func retentionState(b *opsv1alpha1.DatabaseBackup) retention.State {
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		return retention.Completed
	case opsv1alpha1.BackupPhaseFailed:
		return retention.Failed
	}
	return retention.Unfinished
}

// backupTime is when a backup was taken: its scheduled time, else its start, else
// its creation.
func backupTime(b *opsv1alpha1.DatabaseBackup) time.Time {
	if t, err := time.Parse(time.RFC3339, b.Annotations[opsv1alpha1.AnnotationScheduledTime]); err == nil {
		return t
	}
	if b.Status.StartTime != nil {
		return b.Status.StartTime.Time
	}
	return b.CreationTimestamp.Time
}

func finishedAfter(a, b *opsv1alpha1.DatabaseBackup) bool {
	if !a.Status.CompletionTime.Equal(b.Status.CompletionTime) {
		return a.Status.CompletionTime.After(b.Status.CompletionTime.Time)
	}
	return backupTime(a).After(backupTime(b))
}

func derefInt(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
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
