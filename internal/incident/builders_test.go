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

package incident

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/release"
)

func TestIsolationPolicySelectsExactlyTheReleasesComponentPods(t *testing.T) {
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: "shop"},
		Spec: opsv1alpha1.ReleaseSpec{Components: []opsv1alpha1.Component{{Name: "web"}, {Name: "worker"}}}}
	other := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas-admin", Namespace: "shop"}}
	inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "breach", Namespace: "shop"}, Spec: opsv1alpha1.IncidentSpec{
		Response: &opsv1alpha1.IncidentResponse{Isolate: &opsv1alpha1.IsolateAction{AllowFrom: []opsv1alpha1.IsolationSource{
			{Name: "admin", PodLabels: map[string]opsv1alpha1.LabelValue{"app": "admin-shell"}},
			{Name: "monitoring", NamespaceLabels: map[string]opsv1alpha1.LabelValue{"kubernetes.io/metadata.name": "monitoring"}, PodLabels: map[string]opsv1alpha1.LabelValue{"app": "prometheus"}},
		}}}}}
	np := IsolationPolicy(inc, rel)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what   string
		labels map[string]string
		want   bool
	}{
		{"web pod", release.Labels(rel, "web", "abc"), true},
		{"worker pod of another revision", release.Labels(rel, "worker", "def"), true},
		{"the release's migration Job pod", release.Labels(rel, release.StepNameMigrate, "abc"), false},
		{"another release's web pod", release.Labels(other, "web", "abc"), false},
		{"an unrelated pod", map[string]string{"app": "web"}, false},
	} {
		if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
			t.Errorf("%s: selected %v, want %v", tc.what, got, tc.want)
		}
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Fatalf("policy types %v: only ingress is denied", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 2 || np.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app"] != "admin-shell" || np.Spec.Ingress[0].From[0].NamespaceSelector != nil ||
		np.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" || np.Spec.Ingress[1].From[0].PodSelector.MatchLabels["app"] != "prometheus" {
		t.Fatalf("ingress %+v", np.Spec.Ingress)
	}
	if np.Namespace != "shop" || np.Name != "breach-isolate" || np.Labels[opsv1alpha1.LabelIncident] != "breach" {
		t.Fatalf("metadata %+v", np.ObjectMeta)
	}
	inc.Spec.Response.Isolate.AllowFrom = nil
	if np := IsolationPolicy(inc, rel); np.Spec.Ingress == nil || len(np.Spec.Ingress) != 0 {
		t.Fatalf("without sources the ingress list must be empty (deny all), got %v", np.Spec.Ingress)
	}
}

func TestEvidenceConfigMapsReassembleToTheBundle(t *testing.T) {
	inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("i", 250), Namespace: "shop"}}
	b := evidence.Assemble([]evidence.Section{{Name: "logs", Content: strings.Repeat("line\n", 100000), Tail: true}}, nil, 0)
	pieces := b.Pieces(100 << 10)
	cms := EvidenceConfigMaps(inc, pieces, b.SHA256)
	if len(cms) != len(pieces) {
		t.Fatalf("%d ConfigMaps for %d pieces", len(cms), len(pieces))
	}
	var got []string
	seen := map[string]bool{}
	for _, cm := range cms {
		if len(cm.Name) > 253 || seen[cm.Name] || cm.Annotations["ops.runbook.dev/evidence-sha256"] != b.SHA256 || cm.Immutable == nil || !*cm.Immutable {
			t.Fatalf("ConfigMap %q: %v", cm.Name, cm.Annotations)
		}
		seen[cm.Name] = true
		got = append(got, cm.Data[EvidenceKey])
	}
	if !evidence.Verify(got, b.SHA256) {
		t.Fatal("the ConfigMaps do not reassemble to the hashed bundle")
	}
}
