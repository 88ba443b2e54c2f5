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

// Package dblock decides which backup or restore of a database may run: at most one
// at a time per database (namespace + connection Secret). The decision is a pure
// function of the objects' status, so the backup and restore controllers reach the
// same answer from their caches, and a restarted manager reaches it again: nothing is
// held in memory. The holder is the object whose status says it is running; when
// none runs, the oldest waiting object (creationTimestamp, then kind, then name) goes
// next. That decision is made from caches; the Lease in lease.go makes it
// authoritative, and claim.go is what the backup and restore reconcilers call: list
// the claimants, take the Lease after the decision, give it up.
package dblock

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// State of a claimant with respect to the lock.
type State int

const (
	// Done: finished, never going to run, or not ready to run (a restore waiting for
	// its source); not part of the decision.
	Done State = iota
	// Waiting: wants to run.
	Waiting
	// Active: running against the database; holds the lock.
	Active
)

// Claimant is a backup or restore that references a database.
type Claimant struct {
	Kind      string // DatabaseBackup or DatabaseRestore
	Name      string
	Created   time.Time
	State     State
	Namespace string
	Secret    string // the database connection Secret
}

// String names the claimant for messages: "DatabaseBackup nightly-202611280300".
func (c Claimant) String() string { return c.Kind + " " + c.Name }

// Same reports whether c and o are the same object.
func (c Claimant) Same(o Claimant) bool { return c.Kind == o.Kind && c.Name == o.Name }

// before orders waiting claimants: oldest first, then kind, then name.
func before(a, b Claimant) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Decision says whether a claimant may run and, if not, what it waits for.
type Decision struct {
	// Granted is true when the claimant holds or may take the lock.
	Granted bool
	// Holder is what it waits for when not granted: the active claimant, or the
	// waiting one ahead of it.
	Holder Claimant
	// Message explains the decision to a person.
	Message string
}

// Decide says whether me may run, given every claimant referencing a database in the
// namespace (me may be among them; other databases are ignored).
func Decide(me Claimant, all []Claimant) Decision {
	if me.State == Active {
		return Decision{Granted: true, Message: "holds the database lock"}
	}
	var active, waiting []Claimant
	for _, c := range all {
		if c.Same(me) || c.Namespace != me.Namespace || c.Secret != me.Secret {
			continue
		}
		switch c.State {
		case Active:
			active = append(active, c)
		case Waiting:
			waiting = append(waiting, c)
		}
	}
	if len(active) > 0 {
		h := slices.MinFunc(active, before)
		return Decision{Holder: h, Message: fmt.Sprintf(
			"Waiting for %s which is running against database Secret %s", h, me.Secret)}
	}
	waiting = append(waiting, me)
	first := slices.MinFunc(waiting, before)
	if first.Same(me) {
		return Decision{Granted: true, Message: "database lock is free"}
	}
	return Decision{Holder: first, Message: fmt.Sprintf(
		"Waiting for %s (created earlier) which goes first against database Secret %s", first, me.Secret)}
}

// BackupState maps a DatabaseBackup's status to a lock state. Verifying holds the lock:
// the verify Job restores into a scratch database on the same server.
func BackupState(b *opsv1alpha1.DatabaseBackup) State {
	switch b.Status.Phase {
	case opsv1alpha1.BackupPhaseRunning, opsv1alpha1.BackupPhaseVerifying:
		return Active
	case opsv1alpha1.BackupPhaseCompleted, opsv1alpha1.BackupPhaseFailed:
		return Done
	}
	if !b.DeletionTimestamp.IsZero() {
		return Done
	}
	return Waiting
}

// RestoreState maps a DatabaseRestore's status to a lock state. A pending restore that
// waits for its source backup or for its workloads does not claim the lock: it could
// not use it, and claiming it would block the very backup it waits for (a restore
// created before the backup it restores would otherwise deadlock with it) and every
// later backup of the database.
func RestoreState(r *opsv1alpha1.DatabaseRestore) State {
	switch r.Status.Phase {
	case opsv1alpha1.RestorePhaseQuiescing, opsv1alpha1.RestorePhaseRestoring, opsv1alpha1.RestorePhaseResuming:
		return Active
	case opsv1alpha1.RestorePhaseCompleted, opsv1alpha1.RestorePhaseFailed:
		return Done
	}
	if !r.DeletionTimestamp.IsZero() {
		return Done
	}
	if c := meta.FindStatusCondition(r.Status.Conditions, opsv1alpha1.ConditionReconciling); c != nil &&
		(c.Reason == opsv1alpha1.ReasonWaitingForSource || c.Reason == opsv1alpha1.ReasonWaitingForWorkloads) {
		return Done
	}
	return Waiting
}

// FromBackup describes a DatabaseBackup as a claimant.
func FromBackup(b *opsv1alpha1.DatabaseBackup) Claimant {
	return Claimant{Kind: KindBackup, Name: b.Name, Namespace: b.Namespace,
		Created: b.CreationTimestamp.Time, State: BackupState(b), Secret: b.Spec.Database.SecretRef.Name}
}

// FromRestore describes a DatabaseRestore as a claimant.
func FromRestore(r *opsv1alpha1.DatabaseRestore) Claimant {
	return Claimant{Kind: KindRestore, Name: r.Name, Namespace: r.Namespace,
		Created: r.CreationTimestamp.Time, State: RestoreState(r), Secret: r.Spec.Database.SecretRef.Name}
}
