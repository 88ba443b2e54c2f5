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
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestWorkloads(t *testing.T) {
	alert := func(status string, labels template.KV) template.Alert {
		return template.Alert{Status: status, Labels: labels}
	}
	msg := func(common template.KV, alerts ...template.Alert) *Message {
		return &Message{Data: &template.Data{CommonLabels: common, Alerts: alerts}}
	}
	str := func(ws []Workload) string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Kind+"/"+w.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		what string
		m    *Message
		n    int
		want string
	}{
		{"none", msg(template.KV{"alertname": "RunbookBackupFailing"}, alert("firing", template.KV{"database": "orders"})), 5, ""},
		{"the common pod", msg(template.KV{"pod": "saas-web-1"}, alert("firing", template.KV{"pod": "saas-web-1"})), 5, "Pod/saas-web-1"},
		{"firing alerts' pods before resolved ones', then Deployments, each once",
			msg(template.KV{}, alert("resolved", template.KV{"pod": "old-1"}), alert("firing", template.KV{"pod": "new-1", "deployment": "web"}),
				alert("firing", template.KV{"pod": "new-1", "deployment": "web"})), 5, "Pod/new-1 Pod/old-1 Deployment/web"},
		{"names that are not objects' are skipped", msg(template.KV{"pod": "Not_A_Pod", "deployment": strings.Repeat("x", 300)}), 5, ""},
	} {
		if got := str(Workloads(tc.m, tc.n)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, got, tc.want)
		}
	}
	var many []template.Alert
	for i := range 20 {
		many = append(many, alert("firing", template.KV{"pod": fmt.Sprintf("web-%d", i)}))
	}
	if got := Workloads(msg(template.KV{}, many...), MaxWorkloadLookups); len(got) != MaxWorkloadLookups {
		t.Errorf("%d workloads, want the bound %d", len(got), MaxWorkloadLookups)
	}
}

func TestSetReleaseKeepsTheDescriptionBounded(t *testing.T) {
	inc := &opsv1alpha1.Incident{Spec: opsv1alpha1.IncidentSpec{Description: strings.Repeat("d", maxDescription)}}
	SetRelease(inc, "saas", "the alerts' pod saas-web-1 carries the label "+opsv1alpha1.LabelRelease+"=saas")
	if inc.Spec.ReleaseRef == nil || inc.Spec.ReleaseRef.Name != "saas" || len(inc.Spec.Description) > maxDescription {
		t.Fatalf("releaseRef %v, description of %d bytes", inc.Spec.ReleaseRef, len(inc.Spec.Description))
	}
	inc = &opsv1alpha1.Incident{Spec: opsv1alpha1.IncidentSpec{Description: "Crash looping."}}
	SetRelease(inc, "saas", "the alerts' pod saas-web-1 carries the label")
	if want := "Crash looping.\nreleaseRef saas: the alerts' pod saas-web-1 carries the label."; inc.Spec.Description != want {
		t.Fatalf("description %q, want %q", inc.Spec.Description, want)
	}
}
