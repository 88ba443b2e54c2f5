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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestName(t *testing.T) {
	long := strings.Repeat("nightly-backup-of-the-production-database-", 5)
	for _, tc := range []struct{ base, suffix, want string }{
		{"manual", "backup", "manual-backup"},
		{strings.Repeat("a", 56), "backup", strings.Repeat("a", 56) + "-backup"}, // exactly 63
		{long, "backup", ""},
		{long + "x", "backup", ""},
	} {
		got := Name(tc.base, tc.suffix)
		if tc.want != "" && got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.base, got, tc.want)
		}
		if len(got) > 63 || len(validation.IsDNS1123Label(got)) > 0 || !strings.HasSuffix(got, "-"+tc.suffix) {
			t.Errorf("Name(%q) = %q (%d chars) is not a valid Job name ending in -%s", tc.base, got, len(got), tc.suffix)
		}
		if Name(tc.base, tc.suffix) != got {
			t.Errorf("Name is not deterministic")
		}
	}
	if Name(long, "backup") == Name(long+"x", "backup") {
		t.Error("two long names that differ only after the cut must not share a Job name")
	}
}

func TestObjectKey(t *testing.T) {
	start := time.Date(2026, 11, 28, 3, 0, 7, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		prefix string
		c      opsv1alpha1.Compression
		want   string
	}{
		{"prod", opsv1alpha1.CompressionZstd, "prod/saas/nightly/20261128T020007Z.dump.zst"},
		{"prod", "", "prod/saas/nightly/20261128T020007Z.dump.zst"},
		{"a/b/", opsv1alpha1.CompressionGzip, "a/b/saas/nightly/20261128T020007Z.dump.gz"},
		{"", opsv1alpha1.CompressionNone, "saas/nightly/20261128T020007Z.dump"},
	} {
		if got := ObjectKey(tc.prefix, "saas", "nightly", start, tc.c); got != tc.want {
			t.Errorf("ObjectKey(%q, %q) = %q, want %q", tc.prefix, tc.c, got, tc.want)
		}
	}
}

func backup(mutate func(*opsv1alpha1.DatabaseBackup)) *opsv1alpha1.DatabaseBackup {
	b := &opsv1alpha1.DatabaseBackup{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "saas", UID: "u-1"},
		Spec: opsv1alpha1.DatabaseBackupSpec{
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}},
			Destination: opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{
				Bucket: "bk", Prefix: "p", CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: "s3"},
			}},
		},
		Status: opsv1alpha1.DatabaseBackupStatus{Key: "p/saas/nightly/k.dump.zst", SHA256: "abc"},
	}
	if mutate != nil {
		mutate(b)
	}
	return b
}

func envNames(j *batchv1.Job) []string {
	var names []string
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		names = append(names, e.Name)
	}
	return names
}

func TestBuilders(t *testing.T) {
	a := Agent{Image: "img:1", ServiceAccount: "backup-sa"}
	for _, tc := range []struct {
		name      string
		job       *batchv1.Job
		jobName   string
		args      []string
		env       []string
		deadline  int64
		component string
	}{
		{
			name: "backup, default timeout and compression", job: Backup(backup(nil), "p/k.dump.zst", a), jobName: "nightly-backup",
			args:     []string{"backup", "--bucket", "bk", "--key", "p/k.dump.zst", "--compression", "zstd", "--termination-log", "/dev/termination-log"},
			env:      []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"},
			deadline: 3600, component: "backup",
		},
		{
			name: "backup to an S3-compatible store with gzip and a 45m timeout",
			job: Backup(backup(func(b *opsv1alpha1.DatabaseBackup) {
				b.Spec.Destination.S3.Endpoint, b.Spec.Destination.S3.Region, b.Spec.Destination.S3.ForcePathStyle = "http://minio:9000", "eu-1", true
				b.Spec.Destination.S3.CredentialsSecretRef = nil
				b.Spec.Compression = opsv1alpha1.CompressionGzip
				b.Spec.Timeout = opsv1alpha1.DurationOf(45 * time.Minute)
			}), "k.dump.gz", a), jobName: "nightly-backup",
			args: []string{"backup", "--bucket", "bk", "--key", "k.dump.gz", "--endpoint", "http://minio:9000", "--region", "eu-1", "--path-style",
				"--compression", "gzip", "--termination-log", "/dev/termination-log"},
			env:      []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL", "AWS_REGION", "TMPDIR"},
			deadline: 2700, component: "backup",
		},
		{
			name: "verify with the recorded checksum", job: Verify(backup(nil), a), jobName: "nightly-verify",
			args:     []string{"verify", "--bucket", "bk", "--key", "p/saas/nightly/k.dump.zst", "--sha256", "abc", "--termination-log", "/dev/termination-log"},
			env:      []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"},
			deadline: 3600, component: "verify",
		},
		{
			name: "delete needs no database credentials", job: Delete(backup(nil), a), jobName: "nightly-delete",
			args:     []string{"delete", "--bucket", "bk", "--key", "p/saas/nightly/k.dump.zst", "--termination-log", "/dev/termination-log"},
			env:      []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR"},
			deadline: 600, component: "delete",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.job
			c := j.Spec.Template.Spec.Containers[0]
			if j.Name != tc.jobName || j.Namespace != "saas" {
				t.Errorf("name %s/%s", j.Namespace, j.Name)
			}
			if !slices.Equal(c.Args, tc.args) {
				t.Errorf("args %q\nwant %q", c.Args, tc.args)
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
			if j.Labels[LabelComponent] != tc.component || j.Spec.Template.Labels[LabelComponent] != tc.component {
				t.Errorf("component labels %v", j.Labels)
			}
			if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].UID != "u-1" || !*j.OwnerReferences[0].Controller {
				t.Errorf("owner %v", j.OwnerReferences)
			}
			if *j.Spec.BackoffLimit < 1 || *j.Spec.BackoffLimit > 2 {
				t.Errorf("backoffLimit %d", *j.Spec.BackoffLimit)
			}
			checkHardened(t, j)
			if j.Spec.Template.Spec.ServiceAccountName != "backup-sa" || c.Image != "img:1" {
				t.Errorf("service account %q image %q", j.Spec.Template.Spec.ServiceAccountName, c.Image)
			}
		})
	}
}

func checkHardened(t *testing.T, j *batchv1.Job) {
	t.Helper()
	pod := j.Spec.Template.Spec
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case pod.RestartPolicy != "Never":
		t.Error("restartPolicy")
	case !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault":
		t.Error("pod security context")
	case !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Error("container security context")
	case c.TerminationMessagePolicy != "FallbackToLogsOnError" || c.TerminationMessagePath != "/dev/termination-log":
		t.Error("termination message")
	case c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero():
		t.Error("resources")
	case len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" || pod.Volumes[0].EmptyDir == nil:
		t.Error("emptyDir at /tmp")
	case *pod.AutomountServiceAccountToken:
		t.Error("the agent needs no API token")
	case j.Spec.PodFailurePolicy == nil || j.Spec.PodFailurePolicy.Rules[0].OnExitCodes == nil ||
		!slices.Equal(j.Spec.PodFailurePolicy.Rules[0].OnExitCodes.Values, []int32{2, 3}) ||
		j.Spec.PodFailurePolicy.Rules[0].Action != batchv1.PodFailurePolicyActionFailJob:
		t.Error("pod failure policy: the agent's usage (2) and permanent (3) exit codes must fail the Job at once")
	}
}
