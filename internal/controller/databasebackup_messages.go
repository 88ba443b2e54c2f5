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

package controller

import (
	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func (r *DatabaseBackupReconciler) event(b *opsv1alpha1.DatabaseBackup, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, eventType, reason, action, "%s", note)
	}
}

// s3URL is where the backup's dump is (or will be).
func s3URL(b *opsv1alpha1.DatabaseBackup) string {
	return "s3://" + b.Spec.Destination.S3.Bucket + "/" + b.Status.Key
}
