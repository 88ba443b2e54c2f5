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
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/migrationguard"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// The destructive migration guard reads the plan Job's log (the planned migrations'
// SQL), keeps it in a ConfigMap the release owns and records what breaks the previous
// revision's pods in the revision's history entry, with the plan, before anything is
// migrated.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// Bounds of guard messages: a condition's, an event's note (the events API takes 1 KiB).
const (
	guardConditionMax = 8192
	guardEventMax     = 1000
)

// guardMigrations classifies the SQL the plan Job printed for the migrations plan
// lists and records the findings: a SQLUnknown finding per planned migration when
// the log cannot be read (the guard cannot say they are safe).
//
// Conditions: DestructiveMigration (True with reason Warned or
// DestructiveMigrationBlocked, False NoneFound).
func (r *ReleaseReconciler) guardMigrations(ctx context.Context, s *releaseScope, job *batchv1.Job, plan string) error {
	rel := s.rel
	log, lerr := r.planLog(ctx, job)
	var found []migrationguard.Finding
	sizes := ""
	if lerr != nil {
		for _, m := range release.AppliedMigrations(plan) {
			found = append(found, migrationguard.Finding{Migration: m, Kind: release.SQLUnknown,
				Statement: truncate.String("the plan Job's log could not be read: "+lerr.Error(), migrationguard.MaxStatement)})
		}
	} else {
		rows, read := release.TableRows(log)
		var notes []string
		found, notes = release.Guard(plan, log, release.GuardOptions(rel.Spec.Migrations, rows))
		if sizes = release.SizeMessage(read, notes); sizes != "" {
			sizes = " " + sizes
		}
		if err := r.saveSQL(ctx, s, log); err != nil {
			return err
		}
	}
	if rel.Status.StableRevision == "" {
		// A first deploy: no pod of an earlier revision serves, so nothing can break
		// (and its first migration's tables would make every later one look destructive).
		if rec := s.record(); rec != nil {
			rec.DestructiveMigrations = nil
		}
		conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionFalse, opsv1alpha1.ReasonNoPreviousRevision,
			"A first deploy: no pod of a previous revision serves while the migrations run, so none is checked")
		return nil
	}
	kept := release.Findings(found)
	if rec := s.record(); rec != nil {
		rec.DestructiveMigrations = kept
	}
	planned := len(release.AppliedMigrations(plan))
	if len(found) == 0 {
		conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionFalse, opsv1alpha1.ReasonDestructiveMigrationNone,
			truncate.String(fmt.Sprintf("The SQL of the %d planned migrations breaks nothing the previous revision's pods do (ConfigMap %s).%s",
				planned, rel.Status.MigrationSQLConfigMap, sizes), guardConditionMax))
		return nil
	}
	msg := release.GuardMessage(kept, len(found), guardConditionMax-len(sizes)) + sizes
	switch release.Policy(rel.Spec.Migrations) {
	case opsv1alpha1.DestructiveMigrationsBlock:
		conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionTrue, opsv1alpha1.ReasonDestructiveMigrationBlocked, msg)
	default:
		r.warnFindings(s, msg)
	}
	return nil
}

// warnFindings records the findings under the Warn policy: the condition and a
// Warning event naming the migration and statement; the deploy goes on.
func (r *ReleaseReconciler) warnFindings(s *releaseScope, msg string) {
	rel := s.rel
	msg = "destructiveMigrations is Warn, so the deploy goes on: " + msg
	conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionTrue, opsv1alpha1.ReasonDestructiveMigrationWarned, truncate.String(msg, guardConditionMax))
	r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonDestructiveMigrationWarned, "Plan", truncate.String(msg, guardEventMax))
}

// blocked holds the revision before its migrations (destructiveMigrations: Block):
// Stalled with the statements and the advice; the previous revision keeps serving.
// A new revision, or the policy set to Warn or Allow, moves it on.
func (r *ReleaseReconciler) blocked(s *releaseScope) (bool, error) {
	rel, rec := s.rel, s.record()
	stable := "no revision is deployed yet"
	if rel.Status.StableRevision != "" {
		stable = fmt.Sprintf("revision %s (%s) keeps serving", rel.Status.StableRevision, rel.Status.StableVersion)
	}
	msg := fmt.Sprintf("Revision %s (%s) is blocked before its migrations by migrations.destructiveMigrations: Block; nothing was migrated or rolled out and %s. "+
		"To go on, ship the change in expand/contract steps as a new version, or set destructiveMigrations to Warn or Allow. %s",
		s.revision, rel.Spec.Version, stable, release.GuardMessage(rec.DestructiveMigrations, -1, guardConditionMax))
	msg = truncate.String(msg, guardConditionMax+1024)
	first := conditions.Get(rel, opsv1alpha1.ConditionStalled)
	if first == nil || first.Status != metav1.ConditionTrue || first.Reason != opsv1alpha1.ReasonDestructiveMigrationBlocked {
		r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonDestructiveMigrationBlocked, "Migrate", truncate.String(msg, guardEventMax))
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhaseBlocked
	conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionTrue, opsv1alpha1.ReasonDestructiveMigrationBlocked, msg)
	conditions.Set(rel, opsv1alpha1.ConditionMigrationsApplied, metav1.ConditionFalse, opsv1alpha1.ReasonDestructiveMigrationBlocked,
		"Nothing was migrated: destructiveMigrations is Block")
	conditions.MarkStalled(rel, opsv1alpha1.ReasonDestructiveMigrationBlocked, msg)
	return false, nil
}

// migrateDespiteFindings records, when the migration Job is first created, that the
// revision migrates with findings under the policy now in force (Warn or Allow, e.g.
// after a Block was lifted).
func (r *ReleaseReconciler) migrateDespiteFindings(s *releaseScope) {
	rel, rec := s.rel, s.record()
	if rec == nil || len(rec.DestructiveMigrations) == 0 {
		return
	}
	c := conditions.Get(rel, opsv1alpha1.ConditionDestructiveMigration)
	msg := release.GuardMessage(rec.DestructiveMigrations, -1, guardConditionMax)
	switch release.Policy(rel.Spec.Migrations) {
	case opsv1alpha1.DestructiveMigrationsAllow:
		if c == nil || c.Reason != opsv1alpha1.ReasonDestructiveMigrationAllowed {
			conditions.Set(rel, opsv1alpha1.ConditionDestructiveMigration, metav1.ConditionTrue, opsv1alpha1.ReasonDestructiveMigrationAllowed,
				truncate.String("destructiveMigrations is Allow, so the migrations run: "+msg, guardConditionMax))
		}
	case opsv1alpha1.DestructiveMigrationsWarn:
		if c == nil || c.Reason != opsv1alpha1.ReasonDestructiveMigrationWarned {
			r.warnFindings(s, msg)
		}
	}
}

// planLog reads the plan Job's container log (the planned migrations' SQL), at most
// release.MaxSQLLog bytes: the Job's newest pod that ran (jobstep.NewestPod).
func (r *ReleaseReconciler) planLog(ctx context.Context, job *batchv1.Job) (string, error) {
	if r.Logs == nil {
		return "", errors.New("pods/log is not available to the manager")
	}
	newest, err := jobstep.NewestPod(ctx, r.APIReader, job)
	if err != nil {
		return "", err
	}
	if newest == nil {
		return "", fmt.Errorf("plan Job %s has no pod left to read its log from", job.Name)
	}
	return r.Logs.Tail(ctx, job.Namespace, newest.Name, release.ContainerName, false, release.MaxSQLLog, release.MaxSQLLog)
}

// saveSQL keeps the planned SQL (bounded) in the release's ConfigMap, read uncached
// (the manager watches no ConfigMaps).
func (r *ReleaseReconciler) saveSQL(ctx context.Context, s *releaseScope, log string) error {
	rel := s.rel
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: rel.Namespace, Name: release.SQLConfigMapName(rel)}
	err := r.APIReader.Get(ctx, key, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	if exists && !metav1.IsControlledBy(cm, rel) {
		return fmt.Errorf("ConfigMap %s exists and is not the release's: rename it, the release keeps its migrations' SQL there", key.Name)
	}
	cm.Name, cm.Namespace = key.Name, key.Namespace
	cm.Labels = release.Labels(rel, "migration-sql", s.revision)
	cm.Data = map[string]string{"revision": s.revision, "version": rel.Spec.Version, "sql": release.KeptSQL(log)}
	if exists {
		err = r.Update(ctx, cm)
	} else {
		if err = controllerutil.SetControllerReference(rel, cm, r.Scheme()); err != nil {
			return err
		}
		err = r.Create(ctx, cm)
	}
	if err != nil {
		return err
	}
	rel.Status.MigrationSQLConfigMap = cm.Name
	return nil
}
