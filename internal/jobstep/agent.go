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
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"runbook-operator/internal/agent"
)

// What the reconcilers of agent Jobs (backup, verify, delete, restore) share: the
// agent's JSON result from its container's termination message.

// ErrNoResult says no pod of the Job left a termination message.
var ErrNoResult = errors.New("no terminated agent container with a result")

// unreadableResultError says the agent's container ended without a JSON result (killed,
// or crashed before writing one). The message is never quoted: it is a log tail.
type unreadableResultError struct{ exitCode int32 }

func (e unreadableResultError) Error() string {
	return fmt.Sprintf("the agent exited with code %d without a readable result", e.exitCode)
}

// AgentResult reads the agent's JSON result from its container's terminated state
// (Ended.Term). Errors: ErrNoResult, or one saying the agent left no readable result.
func AgentResult(term *corev1.ContainerStateTerminated) (agent.Result, error) {
	if term == nil {
		return agent.Result{}, ErrNoResult
	}
	res, err := agent.ParseResult([]byte(term.Message))
	if err != nil {
		return agent.Result{}, unreadableResultError{exitCode: term.ExitCode}
	}
	return res, nil
}

// AgentReport is a Step's Report hook for agent Jobs: the agent's own error message
// (scrubbed of secrets by the agent) and whether retrying can help.
func AgentReport(term *corev1.ContainerStateTerminated) (Report, error) {
	res, err := AgentResult(term)
	return Report{Error: res.Error, Permanent: res.Permanent}, err
}
