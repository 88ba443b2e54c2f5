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

package dblock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The decision above is made from cached status, and two controllers can each decide
// before the other's status reaches its cache. The Lease makes it authoritative: a
// claimant starts only after it wrote its identity into the database's Lease with an
// optimistic-concurrency create or update, so of two claimants racing for a free lock
// exactly one write succeeds.

// LeaseName is the Lease that guards the database behind the connection Secret in
// its namespace: `dblock-<secret>`, shortened with a hash when too long.
func LeaseName(secret string) string {
	name := "dblock-" + secret
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(secret))
	return name[:46] + "-" + hex.EncodeToString(sum[:])[:16]
}

// Identity names a claimant in the Lease: kind, name and UID (a re-created object of
// the same name is another claimant).
func Identity(kind, name, uid string) string { return kind + "/" + name + "/" + uid }

// Alive reports whether the claimant with this identity still holds a claim on the
// database: it exists with that UID and its State is not Done. It must read from the
// API server, not a cache, or a holder the cache has not seen yet looks gone.
type Alive func(ctx context.Context, identity string) (bool, error)

// Acquire takes the database's Lease for me, or reports who holds it. A Lease held by
// a claimant that is no longer alive (finished, deleted, or crashed before it released)
// is taken over. reader must read from the API server.
func Acquire(ctx context.Context, c client.Client, reader client.Reader, namespace, secret, me string, alive Alive) (granted bool, holder string, err error) {
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: namespace, Name: LeaseName(secret)}
	err = reader.Get(ctx, key, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: key.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "runbook-operator"}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(me), AcquireTime: ptr.To(metav1.NewMicroTime(metav1.Now().Time))},
		}
		if err := c.Create(ctx, lease); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return false, "", nil // someone else was faster; look again
			}
			return false, "", err
		}
		return true, me, nil
	}
	if err != nil {
		return false, "", err
	}
	current := ptr.Deref(lease.Spec.HolderIdentity, "")
	if current == me {
		return true, me, nil
	}
	if current != "" {
		ok, err := alive(ctx, current)
		if err != nil || ok {
			return false, current, err
		}
	}
	lease.Spec.HolderIdentity = ptr.To(me)
	lease.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(metav1.Now().Time))
	if err := c.Update(ctx, lease); err != nil { // resourceVersion is the precondition
		if apierrors.IsConflict(err) {
			return false, current, nil
		}
		return false, current, err
	}
	return true, me, nil
}

// Release gives the Lease up if me holds it (delete with the Lease's UID and
// resourceVersion as preconditions, so a takeover in between is never undone).
func Release(ctx context.Context, c client.Client, reader client.Reader, namespace, secret, me string) error {
	lease := &coordinationv1.Lease{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: LeaseName(secret)}, lease); err != nil {
		return client.IgnoreNotFound(err)
	}
	if ptr.Deref(lease.Spec.HolderIdentity, "") != me {
		return nil
	}
	err := c.Delete(ctx, lease, client.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// Holder returns the identity in the database's Lease ("" when none).
func Holder(ctx context.Context, reader client.Reader, namespace, secret string) (string, error) {
	lease := &coordinationv1.Lease{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: LeaseName(secret)}, lease); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	return ptr.Deref(lease.Spec.HolderIdentity, ""), nil
}

// ParseIdentity splits an identity into kind, name and UID; all three are empty when
// id is not kind/name/uid.
func ParseIdentity(id string) (kind, name, uid string, err error) {
	parts := strings.SplitN(id, "/", 3)
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("database lock holder %q is not kind/name/uid", id)
	}
	return parts[0], parts[1], parts[2], nil
}
