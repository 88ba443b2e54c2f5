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

package names

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestDerivedValuesAlwaysFit(t *testing.T) {
	long := strings.Repeat("a", 61) + "-b" // 63
	longer := strings.Repeat("n", 200) + "." + strings.Repeat("m", 52)
	for _, base := range []string{"nightly", long, long + "c", strings.Repeat("x", 253), longer} {
		lv := LabelValue(base)
		if errs := validation.IsValidLabelValue(lv); len(errs) > 0 {
			t.Errorf("LabelValue(%d chars) = %q: %v", len(base), lv, errs)
		}
		if len(base) <= MaxLabelValue && lv != base {
			t.Errorf("LabelValue changed a name that fits: %q", lv)
		}
		for _, max := range []int{MaxLabelValue, MaxObjectName} {
			n := Join(base, "202612010300", max)
			if len(n) > max || len(validation.IsDNS1123Subdomain(n)) > 0 {
				t.Errorf("Join(%d chars, %d) = %q (%d)", len(base), max, n, len(n))
			}
			if len(base)+13 <= max && n != base+"-202612010300" {
				t.Errorf("Join changed a name that fits: %q", n)
			}
		}
	}
	if LabelValue(long+"c") == LabelValue(long+"d") || Join(long+"c", "x", 63) == Join(long+"d", "x", 63) {
		t.Error("two long names with the same prefix gave the same derived value")
	}
}
