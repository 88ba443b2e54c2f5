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
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// A duration Go cannot hold must not make decoding fail (that stops the manager's
// informer for every object of the kind); it is kept, re-encoded as written, and
// named by InvalidDurations.
func TestDurationDecodingNeverFails(t *testing.T) {
	for _, tc := range []struct {
		json, want, bad string
	}{
		{`{"timeout":"45m"}`, "45m0s", ""},
		{`{"timeout":"3000000h"}`, "", "3000000h"},
		{`{"timeout":"1 hour"}`, "", "1 hour"},
		{`{"timeout":12}`, "", "12"},
		{`{"timeout":""}`, "", `""`},
	} {
		var spec opsv1alpha1.DatabaseBackupSpec
		if err := json.Unmarshal([]byte(tc.json), &spec); err != nil {
			t.Fatalf("%s: decoding failed: %v", tc.json, err)
		}
		err := opsv1alpha1.InvalidDurations("spec", &spec)
		if tc.bad == "" {
			if err != nil || spec.Timeout.String() != tc.want {
				t.Errorf("%s: got %v, %v; want %s", tc.json, spec.Timeout, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), "spec.timeout: ") || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%s: InvalidDurations = %v, want it to name spec.timeout and %s", tc.json, err, tc.bad)
		}
		out, _ := json.Marshal(spec)
		if !strings.Contains(string(out), tc.json[1:len(tc.json)-1]) {
			t.Errorf("%s: re-encoded as %s, not as written", tc.json, out)
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&spec)
		want := map[string]any{}
		_ = json.Unmarshal([]byte(tc.json), &want)
		if err != nil || fmt.Sprint(u["timeout"]) != fmt.Sprint(want["timeout"]) {
			t.Errorf("%s: to unstructured: %#v %v", tc.json, u["timeout"], err)
		}
	}
	var rel opsv1alpha1.ReleaseSpec
	if err := json.Unmarshal([]byte(`{"verify":{"window":"99999999h"}}`), &rel); err != nil {
		t.Fatal(err)
	}
	if err := opsv1alpha1.InvalidDurations("spec", &rel); err == nil || !strings.HasPrefix(err.Error(), "spec.verify.window: ") {
		t.Errorf("nested field: %v", err)
	}
	if got := (*opsv1alpha1.Duration)(nil).Or(time.Hour); got != time.Hour {
		t.Errorf("nil.Or = %v", got)
	}
}
