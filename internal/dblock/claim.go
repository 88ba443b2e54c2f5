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
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// The client half of the lock, shared by the backup and restore reconcilers: list the
// claimants as the decision sees them, take the Lease after the decision, give it up.

// IndexBackupDatabase indexes DatabaseBackups by their connection Secret's name, so the
// lock lists only the backups of one database (the manager registers the index).
const IndexBackupDatabase = "spec.database.secretRef.name"

// Claimants lists every backup and restore of the database behind the connection
// Secret in the namespace, as the database lock sees them. Backups and restores use
// the same listing (same index, same cache) so they reach the same decision.
func Claimants(ctx context.Context, c client.Reader, namespace, secret string) ([]Claimant, error) {
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
	out := make([]Claimant, 0, len(backups.Items)+len(restores.Items))
	for i := range backups.Items {
		out = append(out, FromBackup(&backups.Items[i]))
	}
	for i := range restores.Items {
		if restores.Items[i].Spec.Database.SecretRef.Name == secret {
			out = append(out, FromRestore(&restores.Items[i]))
		}
	}
	return out, nil
}

// LeaseRecheck is how soon a claimant that lost the Lease race looks again (rare: the
// cached decision granted it, but another claimant wrote the Lease first).
const LeaseRecheck = time.Second

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update;delete

// Take takes the database's Lease for the claimant after the cached decision d,
// before anything runs: it is granted when it already holds the Lease (a restarted
// manager continuing, whatever the cache says) or when d grants it and its write of
// the Lease succeeds. Otherwise msg says what it waits for. reader reads from the API
// server.
func Take(ctx context.Context, c client.Client, reader client.Reader, kind string, obj client.Object, secret string,
	d Decision) (granted bool, msg string, err error) {
	me := Identity(kind, obj.GetName(), string(obj.GetUID()))
	if !d.Granted {
		holder, err := Holder(ctx, reader, obj.GetNamespace(), secret)
		if err != nil || holder != me {
			return false, d.Message, err
		}
		return true, "", nil
	}
	granted, holder, err := Acquire(ctx, c, reader, obj.GetNamespace(), secret, me,
		func(ctx context.Context, id string) (bool, error) {
			return claimantAlive(ctx, reader, obj.GetNamespace(), id)
		})
	if err != nil || granted {
		return granted, "", err
	}
	who := "another backup or restore"
	if k, n, _, perr := ParseIdentity(holder); perr == nil {
		who = k + " " + n
	}
	return false, fmt.Sprintf("Waiting for %s which holds the lock of database Secret %s", who, secret), nil
}

// Claimed is what Claim found: whether the claimant holds the lock and, if not, what
// it waits for and how soon to look again.
type Claimed struct {
	Granted bool
	// Message says what the claimant waits for ("" when granted).
	Message string
	// Recheck is LeaseRecheck when the cached decision granted the lock but another
	// claimant wrote the Lease first: the holder's status may not wake the loser.
	// Zero otherwise: the holder's status change wakes the waiting claimants.
	Recheck time.Duration
}

// Claim is what the backup and restore reconcilers do before anything runs: list
// the database's claimants, decide from them, and take the Lease after that decision
// (Claimants, Decide, Take). obj is the claimant me as an object.
func Claim(ctx context.Context, c client.Client, reader client.Reader, me Claimant, obj client.Object) (Claimed, error) {
	all, err := Claimants(ctx, c, me.Namespace, me.Secret)
	if err != nil {
		return Claimed{}, err
	}
	d := Decide(me, all)
	granted, msg, err := Take(ctx, c, reader, me.Kind, obj, me.Secret, d)
	if err != nil || granted {
		return Claimed{Granted: granted}, err
	}
	claimed := Claimed{Message: msg}
	if d.Granted {
		claimed.Recheck = LeaseRecheck
	}
	return claimed, nil
}

// Give gives up the claimant's Lease, if it holds it.
func Give(ctx context.Context, c client.Client, reader client.Reader, kind string, obj client.Object, secret string) error {
	return Release(ctx, c, reader, obj.GetNamespace(), secret, Identity(kind, obj.GetName(), string(obj.GetUID())))
}

// claimantAlive reports whether the Lease holder id still exists (same UID) and is
// not Done, read from the API server.
func claimantAlive(ctx context.Context, reader client.Reader, namespace, id string) (bool, error) {
	// A holder that is not kind/name/uid has no kind: it is not ours to honour
	// (the default case below), like a kind this operator does not know.
	kind, name, uid, _ := ParseIdentity(id)
	key := client.ObjectKey{Namespace: namespace, Name: name}
	var obj client.Object
	var state func() State
	switch kind {
	case KindBackup:
		b := &opsv1alpha1.DatabaseBackup{}
		obj, state = b, func() State { return BackupState(b) }
	case KindRestore:
		rs := &opsv1alpha1.DatabaseRestore{}
		obj, state = rs, func() State { return RestoreState(rs) }
	default:
		return false, nil
	}
	if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return string(obj.GetUID()) == uid && state() != Done, nil
}

// Kinds of claimant, in identities and Claimant.Kind.
const (
	KindBackup  = "DatabaseBackup"
	KindRestore = "DatabaseRestore"
)
