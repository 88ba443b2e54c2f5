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
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// canaryInput is a release with a canary on web, stable revision "old", the spec's
// revision in progress with p.
func canaryInput(p *opsv1alpha1.ReleaseProgress, stable string) Input {
	spec := baseSpec()
	spec.Backup, spec.Database, spec.Migrations, spec.PreDeploy = nil, nil, nil, nil
	spec.Canary = &opsv1alpha1.ReleaseCanary{Component: "web", Replicas: 2}
	rev := SnapshotOf(&spec).Revision()
	if p != nil {
		p.Revision = rev
	}
	st := &opsv1alpha1.ReleaseStatus{StableRevision: stable, StableVersion: "0.9.0", Progress: p,
		History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionInProgress}}}
	return Input{Spec: &spec, Status: st, Revision: rev, Now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}

func TestCanaryComesBetweenPreDeployAndRollout(t *testing.T) {
	now := &metav1.Time{Time: time.Date(2026, 12, 1, 9, 59, 0, 0, time.UTC)}
	cases := []struct {
		name   string
		p      *opsv1alpha1.ReleaseProgress
		stable string
		want   Step
	}{
		{"not started, stable pods to protect", &opsv1alpha1.ReleaseProgress{}, "old", StepCanary},
		{"first deploy: no stable pods, no canary", &opsv1alpha1.ReleaseProgress{}, "", StepRollout},
		{"canary running", &opsv1alpha1.ReleaseProgress{Canary: &opsv1alpha1.CanaryProgress{Component: "web", StartTime: now}}, "old", StepCanary},
		{"canary in its window", &opsv1alpha1.ReleaseProgress{Canary: &opsv1alpha1.CanaryProgress{Component: "web", StartTime: now, WindowStartTime: now}}, "old", StepCanary},
		{"canary passed: the rollout", &opsv1alpha1.ReleaseProgress{Canary: &opsv1alpha1.CanaryProgress{Component: "web", Passed: true}}, "old", StepRollout},
		{"rollout started (canary added to the spec late): no canary", &opsv1alpha1.ReleaseProgress{RolloutStartTime: now}, "old", StepRollout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Next(canaryInput(c.p, c.stable))
			if d.Step != c.want {
				t.Fatalf("Next = %s (%s), want %s", d.Step, d.Why, c.want)
			}
			if d.Step == StepCanary && !strings.Contains(d.Why, "the canary of component web (2 new pods)") {
				t.Errorf("why = %q, want the canary's pods and component", d.Why)
			}
		})
	}
}

func TestCanaryRunningOnlyWhileTheRevisionIsInItsCanary(t *testing.T) {
	running := func() *opsv1alpha1.ReleaseProgress {
		return &opsv1alpha1.ReleaseProgress{Canary: &opsv1alpha1.CanaryProgress{Component: "web", Deployment: "saas-web-canary"}}
	}
	cases := []struct {
		name   string
		mutate func(*Input)
		want   bool
	}{
		{"running", func(*Input) {}, true},
		{"passed", func(in *Input) { in.Status.Progress.Canary.Passed = true }, false},
		{"rollout started", func(in *Input) { in.Status.Progress.RolloutStartTime = &metav1.Time{} }, false},
		{"revision ended (rolled back)", func(in *Input) { in.Status.History[0].Result = opsv1alpha1.RevisionRolledBack }, false},
		{"progress cleared by the rollback", func(in *Input) { in.Status.Progress = nil }, false},
		{"canary removed from the spec", func(in *Input) { in.Spec.Canary = nil }, false},
		{"canary moved to another component", func(in *Input) { in.Spec.Canary.Component = "api" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := canaryInput(running(), "old")
			c.mutate(&in)
			if got := CanaryRunning(in.Spec, in.Status) != nil; got != c.want {
				t.Fatalf("CanaryRunning = %v, want %v", got, c.want)
			}
		})
	}
}

func TestPlanRollbackOfACanaryRemovesOnlyTheCanary(t *testing.T) {
	in := canaryInput(&opsv1alpha1.ReleaseProgress{Canary: &opsv1alpha1.CanaryProgress{Component: "web"}}, "old")
	in.Spec.Rollback.Automatic = ptr.To(false)
	rb := PlanRollback(in.Spec, in.Status, in.Revision)
	if !rb.Possible || !rb.Canary || rb.To != "old" {
		t.Fatalf("canary failure with rollback.automatic false: %+v, want the canary removed (Possible, Canary, to old)", rb)
	}
	in.Status.Progress.Canary.Passed = true
	in.Status.Progress.RolloutStartTime = &metav1.Time{}
	if rb := PlanRollback(in.Spec, in.Status, in.Revision); rb.Possible || rb.Canary {
		t.Fatalf("a rollout failure after the canary with rollback.automatic false: %+v, want no rollback", rb)
	}
}

func TestCanaryDeploymentSharesTheServiceSelectorNotTheDeployments(t *testing.T) {
	in := canaryInput(nil, "old")
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: "ns"}, Spec: *in.Spec}
	web := &rel.Spec.Components[1]
	web.Replicas = ptr.To[int32](3)
	snap := SnapshotOf(&rel.Spec)
	d := CanaryDeployment(rel, web, snap, "abc")
	stable := Deployment(rel, web, snap, "abc")
	if d.Name != "saas-web-canary" || *d.Spec.Replicas != 2 {
		t.Fatalf("canary Deployment %s with %d replicas, want saas-web-canary with canary.replicas 2", d.Name, *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Labels
	for k, v := range Service(rel, &opsv1alpha1.Component{Name: "web", Ports: web.Ports, Service: &opsv1alpha1.ComponentService{Port: 80}}).Spec.Selector {
		if pod[k] != v {
			t.Errorf("canary pods lack the Service's selector label %s=%s: they would get no traffic", k, v)
		}
	}
	if d.Spec.Selector.MatchLabels[opsv1alpha1.LabelCanary] != "true" || stable.Spec.Template.Labels[opsv1alpha1.LabelCanary] != "" {
		t.Errorf("the canary's selector must hold the canary label and the stable pods must not carry it: %v / %v", d.Spec.Selector.MatchLabels, stable.Spec.Template.Labels)
	}
	if stable.Spec.Template.Spec.Containers[0].Image != d.Spec.Template.Spec.Containers[0].Image || pod[opsv1alpha1.LabelRevision] != "abc" {
		t.Errorf("the canary runs the new revision's template")
	}
	if got := (&opsv1alpha1.ReleaseCanary{}).WindowOrDefault(); got != 30*time.Second {
		t.Errorf("default canary window %s, want 30s", got)
	}
}

func TestCanaryMessage(t *testing.T) {
	c := &opsv1alpha1.CanaryProgress{Component: "web", Replicas: 1, ReadyReplicas: 1, StableReplicas: 3}
	got := CanaryMessage(c, 30*time.Second, 30*time.Second)
	if got != "canary 1 of 4 pods of component web (1 new beside 3 stable) healthy for 30s of 30s" {
		t.Fatalf("message %q", got)
	}
}
