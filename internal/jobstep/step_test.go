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

func TestTailKeepsTheEnd(t *testing.T) {
	if got := Tail(strings.Repeat("x", 50), 3, 10); got != "…xxxxxxxxxx" {
		t.Fatalf("got %q", got)
	}
}
