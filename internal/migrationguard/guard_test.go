package migrationguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The testdata is what Django 3.2's `manage.py sqlmigrate shop <name>` printed against
// PostgreSQL 15 for the migrations in testdata/django-3.2-postgresql/migrations (one
// operation each, in order; see testdata/README.md).
func TestClassifyDjangoSQLMigrate(t *testing.T) {
	cases := []struct {
		migration string
		want      []string // "Kind table.column"
	}{
		{"0001_initial", nil},
		// Django adds the column with its default and drops the default at once: old
		// pods' INSERTs then fail on NOT NULL.
		{"0002_add_field_default", []string{"NotNullWithoutDefault shop_order.seats"}},
		{"0003_add_field_nullable", nil},
		{"0004_remove_field", []string{"DropColumn shop_order.legacy"}},
		{"0005_rename_field", []string{"RenameColumn shop_order.note"}},
		{"0006_alter_type", []string{"AlterType shop_order.qty"}},
		{"0007_set_not_null", []string{"NotNullWithoutDefault shop_order.comment"}},
		{"0008_unique_index", []string{"UniqueIndexLocksTable shop_order"}},
		{"0009_delete_model", []string{"DropTable shop_old"}},
		{"0010_rename_model", []string{"RenameTable shop_order"}},
		{"0011_add_index", nil}, // not unique: writes wait, but nothing the old code does fails
		{"0012_unique_together", []string{"UniqueIndexLocksTable shop_purchase"}},
		{"0013_runsql_drop", []string{"DropColumn shop_purchase.seats"}},
		{"0014_alter_null_ok", []string{"AlterType shop_purchase.coupon"}},
		{"0015_unique_constraint", []string{"UniqueIndexLocksTable shop_purchase"}},
		{"0016_not_null_with_default", []string{"NotNullWithoutDefault shop_purchase.coupon"}},
		{"0017_add_fk", nil},
		{"0018_remove_fk", []string{"DropColumn shop_purchase.parent_id"}},
		{"0019_unique_concurrently", nil},
	}
	files, _ := filepath.Glob("testdata/django-3.2-postgresql/*.sql")
	if len(files) != len(cases) {
		t.Fatalf("%d testdata files, %d cases: every captured migration needs its case", len(files), len(cases))
	}
	for _, c := range cases {
		t.Run(c.migration, func(t *testing.T) {
			sql, err := os.ReadFile(filepath.Join("testdata/django-3.2-postgresql", "shop."+c.migration+".sql"))
			if err != nil {
				t.Fatal(err)
			}
			got := Classify("shop."+c.migration, string(sql), Options{})
			if g, w := kinds(got), strings.Join(c.want, ", "); g != w {
				t.Fatalf("findings %q, want %q", g, w)
			}
			for _, f := range got {
				if f.Migration != "shop."+c.migration || f.Statement == "" || strings.Contains(f.Statement, "\n") {
					t.Errorf("finding %+v: want the migration and the one-line statement", f)
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	big := Options{TableRows: map[string]int64{"small": 10, "big": 5_000_000}}
	cases := []struct {
		name, sql string
		opt       Options
		want      string
	}{
		{"schema-qualified, unquoted, IF EXISTS", `ALTER TABLE public.orders DROP COLUMN IF EXISTS note`, Options{}, "DropColumn orders.note"},
		{"DROP without COLUMN, several actions", `ALTER TABLE t DROP a, ADD COLUMN b int NULL, DROP COLUMN "c"`, Options{}, "DropColumn t.a, DropColumn t.c"},
		{"several tables", `DROP TABLE IF EXISTS a, "B" CASCADE`, Options{}, "DropTable a, DropTable B"},
		{"RENAME without COLUMN", `ALTER TABLE t RENAME x TO y`, Options{}, "RenameColumn t.x"},
		{"SET DATA TYPE", `ALTER TABLE t ALTER COLUMN c SET DATA TYPE text`, Options{}, "AlterType t.c"},
		{"ADD NOT NULL without default", `ALTER TABLE t ADD COLUMN c int NOT NULL`, Options{}, "NotNullWithoutDefault t.c"},
		{"ADD NOT NULL with a default kept", `ALTER TABLE t ADD COLUMN c int DEFAULT 0 NOT NULL`, Options{}, ""},
		{"a new table is nobody's yet", "CREATE TABLE \"n\" (id int);\nALTER TABLE \"n\" ADD COLUMN c int NOT NULL;\nALTER TABLE n RENAME c TO d; DROP TABLE n", Options{}, ""},
		{"primary key column", `ALTER TABLE t ADD COLUMN id bigserial NOT NULL PRIMARY KEY`, Options{}, ""},
		{"unique index on a small table", `CREATE UNIQUE INDEX i ON small (x)`, big, ""},
		{"unique index on a large table", `CREATE UNIQUE INDEX i ON big (x)`, big, "UniqueIndexLocksTable big"},
		{"unique index, size unknown", `CREATE UNIQUE INDEX ON other (x)`, big, "UniqueIndexLocksTable other"},
		{"unique index concurrently", `CREATE UNIQUE INDEX CONCURRENTLY i ON big (x)`, big, ""},
		{"constraint using a built index", `ALTER TABLE big ADD CONSTRAINT u UNIQUE USING INDEX i`, big, ""},
		{"constraint with an index tablespace", `ALTER TABLE big ADD CONSTRAINT u UNIQUE (x) USING INDEX TABLESPACE fast`, big, "UniqueIndexLocksTable big"},
		{"threshold", `ALTER TABLE small ADD UNIQUE (x)`, Options{TableRows: map[string]int64{"small": 10}, LargeTableRows: 10}, "UniqueIndexLocksTable small"},
		{"semicolons in strings and comments", "UPDATE t SET a = 'x; DROP TABLE t'; -- DROP TABLE u;\n/* ALTER TABLE v DROP COLUMN w; */ SELECT $$;DROP TABLE z;$$", Options{}, ""},
		{"DML and safe DDL", `UPDATE t SET a = 1; CREATE INDEX i ON t (a); ALTER TABLE t ALTER COLUMN a DROP NOT NULL; ALTER TABLE t ALTER COLUMN a SET DEFAULT 1`, Options{}, ""},
		{"DROP DEFAULT alone", `ALTER TABLE t ALTER COLUMN a DROP DEFAULT`, Options{}, ""},
		{"lower case", `alter table "t" rename to "u"`, Options{}, "RenameTable t"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kinds(Classify("app.0001", c.sql, c.opt)); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestStatementBounded(t *testing.T) {
	long := "ALTER TABLE t DROP COLUMN c, " + strings.Repeat("ALTER COLUMN é SET DEFAULT 1, ", 40) + "DROP COLUMN d"
	got := Classify("app.0001", long, Options{})
	if len(got) != 2 {
		t.Fatalf("findings %q", kinds(got))
	}
	for _, f := range got {
		if len(f.Statement) > MaxStatement || !strings.HasSuffix(f.Statement, "…") || !strings.HasPrefix(f.Statement, "ALTER TABLE t") {
			t.Fatalf("statement %d bytes: %q", len(f.Statement), f.Statement)
		}
	}
	if s := got[0].String(); !strings.HasPrefix(s, "app.0001: DropColumn t.c (ALTER TABLE t") {
		t.Fatalf("String() = %q", s)
	}
}

func TestAdviceForEveryKind(t *testing.T) {
	for _, k := range []Kind{DropColumn, DropTable, RenameColumn, RenameTable, AlterType, NotNullWithoutDefault, UniqueIndexLocksTable} {
		if Advice(k) == "" {
			t.Errorf("no advice for %s", k)
		}
	}
}

func kinds(fs []Finding) string {
	var out []string
	for _, f := range fs {
		s := string(f.Kind) + " " + f.Table
		if f.Column != "" {
			s += "." + f.Column
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func TestClassifyNotesTheRowEstimateOfEveryLockingUniqueIndex(t *testing.T) {
	opt := Options{TableRows: map[string]int64{"small": 12, "big": 5_000_000, "fresh": -1}}
	sql := "CREATE UNIQUE INDEX a ON small (x); CREATE UNIQUE INDEX b ON big (x); ALTER TABLE fresh ADD UNIQUE (x);\n" +
		"CREATE UNIQUE INDEX CONCURRENTLY c ON big (y); CREATE TABLE n (id int); CREATE UNIQUE INDEX d ON n (id)"
	found, notes := ClassifyWithNotes("app.0002", sql, opt)
	if got, want := kinds(found), "UniqueIndexLocksTable big, UniqueIndexLocksTable fresh"; got != want {
		t.Fatalf("findings %q, want %q", got, want)
	}
	want := []string{
		"table small, about 12 rows: below 100000, not reported",
		"table big, about 5000000 rows: from 100000 on, reported",
		"table fresh, no row estimate: counted as large, reported",
	}
	if strings.Join(notes, "|") != strings.Join(want, "|") {
		t.Fatalf("notes %q, want %q", notes, want)
	}
	if found[0].Note != want[1] || !strings.HasSuffix(found[0].String(), "; "+want[1]+")") {
		t.Fatalf("finding %+v / %q: want the estimate noted", found[0], found[0].String())
	}
}
