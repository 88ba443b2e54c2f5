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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Available reports whether the Deployment runs revision on every pod and all of them
// are available; otherwise it says what is missing.
func Available(d *appsv1.Deployment, revision string) (bool, string) {
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	switch {
	case d.Spec.Template.Labels[opsv1alpha1.LabelRevision] != revision:
		return false, fmt.Sprintf("Deployment %s does not run revision %s yet", d.Name, revision)
	case s.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("Deployment %s: waiting for the Deployment controller to see the change", d.Name)
	case s.UpdatedReplicas < want || s.AvailableReplicas < want || s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("Deployment %s: %d of %d pods updated, %d available, %d old pods left",
			d.Name, s.UpdatedReplicas, want, s.AvailableReplicas, max(s.Replicas-s.UpdatedReplicas, 0))
	}
	return true, fmt.Sprintf("Deployment %s: %d pods of revision %s available", d.Name, want, revision)
}

// PodProblem names the first pod of pods that cannot run: a container waiting for a
// reason other than starting (ErrImagePull, CreateContainerConfigError naming a missing
// Secret, CrashLoopBackOff), or one that restarted. "" when none.
func PodProblem(pods []corev1.Pod) string {
	for i := range pods {
		p := &pods[i]
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
				msg := fmt.Sprintf("pod %s: container %s is waiting: %s", p.Name, cs.Name, w.Reason)
				if w.Message != "" {
					msg += " (" + w.Message + ")"
				}
				return msg
			}
			if cs.RestartCount > 0 {
				return fmt.Sprintf("pod %s: container %s restarted %d times", p.Name, cs.Name, cs.RestartCount)
			}
		}
	}
	return ""
}

// Removed lists the components that still have a Deployment (found, by their component
// label) but are no longer in the spec, in the order found, each once.
func Removed(spec *opsv1alpha1.ReleaseSpec, found []string) []string {
	in := map[string]bool{}
	for _, c := range spec.Components {
		in[c.Name] = true
	}
	var out []string
	for _, name := range found {
		if name != "" && !in[name] {
			out = append(out, name)
			in[name] = true // once
		}
	}
	return out
}
