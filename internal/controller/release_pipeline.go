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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// step carries out one decision. advanced means the step finished and the next may
// follow in the same reconcile (after status is written); otherwise err says why not
// (a *reconcile.Waiting to wait, a *reconcile.Stalling to stop).
func (r *ReleaseReconciler) step(ctx context.Context, s *releaseScope, d release.Decision) (bool, error) {
	rel := s.rel
	switch d.Step {
	case release.StepSteady:
		if err := r.pruneRemovedComponents(ctx, s); err != nil {
			return false, err
		}
		if release.Reverted(&rel.Status, s.revision) {
			r.recordRevert(s)
		}
		rel.Status.Phase = opsv1alpha1.ReleasePhaseDeployed
		conditions.MarkReady(rel, opsv1alpha1.ReasonDeployed, fmt.Sprintf("Revision %s (%s) is deployed", s.revision, rel.Spec.Version))
		return false, nil
	case release.StepRollingBack:
		return false, r.writeRollback(ctx, s)
	case release.StepFollowUps:
		return true, r.createFollowUps(ctx, s)
	case release.StepPinned:
		if err := r.reportRestore(ctx, s); err != nil {
			return false, err
		}
		msg := d.Why
		if rec := s.record(); rec != nil && rec.Message != "" {
			msg = rec.Message + ". " + d.Why
		}
		conditions.MarkStalled(rel, stalledReason(rel), truncate.String(msg, 32768))
		return false, nil
	case release.StepQuiesced:
		conditions.Set(rel, opsv1alpha1.ConditionReconciling, metav1.ConditionTrue, opsv1alpha1.ReasonQuiescedBy, d.Why)
		return false, r.holdCanary(ctx, s)
	case release.StepPaused:
		rel.Status.Phase = opsv1alpha1.ReleasePhasePaused
		conditions.Set(rel, opsv1alpha1.ConditionReconciling, metav1.ConditionFalse, opsv1alpha1.ReasonPaused, "Paused between steps: "+d.Why)
		return false, nil
	case release.StepStart:
		return r.start(ctx, s)
	case release.StepBackup:
		return r.backup(ctx, s)
	case release.StepPlan:
		return r.plan(ctx, s)
	case release.StepBlocked:
		return r.blocked(s)
	case release.StepMigrate:
		return r.migrate(ctx, s)
	case release.StepPreDeploy:
		return r.preDeploy(ctx, s)
	case release.StepCanary:
		if rel.Annotations[opsv1alpha1.AnnotationRollback] == s.revision && rel.Status.Progress.Canary != nil {
			return r.canaryFailed(s, opsv1alpha1.ReasonRollbackRequested,
				fmt.Sprintf("a rollback was requested (annotation %s=%s)", opsv1alpha1.AnnotationRollback, s.revision))
		}
		return r.canary(ctx, s)
	case release.StepRollout, release.StepVerify:
		if rel.Annotations[opsv1alpha1.AnnotationRollback] == s.revision {
			return r.decideRollback(s, opsv1alpha1.ReasonRollbackRequested,
				fmt.Sprintf("a rollback was requested (annotation %s=%s)", opsv1alpha1.AnnotationRollback, s.revision))
		}
		if d.Step == release.StepRollout {
			return r.rollout(ctx, s)
		}
		return r.verify(ctx, s)
	case release.StepFinish:
		return r.finish(ctx, s)
	}
	return false, fmt.Errorf("unknown step %q", d.Step)
}

func historyLimit(rel *opsv1alpha1.Release) int32 {
	if rel.Spec.RevisionHistoryLimit == 0 {
		return 10
	}
	return rel.Spec.RevisionHistoryLimit
}

// recordRevert records in history that the spec went back to the stable revision
// while a later one had failed or was in progress (a GitOps revert): the stable
// revision's entry moves to the front, the one in progress is superseded and its
// progress dropped, so that every component runs the stable templates again.
func (r *ReleaseReconciler) recordRevert(s *releaseScope) {
	rel := s.rel
	var last string // the revision reverted from
	if p := rel.Status.Progress; p != nil {
		last = p.Revision
	} else if len(rel.Status.History) > 0 {
		last = rel.Status.History[0].Revision
	}
	rec := opsv1alpha1.RevisionRecord{Revision: s.revision, Version: rel.Spec.Version, Image: rel.Spec.Image}
	first := ""
	if old := s.record(); old != nil {
		rec = *old.DeepCopy()
		if old.StartTime != nil {
			first = "; first deployed " + old.StartTime.UTC().Format(time.RFC3339)
		}
	}
	why := "revision " + last
	if lastRec := release.Find(rel.Status.History, last); lastRec != nil {
		why = fmt.Sprintf("revision %s (%s) ended %s", last, lastRec.Version, lastRec.Result)
		if lastRec.Result == opsv1alpha1.RevisionInProgress {
			why = fmt.Sprintf("revision %s (%s) was in progress", last, lastRec.Version)
		}
	}
	msg := fmt.Sprintf("Reverted to revision %s (%s), the stable revision, by the spec after %s; nothing to migrate, every component runs its templates%s",
		s.revision, rel.Spec.Version, why, first)
	rec.StartTime, rec.CompletionTime, rec.Retry, rec.Message = s.nowTime(), s.nowTime(), "", truncate.String(msg, 1024)
	rel.Status.History = release.Revert(rel.Status.History, rec, historyLimit(rel))
	rel.Status.Progress = nil
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonDeployed, "Revert", msg)
}

func stalledReason(rel *opsv1alpha1.Release) string {
	if c := conditions.Get(rel, opsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return opsv1alpha1.ReasonRevisionPinned
}

// start records a new revision: its templates in a ControllerRevision, its entry at
// the front of history, and empty progress. A revision in history whose migrations
// ran (a GitOps revert, or a retry after a rollback) skips backup and migrations.
//
// Conditions: Reconciling=True; the per-step conditions reset to Unknown.
func (r *ReleaseReconciler) start(ctx context.Context, s *releaseScope) (bool, error) {
	rel := s.rel
	if err := r.checkEnvSources(ctx, s); err != nil {
		return false, err
	}
	if err := r.saveSnapshot(ctx, s); err != nil {
		return false, err
	}
	revert := release.IsRevert(rel.Status.History, s.revision)
	retry := rel.Annotations[opsv1alpha1.AnnotationRetry]
	rec := opsv1alpha1.RevisionRecord{
		Revision: s.revision, Version: rel.Spec.Version, Image: rel.Spec.Image, StartTime: s.nowTime(),
	}
	if release.IsRetry(&rel.Status, s.revision, retry) {
		rec.Retry = retry // only the entry the annotation ran again says so
	}
	if rel.Spec.Migrations == nil {
		rec.Migrated = true // nothing to migrate: a later revert needs no migrations either
	}
	rel.Status.History = release.Start(rel.Status.History, rec, historyLimit(rel))
	rel.Status.ObservedRetry = &retry
	rel.Status.Progress = &opsv1alpha1.ReleaseProgress{Revision: s.revision, Revert: revert}
	if !revert {
		rel.Status.MigrationPlan, rel.Status.MigrationSQLConfigMap = "", ""
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhasePending
	for _, t := range []string{opsv1alpha1.ConditionBackupSucceeded, opsv1alpha1.ConditionMigrationsApplied, opsv1alpha1.ConditionDestructiveMigration, opsv1alpha1.ConditionPreDeployCompleted,
		opsv1alpha1.ConditionRolledOut, opsv1alpha1.ConditionVerified, opsv1alpha1.ConditionRolledBack, opsv1alpha1.ConditionDatabaseRestored} {
		conditions.Remove(rel, t)
	}
	msg := fmt.Sprintf("Revision %s (%s) started", s.revision, rel.Spec.Version)
	if revert {
		msg += ": an earlier revision whose migrations already ran, so no backup and no migrations"
	}
	markReleaseReconciling(rel, opsv1alpha1.ReasonProgressing, msg)
	r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonProgressing, "Start", msg)
	if err := r.pruneSnapshots(ctx, s); err != nil {
		return false, err
	}
	return true, nil
}

// checkEnvSources refuses to start a revision whose envFrom names a Secret or
// ConfigMap that does not exist (and is not optional): nothing is changed, and the
// condition names it.
func (r *ReleaseReconciler) checkEnvSources(ctx context.Context, s *releaseScope) error {
	sources := append([]corev1.EnvFromSource{}, s.snap.EnvFrom...)
	for _, c := range s.snap.Components {
		sources = append(sources, c.EnvFrom...)
	}
	for _, src := range sources {
		var obj client.Object
		var kind, name string
		switch {
		case src.SecretRef != nil && (src.SecretRef.Optional == nil || !*src.SecretRef.Optional):
			obj, kind, name = &corev1.Secret{}, "Secret", src.SecretRef.Name
		case src.ConfigMapRef != nil && (src.ConfigMapRef.Optional == nil || !*src.ConfigMapRef.Optional):
			obj, kind, name = &corev1.ConfigMap{}, "ConfigMap", src.ConfigMapRef.Name
		default:
			continue
		}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.rel.Namespace, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			return reconcile.Wait(opsv1alpha1.ReasonSecretMissing, time.Minute,
				"%s %s named in envFrom does not exist; revision %s waits for it and nothing was changed", kind, name, s.revision)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// backup creates the pre-deploy DatabaseBackup (owned, deterministic name) and waits
// for it to complete. Failure ends the revision before anything changed.
//
// Conditions: BackupSucceeded.
func (r *ReleaseReconciler) backup(ctx context.Context, s *releaseScope) (bool, error) {
	rel, p := s.rel, s.rel.Status.Progress
	name := release.BackupName(rel, s.revision)
	b := &opsv1alpha1.DatabaseBackup{}
	key := client.ObjectKey{Namespace: rel.Namespace, Name: name}
	var err error
	if p.Backup == "" {
		err = r.Get(ctx, key, b) // not created yet, or created by a manager that died before recording it
	} else if err = r.getLive(ctx, key, b); apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("Pre-deploy DatabaseBackup %s was deleted before it completed; nothing was changed", name)
		r.failRevision(s, opsv1alpha1.ConditionBackupSucceeded, opsv1alpha1.ReasonBackupFailed, msg)
		return false, nil
	}
	if apierrors.IsNotFound(err) {
		b = &opsv1alpha1.DatabaseBackup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rel.Namespace, Labels: release.Labels(rel, "backup", s.revision)},
			Spec: opsv1alpha1.DatabaseBackupSpec{
				Database:       *rel.Spec.Database,
				Destination:    *rel.Spec.Backup.Destination,
				DeletionPolicy: rel.Spec.Backup.DeletionPolicy,
			},
		}
		if err := controllerutil.SetControllerReference(rel, b, r.Scheme()); err != nil {
			return false, err
		}
		if err := r.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, err
		}
	} else if err != nil {
		return false, err
	}
	if p.Backup == "" {
		p.Backup = name
		if rec := s.record(); rec != nil {
			rec.Backup = name
		}
		rel.Status.Phase = opsv1alpha1.ReleasePhaseBackingUp
		msg := fmt.Sprintf("Taking the pre-deploy backup %s before migrations", name)
		conditions.Set(rel, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionUnknown, opsv1alpha1.ReasonBackingUp, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonBackingUp, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonBackingUp, "Backup", msg)
		return true, nil
	}
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseCompleted:
		p.BackedUp = true
		msg := fmt.Sprintf("Pre-deploy backup %s completed: %s", name, b.Status.Location)
		conditions.Set(rel, opsv1alpha1.ConditionBackupSucceeded, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, msg)
		r.event(rel, corev1.EventTypeNormal, opsv1alpha1.ReasonSucceeded, "Backup", msg)
		r.stepDone(s, "backup")
		return true, nil
	case opsv1alpha1.BackupPhaseFailed:
		why := "failed"
		if c := conditions.Get(b, opsv1alpha1.ConditionReady); c != nil && c.Message != "" {
			why = "failed: " + c.Message
		}
		r.failRevision(s, opsv1alpha1.ConditionBackupSucceeded, opsv1alpha1.ReasonBackupFailed,
			fmt.Sprintf("Pre-deploy backup %s %s; nothing was changed", name, why))
		return false, nil
	}
	return false, &reconcile.Waiting{} // the backup's status change wakes us
}

// stepDone observes the time since the revision's last step ended.
func (r *ReleaseReconciler) stepDone(s *releaseScope, step string) {
	if rec := s.record(); rec != nil && rec.StartTime != nil {
		metrics.RecordReleaseStep(s.rel.Namespace, s.rel.Name, step, s.now.Sub(rec.StartTime.Time))
	}
}

// runJob runs one of the revision's Jobs to its end (jobstep.Run): done is true once
// it succeeded, term is its container's termination state then. A failure is a
// *reconcile.Stalling.
func (r *ReleaseReconciler) runJob(ctx context.Context, s *releaseScope, desired *batchJob, created bool) (done bool, term *corev1.ContainerStateTerminated, err error) {
	st := jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: s.rel, Title: desired.title, Container: release.ContainerName}
	end, err := st.Run(ctx, desired.job, created, nil)
	if err != nil {
		return false, nil, err
	}
	return true, end.Term, nil
}
