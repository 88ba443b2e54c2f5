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
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/names"
)

// Labels of every object an incident creates.
func Labels(inc *opsv1alpha1.Incident) map[string]string {
	return map[string]string{
		opsv1alpha1.LabelIncident:      names.LabelValue(inc.Name),
		"app.kubernetes.io/managed-by": "runbook-operator",
	}
}

// IsolationPolicyName is the name of an incident's NetworkPolicy.
func IsolationPolicyName(inc *opsv1alpha1.Incident) string {
	return names.Join(inc.Name, "isolate", names.MaxObjectName)
}

// IsolationPolicy builds the NetworkPolicy that isolates rel's component pods (not
// its Jobs': those carry the step as component): ingress denied except from the
// spec's allowFrom sources. Egress is left alone, so the pods still reach their
// database and DNS and their logs still tell what they do.
func IsolationPolicy(inc *opsv1alpha1.Incident, rel *opsv1alpha1.Release) *networkingv1.NetworkPolicy {
	components := make([]string, 0, len(rel.Spec.Components))
	for _, c := range rel.Spec.Components {
		components = append(components, c.Name)
	}
	slices.Sort(components)
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: IsolationPolicyName(inc), Namespace: inc.Namespace, Labels: Labels(inc)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{
				MatchLabels:      map[string]string{opsv1alpha1.LabelRelease: rel.Name},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: opsv1alpha1.LabelComponent, Operator: metav1.LabelSelectorOpIn, Values: components}},
			},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{},
		},
	}
	if r := inc.Spec.Response; r != nil && r.Isolate != nil {
		for _, src := range r.Isolate.AllowFrom {
			peer := networkingv1.NetworkPolicyPeer{}
			if len(src.PodLabels) > 0 {
				peer.PodSelector = &metav1.LabelSelector{MatchLabels: labelMap(src.PodLabels)}
			}
			if len(src.NamespaceLabels) > 0 {
				peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: labelMap(src.NamespaceLabels)}
			}
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{peer}})
		}
	}
	return np
}

func labelMap(m map[string]opsv1alpha1.LabelValue) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// EvidenceKey is the ConfigMap data key holding a piece of the bundle.
const EvidenceKey = "bundle"

// EvidenceConfigMaps builds one ConfigMap per piece of the bundle, named
// `<incident>-evidence-<first 8 of sha256>-<i>` (a retry that read other logs never
// collides with an earlier attempt's immutable ConfigMaps), each saying its place and
// the whole bundle's SHA-256:
// concatenating their EvidenceKey values in order gives the bundle. At most
// MaxEvidenceConfigMaps; the caller bounds the bundle so that it fits.
func EvidenceConfigMaps(inc *opsv1alpha1.Incident, pieces []string, sha256 string) []*corev1.ConfigMap {
	out := make([]*corev1.ConfigMap, 0, len(pieces))
	for i, p := range pieces {
		if i == opsv1alpha1.MaxEvidenceConfigMaps {
			break
		}
		out = append(out, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: names.Join(inc.Name, "evidence-"+sha256[:min(8, len(sha256))]+"-"+strconv.Itoa(i), names.MaxObjectName), Namespace: inc.Namespace, Labels: Labels(inc),
				Annotations: map[string]string{
					"ops.runbook.dev/evidence-sha256": sha256,
					"ops.runbook.dev/evidence-piece":  fmt.Sprintf("%d/%d", i+1, len(pieces)),
				},
			},
			Data:      map[string]string{EvidenceKey: p},
			Immutable: ptrTrue(),
		})
	}
	return out
}

func ptrTrue() *bool { t := true; return &t }
