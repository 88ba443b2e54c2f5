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
	"slices"
	"strconv"
	"strings"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/migrationguard"
	"runbook-operator/internal/truncate"
)

// The destructive migration guard: the plan Job prints, after the plan (its
// termination message, as before), the SQL of every migration the plan lists on its
// standard output (the container's log), each in a section between two SQL comment
// lines the controller reads back:
//
//	-- runbook-operator: sqlmigrate shop.0004_remove_field
//	BEGIN; ALTER TABLE "shop_order" DROP COLUMN "legacy" CASCADE; COMMIT;
//	-- runbook-operator: end shop.0004_remove_field exit 0
//
// and then the planner's row estimates of the ordinary tables of the database
// connection's schema (TableRowsCommand), one "<table> <rows>" line each, largest
// first, at most MaxTableRows, which decide whether a unique index built without
// CONCURRENTLY is reported (migrationguard.Options.TableRows):
//
//	-- runbook-operator: table rows
//	shop_order 5000000
//	-- runbook-operator: end table rows exit 0

// DefaultSQLCommand prints one Django migration's SQL, given its app label and name.
var DefaultSQLCommand = []string{"python", "manage.py", "sqlmigrate"}

// MaxTableRows bounds the table row estimates the plan Job prints and the guard
// reads: the largest tables first, so a table left out is a small one (and counts as
// large: the guard errs on reporting).
const MaxTableRows = 1000

// TableRowsSQL reads the row estimates of the ordinary tables of the connection's
// schema (its search_path's first), the largest MaxTableRows: the planner's estimate
// (pg_class.reltuples) or the statistics' live row count, whichever is larger; for a
// table never analysed, the live row count, 0 when it has no data file yet, and -1
// (no estimate: counted as large) when it has one but no counted rows (statistics
// reset). Partitioned tables are left out: their parents hold no rows, and a unique
// index on one builds on every partition, so they count as large.
var TableRowsSQL = "SELECT c.relname, CASE WHEN c.reltuples >= 0 THEN GREATEST(c.reltuples::bigint, COALESCE(s.n_live_tup, 0)) " +
	"WHEN COALESCE(s.n_live_tup, 0) > 0 THEN s.n_live_tup WHEN pg_relation_size(c.oid) = 0 THEN 0 ELSE -1 END " +
	"FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relkind = 'r' " +
	"AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) " +
	"ORDER BY 2 DESC, 1 LIMIT " + strconv.Itoa(MaxTableRows)

// tableRowsPython prints TableRowsSQL's rows through the app's own database connection
// (its settings, its search_path), one "<table> <rows>" line each.
var tableRowsPython = "from django.db import connection\n" +
	"with connection.cursor() as c:\n" +
	"    c.execute(\"" + TableRowsSQL + "\")\n" +
	"    for name, rows in c.fetchall():\n" +
	"        print(\"%s %d\" % (name, rows))\n"

// TableRowsCommand prints the table row estimates in the app's image: Django's shell
// with the app's settings and environment, run the way the SQL command runs
// sqlmigrate (`[/usr/bin/python3, manage.py, sqlmigrate]` gives
// `[/usr/bin/python3, manage.py, shell, -c, …]`), `python manage.py shell` for an SQL
// command of another form. The plan Job discards its standard error: a failure is
// only its exit code, so no connection detail reaches the log.
func TableRowsCommand(sqlCommand []string) []string {
	base := []string{"python", "manage.py"}
	if n := len(sqlCommand); n > 1 && sqlCommand[n-1] == "sqlmigrate" {
		base = sqlCommand[:n-1]
	}
	return append(append([]string{}, base...), "shell", "-c", tableRowsPython)
}

// Section markers of the plan Job's SQL output.
const (
	sqlBeginMarker  = "-- runbook-operator: sqlmigrate "
	sqlEndMarker    = "-- runbook-operator: end "
	rowsBeginMarker = "-- runbook-operator: table rows"
	rowsEndMarker   = "-- runbook-operator: end table rows exit "
)

// SQLUnknown is the finding of a planned migration whose SQL could not be read (its
// section is missing, cut short, or the SQL command failed): the guard cannot say it
// is safe.
const SQLUnknown migrationguard.Kind = "SQLUnknown"

// Bounds of what the guard keeps.
const (
	// MaxSQLLog is how much of the plan Job's log is read and classified.
	MaxSQLLog = 1 << 20
	// MaxSQLKept is how much of it the release's SQL ConfigMap keeps.
	MaxSQLKept = 64 << 10
)

// Policy is the release's destructive-migration policy (Warn when unset).
func Policy(m *opsv1alpha1.Migrations) opsv1alpha1.DestructiveMigrationPolicy {
	if m == nil || m.DestructiveMigrations == "" {
		return opsv1alpha1.DestructiveMigrationsWarn
	}
	return m.DestructiveMigrations
}

// ChecksSQL reports whether the plan Job prints the planned migrations' SQL: a plan is
// taken and the policy is not Allow.
func ChecksSQL(m *opsv1alpha1.Migrations) bool {
	return m != nil && len(m.PlanCommand) > 0 && Policy(m) != opsv1alpha1.DestructiveMigrationsAllow
}

// PlanJobCommand is the plan Job's command: the plan command with its output (stdout
// and stderr) as the container's termination message (PlanShell), and, when the SQL is
// checked, then sqlCommand for every migration the plan lists, each section marked.
// The image needs /bin/sh (and sed to check the SQL); Django images have both. The
// plan command's exit code is the container's; a failing SQL command only marks its
// section (the controller counts the migration as SQLUnknown).
func PlanJobCommand(m *opsv1alpha1.Migrations) []string {
	if !ChecksSQL(m) {
		return append(append([]string{}, PlanShell...), m.PlanCommand...)
	}
	sql := m.SQLCommand
	if len(sql) == 0 {
		sql = DefaultSQLCommand
	}
	// The planned migrations, as AppliedMigrations reads them: `migrate --plan`'s
	// names (a line of one dotted word after "Planned operations:"), then
	// `showmigrations --plan`'s unapplied entries ("[ ]  app.name").
	const planned = `sed -n -e '/^Planned operations:$/,$ s/^\([^[:space:]]\{1,\}\.[^[:space:]]\{1,\}\)$/\1/p' ` +
		`-e 's/^[[:space:]]*\[ \][[:space:]]*\([^[:space:]]\{1,\}\)[[:space:]]*$/\1/p' "$` + PlanOutputEnv + `"`
	script := shellWords(m.PlanCommand) + ` >"$` + PlanOutputEnv + `" 2>&1 || exit $?` + "\n" +
		planned + " | while IFS= read -r m; do\n" +
		`  echo "` + sqlBeginMarker + `$m"` + "\n" +
		"  " + shellWords(sql) + ` "${m%%.*}" "${m#*.}" </dev/null 2>&1` + "\n" +
		`  echo "` + sqlEndMarker + `$m exit $?"` + "\n" +
		"done\n" +
		`echo "` + rowsBeginMarker + `"` + "\n" +
		shellWords(TableRowsCommand(sql)) + " </dev/null 2>/dev/null\n" +
		`echo "` + rowsEndMarker + `$?"` + "\n"
	return []string{"/bin/sh", "-c", script}
}

// shellWords quotes words for /bin/sh, each in single quotes.
func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// SQLSection is one migration's SQL as the plan Job printed it.
type SQLSection struct {
	SQL string
	// Complete is true when the section's end marker was read; Exit is the SQL
	// command's exit code then.
	Complete bool
	Exit     int
}

// SQLSections reads the plan Job's log into each migration's section.
func SQLSections(log string) map[string]SQLSection {
	out := map[string]SQLSection{}
	var cur string
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(log, "\n") {
		l := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(l, sqlBeginMarker):
			if in { // a section cut short by the next: incomplete
				out[cur] = SQLSection{SQL: b.String()}
			}
			cur, in = strings.TrimSpace(strings.TrimPrefix(l, sqlBeginMarker)), true
			b.Reset()
		case in && strings.HasPrefix(l, sqlEndMarker+cur+" exit "):
			code, err := strconv.Atoi(strings.TrimPrefix(l, sqlEndMarker+cur+" exit "))
			out[cur] = SQLSection{SQL: b.String(), Complete: err == nil, Exit: code}
			in = false
		case in:
			b.WriteString(line)
		}
	}
	if in {
		out[cur] = SQLSection{SQL: b.String()}
	}
	return out
}

// TableRows reads the table row estimates the plan Job printed: at most MaxTableRows,
// malformed lines ignored. Read says how it went, for a message; when the block is
// missing, cut short or its command failed, rows is nil (every table counts as large).
func TableRows(log string) (rows map[string]int64, read string) {
	in := false
	found := map[string]int64{}
	for _, line := range strings.Split(log, "\n") {
		l := strings.TrimRight(line, "\r")
		switch {
		case l == rowsBeginMarker:
			in = true
			clear(found)
		case in && strings.HasPrefix(l, rowsEndMarker):
			code, err := strconv.Atoi(strings.TrimPrefix(l, rowsEndMarker))
			switch {
			case err != nil:
				return nil, "the table row estimates could not be read (their end line is malformed), so every table counts as large"
			case code != 0:
				return nil, fmt.Sprintf("the table row estimates could not be read (their command exited %d), so every table counts as large", code)
			}
			return found, fmt.Sprintf("row estimates of %d tables read", len(found))
		case in:
			i := strings.LastIndexByte(l, ' ')
			if i <= 0 || i > 256 || len(found) >= MaxTableRows {
				continue
			}
			n, err := strconv.ParseInt(l[i+1:], 10, 64)
			if err != nil || n < -1 {
				continue
			}
			found[l[:i]] = n
		}
	}
	if in {
		return nil, "the table row estimates were cut short in the plan Job's log, so every table counts as large"
	}
	return nil, "the table row estimates are not in the plan Job's log, so every table counts as large"
}

// MaxSizeNotes bounds how many table size decisions a message names.
const MaxSizeNotes = 10

// SizeMessage says how the tables' sizes were read and counted for the unique index
// builds the SQL holds (notes from Guard), at most MaxSizeNotes of them; empty when
// the SQL builds no locking unique index.
func SizeMessage(read string, notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var kept []string
	for _, n := range notes {
		if !seen[n] && len(kept) < MaxSizeNotes {
			kept = append(kept, n)
		}
		seen[n] = true
	}
	more := ""
	if len(seen) > len(kept) {
		more = fmt.Sprintf("; and %d more", len(seen)-len(kept))
	}
	return fmt.Sprintf("Unique indexes built without CONCURRENTLY (%s): %s%s.", read, strings.Join(kept, "; "), more)
}

// GuardOptions are the classification's options for a release: the table row
// estimates read from the plan Job's log and the spec's largeTableRows.
func GuardOptions(m *opsv1alpha1.Migrations, rows map[string]int64) migrationguard.Options {
	opt := migrationguard.Options{TableRows: rows}
	if m != nil && m.LargeTableRows != nil {
		opt.LargeTableRows = *m.LargeTableRows
	}
	return opt
}

// Guard classifies the SQL the plan Job printed for the migrations plan lists, in plan
// order: what breaks the pods still serving the previous revision, and a SQLUnknown
// finding for every planned migration whose SQL is missing, cut short or failed; and
// the size decisions of the unique index builds it holds (migrationguard's notes).
func Guard(plan, log string, opt migrationguard.Options) ([]migrationguard.Finding, []string) {
	sections := SQLSections(log)
	var out []migrationguard.Finding
	var notes []string
	for _, m := range AppliedMigrations(plan) {
		s, ok := sections[m]
		switch {
		case !ok:
			out = append(out, migrationguard.Finding{Migration: m, Kind: SQLUnknown, Statement: "its SQL is not in the plan Job's log"})
		case !s.Complete:
			out = append(out, migrationguard.Finding{Migration: m, Kind: SQLUnknown, Statement: "its SQL was cut short in the plan Job's log"})
		case s.Exit != 0:
			out = append(out, migrationguard.Finding{Migration: m, Kind: SQLUnknown,
				Statement: fmt.Sprintf("the SQL command exited %d: %s", s.Exit, lastLine(s.SQL))})
		default:
			found, n := migrationguard.ClassifyWithNotes(m, s.SQL, opt)
			out, notes = append(out, found...), append(notes, n...)
		}
	}
	return out, notes
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > migrationguard.MaxStatement {
		l = l[:migrationguard.MaxStatement]
	}
	return l
}

// Findings are the findings as a history entry keeps them: at most opsv1alpha1.MaxDestructiveMigrations.
func Findings(f []migrationguard.Finding) []opsv1alpha1.MigrationFinding {
	var out []opsv1alpha1.MigrationFinding
	for i, x := range f {
		if i == opsv1alpha1.MaxDestructiveMigrations {
			break
		}
		out = append(out, opsv1alpha1.MigrationFinding{Migration: x.Migration, Kind: string(x.Kind), Table: x.Table, Column: x.Column,
			Statement: x.Statement, Note: truncate.String(x.Note, 256)})
	}
	return out
}

// GuardMessage says what the findings are (total: how many there were before
// bounding, -1 when unknown) and, for each kind, the expand/contract advice; at most
// max bytes.
func GuardMessage(f []opsv1alpha1.MigrationFinding, total int, max int) string {
	var b strings.Builder
	count := strconv.Itoa(total)
	if total < len(f) {
		total, count = len(f), strconv.Itoa(len(f))
		if len(f) >= opsv1alpha1.MaxDestructiveMigrations {
			count = "at least " + count
		}
	}
	if total == 1 {
		b.WriteString("1 statement of the planned migrations breaks the pods still serving the previous revision during the rollout:")
	} else {
		fmt.Fprintf(&b, "%s statements of the planned migrations break the pods still serving the previous revision during the rollout:", count)
	}
	kinds := map[string]bool{}
	for _, x := range f {
		what := x.Table
		if x.Column != "" {
			what += "." + x.Column
		}
		if x.Note != "" {
			fmt.Fprintf(&b, " %s: %s %s (%s; %s);", x.Migration, x.Kind, strings.TrimSpace(what), x.Statement, x.Note)
		} else {
			fmt.Fprintf(&b, " %s: %s %s (%s);", x.Migration, x.Kind, strings.TrimSpace(what), x.Statement)
		}
		kinds[x.Kind] = true
	}
	if total > len(f) {
		fmt.Fprintf(&b, " and %d more;", total-len(f))
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if a := advice(k); a != "" {
			fmt.Fprintf(&b, " %s: %s.", k, a)
		}
	}
	return truncate.String(strings.TrimSuffix(b.String(), ";"), max)
}

func advice(kind string) string {
	if kind == string(SQLUnknown) {
		return "make the SQL command (migrations.sqlCommand) print the migration's SQL, or set destructiveMigrations: Allow to deploy without the check"
	}
	return migrationguard.Advice(migrationguard.Kind(kind))
}

// KeptSQL bounds the plan Job's SQL output for the release's ConfigMap, with a note
// when it was cut.
func KeptSQL(log string) string {
	if len(log) <= MaxSQLKept {
		return log
	}
	note := fmt.Sprintf("\n-- runbook-operator: truncated: %d of %d bytes kept\n", MaxSQLKept, len(log))
	cut := MaxSQLKept - len(note)
	for cut > 0 && log[cut]&0xC0 == 0x80 {
		cut--
	}
	return log[:cut] + note
}

// SQLConfigMapName is the name of the ConfigMap holding a release's planned SQL.
func SQLConfigMapName(rel *opsv1alpha1.Release) string {
	return rel.Name + "-migration-sql"
}
