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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
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
		case opsv1alpha1.WorkloadRelease:
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
		case opsv1alpha1.WorkloadDeployment:
			names = []string{t.Name}
		default:
			return nil, "", rotationStalled(opsv1alpha1.ReasonInvalidSpec, fmt.Sprintf("restart target %s %s: only Deployments and Releases can be restarted by a SecretRotation", t.Kind, t.Name))
		}
		for _, n := range names {
			dep := &appsv1.Deployment{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: n}, dep); err != nil {
				if apierrors.IsNotFound(err) {
					if t.Kind == opsv1alpha1.WorkloadRelease {
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

// restartTargets moves the targets of a phase towards version: the first target not
// yet rolled out to it is stamped (if it is not already) and waited for; the ones after
// it wait. done is true when every target runs version. A target whose rollout failed
// is an error naming it.
func (r *SecretRotationReconciler) restartTargets(ctx context.Context, sr *opsv1alpha1.SecretRotation, targets []opsv1alpha1.RestartTargetStatus, version string) (done bool, err error) {
	ann := opsv1alpha1.SecretVersionAnnotation(sr.Spec.SecretName)
	for i := range targets {
		t := &targets[i]
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: t.Deployment}, dep); err != nil {
			if apierrors.IsNotFound(err) {
				return false, rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target Deployment %s disappeared during the rotation; the Secret holds values every running pod accepts. Recreate it, or remove it from spec.restartTargets", t.Deployment))
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
		switch rolloutState(dep) {
		case opsv1alpha1.TargetRolledOut:
			t.State = opsv1alpha1.TargetRolledOut
			continue
		case opsv1alpha1.TargetFailed:
			t.State = opsv1alpha1.TargetFailed
			return false, rotationStalled(opsv1alpha1.ReasonRolloutFailed, fmt.Sprintf("Deployment %s did not roll out with Secret version %s (progress deadline exceeded); the rotation stopped before the next step and the Secret holds values every running pod accepts. Fix the Deployment: the rotation continues once it rolls out", t.Deployment, version))
		default:
			t.State = opsv1alpha1.TargetRollingOut
			return false, nil
		}
	}
	return true, nil
}

// rolloutState says whether every pod of dep runs its current template, as `kubectl
// rollout status` decides it.
func rolloutState(dep *appsv1.Deployment) opsv1alpha1.TargetRestartState {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return opsv1alpha1.TargetFailed
		}
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	if dep.Generation <= st.ObservedGeneration && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want {
		return opsv1alpha1.TargetRolledOut
	}
	return opsv1alpha1.TargetRollingOut
}
