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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/rotation"
)

// Restart targets are Deployments: each named Deployment, and every component
// Deployment of a named Release (`<release>-<component>`, api.ComponentDeploymentName,
// in the order of its components). A phase restarts them one at a time, in order, by
// setting the pod-template annotation ops.runbook.dev/secret.<secretName> to the
// Secret's version, and waits for each rollout before the next.

// resolveTargets lists the Deployments to restart, in order. missing names the first
// target (or component Deployment) that does not exist.
func (r *SecretRotationReconciler) resolveTargets(ctx context.Context, sr *opsv1alpha1.SecretRotation) (out []opsv1alpha1.RestartTargetStatus, missing string, err error) {
	for _, t := range sr.Spec.RestartTargets {
		var names []string
		switch t.Kind {
		case opsv1alpha1.RestartRelease:
			rel := &opsv1alpha1.Release{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: t.Name}, rel); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, "Release " + t.Name, nil
				}
				return nil, "", err
			}
			for _, c := range rel.Spec.Components {
				names = append(names, opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name))
			}
		case opsv1alpha1.RestartDeployment:
			names = []string{t.Name}
		default:
			return nil, "", rotationStalled(opsv1alpha1.ReasonInvalidSpec, fmt.Sprintf("restart target %s %s: only Deployments and Releases can be restarted by a SecretRotation", t.Kind, t.Name))
		}
		for _, n := range names {
			dep := &appsv1.Deployment{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: n}, dep); err != nil {
				if apierrors.IsNotFound(err) {
					if t.Kind == opsv1alpha1.RestartRelease {
						return nil, fmt.Sprintf("Deployment %s of Release %s", n, t.Name), nil
					}
					return nil, "Deployment " + n, nil
				}
				return nil, "", err
			}
			out = append(out, opsv1alpha1.RestartTargetStatus{Kind: t.Kind, Name: t.Name, Deployment: n, State: opsv1alpha1.TargetWaiting})
		}
	}
	return out, "", nil
}

// restartTargets moves the targets of a phase towards the record's version: the first
// target not yet rolled out to it is stamped (if it is not already) and waited for; the
// ones after it wait. done is true when every target runs the version. A target whose
// rollout failed, or whose new pods run without becoming Ready (rotation.StalledPods),
// is a stop naming it.
func (r *SecretRotationReconciler) restartTargets(ctx context.Context, sr *opsv1alpha1.SecretRotation, targets []opsv1alpha1.RestartTargetStatus, rec rotation.Record, now time.Time) (done bool, err error) {
	version := rec.Version
	ann := opsv1alpha1.SecretVersionAnnotation(sr.Spec.SecretName)
	for i := range targets {
		t := &targets[i]
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: t.Deployment}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				return false, rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target Deployment %s disappeared during the rotation; %s. Recreate it, or remove it from spec.restartTargets", t.Deployment, rotation.Holds(rec)))
			}
			return false, err
		}
		t.Version = dep.Spec.Template.Annotations[ann]
		if t.Version != version {
			before := dep.DeepCopy()
			if dep.Spec.Template.Annotations == nil {
				dep.Spec.Template.Annotations = map[string]string{}
			}
			dep.Spec.Template.Annotations[ann] = version
			if err := r.Patch(ctx, dep, client.MergeFrom(before)); err != nil {
				if apierrors.IsForbidden(err) {
					return false, rotationStalled(opsv1alpha1.ReasonForbidden, fmt.Sprintf("the manager may not patch Deployment %s to restart it: grant it patch on deployments", t.Deployment))
				}
				return false, err
			}
			t.Version, t.State = version, opsv1alpha1.TargetRollingOut
			r.event(sr, corev1.EventTypeNormal, "Restarting", "Restart", fmt.Sprintf("Restarting Deployment %s (target %d of %d) for Secret version %s", t.Deployment, i+1, len(targets), version))
			return false, nil
		}
		switch rotation.RolloutState(dep) {
		case opsv1alpha1.TargetRolledOut:
			t.State = opsv1alpha1.TargetRolledOut
			continue
		case opsv1alpha1.TargetFailed:
			t.State = opsv1alpha1.TargetFailed
			return false, rotationStalled(opsv1alpha1.ReasonRolloutFailed, fmt.Sprintf("Deployment %s did not roll out with Secret version %s (progress deadline exceeded); the rotation stopped before the next step and %s. Fix the Deployment: the rotation continues once it rolls out", t.Deployment, version, rotation.Holds(rec)))
		default:
			t.State = opsv1alpha1.TargetRollingOut
			return false, r.stalledRollout(ctx, dep, ann, rec, now)
		}
	}
	return true, nil
}

// stalledRollout is a stop when the Deployment's new pods run without becoming Ready
// (rotation.StalledPods), naming them and their readiness probe's answer, instead of
// a silent wait for the progress deadline; nil otherwise. Pods and events are read
// from the API server (neither is cached).
func (r *SecretRotationReconciler) stalledRollout(ctx context.Context, dep *appsv1.Deployment, ann string, rec rotation.Record, now time.Time) error {
	if r.APIReader == nil || dep.Spec.Selector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return err // the API server validated it: not reached
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(dep.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return client.IgnoreNotFound(ignoreForbidden(err))
	}
	stallAfter := r.StallAfter
	if stallAfter <= 0 {
		stallAfter = rotation.StallAfter
	}
	if rotation.StalledPods(pods.Items, nil, ann, rec.Version, now, stallAfter) == "" {
		return nil
	}
	var events corev1.EventList
	if err := r.APIReader.List(ctx, &events, client.InNamespace(dep.Namespace)); err != nil && !apierrors.IsForbidden(err) {
		return err
	}
	why := rotation.StalledPods(pods.Items, events.Items, ann, rec.Version, now, stallAfter)
	return rotationStalled(opsv1alpha1.ReasonRolloutStalled, fmt.Sprintf("Deployment %s does not finish its restart for Secret version %s: %s. Meanwhile %s, and the old pods keep serving with the values they started with. Fix what the probe answers: the rotation continues once the pods are Ready", dep.Name, rec.Version, why, rotation.Holds(rec)))
}

func ignoreForbidden(err error) error {
	if apierrors.IsForbidden(err) {
		return nil
	}
	return err
}
