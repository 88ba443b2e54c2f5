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
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/schedule"
)

// A reconcile working from a cached schedule whose lastScheduleTime predates the run
// it just created a backup for must not report that run as skipped because of its
// own backup (seen on the devcluster: a RunSkipped warning after every run).
func TestReconcileRunWithStaleLastScheduleTime(t *testing.T) {
	created := time.Date(2026, 11, 29, 3, 12, 7, 0, time.UTC)
	run := time.Date(2026, 11, 29, 3, 14, 0, 0, time.UTC)
	s := &opsv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "every-minute", Namespace: "demo", CreationTimestamp: metav1.NewTime(created)},
		Spec:       opsv1alpha1.BackupScheduleSpec{Schedule: "* * * * *", TimeZone: "UTC"},
		Status:     opsv1alpha1.BackupScheduleStatus{LastScheduleTime: &metav1.Time{Time: run.Add(-time.Minute)}},
	}
	own := backupFor(s, run)
	own.Status.Phase = opsv1alpha1.BackupPhaseRunning
	sched, err := schedule.Parse(s.Spec.Schedule, s.Spec.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(10)
	r := &BackupScheduleReconciler{Recorder: rec}

	backups, err := r.reconcileRun(context.Background(), s, sched, []*opsv1alpha1.DatabaseBackup{own}, run.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != 1 {
		t.Errorf("backups = %d, want the one that exists", len(backups))
	}
	if s.Status.LastScheduleTime == nil || !s.Status.LastScheduleTime.Time.Equal(run) {
		t.Errorf("lastScheduleTime = %v, want %v", s.Status.LastScheduleTime, run)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, opsv1alpha1.ConditionScheduled); c == nil || c.Reason != opsv1alpha1.ReasonScheduled {
		t.Errorf("Scheduled condition = %+v, want reason %s", c, opsv1alpha1.ReasonScheduled)
	}
	select {
	case e := <-rec.Events:
		t.Errorf("unexpected event %q", e)
	default:
	}
}
