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
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
)

// What the backup and restore reconcilers share about the agent's Jobs: whether a Job
// finished, the agent's JSON result from its pod, and how a failure reads to a person.

// jobFinished reports whether the Job reached Complete or Failed, and which condition.
func jobFinished(job *batchv1.Job) (finished, succeeded bool, cond *batchv1.JobCondition) {
	st := jobstep.StateOf(job)
	return st.Finished, st.Succeeded, st.Condition
}

// errNoResult says no pod of the Job left a termination message.
var errNoResult = errors.New("no terminated agent container with a result")

// unreadableResultError says the agent's container ended without a JSON result (killed,
// or crashed before writing one). The message is never quoted: it is a log tail.
type unreadableResultError struct{ exitCode int32 }

func (e unreadableResultError) Error() string {
	return fmt.Sprintf("the agent exited with code %d without a readable result", e.exitCode)
}

// isResultError reports whether err says the Job left no usable result (as opposed to
// an error reading its pods, which a retry may cure).
func isResultError(err error) bool {
	var u unreadableResultError
	return errors.Is(err, errNoResult) || errors.As(err, &u)
}

// readAgentResult reads the agent's JSON result from the terminated container state of
// the Job's pods: for a succeeded Job the pod that exited 0, otherwise the pod that
// ended last. Pods are read with reader (the API server, not the cache). Errors:
// errNoResult, unreadableResultError, or the API server's.
func readAgentResult(ctx context.Context, reader client.Reader, job *batchv1.Job, succeeded bool) (agent.Result, error) {
	best, err := jobstep.Terminated(ctx, reader, job, jobs.ContainerName, succeeded)
	if err != nil {
		return agent.Result{}, err
	}
	if best == nil {
		return agent.Result{}, errNoResult
	}
	res, err := agent.ParseResult([]byte(best.Message))
	if err != nil {
		return agent.Result{}, unreadableResultError{exitCode: best.ExitCode}
	}
	return res, nil
}

// agentJobFailure explains a failed agent Job for a person: a timeout (with onTimeout
// appended: what is left and what to do), the agent's own error message (scrubbed of
// secrets by the agent), or, without a usable result, the Job's reason and where the
// logs are (with advice appended). timeout is the spec's, used when the Job carries no
// deadline.
func agentJobFailure(job *batchv1.Job, cond *batchv1.JobCondition, res agent.Result, resErr error,
	timeout time.Duration, onTimeout, advice string) (reason, msg string) {
	if cond != nil && cond.Reason == batchv1.JobReasonDeadlineExceeded {
		if job.Spec.ActiveDeadlineSeconds != nil {
			timeout = secondsDuration(*job.Spec.ActiveDeadlineSeconds)
		}
		return opsv1alpha1.ReasonDeadlineExceeded, fmt.Sprintf("%s timed out after %s (spec.timeout) and was stopped%s",
			componentTitle(job), humanDuration(timeout), onTimeout)
	}
	if resErr == nil && res.Error != "" {
		msg = fmt.Sprintf("%s failed: %s", componentTitle(job), res.Error)
		if res.Permanent {
			msg += " (retrying will not help until this is fixed)"
		}
		return opsv1alpha1.ReasonJobFailed, msg
	}
	why := ""
	if cond != nil && cond.Reason != "" {
		why = " (" + cond.Reason + ")"
	}
	detail := errNoResult.Error()
	if resErr != nil {
		detail = resErr.Error()
	}
	return opsv1alpha1.ReasonJobFailed, fmt.Sprintf(
		"Job %s failed%s: %s; see `kubectl logs job/%s -n %s`%s", job.Name, why, detail, job.Name, job.Namespace, advice)
}

func componentTitle(job *batchv1.Job) string {
	switch job.Labels[jobs.LabelComponent] {
	case jobs.ComponentVerify:
		return "Verify Job " + job.Name
	case jobs.ComponentDelete:
		return "Delete Job " + job.Name
	case jobs.ComponentRestore:
		return "Restore Job " + job.Name
	}
	return "Backup Job " + job.Name
}
