// Package migrationguard classifies the SQL of planned migrations by what it does to the
// pods still serving the previous revision during a rolling update.
//
// A Release migrates the database before it rolls out the new revision, so for the
// length of the rollout the old pods run against the new schema. A migration that
// drops or renames a column or a table, changes a column's type, makes a column NOT
// NULL without a default, or builds a unique index while holding a lock on a large
// table breaks those pods (or stalls their writes) during a deploy that reports
// success. Classify reads the statements Django's `sqlmigrate app name` prints (or any
// PostgreSQL DDL) and names each such statement; it has no client and no state, so the
// Release controller and its tests feed it the plan Job's output.
package migrationguard

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is what a statement does that the previous revision's pods cannot survive.
type Kind string

const (
	// DropColumn removes a column the old code may still read or write.
	DropColumn Kind = "DropColumn"
	// DropTable removes a table the old code may still use.
	DropTable Kind = "DropTable"
	// RenameColumn renames a column: the old code's queries name the old one.
	RenameColumn Kind = "RenameColumn"
	// RenameTable renames a table: the old code's queries name the old one.
	RenameTable Kind = "RenameTable"
	// AlterType changes a column's type: it rewrites the table under an exclusive lock
	// (unless it only widens a varchar) and may refuse values the old code writes.
	AlterType Kind = "AlterType"
	// NotNullWithoutDefault leaves a column NOT NULL with no default: the old code's
	// INSERTs, which do not name the column, fail.
	NotNullWithoutDefault Kind = "NotNullWithoutDefault"
	// UniqueIndexLocksTable builds a unique index without CONCURRENTLY: writes to the
	// table wait for the whole build.
	UniqueIndexLocksTable Kind = "UniqueIndexLocksTable"
)

// Finding is one statement of one migration that breaks the previous revision.
type Finding struct {
	// Migration is the migration the statement belongs to ("shop.0004_remove_field").
	Migration string
	Kind      Kind
	// Table and Column name what the statement changes (Column empty for a table).
	Table  string
	Column string
	// Statement is the statement, whitespace folded, at most MaxStatement bytes.
	Statement string
	// Note says, for a UniqueIndexLocksTable finding, the row estimate it was decided
	// on ("table shop_order, about 5000000 rows: from 100000 on, reported").
	Note string
}

// MaxStatement bounds Finding.Statement, so that a status or an event holding findings
// stays small whatever a RunSQL holds.
const MaxStatement = 300

// Options are what the classification knows about the database beyond the SQL.
type Options struct {
	// TableRows is the planner's row estimate per table (pg_class.reltuples), when the
	// plan Job read it. A table missing from it is treated as large.
	TableRows map[string]int64
	// LargeTableRows is the estimate from which a locking unique index build is
	// reported (DefaultLargeTableRows when zero).
	LargeTableRows int64
}

// DefaultLargeTableRows is where a unique index build without CONCURRENTLY starts to
// hold writes for long enough to matter (seconds, on ordinary hardware).
const DefaultLargeTableRows = 100_000

// String says what the finding is in one line, for a condition or an event.
func (f Finding) String() string {
	what := f.Table
	if f.Column != "" {
		what = f.Table + "." + f.Column
	}
	if f.Note != "" {
		return fmt.Sprintf("%s: %s %s (%s; %s)", f.Migration, f.Kind, what, f.Statement, f.Note)
	}
	return fmt.Sprintf("%s: %s %s (%s)", f.Migration, f.Kind, what, f.Statement)
}

// Advice is what to do instead, for a Release that blocked or warned on kind: the
// expand/contract pattern in the kind's terms.
func Advice(kind Kind) string {
	switch kind {
	case DropColumn, DropTable:
		return "ship a release whose code no longer uses it first (for a Django field: remove it from the model " +
			"with the migration's database operation held back, e.g. SeparateDatabaseAndState), and drop it in a later release"
	case RenameColumn, RenameTable:
		return "add the new name beside the old one, ship code that writes both and reads the new one, copy the data, " +
			"then drop the old name in a later release (or set db_column/db_table to keep the old name)"
	case AlterType:
		return "add a column of the new type, ship code that writes both, backfill, switch reads, and drop the old column later"
	case NotNullWithoutDefault:
		return "keep a database default while old pods serve (Django before 5.0 drops it right after adding the column: " +
			"add the field null=True first, backfill, and make it NOT NULL in a later release)"
	case UniqueIndexLocksTable:
		return "build the index with CREATE UNIQUE INDEX CONCURRENTLY in a non-atomic migration " +
			"(django.contrib.postgres.operations.AddIndexConcurrently), then add the constraint USING INDEX"
	}
	return ""
}

// Classify returns the statements of one migration's SQL that break the pods of the
// previous revision, in statement order. Tables the same SQL creates are new: nothing
// done to them afterwards can break old code, which does not know them.
func Classify(migration, sql string, opt Options) []Finding {
	out, _ := ClassifyWithNotes(migration, sql, opt)
	return out
}

// ClassifyWithNotes is Classify, and says for every unique index built without
// CONCURRENTLY on a table the SQL did not create how the table's size was counted
// (Options.Size), reported or not.
func ClassifyWithNotes(migration, sql string, opt Options) ([]Finding, []string) {
	created := map[string]bool{}
	var notes []string
	// unique decides a locking unique index build on table by its size.
	unique := func(table string) (bool, string) {
		if created[table] {
			return false, ""
		}
		isLarge, note := opt.Size(table)
		notes = append(notes, note)
		return isLarge, note
	}
	notNullAdded := map[string]string{} // table.column → statement that added it NOT NULL with a default
	var out []Finding
	add := func(k Kind, table, column, stmt string) {
		if created[table] {
			return
		}
		out = append(out, Finding{Migration: migration, Kind: k, Table: table, Column: column, Statement: bound(stmt)})
	}
	addUnique := func(table, stmt string) {
		if isLarge, note := unique(table); isLarge {
			add(UniqueIndexLocksTable, table, "", stmt)
			out[len(out)-1].Note = note
		}
	}
	for _, stmt := range Statements(sql) {
		up := strings.ToUpper(stmt)
		switch {
		case strings.HasPrefix(up, "CREATE TABLE"):
			if m := reCreateTable.FindStringSubmatch(stmt); m != nil {
				created[ident(m[1])] = true
			}
		case strings.HasPrefix(up, "DROP TABLE"):
			for _, t := range identList(reDropTable.FindStringSubmatch(stmt)) {
				add(DropTable, t, "", stmt)
			}
		case strings.HasPrefix(up, "CREATE UNIQUE INDEX"):
			if m := reCreateIndex.FindStringSubmatch(stmt); m != nil && m[1] == "" {
				addUnique(ident(m[3]), stmt)
			}
		case strings.HasPrefix(up, "ALTER TABLE"):
			m := reAlterTable.FindStringSubmatch(stmt)
			if m == nil {
				continue
			}
			table := ident(m[1])
			for _, action := range splitTopLevel(m[2], ',') {
				alterAction(table, strings.TrimSpace(action), stmt, notNullAdded, add, addUnique)
			}
		}
	}
	return out, notes
}

// alterAction classifies one action of an ALTER TABLE statement.
func alterAction(table, action, stmt string, notNullAdded map[string]string, add func(Kind, string, string, string), addUnique func(string, string)) {
	if m := reDropColumn.FindStringSubmatch(action); m != nil {
		add(DropColumn, table, ident(m[1]), stmt)
		return
	}
	if m := reRenameTo.FindStringSubmatch(action); m != nil {
		add(RenameTable, table, "", stmt)
		return
	}
	if m := reRenameColumn.FindStringSubmatch(action); m != nil {
		add(RenameColumn, table, ident(m[1]), stmt)
		return
	}
	if m := reAlterType.FindStringSubmatch(action); m != nil {
		add(AlterType, table, ident(m[1]), stmt)
		return
	}
	if m := reSetNotNull.FindStringSubmatch(action); m != nil {
		add(NotNullWithoutDefault, table, ident(m[1]), stmt)
		return
	}
	if m := reDropDefault.FindStringSubmatch(action); m != nil {
		// Django adds a NOT NULL field with its default and drops the default in the next
		// statement: from then on, an INSERT of the old code fails.
		col := ident(m[1])
		if _, ok := notNullAdded[table+"."+col]; ok {
			add(NotNullWithoutDefault, table, col, stmt)
		}
		return
	}
	if reAddConstraint.MatchString(action) {
		if reAddUnique.MatchString(action) && !usesExistingIndex(action) {
			addUnique(table, stmt)
		}
		return
	}
	if m := reAddColumn.FindStringSubmatch(action); m != nil {
		col, def := ident(m[1]), strings.ToUpper(m[2])
		if reNotNull.MatchString(def) && !rePrimaryKey.MatchString(def) {
			if reDefault.MatchString(def) {
				notNullAdded[table+"."+col] = stmt
			} else {
				add(NotNullWithoutDefault, table, col, stmt)
			}
		}
		return
	}
}

// usesExistingIndex: `ADD CONSTRAINT c UNIQUE USING INDEX i` takes an index built
// beforehand (CONCURRENTLY, the safe way) and builds nothing; `USING INDEX TABLESPACE`
// only says where the new index goes.
func usesExistingIndex(action string) bool {
	m := reUsingIndex.FindStringSubmatch(action)
	return m != nil && !strings.EqualFold(m[1], "TABLESPACE")
}

// Size says whether a unique index build that locks table is reported: the table is
// large when its row estimate is at least LargeTableRows, or has no estimate (negative:
// never analysed). The note says which, with the estimate, for a message.
func (opt Options) Size(table string) (large bool, note string) {
	limit := opt.LargeTableRows
	if limit <= 0 {
		limit = DefaultLargeTableRows
	}
	rows, ok := opt.TableRows[table]
	switch {
	case !ok || rows < 0:
		return true, fmt.Sprintf("table %s, no row estimate: counted as large, reported", table)
	case rows >= limit:
		return true, fmt.Sprintf("table %s, about %d rows: from %d on, reported", table, rows, limit)
	}
	return false, fmt.Sprintf("table %s, about %d rows: below %d, not reported", table, rows, limit)
}

// An identifier: "quoted" (with "" inside), or bare, optionally schema-qualified.
const idRe = `((?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?)`

var (
	reCreateTable   = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?` + idRe)
	reDropTable     = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+?)(?:\s+(?:CASCADE|RESTRICT))?$`)
	reCreateIndex   = regexp.MustCompile(`(?is)^CREATE\s+UNIQUE\s+INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:` + idRe + `\s+)?ON\s+(?:ONLY\s+)?` + idRe)
	reAlterTable    = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?` + idRe + `\s+(.*)$`)
	reDropColumn    = regexp.MustCompile(`(?is)^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?` + idRe)
	reRenameTo      = regexp.MustCompile(`(?is)^RENAME\s+TO\s+`)
	reRenameColumn  = regexp.MustCompile(`(?is)^RENAME\s+(?:COLUMN\s+)?` + idRe + `\s+TO\s+`)
	reAlterType     = regexp.MustCompile(`(?is)^ALTER\s+(?:COLUMN\s+)?` + idRe + `\s+(?:SET\s+DATA\s+)?TYPE\s+`)
	reSetNotNull    = regexp.MustCompile(`(?is)^ALTER\s+(?:COLUMN\s+)?` + idRe + `\s+SET\s+NOT\s+NULL`)
	reDropDefault   = regexp.MustCompile(`(?is)^ALTER\s+(?:COLUMN\s+)?` + idRe + `\s+DROP\s+DEFAULT`)
	reAddColumn     = regexp.MustCompile(`(?is)^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?` + idRe + `\s+(.*)$`)
	reAddConstraint = regexp.MustCompile(`(?is)^ADD\s+(?:CONSTRAINT|UNIQUE|PRIMARY|CHECK|FOREIGN|EXCLUDE)\b`)
	reAddUnique     = regexp.MustCompile(`(?is)^ADD\s+(?:CONSTRAINT\s+\S+\s+)?(?:UNIQUE|PRIMARY\s+KEY)\b`)
	reUsingIndex    = regexp.MustCompile(`(?is)\bUSING\s+INDEX\s+(\S+)`)
	reNotNull       = regexp.MustCompile(`\bNOT\s+NULL\b`)
	reDefault       = regexp.MustCompile(`\bDEFAULT\b`)
	rePrimaryKey    = regexp.MustCompile(`\bPRIMARY\s+KEY\b`)
)

// ident unquotes an identifier and drops a schema ("public"."t" → t).
func ident(s string) string {
	parts := splitTopLevel(s, '.')
	s = strings.TrimSpace(parts[len(parts)-1])
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}

func identList(m []string) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, t := range splitTopLevel(m[1], ',') {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, ident(t))
		}
	}
	return out
}

func bound(s string) string {
	if len(s) <= MaxStatement {
		return s
	}
	cut := MaxStatement - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
