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
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func restore(mutate func(*opsv1alpha1.DatabaseRestore)) *opsv1alpha1.DatabaseRestore {
	r := &opsv1alpha1.DatabaseRestore{
		ObjectMeta: metav1.ObjectMeta{Name: "rollback", Namespace: "saas", UID: "u-r"},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: "nightly"}},
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}},
		},
	}
	if mutate != nil {
		mutate(r)
	}
	return r
}

func TestRestoreBuilder(t *testing.T) {
	a := Agent{Image: "img:1", ServiceAccount: "backup-sa"}
	withCreds := RestoreObject{
		S3:  opsv1alpha1.S3Location{Bucket: "bk", Prefix: "p", CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: "s3"}},
		Key: "p/saas/nightly/k.dump.zst", SHA256: "abc",
	}
	dbEnv := []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL"}
	tail := []string{"--termination-log", "/dev/termination-log"}
	for _, tc := range []struct {
		name     string
		r        *opsv1alpha1.DatabaseRestore
		obj      RestoreObject
		args     []string
		env      []string
		deadline int64
	}{
		{
			name: "swap by default, keeping the previous database, 2h deadline", r: restore(nil), obj: withCreds,
			args:     []string{"restore", "--bucket", "bk", "--key", "p/saas/nightly/k.dump.zst", "--sha256", "abc", "--mode", "swap", "--keep-previous=true"},
			env:      append(slices.Clone(dbEnv), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"),
			deadline: 7200,
		},
		{
			name: "swap dropping the previous database, from an S3-compatible store without sha256, 30m",
			r: restore(func(r *opsv1alpha1.DatabaseRestore) {
				r.Spec.Mode = opsv1alpha1.RestoreModeSwap
				r.Spec.KeepPrevious = ptr.To(false)
				r.Spec.Timeout = opsv1alpha1.DurationOf(30 * time.Minute)
			}),
			obj: RestoreObject{S3: opsv1alpha1.S3Location{Bucket: "bk", Endpoint: "http://minio:9000", Region: "eu-1", ForcePathStyle: true}, Key: "old.dump.gz"},
			args: []string{"restore", "--bucket", "bk", "--key", "old.dump.gz", "--endpoint", "http://minio:9000", "--region", "eu-1", "--path-style",
				"--mode", "swap", "--keep-previous=false"},
			env:      append(slices.Clone(dbEnv), "AWS_REGION", "TMPDIR"),
			deadline: 1800,
		},
		{
			name: "in place with confirmation: no --keep-previous",
			r: restore(func(r *opsv1alpha1.DatabaseRestore) {
				r.Spec.Mode, r.Spec.ConfirmInPlace = opsv1alpha1.RestoreModeInPlace, true
				r.Spec.KeepPrevious = ptr.To(true)
			}),
			obj:      withCreds,
			args:     []string{"restore", "--bucket", "bk", "--key", "p/saas/nightly/k.dump.zst", "--sha256", "abc", "--mode", "inplace", "--confirm-inplace"},
			env:      append(slices.Clone(dbEnv), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"),
			deadline: 7200,
		},
		{
			// CEL refuses this spec; should one get through, the agent refuses it too (exit 2).
			name: "in place without confirmation does not confirm on the spec's behalf",
			r:    restore(func(r *opsv1alpha1.DatabaseRestore) { r.Spec.Mode = opsv1alpha1.RestoreModeInPlace }),
			obj:  withCreds,
			args: []string{"restore", "--bucket", "bk", "--key", "p/saas/nightly/k.dump.zst", "--sha256", "abc", "--mode", "inplace"},
			env:  append(slices.Clone(dbEnv), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"), deadline: 7200,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Restore(tc.r, tc.obj, a)
			c := j.Spec.Template.Spec.Containers[0]
			if j.Name != "rollback-restore" || j.Namespace != "saas" || RestoreJobName(tc.r) != j.Name {
				t.Errorf("name %s/%s", j.Namespace, j.Name)
			}
			if want := append(slices.Clone(tc.args), tail...); !slices.Equal(c.Args, want) {
				t.Errorf("args %q\nwant %q", c.Args, want)
			}
			if got := envNames(j); !slices.Equal(got, tc.env) {
				t.Errorf("env %q\nwant %q", got, tc.env)
			}
			for _, e := range c.Env {
				if e.Name != "TMPDIR" && e.Name != "AWS_REGION" && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("env %s must come from a secretKeyRef only", e.Name)
				}
			}
			if j.Spec.ActiveDeadlineSeconds == nil || *j.Spec.ActiveDeadlineSeconds != tc.deadline {
				t.Errorf("activeDeadlineSeconds %v, want %d", j.Spec.ActiveDeadlineSeconds, tc.deadline)
			}
			if *j.Spec.BackoffLimit != 0 {
				t.Errorf("backoffLimit %d: a restore must never run twice", *j.Spec.BackoffLimit)
			}
			if j.Labels[LabelComponent] != "restore" || j.Spec.Template.Labels[LabelComponent] != "restore" {
				t.Errorf("component labels %v", j.Labels)
			}
			if j.Annotations[AnnotationKey] != tc.obj.Key {
				t.Errorf("key annotation %q", j.Annotations[AnnotationKey])
			}
			ref := j.OwnerReferences
			if len(ref) != 1 || ref[0].UID != "u-r" || ref[0].Kind != "DatabaseRestore" || !*ref[0].Controller {
				t.Errorf("owner %v", ref)
			}
			if lim := j.Spec.Template.Spec.Volumes[0].EmptyDir.SizeLimit; lim != nil {
				t.Errorf("/tmp limited to %s: the uncompressed dump must fit", lim)
			}
			checkHardened(t, j)
			if j.Spec.Template.Spec.ServiceAccountName != "backup-sa" || c.Image != "img:1" {
				t.Errorf("service account %q image %q", j.Spec.Template.Spec.ServiceAccountName, c.Image)
			}
		})
	}
	if got := withCreds.Location(); got != "s3://bk/p/saas/nightly/k.dump.zst" {
		t.Errorf("Location() = %q", got)
	}
}
