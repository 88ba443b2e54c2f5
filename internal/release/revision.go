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

// Package release holds the Release controller's decisions as pure functions of the
// observed state (which revision the spec asks for, which pipeline step comes next and
// why, what a rollback restores) and the builders of the objects a Release owns. The
// reconciler in internal/controller only carries them out.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Snapshot is what defines a deployable revision: version, images, commands, env and
// migrations. Everything else (replicas, resources, autoscaling, ports, probe,
// strategy, Service, restartedAt) applies directly to whatever revision runs. It is
// kept per revision (in a ControllerRevision) so that a rollback restores it exactly.
type Snapshot struct {
	Version          string                             `json:"version"`
	Image            string                             `json:"image"`
	ImagePullSecrets []opsv1alpha1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	Env              []corev1.EnvVar                    `json:"env,omitempty"`
	EnvFrom          []corev1.EnvFromSource             `json:"envFrom,omitempty"`
	Components       []ComponentSnapshot                `json:"components"`
	Migrate          []string                           `json:"migrate,omitempty"`
	Plan             []string                           `json:"plan,omitempty"`
	PreDeploy        []PreDeploySnapshot                `json:"preDeploy,omitempty"`
}

// ComponentSnapshot is the revision-defining part of one component.
type ComponentSnapshot struct {
	Name    string                 `json:"name"`
	Image   string                 `json:"image,omitempty"`
	Command []string               `json:"command,omitempty"`
	Args    []string               `json:"args,omitempty"`
	Env     []corev1.EnvVar        `json:"env,omitempty"`
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
}

// PreDeploySnapshot is one pre-deploy command of a revision.
type PreDeploySnapshot struct {
	Name    string   `json:"name"`
	Command []string `json:"command"`
}

// SnapshotOf takes the revision-defining part of spec.
func SnapshotOf(spec *opsv1alpha1.ReleaseSpec) Snapshot {
	s := Snapshot{Version: spec.Version, Image: spec.Image, ImagePullSecrets: spec.ImagePullSecrets, Env: opsv1alpha1.CoreEnv(spec.Env), EnvFrom: spec.EnvFrom}
	for _, c := range spec.Components {
		s.Components = append(s.Components, ComponentSnapshot{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: opsv1alpha1.CoreEnv(c.Env), EnvFrom: c.EnvFrom})
	}
	if m := spec.Migrations; m != nil {
		s.Migrate, s.Plan = m.Command, m.PlanCommand
	}
	for _, p := range spec.PreDeploy {
		s.PreDeploy = append(s.PreDeploy, PreDeploySnapshot{Name: p.Name, Command: p.Command})
	}
	return s
}

// Revision is the snapshot's hash: 10 hex digits, stable across releases of the
// operator as long as Snapshot's JSON does not change.
func (s Snapshot) Revision() string {
	b, _ := json.Marshal(s) // a struct of strings and API types cannot fail to marshal
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// Component returns the snapshot of the named component, if the revision has it.
func (s Snapshot) Component(name string) (ComponentSnapshot, bool) {
	for _, c := range s.Components {
		if c.Name == name {
			return c, true
		}
	}
	return ComponentSnapshot{}, false
}

// ImageOf is the image the component runs in this revision.
func (s Snapshot) ImageOf(c ComponentSnapshot) string {
	if c.Image != "" {
		return c.Image
	}
	return s.Image
}
