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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/migrationguard"
)

// djangoSQL is the real `sqlmigrate` output migrationguard's tests classify.
var djangoSQL, _ = filepath.Abs("../migrationguard/testdata/django-3.2-postgresql")

// runPlanJob runs the plan Job's command with /bin/sh as the container would: plan is
// what the plan command prints, and the SQL command prints the captured sqlmigrate
// output of app.name (failing for a migration without one). It returns the
// termination message and the log.
func runPlanJob(t *testing.T, policy opsv1alpha1.DestructiveMigrationPolicy, plan string) (string, string, int) {
	t.Helper()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.txt")
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &opsv1alpha1.Migrations{
		Command:     []string{"migrate"},
		PlanCommand: []string{"cat", planFile},
		// sqlCommand gets the app label and migration name as its last two arguments.
		SQLCommand:            []string{"/bin/sh", "-c", `cat "` + djangoSQL + `/$0.$1.sql"`},
		DestructiveMigrations: policy,
	}
	cmd := PlanJobCommand(m)
	term := filepath.Join(dir, "termination-log")
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), PlanOutputEnv+"="+term)
	out, err := c.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	msg, _ := os.ReadFile(term)
	return string(msg), string(out), code
}

func kindsOf(f []migrationguard.Finding) string {
	var s []string
	for _, x := range f {
		s = append(s, fmt.Sprintf("%s %s %s.%s", x.Migration, x.Kind, x.Table, x.Column))
	}
	return strings.Join(s, "; ")
}

func TestPlanJobPrintsEachPlannedMigrationsSQLAndTheGuardReadsIt(t *testing.T) {
	cases := []struct {
		name string
		plan string
		want string
	}{
		{
			name: "showmigrations --plan: only the unapplied entries",
			plan: "[X]  shop.0001_initial\n[ ]  shop.0003_add_field_nullable\n[ ]  shop.0004_remove_field\n[ ]  shop.0009_delete_model\n",
			want: "shop.0004_remove_field DropColumn shop_order.legacy; shop.0009_delete_model DropTable shop_old.",
		},
		{
			name: "migrate --plan: the migrations, not their operations",
			plan: "Planned operations:\nshop.0002_add_field_default\n    Add field seats to order\nshop.0011_add_index\n    Create index\n",
			want: "shop.0002_add_field_default NotNullWithoutDefault shop_order.seats",
		},
		{
			name: "a migration whose SQL command fails is unknown, the rest still checked",
			plan: "[ ]  shop.0099_missing\n[ ]  shop.0005_rename_field\n",
			want: "shop.0099_missing SQLUnknown .; shop.0005_rename_field RenameColumn shop_order.note",
		},
		{name: "nothing to apply", plan: "[X]  shop.0001_initial\n", want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			term, log, code := runPlanJob(t, opsv1alpha1.DestructiveMigrationsWarn, c.plan)
			if code != 0 || term != c.plan {
				t.Fatalf("exit %d, termination message %q: want 0 and the plan unchanged", code, term)
			}
			if got := kindsOf(Guard(term, log, migrationguard.Options{})); got != c.want {
				t.Fatalf("findings %q, want %q\nlog:\n%s", got, c.want, log)
			}
		})
	}
}

func TestPlanJobWithoutTheCheck(t *testing.T) {
	plan := "[ ]  shop.0004_remove_field\n"
	term, log, code := runPlanJob(t, opsv1alpha1.DestructiveMigrationsAllow, plan)
	if code != 0 || term != plan || log != "" {
		t.Fatalf("Allow: exit %d, termination %q, log %q: want the plan alone, no SQL", code, term, log)
	}
}

func TestPlanJobExitsWithAFailingPlan(t *testing.T) {
	m := &opsv1alpha1.Migrations{PlanCommand: []string{"/bin/sh", "-c", "echo 'django.db.utils.OperationalError: no database'; exit 3"}}
	cmd := PlanJobCommand(m)
	term := filepath.Join(t.TempDir(), "t")
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), PlanOutputEnv+"="+term)
	err := c.Run()
	ee, ok := err.(*exec.ExitError)
	msg, _ := os.ReadFile(term)
	if !ok || ee.ExitCode() != 3 || !strings.Contains(string(msg), "no database") {
		t.Fatalf("err %v, termination %q: want exit 3 and the plan's error", err, msg)
	}
}

func TestGuardCountsAMissingOrCutSectionAsUnknown(t *testing.T) {
	plan := "[ ]  shop.0003_add_field_nullable\n[ ]  shop.0004_remove_field\n"
	sql, _ := os.ReadFile(filepath.Join(djangoSQL, "shop.0003_add_field_nullable.sql"))
	complete := sqlBeginMarker + "shop.0003_add_field_nullable\n" + string(sql) + sqlEndMarker + "shop.0003_add_field_nullable exit 0\n"
	for name, log := range map[string]string{
		"missing":   complete,
		"cut short": complete + sqlBeginMarker + "shop.0004_remove_field\nBEGIN;\nALTER TABLE",
	} {
		if got, want := kindsOf(Guard(plan, log, migrationguard.Options{})), "shop.0004_remove_field SQLUnknown ."; got != want {
			t.Errorf("%s: findings %q, want %q", name, got, want)
		}
	}
}

func TestBlockedHoldsOnlyUnderBlockBeforeTheMigrationJob(t *testing.T) {
	found := []opsv1alpha1.MigrationFinding{{Migration: "subscriptions.0003_remove_seats", Kind: "DropColumn"}}
	cases := []struct {
		policy   opsv1alpha1.DestructiveMigrationPolicy
		findings []opsv1alpha1.MigrationFinding
		job      string
		want     Step
	}{
		{opsv1alpha1.DestructiveMigrationsBlock, found, "", StepBlocked},
		{opsv1alpha1.DestructiveMigrationsBlock, nil, "", StepMigrate},
		{opsv1alpha1.DestructiveMigrationsBlock, found, "saas-migrate-x", StepMigrate}, // a running migration is never stopped
		{opsv1alpha1.DestructiveMigrationsWarn, found, "", StepMigrate},
		{"", found, "", StepMigrate},
		{opsv1alpha1.DestructiveMigrationsAllow, found, "", StepMigrate},
	}
	for _, c := range cases {
		spec := baseSpec()
		spec.Migrations.DestructiveMigrations = c.policy
		rev := SnapshotOf(&spec).Revision()
		st := opsv1alpha1.ReleaseStatus{
			History:  []opsv1alpha1.RevisionRecord{{Revision: rev, Result: opsv1alpha1.RevisionInProgress, DestructiveMigrations: c.findings}},
			Progress: &opsv1alpha1.ReleaseProgress{Revision: rev, BackedUp: true, Planned: true, MigrationJob: c.job},
		}
		d := Next(Input{Spec: &spec, Status: &st, Revision: rev, Now: time.Now()})
		if d.Step != c.want || d.Why == "" {
			t.Errorf("policy %q, %d findings, job %q: Next = %+v, want %s", c.policy, len(c.findings), c.job, d, c.want)
		}
	}
}

func TestGuardMessageNamesTheStatementsAndTheAdviceWithinItsBound(t *testing.T) {
	f := Findings(Guard("[ ]  shop.0004_remove_field\n[ ]  shop.0005_rename_field\n",
		sqlBeginMarker+"shop.0004_remove_field\nALTER TABLE \"shop_order\" DROP COLUMN \"legacy\" CASCADE;\n"+sqlEndMarker+"shop.0004_remove_field exit 0\n"+
			sqlBeginMarker+"shop.0005_rename_field\nALTER TABLE \"shop_order\" RENAME COLUMN \"comment\" TO \"note\";\n"+sqlEndMarker+"shop.0005_rename_field exit 0\n",
		migrationguard.Options{}))
	msg := GuardMessage(f, len(f), 8192)
	for _, want := range []string{"2 statements", "shop.0004_remove_field: DropColumn shop_order.legacy (ALTER TABLE", migrationguard.Advice(migrationguard.DropColumn),
		migrationguard.Advice(migrationguard.RenameColumn)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if one := GuardMessage(f[:1], 1, 8192); !strings.HasPrefix(one, "1 statement of the planned migrations breaks") {
		t.Errorf("one finding: %q", one)
	}
	if short := GuardMessage(f, len(f), 100); len(short) > 100 {
		t.Errorf("bounded message is %d bytes, want at most 100", len(short))
	}
	many := make([]migrationguard.Finding, 30)
	for i := range many {
		many[i] = migrationguard.Finding{Migration: "a.b", Kind: migrationguard.DropTable, Table: "t"}
	}
	if kept := Findings(many); len(kept) != MaxFindingsKept || !strings.HasPrefix(GuardMessage(kept, 30, 8192), "30 statements") ||
		!strings.Contains(GuardMessage(kept, 30, 8192), "and 10 more") || !strings.HasPrefix(GuardMessage(kept, -1, 8192), "at least 20") {
		t.Errorf("30 findings: kept %d, messages %q / %q", len(kept), GuardMessage(kept, 30, 200), GuardMessage(kept, -1, 200))
	}
}

func TestKeptSQLIsBoundedWithANote(t *testing.T) {
	small := "BEGIN;\nCOMMIT;\n"
	if KeptSQL(small) != small {
		t.Fatal("a small log is kept whole")
	}
	big := strings.Repeat("ALTER TABLE x ADD COLUMN é int;\n", 4000)
	kept := KeptSQL(big)
	if len(kept) > MaxSQLKept || !strings.Contains(kept, fmt.Sprintf("truncated: %d of %d bytes kept", MaxSQLKept, len(big))) || !strings.HasPrefix(big, strings.SplitN(kept, "\n-- runbook-operator: truncated", 2)[0]) {
		t.Fatalf("kept %d bytes (max %d), tail %q", len(kept), MaxSQLKept, kept[len(kept)-80:])
	}
}
