package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// DemoAppImage is the demo application's image; the node agent runs it as the
// demoapp program (test/demoapp), which answers to Django's commands.
const DemoAppImage = "demoapp:1.0.0"

// extraInvoices is how many invoices the seed step adds to the migrations' few rows,
// so that the dump has some weight.
const extraInvoices = 20000

// SeedStep runs the application's migrations as a Job and adds data, as a database
// that has been in production for a while would have.
func SeedStep() Step {
	return Step{
		Name: "seed", Title: "Give the application a database with data", Required: true,
		Run: seed,
	}
}

func seed(ctx context.Context, e *Env) error {
	e.Out.Say(`The demo application plays the runbook's Django app: its image %s runs
test/demoapp on this machine. Like "python manage.py migrate" in the runbook, a Job runs
its migrations against database %s (connection details from Secret %s).`, DemoAppImage, e.Database, e.DBSecret)
	e.Out.Command("kubectl -n %s create job migrate --image=%s -- python manage.py migrate", e.Namespace, DemoAppImage)
	job, logs, err := e.RunJob(ctx, MigrateJob(e.DBSecret))
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s logs job/%s", e.Namespace, job.Name)
	e.Out.Block(logs)

	e.Out.Say("Then a year of invoices is added, so the backup has something to carry:")
	conn, err := pgx.Connect(ctx, e.PostgresDSN)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.Database, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	insert := fmt.Sprintf(`INSERT INTO billing_invoice (customer_id, amount_cents, issued_at)
SELECT c.id, 1900 + (g %% 50) * 100, now() - g * interval '26 minutes'
FROM generate_series(1, %d) g JOIN accounts_customer c ON c.id = 1 + g %% 3`, extraInvoices)
	e.Out.Command("psql %s", e.Database)
	e.Out.Block(insert + ";\nANALYZE;")
	if _, err := conn.Exec(ctx, insert); err != nil {
		return fmt.Errorf("add invoices: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	counts, err := TableCounts(ctx, conn)
	if err != nil {
		return err
	}
	e.Seeded = counts
	e.Out.Say("Database %s now holds:", e.Database)
	e.Out.Block(FormatCounts(counts))
	return nil
}

// MigrateJob is the Job that runs the demo app's migrations with the database from
// the Secret dbSecret.
func MigrateJob(dbSecret string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "migrate", Image: DemoAppImage,
					Command: []string{"python", "manage.py", "migrate"},
					Env:     DBEnv(dbSecret),
				}},
			}},
		},
	}
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
