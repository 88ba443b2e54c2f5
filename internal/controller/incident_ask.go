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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// The rollback and rotateSecrets actions ask another controller to act (the Release's,
// the SecretRotation's) through an annotation on its object, never by editing its spec
// or its workloads, then look again until that object's status says the request ended.

// readAsked reads into obj the object an action asks (kind name, named by the
// incident's field) through the API reader. When it cannot, it says why, ending with
// undone: what the action did not do.
func (r *IncidentReconciler) readAsked(ctx context.Context, inc *opsv1alpha1.Incident, field, kind, name string, obj client.Object, undone string) string {
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s: %s %s does not exist in namespace %s; %s", field, kind, name, inc.Namespace, undone)
	case err != nil:
		return fmt.Sprintf("cannot read %s %s: %v; %s", kind, name, err, undone)
	}
	return ""
}

// ask sets obj's annotation key to value unless obj holds it already: a merge patch
// of the latest version with the resourceVersion read, read again on a conflict. obj
// holds the latest version afterwards.
func (r *IncidentReconciler) ask(ctx context.Context, obj client.Object, key, value string) error {
	if obj.GetAnnotations()[key] == value {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		before := obj.DeepCopyObject().(client.Object)
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[key] = value
		obj.SetAnnotations(a)
		return r.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}

// lookAgainIn makes the reconcile requeue within d at the latest (the incident does not
// watch the objects it asks).
func (s *incidentScope) lookAgainIn(d time.Duration) {
	if s.retryIn == 0 || d < s.retryIn {
		s.retryIn = d
	}
}
