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
	"path"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Agent Job components, also the suffixes of their names.
const (
	ComponentBackup = "backup"
	ComponentVerify = "verify"
	ComponentDelete = "delete"
)

// DefaultBackupTimeout applies when a backup has no spec.timeout.
const DefaultBackupTimeout = time.Hour

// deleteTimeout bounds a delete Job: two DELETE requests.
const deleteTimeout = 10 * time.Minute

// Agent is the image and ServiceAccount of agent Jobs (the manager's flags).
type Agent struct {
	Image          string
	ServiceAccount string
}

// ObjectKey is the dump's key: `<prefix>/<namespace>/<name>/<YYYYMMDDTHHMMSSZ>.dump`
// plus `.zst` or `.gz` for the compression, with start in UTC.
func ObjectKey(prefix, namespace, name string, start time.Time, c opsv1alpha1.Compression) string {
	file := start.UTC().Format("20060102T150405Z") + ".dump"
	switch c {
	case opsv1alpha1.CompressionGzip:
		file += ".gz"
	case opsv1alpha1.CompressionNone:
	default:
		file += ".zst"
	}
	return path.Join(prefix, namespace, name, file)
}

// BackupJobName, VerifyJobName and DeleteJobName are the deterministic names of a
// backup's Jobs.
func BackupJobName(b *opsv1alpha1.DatabaseBackup) string { return Name(b.Name, ComponentBackup) }

// VerifyJobName is the name of a backup's verify Job.
func VerifyJobName(b *opsv1alpha1.DatabaseBackup) string { return Name(b.Name, ComponentVerify) }

// DeleteJobName is the name of a backup's delete Job.
func DeleteJobName(b *opsv1alpha1.DatabaseBackup) string { return Name(b.Name, ComponentDelete) }

func backupOwner(b *opsv1alpha1.DatabaseBackup) metav1.OwnerReference {
	return *metav1.NewControllerRef(b, opsv1alpha1.GroupVersion.WithKind("DatabaseBackup"))
}

// Backup is the Job that runs `agent backup` to key (status.key) for b.
func Backup(b *opsv1alpha1.DatabaseBackup, key string, a Agent) *batchv1.Job {
	s3 := b.Spec.Destination.S3
	compression := b.Spec.Compression
	if compression == "" {
		compression = opsv1alpha1.CompressionZstd
	}
	args := append([]string{"backup"}, S3Args(s3, key)...)
	args = append(args, "--compression", string(compression))
	timeout := &metav1.Duration{Duration: b.Spec.Timeout.Or(DefaultBackupTimeout)}
	pod := agentPod(PodOptions{
		Image: a.Image, ServiceAccount: a.ServiceAccount, Args: args,
		Database: &b.Spec.Database, S3: &s3,
		TmpSizeLimit: ptr.To(resource.MustParse("256Mi")),
	})
	return agentJob(JobOptions{
		Name: BackupJobName(b), Namespace: b.Namespace, Owner: backupOwner(b),
		Component: ComponentBackup, ActiveDeadline: timeout,
		Annotations: map[string]string{AnnotationKey: key},
	}, pod)
}

// Verify is the Job that runs `agent verify` on b's dump: it checks the SHA-256,
// restores into a scratch database and compares with the manifest. The scratch
// restore writes the uncompressed dump to /tmp, so that emptyDir is unbounded.
func Verify(b *opsv1alpha1.DatabaseBackup, a Agent) *batchv1.Job {
	s3 := b.Spec.Destination.S3
	args := append([]string{"verify"}, S3Args(s3, b.Status.Key)...)
	if b.Status.SHA256 != "" {
		args = append(args, "--sha256", b.Status.SHA256)
	}
	timeout := &metav1.Duration{Duration: b.Spec.Timeout.Or(DefaultBackupTimeout)}
	pod := agentPod(PodOptions{
		Image: a.Image, ServiceAccount: a.ServiceAccount, Args: args,
		Database: &b.Spec.Database, S3: &s3,
	})
	return agentJob(JobOptions{
		Name: VerifyJobName(b), Namespace: b.Namespace, Owner: backupOwner(b),
		Component: ComponentVerify, ActiveDeadline: timeout,
		Annotations: map[string]string{AnnotationKey: b.Status.Key},
	}, pod)
}

// Delete is the Job that runs `agent delete` on b's dump and manifest. It needs no
// database connection.
func Delete(b *opsv1alpha1.DatabaseBackup, a Agent) *batchv1.Job {
	s3 := b.Spec.Destination.S3
	args := append([]string{"delete"}, S3Args(s3, b.Status.Key)...)
	pod := agentPod(PodOptions{
		Image: a.Image, ServiceAccount: a.ServiceAccount, Args: args, S3: &s3,
		TmpSizeLimit: ptr.To(resource.MustParse("16Mi")),
		Resources:    smallResources(),
	})
	return agentJob(JobOptions{
		Name: DeleteJobName(b), Namespace: b.Namespace, Owner: backupOwner(b),
		Component: ComponentDelete, ActiveDeadline: &metav1.Duration{Duration: deleteTimeout},
		BackoffLimit: ptr.To[int32](2),
		Annotations:  map[string]string{AnnotationKey: b.Status.Key},
	}, pod)
}
