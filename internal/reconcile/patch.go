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
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusPatch writes an object's status as a merge patch against the last state it
// read or wrote, with the resourceVersion as precondition: a reconcile that acted on a
// stale cache gets a conflict instead of overwriting newer status (which matters
// for the object key and the database lock, both decided once).
type StatusPatch struct {
	c    client.Client
	base client.Object
	// Done stops further patches (the object is about to disappear).
	Done bool
}

// NewStatusPatch starts patching obj's status from its state now.
func NewStatusPatch(c client.Client, obj client.Object) *StatusPatch {
	return &StatusPatch{c: c, base: obj.DeepCopyObject().(client.Object)}
}

// Patch writes what changed since the last Patch (or since NewStatusPatch), if anything.
func (p *StatusPatch) Patch(ctx context.Context, obj client.Object) error {
	if p.Done {
		return nil
	}
	diff, err := client.MergeFrom(p.base).Data(obj)
	if err != nil {
		return err
	}
	if string(diff) == "{}" {
		return nil
	}
	err = p.c.Status().Patch(ctx, obj, client.MergeFromWithOptions(p.base, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		p.base = obj.DeepCopyObject().(client.Object)
	}
	return err
}

// Finish is Reconcile's deferred last write: it patches obj and, when that fails,
// joins the error to the reconcile's (a conflict becomes a quick, quiet retry).
//
//	defer p.Finish(ctx, obj, &res, &retErr)
func (p *StatusPatch) Finish(ctx context.Context, obj client.Object, res *ctrl.Result, retErr *error) {
	if err := p.Patch(ctx, obj); err != nil {
		*res, *retErr = ConflictRequeue(errors.Join(*retErr, err))
	}
}

// conflictRetry is how soon a reconcile that hit a write conflict runs again.
const conflictRetry = 200 * time.Millisecond

// ConflictRequeue turns a write conflict (a stale cache) into a quiet, quick retry;
// any other error is returned for a retry with backoff.
func ConflictRequeue(err error) (ctrl.Result, error) {
	if err == nil {
		return ctrl.Result{}, nil
	}
	if IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// IsConflict reports whether err is a write conflict, wrapped or joined (every joined
// error a conflict).
func IsConflict(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsConflict(errors.Unwrap(err)) || isJoinedConflict(err)
}

func isJoinedConflict(err error) bool {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range j.Unwrap() {
			if e != nil && !apierrors.IsConflict(e) {
				return false
			}
		}
		return true
	}
	return false
}
