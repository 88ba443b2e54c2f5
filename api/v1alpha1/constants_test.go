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

package v1alpha1_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// TestReleaseConstantsMatchTheCRD: the controller and kubectl runbook read
// DefaultCanaryWindow and MaxDestructiveMigrations instead of the CRD; they must be
// what the generated schema says.
func TestReleaseConstantsMatchTheCRD(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "ops.runbook.dev_releases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	window := root.Properties["spec"].Properties["canary"].Properties["window"]
	if window.Default == nil {
		t.Fatal("spec.canary.window has no default in the CRD")
	}
	var def string
	if err := yaml.Unmarshal(window.Default.Raw, &def); err != nil {
		t.Fatal(err)
	}
	if d, err := time.ParseDuration(def); err != nil || d != opsv1alpha1.DefaultCanaryWindow {
		t.Errorf("spec.canary.window defaults to %q in the CRD, DefaultCanaryWindow is %s", def, opsv1alpha1.DefaultCanaryWindow)
	}
	found := root.Properties["status"].Properties["history"].Items.Schema.Properties["destructiveMigrations"]
	if found.MaxItems == nil || *found.MaxItems != opsv1alpha1.MaxDestructiveMigrations {
		t.Errorf("status.history[].destructiveMigrations has maxItems %v in the CRD, MaxDestructiveMigrations is %d", found.MaxItems, opsv1alpha1.MaxDestructiveMigrations)
	}
}
