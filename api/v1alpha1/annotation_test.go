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

package v1alpha1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Two Secrets whose names share their first 56 characters (what fits after
// "secret." in the 63 characters of an annotation key's name) must restart their
// Deployments through different annotations: cutting the key clashed.
func TestSecretVersionAnnotationIsUniqueAndValid(t *testing.T) {
	prefix := strings.Repeat("a", 56)
	long := []string{prefix + "-stripe", prefix + "-django", prefix + strings.Repeat("b", 190)}
	seen := map[string]string{}
	for _, name := range append(long, "saas-app", strings.Repeat("c", 56)) {
		key := SecretVersionAnnotation(name)
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			t.Fatalf("Secret %s: annotation key %q is not valid: %v", name, key, errs)
		}
		if other, ok := seen[key]; ok {
			t.Fatalf("Secrets %s and %s share the annotation key %q", other, name, key)
		}
		seen[key] = name
	}
	if got := SecretVersionAnnotation("saas-app"); got != "ops.runbook.dev/secret.saas-app" {
		t.Fatalf("a short name must stay readable: %q", got)
	}
}
