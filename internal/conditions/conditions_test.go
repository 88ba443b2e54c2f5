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

package conditions_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

func kstatusOf(t *testing.T, obj *opsv1alpha1.DatabaseBackup) status.Status {
	t.Helper()
	obj.APIVersion = opsv1alpha1.GroupVersion.String()
	obj.Kind = "DatabaseBackup"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestKstatusReadsTheHelpersConditions(t *testing.T) {
	cases := []struct {
		name string
		mark func(conditions.Object)
		want status.Status
	}{
		{"reconciling is InProgress", func(o conditions.Object) {
			conditions.MarkReconciling(o, opsv1alpha1.ReasonJobRunning, "The backup Job is running.")
		}, status.InProgressStatus},
		{"ready is Current", func(o conditions.Object) {
			conditions.MarkReady(o, opsv1alpha1.ReasonSucceeded, "Backup completed.")
		}, status.CurrentStatus},
		{"stalled is Failed", func(o conditions.Object) {
			conditions.MarkStalled(o, opsv1alpha1.ReasonJobFailed, "pg_dump failed.")
		}, status.FailedStatus},
		{"stalled after reconciling is Failed", func(o conditions.Object) {
			conditions.MarkReconciling(o, opsv1alpha1.ReasonJobRunning, "running")
			conditions.MarkStalled(o, opsv1alpha1.ReasonJobFailed, "failed")
		}, status.FailedStatus},
		{"ready after stalled is Current", func(o conditions.Object) {
			conditions.MarkStalled(o, opsv1alpha1.ReasonJobFailed, "failed")
			conditions.MarkReady(o, opsv1alpha1.ReasonSucceeded, "ok")
		}, status.CurrentStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "n", Generation: 3}}
			tc.mark(obj)
			if got := kstatusOf(t, obj); got != tc.want {
				t.Fatalf("kstatus = %s, want %s (conditions %+v)", got, tc.want, obj.Status.Conditions)
			}
			if obj.Status.ObservedGeneration != 3 {
				t.Fatalf("observedGeneration = %d, want 3", obj.Status.ObservedGeneration)
			}
			for _, c := range obj.Status.Conditions {
				if c.ObservedGeneration != 3 {
					t.Fatalf("condition %s observedGeneration = %d, want 3", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}

func TestStaleObservedGenerationIsInProgress(t *testing.T) {
	obj := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "n", Generation: 1}}
	conditions.MarkReady(obj, opsv1alpha1.ReasonSucceeded, "ok")
	obj.Generation = 2 // the spec changed after the last reconcile
	if got := kstatusOf(t, obj); got != status.InProgressStatus {
		t.Fatalf("kstatus = %s, want InProgress", got)
	}
}

func TestLastTransitionTimeStableWhenStatusUnchanged(t *testing.T) {
	obj := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	conditions.MarkReconciling(obj, "A", "first")
	first := conditions.Get(obj, opsv1alpha1.ConditionReconciling).LastTransitionTime
	past := metav1.NewTime(first.Add(-time.Hour))
	for i := range obj.Status.Conditions {
		obj.Status.Conditions[i].LastTransitionTime = past
	}
	conditions.MarkReconciling(obj, "B", "second")
	c := conditions.Get(obj, opsv1alpha1.ConditionReconciling)
	if !c.LastTransitionTime.Equal(&past) {
		t.Fatalf("lastTransitionTime moved from %v to %v although the status stayed True", past, c.LastTransitionTime)
	}
	if c.Reason != "B" || c.Message != "second" {
		t.Fatalf("reason/message not updated: %+v", c)
	}
	conditions.MarkReady(obj, "C", "done")
	if c := conditions.Get(obj, opsv1alpha1.ConditionReconciling); c.LastTransitionTime.Equal(&past) {
		t.Fatalf("lastTransitionTime did not move when Reconciling became False")
	}
}
