package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"runbook-operator/internal/devcluster"
	"runbook-operator/internal/nodeagent"
)

// SeedStep runs the application's migrations and its seed command as Jobs, as a
// database that has been in production for a while would have.
func SeedStep() Step {
	return Step{
		Name: "seed", Title: "Give the application a database with data", Required: true,
		Run: seed,
	}
}

func seed(ctx context.Context, e *Env) error {
	e.Out.Say(`The application is the runbook's: a Django + Celery SaaS (test/saas) whose image
%s runs on this machine with Debian's Django 3.2, Celery 5.2 and gunicorn. As in the
runbook ("python manage.py migrate"), a Job runs its migrations against database %s
(connection details from Secret %s, keys from Secret %s).`, DemoAppImage, e.Database, e.DBSecret, devcluster.DemoAppSecret)
	e.Out.Command("kubectl -n %s create job migrate --image=%s -- python manage.py migrate", e.Namespace, DemoAppImage)
	job, logs, err := e.RunJob(ctx, MigrateJob(e.DBSecret))
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s logs job/%s | tail -4", e.Namespace, job.Name)
	e.Out.Block(string(tailLines(logs, 4)))

	e.Out.Say("Then its own management command adds four years of customers: organizations, their users and subscriptions.")
	e.Out.Command("kubectl -n %s create job seed --image=%s -- python manage.py seed", e.Namespace, DemoAppImage)
	job, logs, err = e.RunJob(ctx, SeedJob(e.DBSecret))
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s logs job/%s", e.Namespace, job.Name)
	e.Out.Block(logs)

	conn, err := pgx.Connect(ctx, e.PostgresDSN)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.Database, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	counts, err := TableCounts(ctx, conn)
	if err != nil {
		return err
	}
	e.Seeded = counts
	runbook, err := RunbookCounts(ctx, conn)
	if err != nil {
		return err
	}
	e.Out.Say("The runbook's \"useful queries\" on database %s:", e.Database)
	e.Out.Command("psql %s", e.Database)
	e.Out.Block(FormatRunbookCounts(runbook))
	return nil
}

// RunbookQueries are the runbook's "Useful queries" (Monitoring and Logs).
var RunbookQueries = []string{
	"SELECT count(*) FROM accounts_user",
	"SELECT count(*) FROM organizations_organization",
	"SELECT count(*) FROM subscriptions_subscription WHERE status = 'active'",
}

// RunbookCounts runs RunbookQueries, in order.
func RunbookCounts(ctx context.Context, conn *pgx.Conn) ([]int64, error) {
	out := make([]int64, len(RunbookQueries))
	for i, q := range RunbookQueries {
		if err := conn.QueryRow(ctx, q).Scan(&out[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return out, nil
}

// FormatRunbookCounts prints each runbook query with its count.
func FormatRunbookCounts(counts []int64) string {
	w := 0
	for _, q := range RunbookQueries {
		w = max(w, len(q)+1)
	}
	var b strings.Builder
	for i, q := range RunbookQueries {
		fmt.Fprintf(&b, "%-*s  %7s\n", w, q+";", groupThousands(counts[i]))
	}
	return b.String()
}

func tailLines(s string, n int) []byte {
	return []byte(strings.TrimRight(string(nodeagent.TailLines([]byte(s), n, 4096)), "\n") + "\n")
}

// TableCounts counts the rows of every table of the public schema.
func TableCounts(ctx context.Context, conn *pgx.Conn) (map[string]int64, error) {
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n}.Sanitize()).Scan(&c); err != nil {
			return nil, fmt.Errorf("count %s: %w", n, err)
		}
		counts[n] = c
	}
	return counts, nil
}

// FormatCounts prints table row counts, one table a line, in name order.
func FormatCounts(counts map[string]int64) string {
	names := make([]string, 0, len(counts))
	w := 0
	for n := range counts {
		names = append(names, n)
		w = max(w, len(n))
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		unit := "rows"
		if counts[n] == 1 {
			unit = "row"
		}
		fmt.Fprintf(&b, "%-*s  %8s %s\n", w, n, groupThousands(counts[n]), unit)
	}
	return b.String()
}
