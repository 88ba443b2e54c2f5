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

package release

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/names"
)

// The canary step (spec.canary) runs after migrations and pre-deploy Jobs and before
// the rollout: a separate Deployment `<release>-<component>-canary` with the new
// revision's template of one serving component, whose pods carry the component's
// labels (the Service's selector) beside the canary label, so that they get a share
// of the traffic while the stable Deployment, and its pods, are not touched. Its pods
// are checked like verification checks pods for canary.window; then the canary is
// removed and every component rolls out. Workers and beat are never in it (the API
// server admits only a component with ports and strategy RollingUpdate), and no
// component's Deployment is written before the canary passed: a beat never runs twice.

// CanaryReplicas is canary.replicas with its default.
func CanaryReplicas(c *opsv1alpha1.ReleaseCanary) int32 {
	if c == nil || c.Replicas < 1 {
		return 1
	}
	return c.Replicas
}

// CanaryDeploymentName is the canary Deployment of component:
// `<release>-<component>-canary` (shortened with a hash should it not fit a name).
func CanaryDeploymentName(rel *opsv1alpha1.Release, component string) string {
	return names.Join(opsv1alpha1.ComponentDeploymentName(rel.Name, component), "canary", names.MaxObjectName)
}

// CanarySelector selects the canary Deployment's pods: the component's selector and
// the canary label, so that the canary's ReplicaSet never claims a stable pod. The
// stable Deployment's selector matches the canary's pods too, but it only counts pods
// of ReplicaSets it controls, by pod-template-hash.
func CanarySelector(rel *opsv1alpha1.Release, component string) map[string]string {
	sel := Selector(rel, component)
	sel[opsv1alpha1.LabelCanary] = "true"
	return sel
}

// CanaryDeployment builds the canary Deployment of component c at revision: its
// Deployment's template (Deployment) with the canary label, replicas canary.replicas,
// and never an HPA.
func CanaryDeployment(rel *opsv1alpha1.Release, c *opsv1alpha1.Component, snap Snapshot, revision string) *appsv1.Deployment {
	d := Deployment(rel, c, snap, revision)
	d.Name = CanaryDeploymentName(rel, c.Name)
	d.Labels[opsv1alpha1.LabelCanary] = "true"
	d.Spec.Template.Labels[opsv1alpha1.LabelCanary] = "true"
	d.Spec.Selector.MatchLabels = CanarySelector(rel, c.Name)
	d.Spec.Replicas = ptr.To(CanaryReplicas(rel.Spec.Canary))
	return d
}

// CanaryPending reports whether the pipeline's canary step is still to run for
// progress p: spec.canary is set, the rollout has not started, and the canary either
// has not started (and there are stable pods to protect: not on a first deploy, nor
// when the component is new) or has not passed.
func CanaryPending(spec *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus, p *opsv1alpha1.ReleaseProgress) bool {
	if spec.Canary == nil || p == nil || p.RolloutStartTime != nil {
		return false
	}
	if p.Canary != nil {
		return !p.Canary.Passed
	}
	return st.StableRevision != "" && st.StableRevision != p.Revision
}

// CanaryRunning is the canary progress of a revision whose canary is under way (not
// passed, the revision neither ended nor rolling out), or nil. A failure ends the
// revision (its progress is cleared): the canary is then removed.
func CanaryRunning(spec *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) *opsv1alpha1.CanaryProgress {
	p := st.Progress
	if spec.Canary == nil || p == nil || p.Canary == nil || p.Canary.Passed || p.RolloutStartTime != nil ||
		p.Canary.Component != spec.Canary.Component {
		return nil
	}
	if rec := Find(st.History, p.Revision); rec == nil || rec.Result != opsv1alpha1.RevisionInProgress {
		return nil
	}
	return p.Canary
}

// CanaryMessage is the canary's state in words, e.g. "canary 1 of 4 pods of component
// web (1 new beside 3 stable) healthy for 12s of 30s".
func CanaryMessage(c *opsv1alpha1.CanaryProgress, healthyFor, window time.Duration) string {
	total := c.Replicas + c.StableReplicas
	return fmt.Sprintf("canary %d of %d pods of component %s (%d new beside %d stable) healthy for %s of %s",
		c.ReadyReplicas, total, c.Component, c.Replicas, c.StableReplicas, healthyFor.Round(time.Second), window)
}

// CanaryRemoved says, for a failed canary's message, what the failure changed: only
// the canary's pods are removed.
func CanaryRemoved(c *opsv1alpha1.CanaryProgress) string {
	verb := "are"
	if c.Replicas == 1 {
		verb = "is"
	}
	return fmt.Sprintf("only the %s (Deployment %s) %s removed; the %s of component %s never changed",
		pods(c.Replicas, "canary"), c.Deployment, verb, pods(c.StableReplicas, "stable"), c.Component)
}

// pods counts pods of a kind in words: "1 canary pod", "3 stable pods".
func pods(n int32, kind string) string {
	if n == 1 {
		return "1 " + kind + " pod"
	}
	return fmt.Sprintf("%d %s pods", n, kind)
}
