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
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestDeploymentTakesRevisionFromSnapshotAndScalingFromSpec(t *testing.T) {
	old := baseSpec()
	old.Env = []opsv1alpha1.EnvVar{{Name: "MODE", Value: "old"}}
	oldSnap := SnapshotOf(&old)
	cur := baseSpec()
	cur.Image = "saas:2.0.0"
	cur.Components[1].Strategy = opsv1alpha1.StrategyRecreate
	cur.Components[1].HealthPath = "/health"
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: "ns"}, Spec: cur}

	d := Deployment(rel, &rel.Spec.Components[1], oldSnap, "r1")
	c := d.Spec.Template.Spec.Containers[0]
	if d.Name != "saas-web" || c.Image != "saas:1.0.0" || c.Env[0].Value != "old" {
		t.Fatalf("revision parts not from the snapshot: %s %s %v", d.Name, c.Image, c.Env)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || c.ReadinessProbe == nil || *d.Spec.Replicas != 1 {
		t.Fatalf("direct parts not from the spec: %+v", d.Spec)
	}
	if d.Spec.Template.Labels[opsv1alpha1.LabelRevision] != "r1" || d.Spec.Selector.MatchLabels[opsv1alpha1.LabelRevision] != "" {
		t.Fatalf("labels: template %v selector %v", d.Spec.Template.Labels, d.Spec.Selector.MatchLabels)
	}
	if p := Deployment(rel, &rel.Spec.Components[1], oldSnap, "r1").Spec.Template.Spec.Containers[0].ReadinessProbe; p.HTTPGet == nil || p.HTTPGet.Path != "/health" {
		t.Fatalf("healthPath must be an HTTP readiness probe: %+v", p)
	}
	rel.Spec.Components[1].HealthPath = ""
	if p := Deployment(rel, &rel.Spec.Components[1], oldSnap, "r1").Spec.Template.Spec.Containers[0].ReadinessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.StrVal != rel.Spec.Components[1].Ports[0].Name {
		t.Fatalf("a component with ports and no healthPath must get a TCP readiness probe on its first port: %+v", p)
	}
	if p := Deployment(rel, &rel.Spec.Components[0], oldSnap, "r1").Spec.Template.Spec.Containers[0].ReadinessProbe; p != nil {
		t.Fatalf("a component without ports has no readiness probe: %+v", p)
	}
	rel.Spec.Components[0].Autoscaling = &opsv1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 4}
	if d := Deployment(rel, &rel.Spec.Components[0], oldSnap, "r1"); d.Spec.Replicas != nil {
		t.Fatal("with an HPA the Deployment must not carry replicas")
	}
	if h := HPA(rel, &rel.Spec.Components[0]); h == nil || *h.Spec.MinReplicas != 2 || h.Spec.ScaleTargetRef.Name != "saas-worker" {
		t.Fatalf("hpa %+v", h)
	}
	if Service(rel, &rel.Spec.Components[0]) != nil {
		t.Fatal("no service without service and ports")
	}
}

func TestJobNeverRetries(t *testing.T) {
	spec := baseSpec()
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: "ns"}, Spec: spec}
	j := Job(rel, SnapshotOf(&spec), "r1", StepNameMigrate, []string{"migrate"}, 60)
	if j.Name != "saas-migrate-r1" || *j.Spec.BackoffLimit != 0 || *j.Spec.ActiveDeadlineSeconds != 60 ||
		j.Spec.Template.Spec.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Fatalf("job %+v", j.Spec)
	}
}
