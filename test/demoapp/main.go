// Command demoapp behaves like the runbook's Django application, for the devcluster
// and the end-to-end tests. The devcluster maps the image "demoapp" (any tag) to it.
//
//	demoapp serve            HTTP server; /api/v1/health/ checks the database
//	demoapp migrate [--plan] apply (or list) the embedded numbered SQL migrations
//	demoapp showmigrations   list migrations and whether they are applied
//	demoapp collectstatic    write the static files into STATIC_ROOT
//	demoapp exit CODE [MSG]  write MSG as termination message and exit with CODE
//
// Configuration (flags override environment):
//
//	APP_VERSION                  version of the app (default: the image tag given by
//	                             the node agent in RUNBOOK_IMAGE_TAG, else "dev")
//	DATABASE_URL or PG*          database (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)
//	LISTEN_ADDR / --listen       listen address (default $POD_IP:$PORT, PORT default 8000)
//	DEMOAPP_UNHEALTHY_VERSIONS   comma list of versions whose health check answers 503
//	DEMOAPP_REQUIRE_MIGRATIONS   "true": health answers 503 while migrations are pending
//	DEMOAPP_MIGRATION_TARGET     highest migration number this version has
//	DEMOAPP_VERSION_MIGRATIONS   per version targets, "1.0.0=2,1.1.0=3" (else all)
//	DEMOAPP_FAILING_MIGRATION_VERSIONS  comma list of versions whose migrate fails
//	STATIC_ROOT / --static-root  collectstatic destination (default ./static)
//
// Results are written as JSON to the termination message file: $RUNBOOK_TERMINATION_LOG
// (the devcluster's stand-in) or /dev/termination-log when it exists.
package main

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demoapp serve|migrate|showmigrations|collectstatic|exit")
		os.Exit(2)
	}
	if os.Args[1] == "manage.py" && len(os.Args) > 2 { // "python manage.py migrate"
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve", "runserver", "gunicorn":
		err = serve(ctx, os.Args[2:])
	case "migrate":
		err = migrateCmd(ctx, os.Args[2:], false)
	case "showmigrations":
		err = migrateCmd(ctx, os.Args[2:], true)
	case "collectstatic":
		err = collectstatic(os.Args[2:])
	case "exit":
		code := 0
		if len(os.Args) > 2 {
			code, _ = strconv.Atoi(os.Args[2])
		}
		if len(os.Args) > 3 {
			writeTermination(os.Args[3])
		}
		fmt.Printf("exiting with code %d\n", code)
		os.Exit(code)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoapp:", err)
		writeTermination(mustJSON(map[string]any{"ok": false, "error": err.Error()}))
		os.Exit(1)
	}
}

func version() string {
	for _, k := range []string{"APP_VERSION", "RUNBOOK_IMAGE_TAG"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "dev"
}

func envList(name string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func writeTermination(msg string) {
	path := os.Getenv("RUNBOOK_TERMINATION_LOG")
	if path == "" {
		path = "/dev/termination-log"
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
	_ = os.WriteFile(path, []byte(msg), 0o644)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// An empty connection string makes pgx read the PG* environment variables.
	return pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
}

// ---- serve ----

func serve(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("serve", flag.ExitOnError)
	defaultAddr := os.Getenv("LISTEN_ADDR")
	if defaultAddr == "" {
		host := os.Getenv("POD_IP")
		if host == "" {
			host = "127.0.0.1"
		}
		port := os.Getenv("PORT")
		if port == "" {
			port = "8000"
		}
		defaultAddr = net.JoinHostPort(host, port)
	}
	listen := fset.String("listen", defaultAddr, "listen address")
	unhealthy := fset.String("unhealthy-versions", os.Getenv("DEMOAPP_UNHEALTHY_VERSIONS"), "comma list of versions that report 503")
	bind := fset.String("bind", "", "gunicorn-style alias of --listen")
	_ = fset.Parse(args)
	if *bind != "" {
		*listen = *bind
	}
	ver := version()
	bad := contains(strings.Split(*unhealthy, ","), ver)
	requireMigrations := os.Getenv("DEMOAPP_REQUIRE_MIGRATIONS") == "true"

	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/health/", func(w http.ResponseWriter, r *http.Request) {
		res := map[string]any{"version": ver}
		code := http.StatusOK
		conn, err := connect(r.Context())
		if err != nil {
			res["database"] = "unreachable"
			code = http.StatusServiceUnavailable
		} else {
			defer func() { _ = conn.Close(context.Background()) }()
			res["database"] = "ok"
			applied, err := appliedMigrations(r.Context(), conn)
			if err == nil {
				pending := len(wantedMigrations(ver)) - countApplied(wantedMigrations(ver), applied)
				res["migrationsApplied"] = len(applied)
				res["migrationsPending"] = pending
				if pending > 0 && requireMigrations {
					code = http.StatusServiceUnavailable
				}
			}
		}
		if bad {
			res["error"] = "version " + ver + " is configured unhealthy"
			code = http.StatusServiceUnavailable
		}
		res["status"] = map[bool]string{true: "ok", false: "unhealthy"}[code == http.StatusOK]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("/api/v1/customers/", func(w http.ResponseWriter, r *http.Request) {
		conn, err := connect(r.Context())
		if err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(r.Context(), "SELECT id, name, email, plan FROM accounts_customer ORDER BY id")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		type customer struct {
			ID                int64
			Name, Email, Plan string
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[customer])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "demoapp %s on %s\n", ver, *listen)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Printf("demoapp %s listening on http://%s\n", ver, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errCh := make(chan error, 1)
	go func() { errCh <- srv.Serve(ln) }()
	select {
	case err := <-errCh:
		return err
	case <-ctx.Done():
	}
	fmt.Println("demoapp: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// ---- migrations ----

type migration struct {
	Number int
	Name   string
	SQL    string
}

func allMigrations() []migration {
	entries, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	slices.Sort(entries)
	var out []migration
	for _, e := range entries {
		base := strings.TrimSuffix(filepath.Base(e), ".sql")
		n, _ := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		data, _ := migrationFiles.ReadFile(e)
		out = append(out, migration{Number: n, Name: base, SQL: string(data)})
	}
	return out
}

// wantedMigrations returns the migrations the given version ships with.
func wantedMigrations(ver string) []migration {
	all := allMigrations()
	target := len(all) + 1000
	if t := os.Getenv("DEMOAPP_MIGRATION_TARGET"); t != "" {
		target, _ = strconv.Atoi(t)
	} else {
		for _, kv := range envList("DEMOAPP_VERSION_MIGRATIONS") {
			k, v, ok := strings.Cut(kv, "=")
			if ok && strings.TrimSpace(k) == ver {
				target, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	var out []migration
	for _, m := range all {
		if m.Number <= target {
			out = append(out, m)
		}
	}
	return out
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[string]time.Time, error) {
	rows, err := conn.Query(ctx, "SELECT name, applied FROM django_migrations WHERE app = 'demoapp'")
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at time.Time
		if err := rows.Scan(&name, &at); err != nil {
			return nil, err
		}
		out[name] = at
	}
	return out, rows.Err()
}

func countApplied(ms []migration, applied map[string]time.Time) int {
	n := 0
	for _, m := range ms {
		if _, ok := applied[m.Name]; ok {
			n++
		}
	}
	return n
}

func migrateCmd(ctx context.Context, args []string, listOnly bool) error {
	fset := flag.NewFlagSet("migrate", flag.ExitOnError)
	plan := fset.Bool("plan", false, "print the migrations that would be applied, change nothing")
	_ = fset.Parse(args)
	ver := version()
	conn, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS django_migrations (
		id bigserial PRIMARY KEY, app text NOT NULL, name text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now(), UNIQUE (app, name))`); err != nil {
		return fmt.Errorf("create django_migrations: %w", err)
	}
	// One migrate at a time, as two Jobs could race.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7262)"); err != nil {
		return err
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	wanted := wantedMigrations(ver)
	var pending []string
	for _, m := range wanted {
		if _, ok := applied[m.Name]; !ok {
			pending = append(pending, m.Name)
		}
	}
	if listOnly {
		for _, m := range allMigrations() {
			mark := " "
			if _, ok := applied[m.Name]; ok {
				mark = "X"
			}
			fmt.Printf(" [%s] %s\n", mark, m.Name)
		}
		return nil
	}
	if *plan {
		fmt.Printf("Planned operations for demoapp %s:\n", ver)
		for _, p := range pending {
			fmt.Println("  demoapp." + p)
		}
		if len(pending) == 0 {
			fmt.Println("  No planned migration operations.")
		}
		writeTermination(mustJSON(map[string]any{"ok": true, "version": ver, "plan": nonNil(pending)}))
		return nil
	}
	failing := contains(envList("DEMOAPP_FAILING_MIGRATION_VERSIONS"), ver)
	fmt.Printf("Operations to perform: apply %d migration(s) for demoapp %s\n", len(pending), ver)
	var done []string
	for _, m := range wanted {
		if _, ok := applied[m.Name]; ok {
			continue
		}
		fmt.Printf("  Applying demoapp.%s...", m.Name)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if failing {
				return errors.New("configured to fail (DEMOAPP_FAILING_MIGRATION_VERSIONS)")
			}
			_, err := tx.Exec(ctx, "INSERT INTO django_migrations (app, name) VALUES ('demoapp', $1)", m.Name)
			return err
		})
		if err != nil {
			fmt.Println(" FAILED")
			return fmt.Errorf("migration %s failed: %w", m.Name, err)
		}
		fmt.Println(" OK")
		done = append(done, m.Name)
	}
	if len(done) == 0 {
		fmt.Println("  No migrations to apply.")
	}
	writeTermination(mustJSON(map[string]any{"ok": true, "version": ver, "applied": nonNil(done)}))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- collectstatic ----

func collectstatic(args []string) error {
	fset := flag.NewFlagSet("collectstatic", flag.ExitOnError)
	def := os.Getenv("STATIC_ROOT")
	if def == "" {
		def = "static"
	}
	root := fset.String("static-root", def, "destination folder")
	_ = fset.Bool("noinput", true, "accepted for compatibility with Django")
	_ = fset.Parse(args)
	ver := version()
	files := map[string]string{
		"css/app.css":   "body { font-family: sans-serif; }\n/* demoapp " + ver + " */\n",
		"js/app.js":     "console.log('demoapp " + ver + "');\n",
		"robots.txt":    "User-agent: *\nDisallow: /admin/\n",
		"admin/base.js": "/* admin */\n",
	}
	manifest := map[string]string{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sum := sha256.Sum256([]byte(files[n]))
		ext := filepath.Ext(n)
		hashed := strings.TrimSuffix(n, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		for _, p := range []string{n, hashed} {
			dst := filepath.Join(*root, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, []byte(files[n]), 0o644); err != nil {
				return err
			}
		}
		manifest[n] = hashed
	}
	data, _ := json.MarshalIndent(map[string]any{"version": "1.1", "paths": manifest}, "", "  ")
	if err := os.WriteFile(filepath.Join(*root, "staticfiles.json"), data, 0o644); err != nil {
		return err
	}
	fmt.Printf("%d static files copied to '%s', %d post-processed.\n", len(files), *root, len(files))
	writeTermination(mustJSON(map[string]any{"ok": true, "version": ver, "files": len(files), "staticRoot": *root}))
	return nil
}
