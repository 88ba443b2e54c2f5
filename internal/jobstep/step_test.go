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

package jobstep

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestFailureExplainsInASentence(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "saas-migrate-1", Namespace: "ns"},
		Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](1800)}}
	s := Step{Title: "Migration Job saas-migrate-1"}
	failed := State{Finished: true, Condition: &batchv1.JobCondition{Reason: batchv1.JobReasonBackoffLimitExceeded}}
	cases := []struct {
		name, reason, contains string
		st                     State
		term                   *corev1.ContainerStateTerminated
	}{
		{"timeout", ReasonDeadlineExceeded, "timed out after 30m0s", State{Finished: true, Condition: &batchv1.JobCondition{Reason: batchv1.JobReasonDeadlineExceeded}}, nil},
		{"log tail", ReasonJobFailed, "exit code 1: line3 | line4 | django.db.utils.Error: boom",
			failed, &corev1.ContainerStateTerminated{ExitCode: 1, Message: "line1\nline2\nline3\nline4\ndjango.db.utils.Error: boom\n"}},
		{"command not in image", ReasonJobFailed, "exit code 127 (ContainerCannotRun)", failed, &corev1.ContainerStateTerminated{ExitCode: 127, Reason: "ContainerCannotRun"}},
		{"no pod", ReasonJobFailed, "(BackoffLimitExceeded); see `kubectl logs job/saas-migrate-1 -n ns`", failed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := s.Failure(job, c.st, c.term)
			if got.Reason != c.reason || !strings.Contains(got.Message, c.contains) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

// TestFailureOfAnAgentJob: with a Report hook the command's own error is the
// sentence, a termination message that is not a report is never quoted, and a timeout
// names its setting and the kind's advice.
func TestFailureOfAnAgentJob(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup-x", Namespace: "ns"}}
	s := Step{Title: "Backup Job backup-x", Report: AgentReport, Limit: "spec.timeout", Timeout: 45 * time.Minute,
		OnTimeout: "; raise spec.timeout", OnFailure: ". Check the database"}
	failed := State{Finished: true, Condition: &batchv1.JobCondition{Reason: batchv1.JobReasonBackoffLimitExceeded}}
	cases := []struct {
		name, reason, want string
		st                 State
		term               *corev1.ContainerStateTerminated
	}{
		{"timeout", ReasonDeadlineExceeded, "Backup Job backup-x timed out after 45m (spec.timeout) and was stopped; raise spec.timeout",
			State{Finished: true, Condition: &batchv1.JobCondition{Reason: batchv1.JobReasonDeadlineExceeded}}, nil},
		{"reported", ReasonJobFailed, "Backup Job backup-x failed: bucket missing (retrying will not help until this is fixed)",
			failed, &corev1.ContainerStateTerminated{ExitCode: 1, Message: `{"command":"backup","error":"bucket missing","permanent":true}`}},
		{"log tail, not quoted", ReasonJobFailed,
			"Job backup-x failed (BackoffLimitExceeded): the agent exited with code 137 without a readable result; see `kubectl logs job/backup-x -n ns`. Check the database",
			failed, &corev1.ContainerStateTerminated{ExitCode: 137, Message: "password=hunter2"}},
		{"no pod", ReasonJobFailed, "Job backup-x failed (BackoffLimitExceeded): " + ErrNoResult.Error(), failed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := s.Failure(job, c.st, c.term)
			if got.Reason != c.reason || !strings.HasPrefix(got.Message, c.want) || strings.Contains(got.Message, "hunter2") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	if got := Tail(strings.Repeat("x", 50), 3, 10); got != "…xxxxxxxxxx" {
		t.Fatalf("got %q", got)
	}
}
