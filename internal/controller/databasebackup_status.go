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
	"context"

	batchv1 "k8s.io/api/batch/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/jobs"
)

// agentResult reads the result of one of the backup's Jobs.
func (r *DatabaseBackupReconciler) agentResult(ctx context.Context, job *batchv1.Job, succeeded bool) (agent.Result, error) {
	return readAgentResult(ctx, r.APIReader, job, succeeded)
}

// backupFailure explains a failed Job of a backup for a person: a timeout, the agent's
// own error message (scrubbed of secrets by the agent), or where to look.
func backupFailure(b *opsv1alpha1.DatabaseBackup, job *batchv1.Job, cond *batchv1.JobCondition, res agent.Result, resErr error) (reason, msg string) {
	timeout := jobs.DefaultBackupTimeout
	if b.Spec.Timeout != nil {
		timeout = b.Spec.Timeout.Duration
	}
	return agentJobFailure(job, cond, res, resErr, timeout,
		"; nothing is kept from it. Raise spec.timeout or find what slows the dump, then create a new DatabaseBackup", "")
}

func (r *DatabaseBackupReconciler) event(b *opsv1alpha1.DatabaseBackup, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, eventType, reason, action, "%s", note)
	}
}

// s3URL is where the backup's dump is (or will be).
func s3URL(b *opsv1alpha1.DatabaseBackup) string {
	return "s3://" + b.Spec.Destination.S3.Bucket + "/" + b.Status.Key
}
