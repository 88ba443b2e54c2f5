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
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// ComponentRestore labels restore Jobs and is the suffix of their names.
const ComponentRestore = "restore"

// DefaultRestoreTimeout applies when a restore has no spec.timeout.
const DefaultRestoreTimeout = 2 * time.Hour

// RestoreObject is the dump a restore Job reads, resolved from the restore's source:
// a Completed DatabaseBackup's destination, key and checksum, or spec.source.s3.
type RestoreObject struct {
	// S3 is the bucket, endpoint, region and credentials Secret.
	S3 opsv1alpha1.S3Location
	// Key is the object key within the bucket (prefix included).
	Key string
	// SHA256 is the expected checksum; empty means the manifest's.
	SHA256 string
}

// Location is the object as `s3://bucket/key`.
func (o RestoreObject) Location() string { return "s3://" + o.S3.Bucket + "/" + o.Key }

// RestoreJobName is the deterministic name of a restore's only Job: `<name>-restore`.
func RestoreJobName(r *opsv1alpha1.DatabaseRestore) string { return Name(r.Name, ComponentRestore) }

// Restore is the Job that runs `agent restore` of obj into r's database. The target
// is the database named in the connection Secret (PGDATABASE), so the restored data
// ends up under the live name. Swap passes --keep-previous explicitly; InPlace passes
// --confirm-inplace only when the spec confirms it (CEL refuses InPlace without it).
//
// The Job never retries a failed pod (backoffLimit 0): a restore that failed after
// its swap committed (for example, the previous database could not be dropped) must
// not restore and swap a second time. /tmp is unbounded: the agent writes the
// uncompressed dump there for pg_restore -j.
func Restore(r *opsv1alpha1.DatabaseRestore, obj RestoreObject, a Agent) *batchv1.Job {
	args := append([]string{"restore"}, S3Args(obj.S3, obj.Key)...)
	if obj.SHA256 != "" {
		args = append(args, "--sha256", obj.SHA256)
	}
	if r.Spec.Mode == opsv1alpha1.RestoreModeInPlace {
		args = append(args, "--mode", "inplace")
		if r.Spec.ConfirmInPlace {
			args = append(args, "--confirm-inplace")
		}
	} else {
		keep := r.Spec.KeepPrevious == nil || *r.Spec.KeepPrevious
		args = append(args, "--mode", "swap", "--keep-previous="+strconv.FormatBool(keep))
	}
	timeout := &metav1.Duration{Duration: r.Spec.Timeout.Or(DefaultRestoreTimeout)}
	s3 := obj.S3
	pod := agentPod(PodOptions{
		Image: a.Image, ServiceAccount: a.ServiceAccount, Args: args,
		Database: &r.Spec.Database, S3: &s3,
	})
	return agentJob(JobOptions{
		Name: RestoreJobName(r), Namespace: r.Namespace,
		Owner:     *metav1.NewControllerRef(r, opsv1alpha1.GroupVersion.WithKind("DatabaseRestore")),
		Component: ComponentRestore, ActiveDeadline: timeout,
		BackoffLimit: ptr.To[int32](0),
		Annotations:  map[string]string{AnnotationKey: obj.Key},
	}, pod)
}
