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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
)

// ComponentCheck labels database check Jobs and is the suffix of their names.
const ComponentCheck = "db-check"

// CheckTimeout bounds a check Job, pod start included: the agent gives up
// connecting after agent.DefaultCheckConnectTimeout and each query after its
// statement timeout, so the deadline only stops a pod that never ran.
const CheckTimeout = 2 * time.Minute

// CheckJobName is the deterministic name of an Incident's database check Job:
// `<name>-db-check`.
func CheckJobName(inc *opsv1alpha1.Incident) string { return Name(inc.Name, ComponentCheck) }

// Check is the Job that runs `agent check` against db for inc's evidence: the
// connection Secret's keys reach it only as secretKeyRef environment variables.
//
// The agent exits 0 whenever it produced a report, a database it could not reach or
// log in to included (Check.Connected false, Check.ConnectFailure and ConnectError
// saying why), so jobstep.Run with jobstep.AgentReport ends without error for every
// finding, and jobstep.AgentResult(end.Term).Check is the report. A failed Job means
// the check itself could not run (bad settings, timeout, killed). It is never
// retried (backoffLimit 0): a second attempt would describe a later moment.
func Check(inc *opsv1alpha1.Incident, db opsv1alpha1.DatabaseConnection, a Agent) *batchv1.Job {
	args := []string{"check", "--connect-timeout", agent.DefaultCheckConnectTimeout.String()}
	pod := agentPod(PodOptions{
		Image: a.Image, ServiceAccount: a.ServiceAccount, Args: args, Database: &db,
		TmpSizeLimit: ptr.To(resource.MustParse("16Mi")),
		Resources:    smallResources(),
	})
	return agentJob(JobOptions{
		Name: CheckJobName(inc), Namespace: inc.Namespace,
		Owner:     *metav1.NewControllerRef(inc, opsv1alpha1.GroupVersion.WithKind("Incident")),
		Component: ComponentCheck, ActiveDeadline: &metav1.Duration{Duration: CheckTimeout},
		BackoffLimit: ptr.To[int32](0),
	}, pod)
}
