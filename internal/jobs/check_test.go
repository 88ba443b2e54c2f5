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

package jobs

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestCheckBuilder(t *testing.T) {
	inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "checkout-errors", Namespace: "saas", UID: "u-i"}}
	db := opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}}
	j := Check(inc, db, Agent{Image: "img:1", ServiceAccount: "agent-sa"})
	c := j.Spec.Template.Spec.Containers[0]
	if j.Name != "checkout-errors-db-check" || j.Namespace != "saas" || j.Name != CheckJobName(inc) {
		t.Errorf("name %s/%s", j.Namespace, j.Name)
	}
	if want := []string{"check", "--connect-timeout", "10s", "--termination-log", "/dev/termination-log"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	if want := []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL", "TMPDIR"}; !slices.Equal(envNames(j), want) {
		t.Errorf("env %q, want %q (the database's only, no S3 credentials)", envNames(j), want)
	}
	for _, e := range c.Env {
		if e.Name == "TMPDIR" {
			continue
		}
		if ref := e.ValueFrom; e.Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "saas-db" {
			t.Errorf("env %s must come from a secretKeyRef of saas-db only", e.Name)
		}
	}
	if *j.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit %d: a check is a snapshot of one moment, never retried", *j.Spec.BackoffLimit)
	}
	if d := j.Spec.ActiveDeadlineSeconds; d == nil || *d != 120 {
		t.Errorf("activeDeadlineSeconds %v, want 120", d)
	}
	if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].UID != "u-i" || j.OwnerReferences[0].Kind != "Incident" || !*j.OwnerReferences[0].Controller {
		t.Errorf("owner %v", j.OwnerReferences)
	}
	if j.Labels[LabelComponent] != ComponentCheck || j.Spec.Template.Labels[LabelComponent] != ComponentCheck {
		t.Errorf("component labels %v", j.Labels)
	}
	if c.Resources.Limits.Memory().String() != "128Mi" || j.Spec.Template.Spec.Volumes[0].EmptyDir.SizeLimit.String() != "16Mi" {
		t.Errorf("resources %v, /tmp %v: a check needs little", c.Resources.Limits, j.Spec.Template.Spec.Volumes[0].EmptyDir.SizeLimit)
	}
	checkHardened(t, j)
	if j.Spec.Template.Spec.ServiceAccountName != "agent-sa" || c.Image != "img:1" {
		t.Errorf("service account %q image %q", j.Spec.Template.Spec.ServiceAccountName, c.Image)
	}

	long := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("checkout-errors-", 15), Namespace: "saas"}}
	if n := CheckJobName(long); len(n) > 63 || !strings.HasSuffix(n, "-db-check") {
		t.Errorf("job name %q for a long Incident name", n)
	}
}
