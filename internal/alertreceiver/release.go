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

package alertreceiver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/truncate"
)

// Alert labels naming a workload (kube-state-metrics' and the kubelet's: the
// KubePodCrashLooping and KubeDeploymentReplicasMismatch kind of alert), whose object
// may carry a Release's label.
const (
	PodLabel        = "pod"
	DeploymentLabel = "deployment"
)

// MaxWorkloadLookups bounds the objects read to find the Release of a notification.
const MaxWorkloadLookups = 5

// Workload is a pod or Deployment an alert names.
type Workload struct {
	Kind, Name string
}

// Workloads are the distinct pods and Deployments the group's alerts name (labels
// PodLabel and DeploymentLabel, the common ones first, then the firing alerts', then
// the others'), at most n, pods first; names that cannot be objects' are skipped.
func Workloads(m *Message, n int) []Workload {
	var out []Workload
	add := func(kind, name string) {
		if name == "" || len(out) >= n || len(validation.IsDNS1123Subdomain(name)) > 0 {
			return
		}
		w := Workload{Kind: kind, Name: name}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	alerts := append(m.Alerts.Firing(), m.Alerts...)
	for _, l := range []struct{ label, kind string }{{PodLabel, "Pod"}, {DeploymentLabel, "Deployment"}} {
		add(l.kind, m.CommonLabels[l.label])
		for _, a := range alerts {
			add(l.kind, a.Labels[l.label])
		}
	}
	return out
}

// SetRelease points inc at Release name, found as how says, and says so in the
// description.
func SetRelease(inc *opsv1alpha1.Incident, name, how string) {
	inc.Spec.ReleaseRef = &opsv1alpha1.LocalObjectReference{Name: name}
	Note(inc, fmt.Sprintf("releaseRef %s: %s.", name, how))
}

// Note adds a line to inc's description, within its bound.
func Note(inc *opsv1alpha1.Incident, line string) {
	inc.Spec.Description = truncate.String(strings.TrimSpace(inc.Spec.Description+"\n"+line), maxDescription)
}

// findRelease points an Incident that names no Release at the one whose label
// (ops.runbook.dev/release) the pods and Deployments its alerts name carry, when they
// all carry the same one and it exists: its evidence then covers that Release's pods,
// logs, events and workloads. Otherwise the Incident is left as it is, with a note
// when the workloads named several Releases or one that does not exist (its evidence
// is then the namespace's pods in trouble and Warning events). Each object is one get
// through the API reader, at most MaxWorkloadLookups; a workload that is gone is
// skipped, and an error leaves the Incident without a releaseRef rather than refusing
// the notification.
func (r *Receiver) findRelease(ctx context.Context, inc *opsv1alpha1.Incident, m *Message) {
	if inc.Spec.ReleaseRef != nil {
		return
	}
	found := map[string]string{} // Release → the first workload naming it
	var names []string
	for _, w := range Workloads(m, MaxWorkloadLookups) {
		var obj client.Object = &corev1.Pod{}
		if w.Kind == "Deployment" {
			obj = &appsv1.Deployment{}
		}
		if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: w.Name}, obj); err != nil {
			if !apierrors.IsNotFound(err) {
				r.Log.Info("alert receiver: cannot read a workload the alerts name; no releaseRef from it", "kind", w.Kind, "namespace", inc.Namespace, "name", w.Name, "error", err.Error())
			}
			continue
		}
		rel := obj.GetLabels()[opsv1alpha1.LabelRelease]
		if rel == "" {
			continue
		}
		if _, ok := found[rel]; !ok {
			found[rel] = fmt.Sprintf("%s %s carries the label %s=%s", strings.ToLower(w.Kind), w.Name, opsv1alpha1.LabelRelease, rel)
			names = append(names, rel)
		}
	}
	switch len(names) {
	case 0:
		return
	case 1:
	default:
		Note(inc, fmt.Sprintf("The alerts name workloads of several Releases (%s): no releaseRef set; the evidence covers the namespace.", strings.Join(names, ", ")))
		return
	}
	name := names[0]
	if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: name}, &opsv1alpha1.Release{}); err != nil {
		if apierrors.IsNotFound(err) {
			Note(inc, fmt.Sprintf("The alerts' %s, but Release %s does not exist: no releaseRef set.", found[name], name))
		}
		return
	}
	SetRelease(inc, name, "the alerts' "+found[name])
}
