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

// guardKinds is kindsOf Guard's findings.
func guardKinds(plan, log string, opt migrationguard.Options) string {
	f, _ := Guard(plan, log, opt)
	return kindsOf(f)
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
			// No Django here: the row estimates' command fails, and says only that.
			if _, read := TableRows(log); !strings.Contains(log, rowsBeginMarker+"\n"+rowsEndMarker) ||
				!strings.HasPrefix(read, "the table row estimates could not be read (their command exited") {
				t.Fatalf("log does not end with the failed table rows block:\n%s", log)
			}
			if got := guardKinds(term, log, migrationguard.Options{}); got != c.want {
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
		if got, want := guardKinds(plan, log, migrationguard.Options{}), "shop.0004_remove_field SQLUnknown ."; got != want {
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
	found, _ := Guard("[ ]  shop.0004_remove_field\n[ ]  shop.0005_rename_field\n",
		sqlBeginMarker+"shop.0004_remove_field\nALTER TABLE \"shop_order\" DROP COLUMN \"legacy\" CASCADE;\n"+sqlEndMarker+"shop.0004_remove_field exit 0\n"+
			sqlBeginMarker+"shop.0005_rename_field\nALTER TABLE \"shop_order\" RENAME COLUMN \"comment\" TO \"note\";\n"+sqlEndMarker+"shop.0005_rename_field exit 0\n",
		migrationguard.Options{})
	f := Findings(found)
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
	if kept := Findings(many); len(kept) != opsv1alpha1.MaxDestructiveMigrations || !strings.HasPrefix(GuardMessage(kept, 30, 8192), "30 statements") ||
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

func TestTableRowsReadsTheBoundedBlockAndSaysWhenItCannot(t *testing.T) {
	block := func(body string, code int) string {
		return sqlBeginMarker + "shop.0008_unique_index\nCREATE UNIQUE INDEX x ON shop_order (a);\n" + sqlEndMarker + "shop.0008_unique_index exit 0\n" +
			rowsBeginMarker + "\n" + body + fmt.Sprintf("%s%d\n", rowsEndMarker, code)
	}
	many := ""
	for i := 0; i < MaxTableRows+5; i++ {
		many += fmt.Sprintf("t%d %d\n", i, i)
	}
	cases := []struct {
		name, log string
		want      map[string]int64
		read      string
	}{
		{"read", block("shop_order 5000000\nsubscriptions_subscription 12\nnever_analysed -1\n", 0),
			map[string]int64{"shop_order": 5000000, "subscriptions_subscription": 12, "never_analysed": -1}, "row estimates of 3 tables read"},
		{"malformed lines ignored", block("shop_order 5000000\nno-count\n 7\nbad x\nneg -5\nspaced name 3\r\n", 0),
			map[string]int64{"shop_order": 5000000, "spaced name": 3}, "row estimates of 2 tables read"},
		{"no tables", block("", 0), map[string]int64{}, "row estimates of 0 tables read"},
		{"bounded", block(many, 0), nil, fmt.Sprintf("row estimates of %d tables read", MaxTableRows)},
		{"command failed", block("Traceback\n", 1), nil, "the table row estimates could not be read (their command exited 1), so every table counts as large"},
		{"cut short", strings.TrimSuffix(block("a 1\n", 0), rowsEndMarker+"0\n"), nil,
			"the table row estimates were cut short in the plan Job's log, so every table counts as large"},
		{"missing (an older plan Job)", sqlBeginMarker + "a.b\n" + sqlEndMarker + "a.b exit 0\n", nil,
			"the table row estimates are not in the plan Job's log, so every table counts as large"},
		{"malformed end", rowsBeginMarker + "\na 1\n" + rowsEndMarker + "x\n", nil,
			"the table row estimates could not be read (their end line is malformed), so every table counts as large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, read := TableRows(c.log)
			if read != c.read {
				t.Fatalf("read %q, want %q", read, c.read)
			}
			if c.name == "bounded" {
				if len(rows) != MaxTableRows || rows["t0"] != 0 {
					t.Fatalf("%d rows, want the first %d", len(rows), MaxTableRows)
				}
				return
			}
			if fmt.Sprint(rows) != fmt.Sprint(c.want) || (c.want == nil) != (rows == nil) {
				t.Fatalf("rows %v, want %v", rows, c.want)
			}
		})
	}
}

func TestGuardReportsALockingUniqueIndexOnlyOnALargeOrUnknownTable(t *testing.T) {
	sql, err := os.ReadFile(filepath.Join(djangoSQL, "shop.0008_unique_index.sql"))
	if err != nil {
		t.Fatal(err)
	}
	plan := "[ ]  shop.0008_unique_index\n"
	section := sqlBeginMarker + "shop.0008_unique_index\n" + string(sql) + sqlEndMarker + "shop.0008_unique_index exit 0\n"
	rows := func(n string) string { return rowsBeginMarker + "\n" + n + rowsEndMarker + "0\n" }
	limit := int64(1000)
	cases := []struct {
		name, log string
		spec      *opsv1alpha1.Migrations
		want      string
		message   string
	}{
		{"small", section + rows("shop_order 12\n"), nil, "",
			"Unique indexes built without CONCURRENTLY (row estimates of 1 tables read): table shop_order, about 12 rows: below 100000, not reported."},
		{"large", section + rows("shop_order 5000000\n"), nil, "shop.0008_unique_index UniqueIndexLocksTable shop_order.",
			"table shop_order, about 5000000 rows: from 100000 on, reported"},
		{"largeTableRows", section + rows("shop_order 5000\n"), &opsv1alpha1.Migrations{LargeTableRows: &limit}, "shop.0008_unique_index UniqueIndexLocksTable shop_order.",
			"table shop_order, about 5000 rows: from 1000 on, reported"},
		{"not read", section + rowsBeginMarker + "\n" + rowsEndMarker + "1\n", nil, "shop.0008_unique_index UniqueIndexLocksTable shop_order.",
			"(the table row estimates could not be read (their command exited 1), so every table counts as large): table shop_order, no row estimate: counted as large, reported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, read := TableRows(c.log)
			found, notes := Guard(plan, c.log, GuardOptions(c.spec, r))
			if got := kindsOf(found); got != c.want {
				t.Fatalf("findings %q, want %q", got, c.want)
			}
			if msg := SizeMessage(read, notes); !strings.Contains(msg, c.message) {
				t.Fatalf("message %q does not say %q", msg, c.message)
			}
			if len(found) > 0 && !strings.Contains(GuardMessage(Findings(found), len(found), 8192), c.message[strings.Index(c.message, "table shop_order"):]) {
				t.Fatalf("guard message %q does not note the estimate", GuardMessage(Findings(found), len(found), 8192))
			}
		})
	}
}

func TestTableRowsCommandRunsDjangosShellAsTheSQLCommandRunsSqlmigrate(t *testing.T) {
	for _, c := range []struct {
		sql  []string
		want string
	}{
		{DefaultSQLCommand, "python manage.py shell -c"},
		{[]string{"/usr/bin/python3", "/app/manage.py", "sqlmigrate"}, "/usr/bin/python3 /app/manage.py shell -c"},
		{[]string{"/bin/sh", "-c", "print-sql"}, "python manage.py shell -c"},
	} {
		got := TableRowsCommand(c.sql)
		if strings.Join(got[:len(got)-1], " ") != c.want || got[len(got)-1] != tableRowsPython {
			t.Errorf("%q: %q, want %q and the script", c.sql, got[:len(got)-1], c.want)
		}
	}
	if DefaultSQLCommand[2] != "sqlmigrate" {
		t.Fatal("TableRowsCommand changed the default SQL command")
	}
}
