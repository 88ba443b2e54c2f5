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
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusPatch writes an object's status as a merge patch against the last state it
// read or wrote, with the resourceVersion as precondition: a reconcile that acted on a
// stale cache gets a conflict instead of overwriting newer status (which matters
// for the object key and the database lock, both decided once).
type statusPatch struct {
	c    client.Client
	base client.Object
	// done stops further patches (the object is about to disappear).
	done bool
}

func newStatusPatch(c client.Client, obj client.Object) *statusPatch {
	return &statusPatch{c: c, base: obj.DeepCopyObject().(client.Object)}
}

// Patch writes what changed since the last Patch (or since newStatusPatch), if anything.
func (p *statusPatch) Patch(ctx context.Context, obj client.Object) error {
	if p.done {
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

// conflictRequeue turns a write conflict (a stale cache) into a quiet, quick retry.
func conflictRequeue(err error) (ctrl.Result, error) {
	if err == nil {
		return ctrl.Result{}, nil
	}
	if apierrors.IsConflict(err) || apierrors.IsConflict(errors.Unwrap(err)) || isJoinedConflict(err) {
		return ctrl.Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	return ctrl.Result{}, err
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
