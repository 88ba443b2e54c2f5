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

package release

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestPlanRestoreOnlyAfterThisAttemptsMigrationsWithItsBackup(t *testing.T) {
	const rev = "abc"
	migrated := opsv1alpha1.RevisionRecord{Revision: rev, Migrated: true, Backup: "saas-predeploy-abc", AppliedMigrations: []string{"orders.0003"}}
	cases := []struct {
		name     string
		mutate   func(*opsv1alpha1.ReleaseSpec, *opsv1alpha1.ReleaseStatus)
		backup   string
		whyHas   string
		noReason bool
	}{
		{name: "restoreDatabase off", mutate: func(s *opsv1alpha1.ReleaseSpec, _ *opsv1alpha1.ReleaseStatus) { s.Rollback.RestoreDatabase = false }, noReason: true},
		{name: "migrations ran after the backup", backup: "saas-predeploy-abc"},
		{name: "no migrations", mutate: func(s *opsv1alpha1.ReleaseSpec, _ *opsv1alpha1.ReleaseStatus) { s.Migrations = nil }, whyHas: "has no migrations"},
		{name: "a revert ran no migrations", mutate: func(_ *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) { st.Progress.Revert = true }, whyHas: "ran no migrations"},
		{name: "migrations did not run", mutate: func(_ *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) { st.History[0].Migrated = false }, whyHas: "did not run"},
		{name: "backup disabled", mutate: func(s *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) {
			s.Backup.Enabled = ptr.To(false)
			st.History[0].Backup, st.Progress.BackedUp = "", false
		}, whyHas: "no pre-deploy backup was taken"},
		{name: "no record of the backup", mutate: func(_ *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) { st.History[0].Backup = "" }, whyHas: "no pre-deploy backup"},
		{name: "no revision record", mutate: func(_ *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) { st.History = nil }, whyHas: "did not run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := baseSpec()
			spec.Rollback.RestoreDatabase = true
			st := opsv1alpha1.ReleaseStatus{
				StableRevision: "old", History: []opsv1alpha1.RevisionRecord{migrated},
				Progress: &opsv1alpha1.ReleaseProgress{Revision: rev, BackedUp: true, Backup: "saas-predeploy-abc"},
			}
			if c.mutate != nil {
				c.mutate(&spec, &st)
			}
			got := PlanRestore(&spec, &st, rev)
			if got.Backup != c.backup {
				t.Fatalf("backup = %q, want %q (why %q)", got.Backup, c.backup, got.Why)
			}
			switch {
			case c.noReason && got.Why != "":
				t.Fatalf("why = %q, want none", got.Why)
			case c.whyHas != "" && !strings.Contains(got.Why, c.whyHas):
				t.Fatalf("why = %q, want it to say %q", got.Why, c.whyHas)
			case c.backup != "" && got.Why != "":
				t.Fatalf("why = %q for a restore", got.Why)
			}
		})
	}
}

func TestRestoreMessageNamesWhatIsUndoneAndLost(t *testing.T) {
	got := RestoreMessage("saas-rollback-abc", "saas-predeploy-abc", []string{"orders.0003", "orders.0004"})
	for _, want := range []string{"pre-deploy backup saas-predeploy-abc", "DatabaseRestore saas-rollback-abc", "undoing migrations orders.0003, orders.0004", "writes since the backup are lost"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
	if strings.Contains(RestoreMessage("r", "b", nil), "undoing") {
		t.Error("no migrations: nothing undone to name")
	}
}

func TestRestoreStateFollowsTheDatabaseRestore(t *testing.T) {
	created := &opsv1alpha1.FollowUp{Name: "saas-rollback-abc", Created: true}
	restore := func(phase opsv1alpha1.RestorePhase, mutate ...func(*opsv1alpha1.DatabaseRestore)) *opsv1alpha1.DatabaseRestore {
		rs := &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Name: "saas-rollback-abc"},
			Spec:   opsv1alpha1.DatabaseRestoreSpec{Source: opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: "saas-predeploy-abc"}}},
			Status: opsv1alpha1.DatabaseRestoreStatus{Phase: phase}}
		for _, m := range mutate {
			m(rs)
		}
		return rs
	}
	done := &metav1.Condition{Status: metav1.ConditionTrue}
	cases := []struct {
		name   string
		f      *opsv1alpha1.FollowUp
		rs     *opsv1alpha1.DatabaseRestore
		prev   *metav1.Condition
		ok     bool
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"decided, not created yet", &opsv1alpha1.FollowUp{Name: "saas-rollback-abc"}, nil, nil, true, metav1.ConditionUnknown, opsv1alpha1.ReasonRestoringDatabase, "Creating DatabaseRestore saas-rollback-abc"},
		{"pending", created, restore(""), nil, true, metav1.ConditionUnknown, opsv1alpha1.ReasonRestoringDatabase, "restores pre-deploy backup saas-predeploy-abc: Pending"},
		{"restoring", created, restore(opsv1alpha1.RestorePhaseRestoring), nil, true, metav1.ConditionUnknown, opsv1alpha1.ReasonRestoringDatabase, ": Restoring"},
		{"completed", created, restore(opsv1alpha1.RestorePhaseCompleted, func(rs *opsv1alpha1.DatabaseRestore) { rs.Status.PreviousDatabase = "saas_pre_restore_1" }),
			nil, true, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, "the replaced database is kept as saas_pre_restore_1"},
		{"failed", created, restore(opsv1alpha1.RestorePhaseFailed, func(rs *opsv1alpha1.DatabaseRestore) {
			rs.Status.Conditions = []metav1.Condition{{Type: opsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Message: "SHA-256 mismatch"}}
		}), nil, true, metav1.ConditionFalse, opsv1alpha1.ReasonRestoreFailed, "failed: SHA-256 mismatch"},
		{"deleted before it finished", created, nil, &metav1.Condition{Status: metav1.ConditionUnknown}, true, metav1.ConditionFalse, opsv1alpha1.ReasonRestoreFailed, "was deleted before it finished"},
		{"deleted after it finished", created, nil, done, false, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := RestoreState(c.f, c.rs, c.prev)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if got.Type != opsv1alpha1.ConditionDatabaseRestored || got.Status != c.status || got.Reason != c.reason || !strings.Contains(got.Message, c.msg) {
				t.Fatalf("got %s %s %s: %q, want %s %s containing %q", got.Type, got.Status, got.Reason, got.Message, c.status, c.reason, c.msg)
			}
		})
	}
}

func TestIncidentNamesTheReleaseRevisionAndCheck(t *testing.T) {
	rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: "prod"}, Spec: baseSpec()}
	rel.Spec.Rollback.OpenIncident = opsv1alpha1.SeverityP1
	rec := &opsv1alpha1.RevisionRecord{Revision: "abc", Version: "1.2.0", Result: opsv1alpha1.RevisionRolledBack,
		Message: "Revision abc (1.2.0) rolled back to def (1.1.0): health check of pod saas-web-1 failed 3 times: 503"}
	inc := Incident(rel, rec, "1.1.0")
	if inc.Name != "saas-incident-abc" || inc.Namespace != "prod" {
		t.Fatalf("name %s/%s", inc.Namespace, inc.Name)
	}
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.ReleaseRef == nil || inc.Spec.ReleaseRef.Name != "saas" {
		t.Fatalf("spec %+v", inc.Spec)
	}
	if inc.Spec.Title != "Release saas: revision abc (1.2.0) rolled back to 1.1.0" {
		t.Fatalf("title %q", inc.Spec.Title)
	}
	if !strings.Contains(inc.Spec.Description, "pod saas-web-1") || inc.Labels[opsv1alpha1.LabelRevision] != "abc" || inc.Labels[opsv1alpha1.LabelRelease] != "saas" {
		t.Fatalf("description %q labels %v", inc.Spec.Description, inc.Labels)
	}
	if len(inc.OwnerReferences) != 0 {
		t.Fatal("an incident's record outlives the Release: not owned")
	}
	rec.Result = opsv1alpha1.RevisionFailed
	if inc := Incident(rel, rec, ""); inc.Spec.Title != "Release saas: revision abc (1.2.0) failed" {
		t.Fatalf("title %q", inc.Spec.Title)
	}
	rec.Version = strings.Repeat("v", 300) // the API allows 128; titles allow 200
	if inc := Incident(rel, rec, ""); len(inc.Spec.Title) > 200 {
		t.Fatalf("title of %d bytes", len(inc.Spec.Title))
	}
}

func TestGateRollbackWaitsForTheIncidentsPodsAtMostEvidenceWait(t *testing.T) {
	decided := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rec := func(created bool) *opsv1alpha1.RevisionRecord {
		return &opsv1alpha1.RevisionRecord{Revision: "abc", CompletionTime: &metav1.Time{Time: decided},
			Incident: &opsv1alpha1.FollowUp{Name: "saas-incident-abc", Created: created}}
	}
	read := &opsv1alpha1.Incident{Status: opsv1alpha1.IncidentStatus{Evidence: &opsv1alpha1.Evidence{PodsCapturedAt: &metav1.Time{Time: decided.Add(time.Second)}}}}
	failed := &opsv1alpha1.Incident{Status: opsv1alpha1.IncidentStatus{Conditions: []metav1.Condition{
		{Type: opsv1alpha1.ConditionEvidenceCaptured, Status: metav1.ConditionFalse, Message: "cannot read Release saas"}}}}
	cases := []struct {
		name    string
		rec     *opsv1alpha1.RevisionRecord
		inc     *opsv1alpha1.Incident
		at      time.Duration // after the decision
		wait    bool
		after   time.Duration
		missing string // substring; "" for none
		note    string
	}{
		{name: "no incident asked for", rec: &opsv1alpha1.RevisionRecord{Revision: "abc"}},
		{name: "not read yet", rec: rec(true), inc: &opsv1alpha1.Incident{}, at: 10 * time.Second, wait: true, after: 51 * time.Second},
		{name: "read", rec: rec(true), inc: read, at: 2 * time.Second, note: "read the failing pods and their logs first"},
		{name: "read, even past the bound", rec: rec(true), inc: read, at: 2 * time.Minute, note: "first"},
		{name: "evidence failed", rec: rec(true), inc: failed, at: time.Second, missing: "evidence failed (cannot read Release saas)", note: "may miss"},
		{name: "past the bound", rec: rec(true), inc: &opsv1alpha1.Incident{}, at: EvidenceWait, missing: "had not read the failing pods within 1m0s", note: "may miss"},
		{name: "deleted", rec: rec(true), inc: nil, at: time.Second, wait: true, after: 60 * time.Second},
		{name: "deleted, past the bound", rec: rec(true), inc: nil, at: 61 * time.Second, missing: "does not exist (deleted)", note: "may miss"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := GateRollback(c.rec, c.inc, decided.Add(c.at))
			if g.Wait != c.wait || (c.wait && g.After != c.after) {
				t.Fatalf("wait %v after %s, want %v after %s", g.Wait, g.After, c.wait, c.after)
			}
			if (c.missing == "") != (g.Missing == "") || !strings.Contains(g.Missing, c.missing) {
				t.Errorf("missing %q, want %q", g.Missing, c.missing)
			}
			if !strings.Contains(g.Note, c.note) || (c.note == "" && g.Note != "") {
				t.Errorf("note %q, want it to contain %q", g.Note, c.note)
			}
		})
	}
}
