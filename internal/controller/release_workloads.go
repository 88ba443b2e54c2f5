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
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/names"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
)

// syncWorkloads brings every component's Deployment, Service and HPA to the template of
// the revision release.ComponentRevisions names for it, with the spec's scaling,
// resources, ports and restartedAt applied directly. reverse writes the components last
// to first (a rollback). With an HPA the Deployment's replicas are never written. The
// canary Deployment comes first: written while the canary runs, deleted otherwise, so
// that it is gone before the rollout writes a component.
func (r *ReleaseReconciler) syncWorkloads(ctx context.Context, s *releaseScope, reverse bool) error {
	rel := s.rel
	if err := r.syncCanary(ctx, s); err != nil {
		return err
	}
	revs := release.ComponentRevisions(&rel.Spec, &rel.Status)
	order := make([]int, len(revs))
	for i := range order {
		order[i] = i
		if reverse {
			order[i] = len(revs) - 1 - i
		}
	}
	snaps := map[string]release.Snapshot{s.revision: s.snap}
	for _, i := range order {
		rev := revs[i]
		if rev == "" {
			continue
		}
		snap, ok := snaps[rev]
		if !ok {
			var err error
			if snap, err = r.loadSnapshot(ctx, s, rev); err != nil {
				return err
			}
			snaps[rev] = snap
		}
		c := &rel.Spec.Components[i]
		if _, ok := snap.Component(c.Name); !ok {
			// Not part of the revision it is to run (added by a later one that was rolled
			// back, or not rolled out yet): the revision does not own it, so nothing of
			// it runs, as with `kubectl rollout undo` of the whole release.
			if err := r.removeComponent(ctx, s, c.Name, opsv1alpha1.ReasonRolledBack, "component "+c.Name+" is not part of revision "+rev); err != nil {
				return err
			}
			continue
		}
		if err := r.applyDeployment(ctx, s, release.Deployment(rel, c, snap, rev)); err != nil {
			return err
		}
		if svc := release.Service(rel, c); svc != nil {
			if err := r.applyService(ctx, s, svc); err != nil {
				return err
			}
		}
		if err := r.applyHPA(ctx, s, c); err != nil {
			return err
		}
	}
	return nil
}

// pruneRemovedComponents deletes the workloads of components gone from
// spec.components, once the revision without them is deployed: until then they keep
// running the stable revision, so a rollback has them as they were.
func (r *ReleaseReconciler) pruneRemovedComponents(ctx context.Context, s *releaseScope) error {
	var list appsv1.DeploymentList
	if err := r.List(ctx, &list, client.InNamespace(s.rel.Namespace), client.MatchingLabels{opsv1alpha1.LabelRelease: s.rel.Name}); err != nil {
		return err
	}
	var found []string
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], s.rel) {
			found = append(found, list.Items[i].Labels[opsv1alpha1.LabelComponent])
		}
	}
	for _, c := range release.Removed(&s.rel.Spec, found) {
		why := fmt.Sprintf("component %s is no longer in spec.components (revision %s is deployed)", c, s.revision)
		if err := r.removeComponent(ctx, s, c, opsv1alpha1.ReasonDeployed, why); err != nil {
			return err
		}
	}
	return nil
}

// removeComponent deletes the Deployment, Service and HPA of a component the release
// no longer runs (why says which rule); objects the Release does not own stay.
func (r *ReleaseReconciler) removeComponent(ctx context.Context, s *releaseScope, component, reason, why string) error {
	key := client.ObjectKey{Namespace: s.rel.Namespace, Name: opsv1alpha1.ComponentDeploymentName(s.rel.Name, component)}
	for _, o := range []struct {
		kind string
		obj  client.Object
	}{{"HorizontalPodAutoscaler", &autoscalingv2.HorizontalPodAutoscaler{}}, {"Service", &corev1.Service{}}, {"Deployment", &appsv1.Deployment{}}} {
		obj := o.obj
		if err := r.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if !metav1.IsControlledBy(obj, s.rel) || !obj.GetDeletionTimestamp().IsZero() {
			continue
		}
		if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.event(s.rel, corev1.EventTypeNormal, reason, "RemoveComponent",
			fmt.Sprintf("Deleted %s %s: %s", o.kind, key.Name, why))
	}
	return nil
}

// createOwned creates obj owned by the Release; one that exists already is looked at
// again on the next reconcile.
func (r *ReleaseReconciler) createOwned(ctx context.Context, s *releaseScope, obj client.Object) error {
	if err := controllerutil.SetControllerReference(s.rel, obj, r.Scheme()); err != nil {
		return err
	}
	return client.IgnoreAlreadyExists(r.Create(ctx, obj))
}

func (r *ReleaseReconciler) owned(s *releaseScope, obj client.Object) error {
	if !metav1.IsControlledBy(obj, s.rel) {
		return reconcile.Wait(opsv1alpha1.ReasonWorkloadConflict, jobstep.ConflictRecheck,
			"%T %s exists and does not belong to this Release; delete it or rename the component", obj, obj.GetName())
	}
	return nil
}

func (r *ReleaseReconciler) applyDeployment(ctx context.Context, s *releaseScope, want *appsv1.Deployment) error {
	cur := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), cur)
	if apierrors.IsNotFound(err) {
		return r.createOwned(ctx, s, want)
	}
	if err != nil {
		return err
	}
	if err := r.owned(s, cur); err != nil {
		return err
	}
	changed := false
	if !equality.Semantic.DeepDerivative(want.Spec.Template, cur.Spec.Template) ||
		cur.Spec.Template.Labels[opsv1alpha1.LabelRevision] != want.Spec.Template.Labels[opsv1alpha1.LabelRevision] {
		// Annotations others put on the template (SecretRotation's secret version) stay:
		// dropping them would restart the pods a second time, or undo a restart.
		for k, v := range cur.Spec.Template.Annotations {
			if _, ours := want.Spec.Template.Annotations[k]; !ours && k != opsv1alpha1.AnnotationRestartedAt {
				want.Spec.Template.Annotations[k] = v
			}
		}
		cur.Spec.Template = want.Spec.Template
		changed = true
	}
	if cur.Spec.Strategy.Type != want.Spec.Strategy.Type {
		cur.Spec.Strategy = want.Spec.Strategy
		changed = true
	}
	if want.Spec.Replicas != nil && (cur.Spec.Replicas == nil || *cur.Spec.Replicas != *want.Spec.Replicas) {
		cur.Spec.Replicas = want.Spec.Replicas
		changed = true
	}
	if cur.Labels[opsv1alpha1.LabelRevision] != want.Labels[opsv1alpha1.LabelRevision] {
		cur.Labels = want.Labels
		changed = true
	}
	if !changed {
		return nil
	}
	return r.Update(ctx, cur)
}

func (r *ReleaseReconciler) applyService(ctx context.Context, s *releaseScope, want *corev1.Service) error {
	cur := &corev1.Service{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), cur)
	if apierrors.IsNotFound(err) {
		return r.createOwned(ctx, s, want)
	}
	if err != nil {
		return err
	}
	if err := r.owned(s, cur); err != nil {
		return err
	}
	if cur.Spec.Type == want.Spec.Type && equality.Semantic.DeepDerivative(want.Spec.Ports, cur.Spec.Ports) {
		return nil
	}
	cur.Spec.Type, cur.Spec.Ports, cur.Spec.Selector = want.Spec.Type, want.Spec.Ports, want.Spec.Selector
	return r.Update(ctx, cur)
}

// applyHPA creates or updates the component's HPA, or deletes the one it owns when
// autoscaling was removed.
func (r *ReleaseReconciler) applyHPA(ctx context.Context, s *releaseScope, c *opsv1alpha1.Component) error {
	want := release.HPA(s.rel, c)
	cur := &autoscalingv2.HorizontalPodAutoscaler{}
	key := client.ObjectKey{Namespace: s.rel.Namespace, Name: opsv1alpha1.ComponentDeploymentName(s.rel.Name, c.Name)}
	err := r.Get(ctx, key, cur)
	switch {
	case apierrors.IsNotFound(err) && want == nil:
		return nil
	case apierrors.IsNotFound(err):
		return r.createOwned(ctx, s, want)
	case err != nil:
		return err
	}
	if !metav1.IsControlledBy(cur, s.rel) {
		return r.owned(s, cur)
	}
	if want == nil {
		return client.IgnoreNotFound(r.Delete(ctx, cur))
	}
	if equality.Semantic.DeepDerivative(want.Spec, cur.Spec) {
		return nil
	}
	cur.Spec = want.Spec
	return r.Update(ctx, cur)
}

// snapshotName is the ControllerRevision keeping a revision's templates:
// `<release>-<revision>`, shortened with a hash should that not fit an object name.
func snapshotName(rel *opsv1alpha1.Release, revision string) string {
	return names.Join(rel.Name, revision, names.MaxObjectName)
}

// saveSnapshot keeps the revision's snapshot in a ControllerRevision (owned by the
// Release), so that a rollback restores it exactly whatever the spec says by then.
func (r *ReleaseReconciler) saveSnapshot(ctx context.Context, s *releaseScope) error {
	raw, err := json.Marshal(s.snap)
	if err != nil {
		return err
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: snapshotName(s.rel, s.revision), Namespace: s.rel.Namespace,
			Labels: release.Labels(s.rel, "revision", s.revision)},
		Data:     runtime.RawExtension{Raw: raw},
		Revision: s.rel.Generation,
	}
	if err := controllerutil.SetControllerReference(s.rel, cr, r.Scheme()); err != nil {
		return err
	}
	return client.IgnoreAlreadyExists(r.Create(ctx, cr))
}

func (r *ReleaseReconciler) loadSnapshot(ctx context.Context, s *releaseScope, revision string) (release.Snapshot, error) {
	cr := &appsv1.ControllerRevision{}
	key := client.ObjectKey{Namespace: s.rel.Namespace, Name: snapshotName(s.rel, revision)}
	if err := r.Get(ctx, key, cr); err != nil {
		if !apierrors.IsNotFound(err) {
			return release.Snapshot{}, err
		}
		if err := r.APIReader.Get(ctx, key, cr); err != nil {
			if apierrors.IsNotFound(err) {
				return release.Snapshot{}, reconcile.Stall(opsv1alpha1.ReasonFailed,
					"The templates of revision %s (ControllerRevision %s) are gone, so it cannot be restored", revision, key.Name)
			}
			return release.Snapshot{}, err
		}
	}
	var snap release.Snapshot
	if err := json.Unmarshal(cr.Data.Raw, &snap); err != nil {
		return release.Snapshot{}, fmt.Errorf("ControllerRevision %s: %w", key.Name, err)
	}
	return snap, nil
}

// pruneSnapshots deletes the ControllerRevisions of revisions no longer in history.
func (r *ReleaseReconciler) pruneSnapshots(ctx context.Context, s *releaseScope) error {
	var list appsv1.ControllerRevisionList
	if err := r.List(ctx, &list, client.InNamespace(s.rel.Namespace),
		client.MatchingLabels{opsv1alpha1.LabelRelease: s.rel.Name, opsv1alpha1.LabelComponent: "revision"}); err != nil {
		return err
	}
	for i := range list.Items {
		cr := &list.Items[i]
		rev := cr.Labels[opsv1alpha1.LabelRevision]
		if !metav1.IsControlledBy(cr, s.rel) || rev == s.rel.Status.StableRevision || release.Find(s.rel.Status.History, rev) != nil {
			continue
		}
		if err := r.Delete(ctx, cr); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}
