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

// Package controller holds one reconciler per kind of ops.runbook.dev/v1alpha1.
package controller

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"runbook-operator/internal/healthcheck"
	"runbook-operator/internal/jobstep"
)

// Config is what the manager's flags give every reconciler.
type Config struct {
	// AgentImage is the image of Jobs that run cmd/agent (backup, restore, verify, delete).
	AgentImage string
	// AgentServiceAccount is the ServiceAccount of agent Jobs (for IRSA); empty means default.
	AgentServiceAccount string

	// ProgressInterval is how often the status.progress of a running backup or
	// restore is refreshed from its pod's log (0: DefaultProgressInterval).
	ProgressInterval time.Duration
	// ProgressStallAfter: a progress that has not moved for longer is said so in
	// the Reconciling message (0: DefaultProgressStallAfter).
	ProgressStallAfter time.Duration
	// ProgressLogs reads the agent's log (nil: pods/log through the API server).
	ProgressLogs jobstep.JobLogs
	// ReleaseChecker makes Releases' verification checks (nil: healthcheck.HTTP). The
	// release benchmark wraps the HTTP checker with one that times every check.
	ReleaseChecker healthcheck.Checker
}

// SetupWithManager registers every reconciler with the manager.
func SetupWithManager(mgr ctrl.Manager, cfg Config) error {
	for _, setup := range setups {
		if err := setup(mgr, cfg); err != nil {
			return err
		}
	}
	return nil
}

// setups is filled by each kind's reconciler file through register, so that adding a
// kind touches only its own files.
var setups []func(ctrl.Manager, Config) error

func register(setup func(ctrl.Manager, Config) error) { setups = append(setups, setup) }
