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
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// RequestsFor is the body of a watch's map function: it lists list in namespace
// (with opts, from the cache and without copies) and returns a request for every
// item that match accepts. A failed list is logged and wakes none.
func RequestsFor[T client.Object](ctx context.Context, c client.Reader, list client.ObjectList, namespace string, match func(T) bool, opts ...client.ListOption) []ctrl.Request {
	opts = append([]client.ListOption{client.InNamespace(namespace), client.UnsafeDisableDeepCopy}, opts...)
	if err := c.List(ctx, list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "listing objects to wake", "list", fmt.Sprintf("%T", list))
		return nil
	}
	var reqs []ctrl.Request
	_ = apimeta.EachListItem(list, func(o runtime.Object) error {
		if item, ok := o.(T); ok && match(item) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(item)})
		}
		return nil
	})
	return reqs
}
