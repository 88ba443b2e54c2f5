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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/release"
)

// A revision that failed its rollout or verification may ask for two more objects:
// the DatabaseRestore of its pre-deploy backup (rollback.restoreDatabase) and an
// Incident (rollback.openIncident). decideRollback decides them and names them in the
// revision's history entry; StepFollowUps creates each exactly once, after that
// decision is in status: a manager killed anywhere between the two finds the name
// recorded and the object either there or not yet created.

// decideFollowUps records in the revision's history entry the Incident to open and,
// when restore names a backup, the DatabaseRestore to create.
func (r *ReleaseReconciler) decideFollowUps(s *releaseScope, restore release.RestorePlan) {
	rec := s.record()
	if rec == nil {
		return
	}
	if restore.Backup != "" && rec.DatabaseRestore == nil {
		name := release.RestoreName(s.rel, s.revision)
		rec.DatabaseRestore = &opsv1alpha1.FollowUp{Name: name}
		c, _ := release.RestoreState(rec.DatabaseRestore, nil, nil)
		conditions.Set(s.rel, c.Type, c.Status, c.Reason, c.Message)
	}
	if s.rel.Spec.Rollback.OpenIncident != "" && rec.Incident == nil {
		rec.Incident = &opsv1alpha1.FollowUp{Name: release.IncidentName(s.rel, s.revision)}
	}
}

// createFollowUps creates the objects the pinned revision's history entry names and
// not yet created (StepFollowUps): the DatabaseRestore once the stable templates are
// written, the Incident at once.
func (r *ReleaseReconciler) createFollowUps(ctx context.Context, s *releaseScope) error {
	rec := s.record()
	if rec == nil {
		return nil
	}
	rel := s.rel
	if f := rec.DatabaseRestore; f != nil && !f.Created && rel.Status.Phase != opsv1alpha1.ReleasePhaseRollingBack {
		want := release.DatabaseRestore(rel, rec.Revision, rec.Backup)
		if err := controllerutil.SetControllerReference(rel, want, r.Scheme()); err != nil {
			return err
		}
		created, err := r.createOnce(ctx, want)
		if err != nil { // said in the condition, not only in the log; retried with backoff
			conditions.Set(rel, opsv1alpha1.ConditionDatabaseRestored, metav1.ConditionUnknown, opsv1alpha1.ReasonCreateFailed,
				fmt.Sprintf("Could not create DatabaseRestore %s (retried): %v", f.Name, err))
			return err
		}
		f.Created = true
		if created {
			r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonRestoringDatabase, "RestoreDatabase",
				fmt.Sprintf("Created DatabaseRestore %s of pre-deploy backup %s: the release is quiesced while it restores", f.Name, rec.Backup))
		}
	}
	if f := rec.Incident; f != nil && !f.Created {
		inc := release.Incident(rel, rec, rel.Status.StableVersion)
		created, err := r.createOnce(ctx, inc)
		if err != nil {
			r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonCreateFailed, "OpenIncident",
				fmt.Sprintf("Could not create Incident %s (retried): %v", f.Name, err))
			return err
		}
		f.Created = true
		if created {
			r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonIncidentOpened, "OpenIncident",
				fmt.Sprintf("Opened %s Incident %s: %s", inc.Spec.Severity, inc.Name, inc.Spec.Title))
		}
	}
	return nil
}

// reportRestore reports the progress of the DatabaseRestore the pinned revision's
// rollback created in the DatabaseRestored condition.
func (r *ReleaseReconciler) reportRestore(ctx context.Context, s *releaseScope) error {
	rec := s.record()
	if rec == nil || rec.DatabaseRestore == nil || !rec.DatabaseRestore.Created {
		return nil
	}
	rel, f := s.rel, rec.DatabaseRestore
	rs := &opsv1alpha1.DatabaseRestore{}
	if err := r.getLive(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: f.Name}, rs); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		rs = nil
	}
	prev := conditions.Get(rel, opsv1alpha1.ConditionDatabaseRestored)
	if c, ok := release.RestoreState(f, rs, prev); ok {
		if prev == nil || prev.Status != c.Status {
			typ := corev1.EventTypeNormal
			if c.Status == metav1.ConditionFalse {
				typ = corev1.EventTypeWarning
			}
			r.event(rel, typ, c.Reason, "RestoreDatabase", c.Message)
		}
		conditions.Set(rel, c.Type, c.Status, c.Reason, c.Message)
	}
	return nil
}

// getLive reads obj from the cache, and from the API server when the cache has not
// seen it: a child created a moment ago is not taken for one deleted.
func (r *ReleaseReconciler) getLive(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	err := r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, obj)
	}
	return err
}

// createOnce creates obj unless it exists (looked up on the API server, not the
// cache); created says whether this call made it.
func (r *ReleaseReconciler) createOnce(ctx context.Context, obj client.Object) (created bool, err error) {
	existing := obj.DeepCopyObject().(client.Object)
	err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	if err := r.Create(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
