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

// Package install_test checks dist/install.yaml, what users apply: generated from
// config/ (make build-installer), and its manager locked down.
package install_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"runbook-operator/internal/ociimage"
)

const repo = "../.."

func installYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "dist/install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deployment is the one Deployment of install.yaml: the manager's.
func deployment(t *testing.T, install []byte) appsv1.Deployment {
	t.Helper()
	var found []appsv1.Deployment
	for _, doc := range bytes.Split(install, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			t.Fatal(err)
		}
		found = append(found, d)
	}
	if len(found) != 1 {
		t.Fatalf("install.yaml has %d Deployments, want the manager's", len(found))
	}
	return found[0]
}

func manager(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	if i < 0 {
		t.Fatal("the Deployment has no manager container")
	}
	return d.Spec.Template.Spec.Containers[i]
}

// TestInstallYAMLIsGenerated: dist/install.yaml is what make build-installer
// writes from config/ today, for the image it names.
func TestInstallYAMLIsGenerated(t *testing.T) {
	committed := installYAML(t)
	img := manager(t, deployment(t, committed)).Image
	cmd := exec.Command("bash", filepath.Join(repo, "hack/build-installer.sh"), img)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fresh, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/build-installer.sh %s: %v\n%s", img, err, stderr.Bytes())
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatalf("dist/install.yaml differs from config/ (run make build-installer and commit it)")
	}
	// The image is set for the agent Jobs too, and config/ stays as it was.
	if !bytes.Contains(fresh, []byte("value: "+img+"\n")) {
		t.Errorf("AGENT_IMAGE is not %s", img)
	}
	if out, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--", "config").Output(); err != nil || len(out) > 0 {
		t.Errorf("hack/build-installer.sh changed config/ (%v):\n%s", err, out)
	}
}

// TestManagerIsLockedDown: the manager runs as the image's non-root user, with
// a read-only root file system, no capabilities, no privilege escalation and
// the runtime's seccomp profile (the restricted Pod Security Standard).
func TestManagerIsLockedDown(t *testing.T) {
	d := deployment(t, installYAML(t))
	pod := d.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot {
		t.Error("the pod does not require a non-root user (runAsNonRoot)")
	}
	if pod == nil || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("the pod's seccomp profile is not RuntimeDefault")
	}
	c := manager(t, d)
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the manager container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the manager's root file system is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the manager may escalate privileges")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("the manager's capabilities %+v, want every one dropped and none added", sc.Capabilities)
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("the manager is privileged")
	}
	// runAsNonRoot needs a numeric user to check: the image's, or the pod's.
	uid := ociimage.User[:strings.Index(ociimage.User, ":")]
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		if sc.RunAsUser == nil && (pod == nil || pod.RunAsUser == nil) {
			t.Errorf("the image's user %q is not a numeric non-root uid and the pod sets none", ociimage.User)
		}
	}
	if !slices.Equal(c.Command, ociimage.Entrypoint) {
		t.Errorf("the manager's command %q, want the image's entrypoint %q", c.Command, ociimage.Entrypoint)
	}
}
