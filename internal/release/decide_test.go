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

func baseSpec() opsv1alpha1.ReleaseSpec {
	return opsv1alpha1.ReleaseSpec{
		Version: "1.0.0", Image: "saas:1.0.0",
		Components: []opsv1alpha1.Component{{Name: "worker"}, {Name: "web", Ports: []opsv1alpha1.ComponentPort{{Name: "http", ContainerPort: 8000}}}},
		Database:   &opsv1alpha1.DatabaseConnection{},
		Backup:     &opsv1alpha1.ReleaseBackup{Enabled: ptr.To(true), Destination: &opsv1alpha1.BackupDestination{}},
		Migrations: &opsv1alpha1.Migrations{Command: []string{"migrate"}, PlanCommand: []string{"plan"}},
		PreDeploy:  []opsv1alpha1.PreDeployJob{{Name: "collectstatic", Command: []string{"collectstatic"}}},
		Verify:     &opsv1alpha1.ReleaseVerify{Path: "/health", Window: &opsv1alpha1.Duration{Duration: time.Minute}},
	}
}

func TestRevisionChangesOnlyWithWhatDefinesARevision(t *testing.T) {
	base := baseSpec()
	rev := SnapshotOf(&base).Revision()
	cases := []struct {
		name   string
		mutate func(*opsv1alpha1.ReleaseSpec)
		same   bool
	}{
		{"version", func(s *opsv1alpha1.ReleaseSpec) { s.Version = "1.1.0" }, false},
		{"image", func(s *opsv1alpha1.ReleaseSpec) { s.Image = "saas:1.1.0" }, false},
		{"component image", func(s *opsv1alpha1.ReleaseSpec) { s.Components[0].Image = "other" }, false},
		{"command", func(s *opsv1alpha1.ReleaseSpec) { s.Components[0].Command = []string{"celery"} }, false},
		{"env", func(s *opsv1alpha1.ReleaseSpec) { s.Env = []opsv1alpha1.EnvVar{{Name: "A", Value: "1"}} }, false},
		{"migrations", func(s *opsv1alpha1.ReleaseSpec) { s.Migrations.Command = []string{"migrate", "--fake"} }, false},
		{"replicas", func(s *opsv1alpha1.ReleaseSpec) { s.Components[0].Replicas = ptr.To[int32](5) }, true},
		{"autoscaling", func(s *opsv1alpha1.ReleaseSpec) {
			s.Components[1].Autoscaling = &opsv1alpha1.Autoscaling{MinReplicas: 1, MaxReplicas: 3}
		}, true},
		{"restartedAt", func(s *opsv1alpha1.ReleaseSpec) { s.RestartedAt = &metav1.Time{Time: time.Now()} }, true},
		{"paused", func(s *opsv1alpha1.ReleaseSpec) { s.Paused = true }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := baseSpec()
			c.mutate(&s)
			if got := SnapshotOf(&s).Revision() == rev; got != c.same {
				t.Fatalf("same revision = %v, want %v", got, c.same)
			}
		})
	}
}

func TestNextNamesTheStepAndWhy(t *testing.T) {
	spec := baseSpec()
	rev := SnapshotOf(&spec).Revision()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	started := &metav1.Time{Time: now.Add(-30 * time.Second)}
	inProgress := []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionInProgress}}
	migrated := []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionInProgress, Migrated: true}}
	prog := func(p opsv1alpha1.ReleaseProgress) *opsv1alpha1.ReleaseProgress { p.Revision = rev; return &p }
	rolledBack := func(incident, restore *opsv1alpha1.FollowUp) []opsv1alpha1.RevisionRecord {
		return []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack, Incident: incident, DatabaseRestore: restore}, {Revision: "stable"}}
	}
	cases := []struct {
		name     string
		status   opsv1alpha1.ReleaseStatus
		retry    string
		quiesced string
		paused   bool
		want     Step
	}{
		{"new revision starts", opsv1alpha1.ReleaseStatus{}, "", "", false, StepStart},
		{"stable revision is steady", opsv1alpha1.ReleaseStatus{StableRevision: rev}, "", "", false, StepSteady},
		{"backup first", opsv1alpha1.ReleaseStatus{History: inProgress, Progress: prog(opsv1alpha1.ReleaseProgress{})}, "", "", false, StepBackup},
		{"plan after backup", opsv1alpha1.ReleaseStatus{History: inProgress, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true})}, "", "", false, StepPlan},
		{"migrate after plan", opsv1alpha1.ReleaseStatus{History: inProgress, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true})}, "", "", false, StepMigrate},
		{"pre-deploy after migrations", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true})}, "", "", false, StepPreDeploy},
		{"revert skips backup and migrations", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{Revert: true})}, "", "", false, StepPreDeploy},
		{"rollout after pre-deploy", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 1})}, "", "", false, StepRollout},
		{"verify inside the window", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 2, VerifyStartTime: started})}, "", "", false, StepVerify},
		{"finish after the window (resumed from status time)", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 2,
			VerifyStartTime: &metav1.Time{Time: now.Add(-2 * time.Minute)}})}, "", "", false, StepFinish},
		{"a window that ended on failing checks goes on verifying", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 2,
			VerifyStartTime: &metav1.Time{Time: now.Add(-2 * time.Minute)}, FailedChecks: 1})}, "", "", false, StepVerify},
		{"a window that ended on inconclusive queries is not finished", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 2,
			VerifyStartTime: &metav1.Time{Time: now.Add(-2 * time.Minute)}, InconclusiveChecks: 1})}, "", "", false, StepVerify},
		{"a window that ended while Prometheus did not answer is not finished", opsv1alpha1.ReleaseStatus{History: migrated, Progress: prog(opsv1alpha1.ReleaseProgress{BackedUp: true, Planned: true, PreDeployDone: 1, RolledOut: 2,
			VerifyStartTime: &metav1.Time{Time: now.Add(-2 * time.Minute)}, QueryErrors: 1})}, "", "", false, StepVerify},
		{"failed revision pinned", opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack}}}, "", "", false, StepPinned},
		{"new retry value runs it again", opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack}}}, "2", "", false, StepStart},
		{"a retry after the rollback restored the database stays pinned", opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack,
			DatabaseRestore: &opsv1alpha1.FollowUp{Name: "saas-rollback-x", Created: true}}}}, "2", "", false, StepPinned},
		{"quiesced starts nothing", opsv1alpha1.ReleaseStatus{}, "", "restore-1", false, StepQuiesced},
		{"paused between steps", opsv1alpha1.ReleaseStatus{History: inProgress, Progress: prog(opsv1alpha1.ReleaseProgress{})}, "", "", true, StepPaused},
		{"pinned wins over quiesced", opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionFailed}}}, "", "r", false, StepPinned},
		{"a decided rollback is written back", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack, History: rolledBack(nil, nil)}, "", "", false, StepRollingBack},
		{"a decided rollback waits while quiesced", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack, History: rolledBack(nil, nil)}, "", "r", false, StepPinned},
		{"a decided rollback waits while paused", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack, History: rolledBack(nil, nil)}, "", "", true, StepPinned},
		{"the Incident before the rollback (its evidence reads the failing pods)", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack,
			History: rolledBack(&opsv1alpha1.FollowUp{Name: "i"}, &opsv1alpha1.FollowUp{Name: "r"})}, "", "", false, StepFollowUps},
		{"the rollback once the Incident exists, before the restore", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack,
			History: rolledBack(&opsv1alpha1.FollowUp{Name: "i", Created: true}, &opsv1alpha1.FollowUp{Name: "r"})}, "", "", false, StepRollingBack},
		{"the Incident while the rollback waits (paused)", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack,
			History: rolledBack(&opsv1alpha1.FollowUp{Name: "i"}, nil)}, "", "", true, StepFollowUps},
		{"no DatabaseRestore before the stable templates are written", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack,
			History: rolledBack(nil, &opsv1alpha1.FollowUp{Name: "r"})}, "", "", true, StepPinned},
		{"follow-ups once rolled back", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRolledBack,
			History: rolledBack(nil, &opsv1alpha1.FollowUp{Name: "r"})}, "", "", false, StepFollowUps},
		{"follow-ups of a failed first deploy", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseFailed,
			History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionFailed, Incident: &opsv1alpha1.FollowUp{Name: "i"}}}}, "", "", false, StepFollowUps},
		{"pinned once every follow-up is created", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRolledBack,
			History: rolledBack(&opsv1alpha1.FollowUp{Name: "i", Created: true}, &opsv1alpha1.FollowUp{Name: "r", Created: true})}, "", "", false, StepPinned},
		{"a retry does not wait for a rollback's writes", opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseRollingBack, History: rolledBack(nil, nil)}, "2", "", false, StepStart},
		{"a revision started while the annotation had a value is pinned with it", opsv1alpha1.ReleaseStatus{ObservedRetry: ptr.To("x"),
			History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack}}}, "x", "", false, StepPinned},
		{"and runs again once it changes", opsv1alpha1.ReleaseStatus{ObservedRetry: ptr.To("x"),
			History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack}}}, "y", "", false, StepStart},
		{"a retried revision is pinned with the value that retried it", opsv1alpha1.ReleaseStatus{ObservedRetry: ptr.To("x"),
			History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack, Retry: "y"}}}, "y", "", false, StepPinned},
		{"a pipeline goes on while the annotation keeps the value it started with", opsv1alpha1.ReleaseStatus{ObservedRetry: ptr.To("x"),
			History: inProgress, Progress: prog(opsv1alpha1.ReleaseProgress{})}, "x", "", false, StepBackup},
		{"a status from before observedRetry keeps the value in every entry", opsv1alpha1.ReleaseStatus{
			History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionRolledBack, Retry: "x"}}}, "x", "", false, StepPinned},
		{"stale progress of another revision restarts", opsv1alpha1.ReleaseStatus{Progress: &opsv1alpha1.ReleaseProgress{Revision: "other"}}, "", "", false, StepStart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec
			s.Paused = c.paused
			d := Next(Input{Spec: &s, Status: &c.status, Revision: rev, Retry: c.retry, Quiesced: c.quiesced, Now: now})
			if d.Step != c.want || d.Why == "" {
				t.Fatalf("Next = %+v, want %s with a reason", d, c.want)
			}
		})
	}
}

func TestPlanRollback(t *testing.T) {
	spec := baseSpec()
	hist := []opsv1alpha1.RevisionRecord{{Revision: "new", AppliedMigrations: []string{"orders.0003"}}, {Revision: "old"}}
	rb := PlanRollback(&spec, &opsv1alpha1.ReleaseStatus{StableRevision: "old", History: hist}, "new")
	if !rb.Possible || rb.To != "old" || len(rb.KeptMigrations) != 1 {
		t.Fatalf("rollback = %+v", rb)
	}
	if rb := PlanRollback(&spec, &opsv1alpha1.ReleaseStatus{History: hist}, "new"); rb.Possible || rb.Why == "" {
		t.Fatalf("first deploy: %+v", rb)
	}
	spec.Rollback.Automatic = ptr.To(false)
	if rb := PlanRollback(&spec, &opsv1alpha1.ReleaseStatus{StableRevision: "old", History: hist}, "new"); rb.Possible {
		t.Fatalf("automatic off: %+v", rb)
	}
}

func TestComponentRevisionsDuringRolloutAndAfterRollback(t *testing.T) {
	spec := baseSpec()
	st := opsv1alpha1.ReleaseStatus{StableRevision: "old", Progress: &opsv1alpha1.ReleaseProgress{Revision: "new"}}
	if got := ComponentRevisions(&spec, &st); got[0] != "old" || got[1] != "old" {
		t.Fatalf("before rollout: %v", got)
	}
	st.Progress.RolloutStartTime = &metav1.Time{}
	if got := ComponentRevisions(&spec, &st); got[0] != "new" || got[1] != "old" {
		t.Fatalf("first component rolling out: %v", got)
	}
	st.Progress = nil // rolled back
	if got := ComponentRevisions(&spec, &st); got[0] != "old" || got[1] != "old" {
		t.Fatalf("after rollback: %v", got)
	}
	if got := ComponentRevisions(&spec, &opsv1alpha1.ReleaseStatus{}); got[0] != "" {
		t.Fatalf("first deploy before rollout: %v", got)
	}
}

func TestAppliedMigrationsReadsDjangoPlan(t *testing.T) {
	cases := []struct{ name, plan, want string }{
		{"showmigrations --plan", "[X]  auth.0001_initial\n[ ]  orders.0002_status\n [ ] orders.0003_index\n", "orders.0002_status orders.0003_index"},
		{"migrate --plan", "Planned operations:\nsubscriptions.0002_subscription_seats\n    Add field seats to subscription\n" +
			"subscriptions.0003_subscription_currency\n    Add field currency to subscription\n    Raw SQL operation -> UPDATE a.b SET c = 1\n",
			"subscriptions.0002_subscription_seats subscriptions.0003_subscription_currency"},
		{"migrate --plan with nothing to do", "Planned operations:\n  No planned migration operations.\n", ""},
		{"neither", "Operations to perform:\n  Apply all migrations: auth\n", ""},
	}
	for _, c := range cases {
		if got := strings.Join(AppliedMigrations(c.plan), " "); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDurationErrorNamesTheField(t *testing.T) {
	spec := baseSpec()
	if err := DurationError(&spec); err != nil {
		t.Fatal(err)
	}
	var d opsv1alpha1.Duration
	if err := d.UnmarshalJSON([]byte(`"5 minutes"`)); err != nil {
		t.Fatal(err)
	}
	spec.Verify.Interval = &d
	if err := DurationError(&spec); err == nil || err.Error()[:21] != "spec.verify.interval:" {
		t.Fatalf("err = %v", err)
	}
}

func TestRevertRecordsTheStableRevisionFirst(t *testing.T) {
	hist := []opsv1alpha1.RevisionRecord{
		{Revision: "new", Result: opsv1alpha1.RevisionInProgress},
		{Revision: "failed", Result: opsv1alpha1.RevisionFailed},
		{Revision: "stable", Result: opsv1alpha1.RevisionSucceeded, Migrated: true, AppliedMigrations: []string{"a.0001"}},
	}
	st := &opsv1alpha1.ReleaseStatus{History: hist, StableRevision: "stable"}
	if !Reverted(st, "stable") {
		t.Fatal("a later revision at the front of history is not seen as reverted from")
	}
	got := Revert(hist, opsv1alpha1.RevisionRecord{Revision: "stable", Message: "reverted"}, 10)
	var order []string
	for _, h := range got {
		order = append(order, h.Revision+" "+string(h.Result))
	}
	want := "stable Succeeded,new Superseded,failed Failed"
	if strings.Join(order, ",") != want || got[0].Message != "reverted" || !got[0].Migrated || len(got[0].AppliedMigrations) != 1 {
		t.Fatalf("history %v (%+v), want %s with the stable entry's migrations", order, got[0], want)
	}
	if Reverted(&opsv1alpha1.ReleaseStatus{History: got, StableRevision: "stable"}, "stable") {
		t.Fatal("a recorded revert is seen again")
	}
	if !Reverted(&opsv1alpha1.ReleaseStatus{History: got, Progress: &opsv1alpha1.ReleaseProgress{Revision: "new"}}, "stable") {
		t.Fatal("progress of a later revision is not seen")
	}
}

func TestIsRetryOnlyForARevisionRunAgain(t *testing.T) {
	st := &opsv1alpha1.ReleaseStatus{ObservedRetry: ptr.To("x"), History: []opsv1alpha1.RevisionRecord{
		{Revision: "failed", Result: opsv1alpha1.RevisionFailed}, {Revision: "running", Result: opsv1alpha1.RevisionInProgress},
		{Revision: "older", Result: opsv1alpha1.RevisionSucceeded}}}
	cases := []struct {
		revision, retry string
		want            bool
	}{
		{"new", "x", false},    // a new revision: the annotation's value is not its retry
		{"new", "y", false},    // nor when it changed with the spec
		{"failed", "x", false}, // the same value: not a retry (it would be pinned)
		{"failed", "y", true},
		{"running", "y", true}, // a pipeline the annotation starts afresh
		{"older", "y", false},  // a revert to an older revision, whatever the annotation
	}
	for _, c := range cases {
		if got := IsRetry(st, c.revision, c.retry); got != c.want {
			t.Errorf("IsRetry(%s, %s) = %v, want %v", c.revision, c.retry, got, c.want)
		}
	}
}

// With verify.prometheus a revision is finished only after a round of queries: a
// window of zero (or one that ended before any round) deploys nothing unqueried.
func TestNextRunsOneQueryRoundBeforeFinishing(t *testing.T) {
	spec := baseSpec()
	spec.Verify = &opsv1alpha1.ReleaseVerify{Window: &opsv1alpha1.Duration{}, Prometheus: &opsv1alpha1.PrometheusVerify{Address: "http://prom:9090"}}
	rev := SnapshotOf(&spec).Revision()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	started := &metav1.Time{Time: now.Add(-time.Second)}
	for _, tc := range []struct {
		name string
		last *metav1.Time
		want Step
	}{
		{"no round yet", nil, StepVerify},
		{"after a passing round", started, StepFinish},
	} {
		st := opsv1alpha1.ReleaseStatus{History: []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionInProgress, Migrated: true}},
			Progress: &opsv1alpha1.ReleaseProgress{Revision: rev, RolledOut: int32(len(spec.Components)), PreDeployDone: int32(len(spec.PreDeploy)), BackedUp: true, Planned: true, VerifyStartTime: started, LastCheckTime: tc.last}}
		if got := Next(Input{Spec: &spec, Status: &st, Revision: rev, Now: now}); got.Step != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, got.Step, got.Why, tc.want)
		}
	}
}
