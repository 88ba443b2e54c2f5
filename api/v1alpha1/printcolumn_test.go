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
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestDateColumnsArePast: kubectl prints a date column as the time since it, and a time
// still to come as "<invalid>". A deadline or a next run is a string column (the
// timestamp); date columns are for times already past: creation and the "last" ones.
func TestDateColumnsArePast(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs (%v)", err)
	}
	dates := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		for _, v := range crd.Spec.Versions {
			for _, c := range v.AdditionalPrinterColumns {
				if c.Type != "date" {
					continue
				}
				dates++
				field := c.JSONPath[strings.LastIndex(c.JSONPath, ".")+1:]
				if field != "creationTimestamp" && !strings.HasPrefix(field, "last") {
					t.Errorf("%s column %q (%s) is a date column of a time that may be still to come: kubectl prints it as <invalid>; make it type=string",
						crd.Spec.Names.Kind, c.Name, c.JSONPath)
				}
			}
		}
	}
	if dates == 0 {
		t.Fatal("no date columns read: the CRDs did not parse as expected")
	}
}
