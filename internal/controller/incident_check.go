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
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/reconcile"
)

// evidenceCheckSection names the database check's section of the evidence bundle.
const evidenceCheckSection = "database check"

// databaseCheck runs `agent check` against the release's spec.database as the Job
// jobs.Check builds, after the evidence's pods part is stored (captureEvidence): the
// pods and their logs go away when a rollback or a restart replaces them, and a
// Release's rollback waits for them, while the database stays; so the pods are read
// first and the check, which takes seconds to minutes, runs after. It runs once: the evidence action was recorded Running before, the Job's
// name is deterministic, and rec.Object records it once created, so a Job missing
// after that was deleted and is not run again. It returns the bundle's section once
// the check ended (done), and whether rec changed. A check that could not run (the
// Job failed, timed out, was deleted or refused) is a section saying so, a timeline
// entry and the DatabaseChecked condition: the evidence and the other actions go on.
func (r *IncidentReconciler) databaseCheck(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord, rel *opsv1alpha1.Release) (sec evidence.Section, done, changed bool) {
	inc := s.inc
	job := jobs.Check(inc, *rel.Spec.Database, r.Agent)
	step := jobstep.Step{Client: r.Client, Reader: r.APIReader, Owner: inc, Title: "Database check Job " + job.Name, Kind: "Incident",
		Container: jobs.ContainerName, Report: jobstep.AgentReport,
		OnTimeout: "; the evidence is stored without the database check", OnFailure: "; the evidence is stored without the database check"}
	created := rec.Object == job.Name
	ended, err := step.Run(ctx, job, created, nil)
	if err != nil {
		if _, stalled := reconcile.AsStalling(err); !stalled && jobstep.IsRunning(err) {
			if created {
				return evidence.Section{}, false, false // looked at again when the Job changes
			}
			rec.Object = job.Name
			rec.Message = cutMessage(fmt.Sprintf("database check Job %s runs (agent check with the connection in Secret %s); the evidence is stored when it ends", job.Name, rel.Spec.Database.SecretRef.Name))
			return evidence.Section{}, false, true
		}
		why := err.Error()
		if st, ok := reconcile.AsStalling(err); ok {
			why = st.Message
		}
		if !created {
			rec.Object = job.Name
		}
		msg := "the database check did not run to its end: " + why
		conditions.Set(inc, opsv1alpha1.ConditionDatabaseChecked, metav1.ConditionFalse, opsv1alpha1.ReasonFailed, cutMessage(msg))
		r.record(s, opsv1alpha1.TimelineDatabaseChecked, opsv1alpha1.TimelineFailed, "evidence/db-check/failed", corev1.EventTypeWarning, "DatabaseCheckFailed", msg)
		return evidence.Section{Name: evidenceCheckSection, Content: msg + "\n"}, true, true
	}
	res, rerr := jobstep.AgentResult(ended.Term)
	text := agent.CheckSummary(res)
	if rerr != nil {
		text = "database check: " + rerr.Error()
	}
	outcome, status, reason := opsv1alpha1.TimelineSucceeded, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded
	if rerr != nil || res.Check == nil || !res.Check.Connected {
		// A database the agent could not reach is a finding, not a failed check; it is
		// said in the condition so that it is seen without opening the bundle.
		outcome, status, reason = opsv1alpha1.TimelineFailed, metav1.ConditionFalse, opsv1alpha1.ReasonFailed
	}
	first, _, _ := strings.Cut(text, "\n")
	conditions.Set(inc, opsv1alpha1.ConditionDatabaseChecked, status, reason, cutMessage(first))
	r.record(s, opsv1alpha1.TimelineDatabaseChecked, outcome, "evidence/db-check", corev1.EventTypeNormal, "DatabaseChecked", cutMessage("database check Job "+job.Name+": "+first))
	return evidence.Section{Name: evidenceCheckSection, Content: text + "\n"}, true, true
}
