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

package reconcile

import (
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

func TestTypedOutcomesSurviveWrapping(t *testing.T) {
	err := fmt.Errorf("step: %w", Stall("JobDeleted", "gone"))
	if st, ok := AsStalling(err); !ok || st.Reason != "JobDeleted" {
		t.Fatal("stalling lost")
	}
	if _, ok := AsWaiting(err); ok {
		t.Fatal("a stalling error is not waiting")
	}
	if _, ok := AsStalling(errors.New("x")); ok {
		t.Fatal("plain error is a retry")
	}
}

// TestApplyIsTheOneOutcomePath: each outcome ends in its conditions, observedGeneration
// and requeue, whatever the kind.
func TestApplyIsTheOneOutcomePath(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "releases"}, "x", errors.New("stale"))
	boom := errors.New("connection refused")
	cases := []struct {
		name      string
		res       ctrl.Result
		err       error
		wantRes   ctrl.Result
		wantErr   error
		condition string // the condition set True ("" none)
		reason    string
	}{
		{name: "success keeps its requeue", res: ctrl.Result{RequeueAfter: time.Minute}, wantRes: ctrl.Result{RequeueAfter: time.Minute}},
		{name: "stalling", err: fmt.Errorf("wrapped: %w", Stall("JobFailed", "it failed")), condition: opsv1alpha1.ConditionStalled, reason: "JobFailed"},
		{name: "stalling that clears by itself", err: &Stalling{Reason: "SourceMissing", Message: "m", After: time.Minute},
			wantRes: ctrl.Result{RequeueAfter: time.Minute}, condition: opsv1alpha1.ConditionStalled, reason: "SourceMissing"},
		{name: "waiting", err: Wait("JobNameInUse", 15*time.Second, "foreign Job"), wantRes: ctrl.Result{RequeueAfter: 15 * time.Second},
			condition: opsv1alpha1.ConditionReconciling, reason: "JobNameInUse"},
		{name: "a quiet requeue", err: Requeue(time.Second), wantRes: ctrl.Result{RequeueAfter: time.Second}},
		{name: "conflict", err: fmt.Errorf("patch: %w", conflict), wantRes: ctrl.Result{RequeueAfter: conflictRetry}},
		{name: "joined conflicts", err: errors.Join(conflict, conflict), wantRes: ctrl.Result{RequeueAfter: conflictRetry}},
		{name: "create failed", err: &CreateFailed{What: "Job j", Err: boom}, wantErr: boom,
			condition: opsv1alpha1.ConditionReconciling, reason: ReasonCreateFailed},
		{name: "anything else", err: boom, wantErr: boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			res, err := Apply(obj, c.res, c.err)
			if res != c.wantRes {
				t.Errorf("result %+v, want %+v", res, c.wantRes)
			}
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, c.wantErr)
			}
			for _, typ := range []string{opsv1alpha1.ConditionStalled, opsv1alpha1.ConditionReconciling} {
				got := conditions.Get(obj, typ)
				isTrue := got != nil && got.Status == metav1.ConditionTrue
				if want := typ == c.condition; isTrue != want {
					t.Fatalf("%s: %+v, want True=%v", typ, got, want)
				}
				if isTrue && (got.Reason != c.reason || obj.Status.ObservedGeneration != 3) {
					t.Errorf("%s: reason %s, observedGeneration %d", typ, got.Reason, obj.Status.ObservedGeneration)
				}
			}
		})
	}
}

func TestApplyHooks(t *testing.T) {
	obj := &opsv1alpha1.DatabaseBackup{}
	var stalled, retried string
	opts := []Option{OnStall(func(reason, msg string) { stalled = reason + ": " + msg }), OnRetry(func(err error) { retried = err.Error() })}
	if _, err := Apply(obj, ctrl.Result{}, Stall("SourceFailed", "no dump"), opts...); err != nil || stalled != "SourceFailed: no dump" {
		t.Fatalf("stall hook: %q, %v", stalled, err)
	}
	if conditions.Get(obj, opsv1alpha1.ConditionStalled) != nil {
		t.Fatal("the hook records the stall, Apply does not")
	}
	if _, err := Apply(obj, ctrl.Result{}, errors.New("timeout"), opts...); err == nil || retried != "timeout" {
		t.Fatalf("retry hook: %q, %v", retried, err)
	}
}
