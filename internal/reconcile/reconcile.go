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

// Package reconcile is what every reconciler of this operator shares between its
// steps and the API server: the typed outcomes a step returns (Stalling, Waiting,
// CreateFailed; Flux's internal/error), the one function that turns an outcome into
// conditions, observedGeneration and a requeue (Apply; Flux's internal/reconcile),
// the status patcher, and the body of a watch's map function.
//
// A Reconcile reads the object, defers its status patch, runs its steps and ends on
// Apply:
//
//	p := reconcile.NewStatusPatch(r.Client, obj)
//	defer p.Finish(ctx, obj, &res, &retErr)
//	res, err := r.reconcile(ctx, obj)
//	return reconcile.Apply(obj, res, err)
package reconcile

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"runbook-operator/internal/conditions"
)

// ReasonCreateFailed is the Reconciling reason of a *CreateFailed (the api package's
// ReasonCreateFailed; kept here so that the package depends on no API group).
const ReasonCreateFailed = "CreateFailed"

// Option changes how Apply records an outcome on a kind whose stop means more than a
// condition (a phase, an event, a metric).
type Option func(*hooks)

type hooks struct {
	stall func(reason, msg string)
	retry func(err error)
}

// OnStall records a *Stalling instead of conditions.MarkStalled; the function must
// mark the object Stalled itself (or end it some other way a person sees).
func OnStall(f func(reason, msg string)) Option { return func(h *hooks) { h.stall = f } }

// OnRetry is called with an error retried with backoff (not a conflict, not a
// *CreateFailed), e.g. to say so in a condition.
func OnRetry(f func(err error)) Option { return func(h *hooks) { h.retry = f } }

// Apply turns a reconcile's result and error into conditions and a requeue, the same
// way for every kind:
//   - nil: res as it is;
//   - *Stalling: Stalled=True with its reason and message (observedGeneration follows),
//     no error, a requeue only after its After;
//   - *Waiting: Reconciling=True with its reason and message (when it has one), no
//     Stalled, a requeue after its After;
//   - a write conflict: a quick, quiet requeue;
//   - *CreateFailed: Reconciling=True, reason CreateFailed, and the error (backoff);
//   - anything else: the error, retried with backoff.
func Apply(obj conditions.Object, res ctrl.Result, err error, opts ...Option) (ctrl.Result, error) {
	if err == nil {
		return res, nil
	}
	var h hooks
	for _, o := range opts {
		o(&h)
	}
	if st, ok := AsStalling(err); ok {
		if h.stall != nil {
			h.stall(st.Reason, st.Message)
		} else {
			conditions.MarkStalled(obj, st.Reason, st.Message)
		}
		return ctrl.Result{RequeueAfter: st.After}, nil
	}
	if w, ok := AsWaiting(err); ok {
		if w.Message != "" {
			conditions.MarkReconciling(obj, w.Reason, w.Message)
		}
		return ctrl.Result{RequeueAfter: w.After}, nil
	}
	if IsConflict(err) {
		return ConflictRequeue(err)
	}
	if cf, ok := AsCreateFailed(err); ok {
		conditions.MarkReconciling(obj, ReasonCreateFailed, cf.Error())
	} else if h.retry != nil {
		h.retry(err)
	}
	return ctrl.Result{}, err
}
