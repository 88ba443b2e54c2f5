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
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/dblock"
)

// databaseClaimants lists every backup and restore of the database behind the connection
// Secret in the namespace, as the database lock sees them. Backups and restores use
// the same listing (same index, same cache) so they reach the same decision.
func databaseClaimants(ctx context.Context, c client.Reader, namespace, secret string) ([]dblock.Claimant, error) {
	var backups opsv1alpha1.DatabaseBackupList
	if err := c.List(ctx, &backups, client.InNamespace(namespace),
		client.MatchingFields{IndexBackupDatabase: secret},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var restores opsv1alpha1.DatabaseRestoreList
	if err := c.List(ctx, &restores, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]dblock.Claimant, 0, len(backups.Items)+len(restores.Items))
	for i := range backups.Items {
		out = append(out, dblock.FromBackup(&backups.Items[i]))
	}
	for i := range restores.Items {
		if restores.Items[i].Spec.Database.SecretRef.Name == secret {
			out = append(out, dblock.FromRestore(&restores.Items[i]))
		}
	}
	return out, nil
}

// leaseRecheck is how soon a claimant that lost the Lease race looks again (rare: the
// cached decision granted it, but another claimant wrote the Lease first).
const leaseRecheck = time.Second

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update;delete

// databaseLock takes the database's Lease for the claimant after the cached decision d,
// before anything runs: it is granted when it already holds the Lease (a restarted
// manager continuing, whatever the cache says) or when d grants it and its write of
// the Lease succeeds. Otherwise msg says what it waits for. reader reads from the API
// server.
func databaseLock(ctx context.Context, c client.Client, reader client.Reader, kind string, obj client.Object, secret string,
	d dblock.Decision) (granted bool, msg string, err error) {
	me := dblock.Identity(kind, obj.GetName(), string(obj.GetUID()))
	if !d.Granted {
		holder, err := dblock.Holder(ctx, reader, obj.GetNamespace(), secret)
		if err != nil || holder != me {
			return false, d.Message, err
		}
		return true, "", nil
	}
	granted, holder, err := dblock.Acquire(ctx, c, reader, obj.GetNamespace(), secret, me,
		func(ctx context.Context, id string) (bool, error) {
			return claimantAlive(ctx, reader, obj.GetNamespace(), id)
		})
	if err != nil || granted {
		return granted, "", err
	}
	who := "another backup or restore"
	if k, n, _, perr := dblock.ParseIdentity(holder); perr == nil {
		who = k + " " + n
	}
	return false, fmt.Sprintf("Waiting for %s which holds the lock of database Secret %s", who, secret), nil
}

// releaseDatabaseLock gives up the claimant's Lease, if it holds it.
func releaseDatabaseLock(ctx context.Context, c client.Client, reader client.Reader, kind string, obj client.Object, secret string) error {
	return dblock.Release(ctx, c, reader, obj.GetNamespace(), secret, dblock.Identity(kind, obj.GetName(), string(obj.GetUID())))
}

// claimantAlive reports whether the Lease holder id still exists (same UID) and is
// not Done, read from the API server.
func claimantAlive(ctx context.Context, reader client.Reader, namespace, id string) (bool, error) {
	kind, name, uid, err := dblock.ParseIdentity(id)
	if err != nil {
		return false, nil // not ours to honour
	}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	var obj client.Object
	var state func() dblock.State
	switch kind {
	case kindBackup:
		b := &opsv1alpha1.DatabaseBackup{}
		obj, state = b, func() dblock.State { return dblock.BackupState(b) }
	case kindRestore:
		rs := &opsv1alpha1.DatabaseRestore{}
		obj, state = rs, func() dblock.State { return dblock.RestoreState(rs) }
	default:
		return false, nil
	}
	if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return string(obj.GetUID()) == uid && state() != dblock.Done, nil
}

const (
	kindBackup  = "DatabaseBackup"
	kindRestore = "DatabaseRestore"
)
