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
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

func c(kind, name string, ageSec int, s State, secret string) Claimant {
	return Claimant{Kind: kind, Name: name, Created: t0.Add(-time.Duration(ageSec) * time.Second), State: s, Namespace: "saas", Secret: secret}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		me      Claimant
		others  []Claimant
		granted bool
		holder  string
		message string
	}{
		{name: "alone", me: c("DatabaseBackup", "a", 0, Waiting, "db"), granted: true},
		{name: "already running keeps the lock", me: c("DatabaseBackup", "a", 0, Active, "db"),
			others: []Claimant{c("DatabaseRestore", "r", 100, Active, "db")}, granted: true},
		{name: "waits for a running backup", me: c("DatabaseBackup", "b", 0, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "a", 10, Active, "db")}, holder: "DatabaseBackup a",
			message: "Waiting for DatabaseBackup a which is running against database Secret db"},
		{name: "waits for a running restore even if older", me: c("DatabaseBackup", "b", 100, Waiting, "db"),
			others: []Claimant{c("DatabaseRestore", "r", 10, Active, "db")}, holder: "DatabaseRestore r"},
		{name: "the oldest waiting goes first", me: c("DatabaseBackup", "young", 5, Waiting, "db"),
			others: []Claimant{c("DatabaseRestore", "old", 50, Waiting, "db")}, holder: "DatabaseRestore old",
			message: "Waiting for DatabaseRestore old (created earlier) which goes first against database Secret db"},
		{name: "the oldest waiting is granted", me: c("DatabaseRestore", "old", 50, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "young", 5, Waiting, "db")}, granted: true},
		{name: "same second: kind then name break the tie", me: c("DatabaseRestore", "a", 5, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "z", 5, Waiting, "db")}, holder: "DatabaseBackup z"},
		{name: "finished ones do not count", me: c("DatabaseBackup", "b", 0, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "a", 10, Done, "db")}, granted: true},
		{name: "another database does not count", me: c("DatabaseBackup", "b", 0, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "a", 10, Active, "other-db")}, granted: true},
		{name: "itself in the list is ignored", me: c("DatabaseBackup", "b", 0, Waiting, "db"),
			others: []Claimant{c("DatabaseBackup", "b", 0, Waiting, "db")}, granted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.me, tc.others)
			if d.Granted != tc.granted || !d.Granted && d.Holder.String() != tc.holder {
				t.Errorf("Decide = granted %v holder %q, want %v %q", d.Granted, d.Holder, tc.granted, tc.holder)
			}
			if tc.message != "" && d.Message != tc.message {
				t.Errorf("message %q\nwant    %q", d.Message, tc.message)
			}
		})
	}
}

func TestTwoControllersAgree(t *testing.T) {
	all := []Claimant{
		c("DatabaseBackup", "b1", 30, Waiting, "db"),
		c("DatabaseRestore", "r1", 30, Waiting, "db"),
		c("DatabaseBackup", "b2", 60, Waiting, "db"),
	}
	granted := 0
	for _, me := range all {
		if Decide(me, all).Granted {
			granted++
			if me.Name != "b2" {
				t.Errorf("%s granted, want the oldest (b2)", me)
			}
		}
	}
	if granted != 1 {
		t.Errorf("%d claimants granted, want exactly 1", granted)
	}
}

func TestStates(t *testing.T) {
	for phase, want := range map[opsv1alpha1.BackupPhase]State{
		"": Waiting, "Pending": Waiting, "Running": Active, "Verifying": Active, "Completed": Done, "Failed": Done,
	} {
		if got := BackupState(&opsv1alpha1.DatabaseBackup{Status: opsv1alpha1.DatabaseBackupStatus{Phase: phase}}); got != want {
			t.Errorf("backup %q: %v, want %v", phase, got, want)
		}
	}
	for phase, want := range map[opsv1alpha1.RestorePhase]State{
		"": Waiting, "Pending": Waiting, "Quiescing": Active, "Restoring": Active, "Resuming": Active, "Completed": Done, "Failed": Done,
	} {
		if got := RestoreState(&opsv1alpha1.DatabaseRestore{Status: opsv1alpha1.DatabaseRestoreStatus{Phase: phase}}); got != want {
			t.Errorf("restore %q: %v, want %v", phase, got, want)
		}
	}
	deleting := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{Time: t0}}}
	if BackupState(deleting) != Done {
		t.Error("a pending backup being deleted must not wait for the lock")
	}
	for reason, want := range map[string]State{
		opsv1alpha1.ReasonWaitingForSource:    Done,
		opsv1alpha1.ReasonWaitingForWorkloads: Done,
		opsv1alpha1.ReasonWaitingForLock:      Waiting,
	} {
		r := &opsv1alpha1.DatabaseRestore{Status: opsv1alpha1.DatabaseRestoreStatus{Phase: "Pending", Conditions: []metav1.Condition{
			{Type: opsv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason},
		}}}
		if got := RestoreState(r); got != want {
			t.Errorf("pending restore with Reconciling reason %s: %v, want %v", reason, got, want)
		}
	}
}

// A restore created before the backup it restores waits for that backup; it must not
// hold the backup back as the older waiting claimant (that would deadlock both).
func TestRestoreWaitingForItsSourceDoesNotBlockIt(t *testing.T) {
	r := &opsv1alpha1.DatabaseRestore{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "saas", CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute))},
		Spec:       opsv1alpha1.DatabaseRestoreSpec{Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "db"}}},
		Status: opsv1alpha1.DatabaseRestoreStatus{Phase: "Pending", Conditions: []metav1.Condition{
			{Type: opsv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: opsv1alpha1.ReasonWaitingForSource},
		}},
	}
	b := c("DatabaseBackup", "source", 0, Waiting, "db")
	if d := Decide(b, []Claimant{FromRestore(r), b}); !d.Granted {
		t.Errorf("the source backup waits for %s: %s", d.Holder, d.Message)
	}
}
