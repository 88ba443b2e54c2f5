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
	"slices"
	"testing"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestRemovedListsComponentsGoneFromTheSpec(t *testing.T) {
	spec := &opsv1alpha1.ReleaseSpec{Components: []opsv1alpha1.Component{{Name: "web"}, {Name: "worker"}}}
	cases := []struct {
		name  string
		found []string
		want  []string
	}{
		{"nothing found", nil, nil},
		{"every Deployment still in the spec", []string{"worker", "web"}, nil},
		{"beat dropped from the spec", []string{"web", "beat", "worker"}, []string{"beat"}},
		{"two Deployments of one removed component name it once", []string{"beat", "beat", "flower"}, []string{"beat", "flower"}},
		{"an object without a component label is not ours to judge", []string{""}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Removed(spec, c.found); !slices.Equal(got, c.want) {
				t.Fatalf("Removed = %v, want %v", got, c.want)
			}
		})
	}
}
