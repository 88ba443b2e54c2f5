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

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// The workloads of a restore are Deployments: every component Deployment of
// spec.quiesce.releaseRef (`<release>-<component>`) and spec.quiesce.deployments.
// Their replica counts are recorded in status.quiescedWorkloads before they are scaled
// to zero through the scale subresource, and given back from there.

// resolveWorkloads lists the workloads to quiesce with their current replica counts
// (read from the API server, not the cache). wait explains why the restore cannot
// start yet: the Release or a Deployment does not exist, or another restore holds one
// of them at zero (recording its zero would lose the real count).
func (r *DatabaseRestoreReconciler) resolveWorkloads(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (out []opsv1alpha1.QuiescedWorkload, wait string, err error) {
	q := rs.Spec.Quiesce
	if q == nil {
		return nil, "", nil
	}
	var names []string
	// A Release component without a Deployment runs nothing (not rolled out yet, or
	// removed by a rollback to a revision without it) and the Release creates none
	// while quiesced: it is skipped rather than waited for.
	releaseOwned := map[string]bool{}
	if q.ReleaseRef != nil {
		rel := &opsv1alpha1.Release{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: q.ReleaseRef.Name}, rel); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Sprintf("Release %s named in spec.quiesce.releaseRef does not exist; nothing was stopped. If the name is wrong, delete this DatabaseRestore and create a corrected one", q.ReleaseRef.Name), nil
			}
			return nil, "", err
		}
		if by := rel.Annotations[opsv1alpha1.AnnotationQuiescedBy]; by != "" && by != rs.Name {
			return nil, fmt.Sprintf("Release %s is quiesced by %s; waiting until it resumes it", rel.Name, opsv1alpha1.QuiescedByWords(by)), nil
		}
		for _, c := range rel.Spec.Components {
			name := opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)
			names = append(names, name)
			releaseOwned[name] = true
		}
	}
	for _, d := range q.Deployments {
		if !slices.Contains(names, d) {
			names = append(names, d)
		}
	}
	held, err := r.heldByOthers(ctx, rs)
	if err != nil {
		return nil, "", err
	}
	var missing []string
	for _, name := range names {
		if holder, ok := held[name]; ok {
			return nil, fmt.Sprintf("Deployment %s is held at zero replicas by DatabaseRestore %s; waiting until that restore resumes it", name, holder), nil
		}
		dep := &appsv1.Deployment{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				if !releaseOwned[name] {
					missing = append(missing, name)
				}
				continue
			}
			return nil, "", err
		}
		replicas := int32(1) // the API default
		if dep.Spec.Replicas != nil {
			replicas = *dep.Spec.Replicas
		}
		out = append(out, opsv1alpha1.QuiescedWorkload{Kind: opsv1alpha1.WorkloadDeployment, Name: name, Replicas: replicas})
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf("Deployment %s named in spec.quiesce does not exist; nothing was stopped. The restore starts when it exists; if a name is wrong, delete this DatabaseRestore and create a corrected one",
			strings.Join(missing, ", ")), nil
	}
	return out, "", nil
}

// heldByOthers maps the Deployments other restores of the namespace hold at zero to
// the restore's name.
func (r *DatabaseRestoreReconciler) heldByOthers(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (map[string]string, error) {
	var list opsv1alpha1.DatabaseRestoreList
	if err := r.List(ctx, &list, client.InNamespace(rs.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	held := map[string]string{}
	for i := range list.Items {
		o := &list.Items[i]
		if o.Name == rs.Name || !holdsWorkloads(o) {
			continue
		}
		for _, w := range o.Status.QuiescedWorkloads {
			held[w.Name] = o.Name
		}
	}
	return held, nil
}

// holdAtZero scales every recorded workload that is not at zero replicas to zero and
// returns the names of those it scaled. Deployments deleted meanwhile are skipped.
func (r *DatabaseRestoreReconciler) holdAtZero(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) ([]string, error) {
	var scaled []string
	for _, w := range rs.Status.QuiescedWorkloads {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: w.Name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return scaled, err
		}
		if dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 {
			continue
		}
		if err := r.scale(ctx, dep, 0); err != nil {
			return scaled, err
		}
		scaled = append(scaled, w.Name)
	}
	return scaled, nil
}

// scaleDown scales the workloads to zero and says which still have pods: "" when
// every pod is gone. A Deployment counts as stopped once its controller observed the
// scale-down and reports no replicas, and no running or terminating pod matches its
// selector (pods are listed from the API server).
func (r *DatabaseRestoreReconciler) scaleDown(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (string, error) {
	scaled, err := r.holdAtZero(ctx, rs)
	if err != nil {
		return "", err
	}
	waiting := make([]string, 0, len(scaled))
	for _, name := range scaled {
		waiting = append(waiting, name+" (scaling to zero)")
	}
	for _, w := range rs.Status.QuiescedWorkloads {
		if slices.Contains(scaled, w.Name) {
			continue
		}
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: w.Name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				continue // deleted: nothing of it runs
			}
			return "", err
		}
		pods, err := r.podsLeft(ctx, dep)
		if err != nil {
			return "", err
		}
		switch {
		case pods > 0:
			waiting = append(waiting, fmt.Sprintf("%s (%d pods left)", w.Name, pods))
		case dep.Status.ObservedGeneration < dep.Generation || dep.Status.Replicas > 0:
			waiting = append(waiting, fmt.Sprintf("%s (its controller has not reported the scale-down yet)", w.Name))
		}
	}
	return strings.Join(waiting, ", "), nil
}

// podsLeft counts the pods of dep that run or are terminating; pods that finished
// (Succeeded, Failed, e.g. evicted) hold no connection.
func (r *DatabaseRestoreReconciler) podsLeft(ctx context.Context, dep *appsv1.Deployment) (int, error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return 0, err
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(dep.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return 0, err
	}
	n := 0
	for i := range pods.Items {
		if ph := pods.Items[i].Status.Phase; ph != corev1.PodSucceeded && ph != corev1.PodFailed {
			n++
		}
	}
	return n, nil
}

// resume scales each recorded workload that is still at zero back to its recorded
// count (one that someone already scaled is left as it is), then removes the Release
// annotation. It returns what it did, for a person.
func (r *DatabaseRestoreReconciler) resume(ctx context.Context, rs *opsv1alpha1.DatabaseRestore) (string, error) {
	var done, notes []string
	for _, w := range rs.Status.QuiescedWorkloads {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: w.Name}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				notes = append(notes, fmt.Sprintf("Deployment %s no longer exists", w.Name))
				continue
			}
			return "", err
		}
		switch {
		case dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 && w.Replicas != 0:
			if err := r.scale(ctx, dep, w.Replicas); err != nil {
				return "", err
			}
			done = append(done, fmt.Sprintf("%s to %d", w.Name, w.Replicas))
		case dep.Spec.Replicas == nil || *dep.Spec.Replicas == w.Replicas:
			done = append(done, fmt.Sprintf("%s to %d", w.Name, w.Replicas))
		default:
			notes = append(notes, fmt.Sprintf("%s was already scaled to %d by someone else and was left so", w.Name, *dep.Spec.Replicas))
		}
	}
	if err := r.markRelease(ctx, rs, false); err != nil {
		return "", err
	}
	if len(rs.Status.QuiescedWorkloads) == 0 {
		return "Nothing to resume: no workloads were stopped", nil
	}
	msg := "Scaled " + strings.Join(done, ", ") + " replicas"
	if len(done) == 0 {
		msg = "No workload needed scaling back"
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return msg, nil
}

// scale sets dep's replicas through the scale subresource (RBAC: deployments/scale
// patch only, no write access to the Deployment itself).
func (r *DatabaseRestoreReconciler) scale(ctx context.Context, dep *appsv1.Deployment, replicas int32) error {
	return scaleDeployment(ctx, r.Client, dep, replicas)
}

// scaleDeployment sets dep's replicas through the scale subresource (the quiesce
// contract's holders: DatabaseRestore, Incident's takeOffline).
func scaleDeployment(ctx context.Context, c client.Client, dep *appsv1.Deployment, replicas int32) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	return c.SubResource("scale").Patch(ctx, dep, patch, client.WithSubResourceBody(&autoscalingv1.Scale{}))
}

// markRelease sets (on) or removes the quiesced-by annotation of spec.quiesce.releaseRef.
// It only ever removes its own name.
func (r *DatabaseRestoreReconciler) markRelease(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, on bool) error {
	if rs.Spec.Quiesce == nil || rs.Spec.Quiesce.ReleaseRef == nil {
		return nil
	}
	return markQuiesced(ctx, r.Client, r.Client, rs.Namespace, rs.Spec.Quiesce.ReleaseRef.Name, rs.Name, on)
}

// markQuiesced sets (on) or removes the quiesced-by annotation of Release release to
// holder (a DatabaseRestore's name, or `Incident/<name>`), reading the Release with
// reader. It only ever removes holder, and refuses to set it over another holder. A
// Release that is gone is no error.
func markQuiesced(ctx context.Context, c client.Client, reader client.Reader, namespace, release, holder string, on bool) error {
	rel := &opsv1alpha1.Release{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: release}, rel); err != nil {
		return client.IgnoreNotFound(err)
	}
	cur, has := rel.Annotations[opsv1alpha1.AnnotationQuiescedBy]
	switch {
	case on && cur == holder, !on && cur != holder:
		return nil
	case on && has:
		return fmt.Errorf("release %s is quiesced by %s", rel.Name, opsv1alpha1.QuiescedByWords(cur))
	}
	before := rel.DeepCopy()
	if on {
		if rel.Annotations == nil {
			rel.Annotations = map[string]string{}
		}
		rel.Annotations[opsv1alpha1.AnnotationQuiescedBy] = holder
	} else {
		delete(rel.Annotations, opsv1alpha1.AnnotationQuiescedBy)
	}
	return client.IgnoreNotFound(c.Patch(ctx, rel, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
}

// workloadCounts lists workloads with their recorded counts: "saas-web (3 replicas),
// beat (1 replica)"; none when there are none.
func workloadCounts(ws []opsv1alpha1.QuiescedWorkload, none string) string {
	if len(ws) == 0 {
		return none
	}
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		unit := "replicas"
		if w.Replicas == 1 {
			unit = "replica"
		}
		parts = append(parts, fmt.Sprintf("%s (%d %s)", w.Name, w.Replicas, unit))
	}
	return strings.Join(parts, ", ")
}

func workloadNames(ws []opsv1alpha1.QuiescedWorkload) string {
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		parts = append(parts, w.Name)
	}
	return strings.Join(parts, ", ")
}
