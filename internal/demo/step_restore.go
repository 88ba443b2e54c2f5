package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

const (
	// AppName is the demo app's Deployment, the runbook's Django web server (gunicorn).
	AppName = "saas-web"
	// WorkerName and BeatName are its Celery worker and beat.
	WorkerName = "saas-worker"
	BeatName   = "saas-beat"
	// appReplicas is how many pods the web server runs.
	appReplicas = 2
	// RestoreName is the DatabaseRestore of the restore step.
	RestoreName = "undo-cleanup"
	// mistake is the statement the restore step undoes.
	mistake = "DELETE FROM subscriptions_subscription WHERE created_at < now() - interval '90 days'"
)

// RestoreStep runs the app, makes a mistake in its database and undoes it with a
// DatabaseRestore of the backup step's backup that stops the app while it runs.
func RestoreStep() Step {
	return Step{
		Name: "restore", Title: "Undo a mistake: restore the backup with a DatabaseRestore", Needs: []string{"backup"},
		Run: restore,
	}
}

func restore(ctx context.Context, e *Env) error {
	e.Out.Say(`The runbook's restore was: stop the backend and celery, drop the database, create it,
restore the dump, start them again. If the restore failed half-way, the database was
gone. A DatabaseRestore does the same steps, but restores into a new database and swaps
names only once it is complete, so the live database is kept until then, and after.

First the application, as the runbook's compose file runs it, on database %s: its web
server (Deployment %s, %d pods of "gunicorn saas.wsgi"), its Celery worker (%s,
"celery -A saas worker") and beat (%s, "celery -A saas beat"), all of image %s.`,
		e.Database, AppName, appReplicas, WorkerName, BeatName, DemoAppImage)
	if err := e.startApp(ctx); err != nil {
		return err
	}

	e.Out.Say("The runbook's counts before anything goes wrong:")
	before, err := e.subscriptionCount(ctx, e.Database)
	if err != nil {
		return err
	}
	if err := e.showRunbookCounts(ctx); err != nil {
		return err
	}
	e.Out.Say("Now the mistake: a clean-up meant for canceled subscriptions older than 90 days forgets its status = 'canceled'.")
	e.Out.Command("psql %s", e.Database)
	e.Out.Block(mistake + ";")
	if err := e.exec(ctx, mistake); err != nil {
		return err
	}
	after, err := e.subscriptionCount(ctx, e.Database)
	if err != nil {
		return err
	}
	e.Out.Block(fmt.Sprintf("DELETE %d", before-after))
	if err := e.showRunbookCounts(ctx); err != nil {
		return err
	}
	e.Out.Say("subscriptions_subscription had %s rows, now %s. The backup %s from before has them all: restore it, stopping the web server and Celery while that runs.",
		groupThousands(before), groupThousands(after), e.Backup.Name)

	rs := &opsv1alpha1.DatabaseRestore{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseRestore"},
		ObjectMeta: metav1.ObjectMeta{Name: RestoreName, Namespace: e.Namespace},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: e.Backup.Name}},
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: e.DBSecret}},
			Quiesce:  &opsv1alpha1.Quiesce{Deployments: []string{AppName, WorkerName, BeatName}},
		},
	}
	if err := e.Apply(ctx, rs, rs.Spec); err != nil {
		return err
	}
	e.Out.Say(`The operator records the replica counts in the restore's status, scales the web server,
the worker and beat to zero and waits until their pods are gone; then a Job of its agent checks the dump's SHA-256,
restores it into a new database and swaps the names; then the app gets its replicas back.
Watching the restore and the app's pods (kubectl -n %s get databaserestore %s -w):`, e.Namespace, RestoreName)
	done, err := e.watchRestore(ctx, RestoreName)
	if err != nil {
		return err
	}
	if done.Status.Phase != opsv1alpha1.RestorePhaseCompleted {
		return fmt.Errorf("restore %s ended %s: %s", RestoreName, done.Status.Phase, conditionMessage(done.Status.Conditions, opsv1alpha1.ConditionReady))
	}
	return e.showRestored(ctx, done, after)
}

// showRestored shows what the restore left: the app back, the data back, the replaced
// database kept.
func (e *Env) showRestored(ctx context.Context, rs *opsv1alpha1.DatabaseRestore, mistaken int64) error {
	e.Out.Say("What the restore recorded in its status:")
	e.Out.Fields(RestoreFields(rs)...)

	if err := e.waitAppReady(ctx); err != nil {
		return err
	}
	e.Out.Check("%s is back at %d ready replicas, %s and %s at 1, with new pods", AppName, appReplicas, WorkerName, BeatName)
	if err := e.showApp(ctx); err != nil {
		return err
	}

	conn, err := pgx.Connect(ctx, e.PostgresDSN)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.Database, err)
	}
	counts, err := TableCounts(ctx, conn)
	_ = conn.Close(context.Background())
	if err != nil {
		return err
	}
	e.Out.Say("Database %s holds again what it held at the backup; the runbook's counts:", e.Database)
	if err := e.showRunbookCounts(ctx); err != nil {
		return err
	}
	for table, n := range e.Seeded {
		if counts[table] != n {
			return fmt.Errorf("table %s has %d rows after the restore, %d when it was backed up", table, counts[table], n)
		}
	}
	if len(counts) != len(e.Seeded) {
		return fmt.Errorf("the restored database has %d tables, %d when it was backed up", len(counts), len(e.Seeded))
	}
	e.Out.Check("every table has the row count it had when %s was taken", e.Backup.Name)

	prev := rs.Status.PreviousDatabase
	if prev == "" {
		return fmt.Errorf("restore %s reports no previous database", RestoreName)
	}
	e.Out.Say("The database as it was before the restore, mistake included, is kept under a new name:")
	e.Out.Command(`psql -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '%%pre_restore%%'"`)
	kept, err := e.databasesLike(ctx, e.Database+"_pre_restore_")
	if err != nil {
		return err
	}
	e.Out.Block(strings.Join(kept, "\n"))
	n, err := e.subscriptionCount(ctx, prev)
	if err != nil {
		return fmt.Errorf("the kept database %s: %w", prev, err)
	}
	if n != mistaken {
		return fmt.Errorf("the kept database %s has %d subscriptions, %d before the restore", prev, n, mistaken)
	}
	e.Out.Check("%s holds the %s subscriptions left by the mistake; once satisfied, drop it:", prev, groupThousands(n))
	e.Out.Block(fmt.Sprintf(`psql -d postgres -c 'DROP DATABASE "%s"'`, prev))

	events, err := e.Events(ctx, "DatabaseRestore", RestoreName)
	if err != nil {
		return err
	}
	e.Out.Say(`The events show every step:`)
	e.Out.Command("kubectl -n %s events --for databaserestore/%s", e.Namespace, RestoreName)
	e.Out.Block(bulleted(events))
	return e.ShowTables(ctx, "databaserestores")
}

// RestoreFields are the status fields of a finished restore worth showing, as
// key/value pairs for Printer.Fields.
func RestoreFields(rs *opsv1alpha1.DatabaseRestore) []string {
	took := ""
	if rs.Status.StartTime != nil && rs.Status.CompletionTime != nil {
		took = rs.Status.CompletionTime.Sub(rs.Status.StartTime.Time).Round(time.Second).String() + " from start to completion"
	}
	var workloads []string
	for _, w := range rs.Status.QuiescedWorkloads {
		workloads = append(workloads, fmt.Sprintf("%s %s (%d replicas before, given back after)", w.Kind, w.Name, w.Replicas))
	}
	kv := []string{
		"phase", string(rs.Status.Phase),
		"sourceLocation", rs.Status.SourceLocation,
		"restoredDatabase", fmt.Sprintf("%s (%d tables, %s rows)", rs.Status.RestoredDatabase, rs.Status.TablesRestored, groupThousands(rs.Status.RowsRestored)),
		"previousDatabase", rs.Status.PreviousDatabase,
		"quiescedWorkloads", strings.Join(workloads, ", "),
		"jobName", rs.Status.JobName,
		"took", took,
	}
	for _, t := range []string{opsv1alpha1.ConditionQuiesced, opsv1alpha1.ConditionRestored, opsv1alpha1.ConditionResumed} {
		if c := meta.FindStatusCondition(rs.Status.Conditions, t); c != nil {
			kv = append(kv, t, string(c.Status)+": "+c.Message)
		}
	}
	return kv
}

// appWorkloads are the app's Deployments with their replica counts: the web server,
// the Celery worker and beat.
func (e *Env) appWorkloads() []*appsv1.Deployment {
	return []*appsv1.Deployment{
		AppDeployment(AppName, AppTag, e.DBSecret, appReplicas),
		WorkerDeployment(WorkerName, AppTag, e.DBSecret, 1),
		BeatDeployment(BeatName, AppTag, e.DBSecret),
	}
}

// startApp creates the app's Deployments (unless they exist), waits until their pods
// are ready (the web's readiness probe is its health check: database and Redis) and
// shows them answering.
func (e *Env) startApp(ctx context.Context) error {
	for _, dep := range e.appWorkloads() {
		dep.Namespace = e.Namespace
		err := e.Client.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{})
		switch {
		case err == nil:
			e.Out.Say("Deployment %s already runs (from an earlier run of this step).", dep.Name)
		case apierrors.IsNotFound(err):
			dep.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
			if err := e.Apply(ctx, dep, dep.Spec); err != nil {
				return err
			}
		default:
			return err
		}
	}
	if err := e.waitAppReady(ctx); err != nil {
		return err
	}
	return e.showApp(ctx)
}

// showApp prints the app's Deployment and pods and asks one pod for its health.
func (e *Env) showApp(ctx context.Context) error {
	if err := e.ShowTables(ctx, "deployments"); err != nil {
		return err
	}
	pods, err := e.appPods(ctx)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s get pods -l %s=%s -o wide", e.Namespace, PartOfLabel, partOf)
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s %-8s %s\n", "NAME", "STATUS", "IP")
	var web *corev1.Pod
	for i, p := range pods {
		fmt.Fprintf(&b, "%-32s %-8s %s\n", p.Name, p.Status.Phase, p.Status.PodIP)
		if p.Labels["app"] == AppName && p.Status.PodIP != "" && web == nil {
			web = &pods[i]
		}
	}
	e.Out.Block(b.String())
	if web == nil {
		return fmt.Errorf("the pods of %s have no IP", AppName)
	}
	url := fmt.Sprintf("http://%s/api/v1/health/", net.JoinHostPort(web.Status.PodIP, "8000"))
	e.Out.Command("curl %s", url)
	body, err := httpGet(ctx, url)
	if err != nil {
		return err
	}
	e.Out.Block(body)
	return nil
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask the app: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the app answered %s: %s", resp.Status, body)
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		if compact, err := json.Marshal(v); err == nil {
			body = compact
		}
	}
	return string(body), nil
}

// waitAppReady waits until each of the app's Deployments has all its replicas ready
// and nothing else.
func (e *Env) waitAppReady(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for _, want := range e.appWorkloads() {
		for {
			dep := &appsv1.Deployment{}
			n := ptr.Deref(want.Spec.Replicas, 1)
			err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: want.Name}, dep)
			if err == nil && dep.Status.ObservedGeneration == dep.Generation && ptr.Deref(dep.Spec.Replicas, 1) == n &&
				dep.Status.ReadyReplicas == n && dep.Status.Replicas == n {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s to have %d ready replicas: %w", want.Name, n, context.Cause(ctx))
			case <-t.C:
			}
		}
	}
	return nil
}

// appPods are the pods of every workload of the app.
func (e *Env) appPods(ctx context.Context) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := e.Client.List(ctx, &pods, client.InNamespace(e.Namespace), client.MatchingLabels{PartOfLabel: partOf}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// exec runs sql on the demo database, on a connection of its own: the restore's swap
// ends the sessions of the database it replaces.
func (e *Env) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, e.PostgresDSN)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.Database, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// onDatabase runs f on a connection to dbname, closed after.
func (e *Env) onDatabase(ctx context.Context, dbname string, f func(*pgx.Conn) error) error {
	cfg, err := pgx.ParseConfig(e.PostgresDSN)
	if err != nil {
		return err
	}
	cfg.Database = dbname
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", dbname, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return f(conn)
}

func (e *Env) subscriptionCount(ctx context.Context, dbname string) (int64, error) {
	var n int64
	err := e.onDatabase(ctx, dbname, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT count(*) FROM subscriptions_subscription").Scan(&n)
	})
	return n, err
}

// showRunbookCounts prints the runbook's useful queries on the demo database.
func (e *Env) showRunbookCounts(ctx context.Context) error {
	return e.onDatabase(ctx, e.Database, func(c *pgx.Conn) error {
		counts, err := RunbookCounts(ctx, c)
		if err != nil {
			return err
		}
		e.Out.Block(FormatRunbookCounts(counts))
		return nil
	})
}

func (e *Env) databasesLike(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := e.onDatabase(ctx, "postgres", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname", prefix)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return names, err
}

func conditionMessage(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Message
	}
	return ""
}

// RestoreView is what the restore step watches: the restore's phase and message and
// how many pods the app has (running or stopping) and how many are ready.
type RestoreView struct {
	Phase       opsv1alpha1.RestorePhase
	Message     string
	Pods, Ready int
}

// RestoreChange describes, one line per change, what a person watching the restore
// and the app's pods sees change from prev to cur. Before the first observation prev
// has Pods -1: everything is new.
func RestoreChange(prev, cur RestoreView) []string {
	var lines []string
	if prev.Pods < 0 || cur.Phase != prev.Phase || cur.Message != prev.Message {
		phase := string(cur.Phase)
		if phase == "" {
			phase = "(new)"
		}
		lines = append(lines, strings.TrimRight(fmt.Sprintf("%-10s %s", phase, cur.Message), " "))
	}
	if cur.Pods != prev.Pods || cur.Ready != prev.Ready {
		var s string
		switch cur.Pods {
		case 0:
			s = "no pods: nothing of the app is connected to the database"
		case 1:
			s = fmt.Sprintf("1 pod, %d ready", cur.Ready)
		default:
			s = fmt.Sprintf("%d pods, %d ready", cur.Pods, cur.Ready)
		}
		lines = append(lines, fmt.Sprintf("%-10s %s", partOf, s))
	}
	return lines
}

// watchRestore prints each change of the restore and of the app's pods until the
// restore is Completed or Failed, and returns it then. It fails when the app still
// had pods while the restore was Restoring.
func (e *Env) watchRestore(ctx context.Context, name string) (*opsv1alpha1.DatabaseRestore, error) {
	prev := RestoreView{Pods: -1, Ready: -1}
	stoppedWhileRestoring := false
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		rs := &opsv1alpha1.DatabaseRestore{}
		pods, perr := e.appPods(ctx)
		err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, rs)
		if err == nil && perr == nil {
			cur := RestoreView{Phase: rs.Status.Phase, Message: conditionMessage(rs.Status.Conditions, opsv1alpha1.ConditionReconciling)}
			finished := rs.Status.Phase == opsv1alpha1.RestorePhaseCompleted || rs.Status.Phase == opsv1alpha1.RestorePhaseFailed
			if finished {
				cur.Message = conditionMessage(rs.Status.Conditions, opsv1alpha1.ConditionReady)
			}
			for _, p := range pods {
				if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					continue
				}
				cur.Pods++
				if podReady(&p) {
					cur.Ready++
				}
			}
			for _, line := range RestoreChange(prev, cur) {
				e.Out.Observe("%s", line)
			}
			if cur.Phase == opsv1alpha1.RestorePhaseRestoring && cur.Pods == 0 {
				stoppedWhileRestoring = true
			}
			prev = cur
			if finished {
				if !stoppedWhileRestoring {
					return rs, fmt.Errorf("restore %s finished, but %s was never seen without pods while it was Restoring", name, AppName)
				}
				return rs, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("restore %s is still %s: %w", name, prev.Phase, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
