// Command demo is `make demo`: it builds what is missing, starts the devcluster
// (a local Kubernetes with PostgreSQL and an S3 server), runs the operator's manager
// against it and walks through what the operator does, printing the resources'
// status as a person would watch them. Then it stays up, with the kubeconfig printed,
// until Ctrl-C.
//
//	go run ./cmd/demo                    # walkthrough, then stay up
//	go run ./cmd/demo --exit-when-done   # exit 0 after the walkthrough, 1 if a step failed
//	go run ./cmd/demo --operator-image   # the operator from its image, installed with kubectl apply of dist/install.yaml
//	go run ./cmd/demo --operator-image --install=helm   # ... installed with helm install of charts/runbook-operator
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"

	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

type options struct {
	dir          string
	assets       string
	steps        string
	exitWhenDone bool
	verbose      bool
	// operatorImage runs the operator as users do: make image, dist/install.yaml
	// applied, the manager a pod of the image (instead of a host process).
	operatorImage bool
	// install is how --operator-image installs it: installKubectl or installHelm.
	install string
}

// The --install choices.
const (
	installKubectl = "kubectl"
	installHelm    = "helm"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".devcluster", "folder for the kubeconfig, logs, host programs and pod files")
	flag.StringVar(&o.assets, "assets", "", "folder with etcd, kube-apiserver, kube-controller-manager and versitygw (default $KUBEBUILDER_ASSETS or hack/test-binaries.sh --print; built when missing)")
	flag.StringVar(&o.steps, "steps", "", "comma-separated steps to run, with the steps they need (default all: "+stepNames()+")")
	flag.BoolVar(&o.exitWhenDone, "exit-when-done", false, "exit after the walkthrough: 0 when every step succeeded, 1 otherwise")
	flag.BoolVar(&o.verbose, "v", false, "print the devcluster's own progress lines too")
	flag.BoolVar(&o.operatorImage, "operator-image", false, "run the operator as users do: build its image (make image), install it with dist/install.yaml (make build-installer) and run the steps against the manager pod the node agent runs from the image")
	flag.StringVar(&o.install, "install", installKubectl, "with --operator-image, how to install the operator as docs/install.md says: kubectl (kubectl apply --server-side -f dist/install.yaml) or helm (helm install of charts/runbook-operator)")
	flag.Parse()
	if o.install != installKubectl && o.install != installHelm {
		fmt.Fprintf(os.Stderr, "demo: --install=%s: want kubectl or helm\n", o.install)
		os.Exit(2)
	}
	if o.install != installKubectl && !o.operatorImage {
		fmt.Fprintln(os.Stderr, "demo: --install needs --operator-image (without it the manager is a host process, not installed)")
		os.Exit(2)
	}
	os.Exit(run(o))
}

func stepNames() string {
	s := ""
	for i, st := range demo.DefaultSteps() {
		if i > 0 {
			s += ", "
		}
		s += st.Name
	}
	return s
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := demo.NewPrinter(os.Stdout)
	steps, err := demo.Select(demo.DefaultSteps(), o.steps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}
	if err := walkthrough(ctx, o, out, steps); err != nil {
		if ctx.Err() != nil {
			out.Line("\nInterrupted.")
			return 130
		}
		out.Problem("%v", err)
		return 1
	}
	return 0
}

// errStepsFailed is returned after the walkthrough when a step did not succeed.
var errStepsFailed = errors.New("the walkthrough had failed steps (see the summary above)")

func walkthrough(ctx context.Context, o options, out *demo.Printer, steps []demo.Step) error {
	out.Line(`runbook-operator demo
=====================`)
	out.Say(`This starts a small but real Kubernetes on this machine (the devcluster), runs the
operator against it and walks through what the operator does so far: back up a
PostgreSQL database to S3 on demand and on a schedule, restore a backup while the
application is stopped, and rotate the application's secrets. The Jobs and the application really run: the devcluster's node
runs their pods as processes on this machine. Logs and state: %s/`, o.dir)

	root, err := devcluster.ModuleRoot()
	if err != nil {
		return fmt.Errorf("run the demo from the runbook-operator checkout: %w", err)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	// The pods of a previous run are gone with its cluster; their folders go too.
	if err := os.RemoveAll(filepath.Join(dir, "pods")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	log, closeLog, err := logger(filepath.Join(dir, "logs", "devcluster.log"), o.verbose)
	if err != nil {
		return err
	}
	defer closeLog()

	assets, bins, layout, err := getReady(ctx, o, out, root, dir)
	if err != nil {
		return err
	}

	opts := devcluster.Options{
		Dir: dir, AssetsDir: assets,
		AgentBinary: bins["agent"],
		CRDDirs:     []string{filepath.Join(root, "config/crd/bases")},
		Log:         log,
	}
	if o.operatorImage {
		opts.OperatorImage = layout // the agent Jobs run from it too
	}
	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start the devcluster: %w (logs in %s)", err, filepath.Join(o.dir, "logs"))
	}
	defer func() {
		out.Line("\nStopping the devcluster...")
		if err := c.Stop(); err != nil {
			out.Problem("stop: %v", err)
		}
		out.Line("Stopped; nothing is left running.")
	}()
	out.Check("started the devcluster in %s: etcd, kube-apiserver and kube-controller-manager %s, a node agent, PostgreSQL, Redis and an S3 server (versitygw)",
		demo.Round(c.StartupDuration), devcluster.KubernetesVer)
	startup := c.StartupDuration

	m, err := startManager(ctx, o, out, c, root, bins)
	if err != nil {
		return err
	}
	if _, err := c.WriteEnvFile(); err != nil {
		return err
	}

	// A cluster component or the manager stopping ends the walkthrough at once.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go cancelWhenStopped(runCtx, cancel, c, m)
	peak := devcluster.TrackPeakMemory(runCtx, time.Second)

	env, err := demo.NewEnv(c, out)
	if err != nil {
		return err
	}
	results := demo.Run(runCtx, env, steps)
	demo.PrintSummary(out, results)
	if cause := context.Cause(runCtx); cause != nil && ctx.Err() == nil {
		out.Problem("%v", cause)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	printFinale(out, c, o.dir, startup, peak())
	if demo.Failed(results) {
		if o.exitWhenDone {
			return errStepsFailed
		}
		out.Problem("%v; the cluster stays up so you can look", errStepsFailed)
	}
	if o.exitWhenDone {
		return nil
	}
	out.Line("\nThe devcluster stays up until you press Ctrl-C; then everything is stopped and removed.")
	select {
	case <-ctx.Done():
		return nil
	case <-runCtx.Done():
		return context.Cause(runCtx)
	}
}

// startManager starts the operator's manager: a host process, or with
// --operator-image the pod of dist/install.yaml's Deployment (nil HostProcess).
func startManager(ctx context.Context, o options, out *demo.Printer, c *devcluster.Cluster, root string, bins map[string]string) (*devcluster.HostProcess, error) {
	t := time.Now()
	if o.operatorImage {
		how, err := installOperator(ctx, c, root, o.install)
		if err != nil {
			return nil, err
		}
		out.Check("installed the operator with %s and its manager pod is Ready in %s; its log: kubectl -n %s logs deploy/%s",
			how, since(t), devcluster.InstallNamespace, devcluster.InstallDeployment)
		return nil, nil
	}
	m, err := c.StartManager(ctx, bins["manager"])
	if err != nil {
		return nil, err
	}
	out.Check("started the operator's manager in %s; its log: %s", since(t), filepath.Join(o.dir, "logs", "manager.log"))
	return m, nil
}

// cancelWhenStopped cancels ctx with the reason when a cluster component or the
// manager (a host process; nil when the manager is a pod) stops.
func cancelWhenStopped(ctx context.Context, cancel context.CancelCauseFunc, c *devcluster.Cluster, m *devcluster.HostProcess) {
	var managerDone <-chan struct{} // nil: never
	if m != nil {
		managerDone = m.Done()
	}
	select {
	case <-c.Failed():
		cancel(c.Err())
	case <-managerDone:
		cancel(fmt.Errorf("the manager exited (%v); see %s", m.Err(), m.LogPath))
	case <-ctx.Done():
	}
}

// getReady checks the Debian packages, finds or builds the test binaries and builds
// the agent and the manager into dir/bin, or with --operator-image the operator's
// image (its OCI layout).
func getReady(ctx context.Context, o options, out *demo.Printer, root, dir string) (assets string, bins map[string]string, layout string, err error) {
	out.Section("Getting ready")
	if missing := devcluster.MissingPackages(); len(missing) > 0 {
		return "", nil, "", fmt.Errorf(`the demo runs the runbook's Django application with Debian's packages, and these are missing: %s
Install them (as root) and run make demo again:
  apt-get install -y %s`, strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	out.Check("Debian's Django, Celery, gunicorn, psycopg2, cryptography and redis-server are installed")
	if assets, err = ensureAssets(ctx, out, root, o.assets); err != nil {
		return "", nil, "", err
	}
	t := time.Now()
	if o.operatorImage {
		if err := installToolReady(ctx, o.install, root, assets); err != nil {
			return "", nil, "", err
		}
		layout, err = devcluster.BuildImage(ctx, root, devcluster.AgentImage, io.Discard)
		if err != nil {
			return "", nil, "", err
		}
		out.Check("built the operator's image %s in %s (make image: the manager and the agent on the Debian runtime file system): %s", devcluster.AgentImage, since(t), layout)
		return assets, nil, layout, nil
	}
	bins, err = devcluster.BuildBinaries(ctx, root, filepath.Join(dir, "bin"), map[string]string{
		"agent": "./cmd/agent", "manager": "./cmd/manager",
	}, os.Stderr)
	if err != nil {
		return "", nil, "", err
	}
	out.Check("built the agent and the manager in %s (%s)", since(t), filepath.Join(o.dir, "bin"))
	return assets, bins, "", nil
}

// installToolReady checks, before anything starts, that the tool --install runs is
// there: kubectl beside the test binaries, or the helm make test-binaries builds.
func installToolReady(ctx context.Context, install, root, assets string) error {
	if install == installHelm {
		_, err := devcluster.HelmBinary(ctx, root)
		return err
	}
	_, err := (&devcluster.Cluster{AssetsDir: assets}).Kubectl()
	return err
}

// installOperator installs the operator as docs/install.md says and waits for its
// manager pod to be Ready: with kubectl, dist/install.yaml for the devcluster's image
// (make build-installer IMG=...) applied with `kubectl apply --server-side`; with
// helm, `helm install` of charts/runbook-operator with the image values set to the
// devcluster's image. Both give the same Deployment in the same namespace. With the
// devcluster's Prometheus and Alertmanager, the manager gets their flags as extra
// args (its metrics and alert receiver on the host loopback), as a user would point
// it at theirs. It returns what it ran, for the printed line.
func installOperator(ctx context.Context, c *devcluster.Cluster, root, install string) (string, error) {
	var extra []string
	if c.Monitoring != nil {
		extra = c.Monitoring.ManagerArgs()
	}
	var how string
	switch install {
	case installHelm:
		helm, err := devcluster.HelmBinary(ctx, root)
		if err != nil {
			return "", err
		}
		args, err := devcluster.HelmInstallArgs(devcluster.AgentImage, extra...)
		if err != nil {
			return "", err
		}
		if err := c.Helm(ctx, helm, root, io.Discard, args...); err != nil {
			return "", err
		}
		how = "helm install runbook-operator charts/runbook-operator (image " + devcluster.AgentImage + ")"
	default:
		objs, err := devcluster.InstallManifests(ctx, root, devcluster.AgentImage, os.Stderr)
		if err != nil {
			return "", err
		}
		if len(extra) > 0 {
			if err := devcluster.EditManager(objs, "", extra...); err != nil {
				return "", err
			}
		}
		if err := c.KubectlApply(ctx, objs, io.Discard); err != nil {
			return "", err
		}
		how = "kubectl apply --server-side -f dist/install.yaml (make build-installer IMG=" + devcluster.AgentImage + ")"
	}
	cl, err := c.InstallClient()
	if err != nil {
		return "", err
	}
	return how, devcluster.WaitManagerAvailable(ctx, cl, 3*time.Minute)
}

func printFinale(out *demo.Printer, c *devcluster.Cluster, dir string, startup time.Duration, peak devcluster.MemoryUsage) {
	out.Section("Look around")
	out.Say("The cluster, the operator and everything the demo created are still there. Point kubectl at it:")
	out.Block(fmt.Sprintf(`export KUBECONFIG=%s
kubectl -n demo get databasebackups,databaserestores,backupschedules,deployments,jobs,pods
kubectl -n demo describe databasebackup %s
kubectl -n demo describe databaserestore %s
kubectl -n demo get backupschedule %s -o yaml
kubectl -n demo logs job/%s-backup
kubectl -n demo logs deploy/saas-worker
source %s      # PG* for psql, AWS_* for the S3 server, REDIS_URL`,
		c.Kubeconfig, demo.BackupName, demo.RestoreName, demo.ScheduleName, demo.BackupName, filepath.Join(c.Dir, "env")))
	out.Say(`
Pods whose image is the operator's (%s) or the application's (saas:<tag>, tags %s)
run as processes on this machine; pods of any other image are reported Running without
running anything. Logs of every component are in %s, pod output in %s.`,
		devcluster.AgentImage, strings.Join(slices.Sorted(maps.Keys(c.SaaSTags)), ", "), filepath.Join(dir, "logs"), filepath.Join(dir, "pods"))
	if m := c.Monitoring; m != nil {
		out.Say("Prometheus %s (alerts: %s/alerts) and Alertmanager %s run on loopback; what Alertmanager posted and the Incidents' notifications are in %s.",
			m.PrometheusURL, m.PrometheusURL, m.AlertmanagerURL, filepath.Join(dir, "logs", "alert-posts.jsonl"))
	}
	now := devcluster.Memory()
	out.Say("The devcluster started in %s. Memory (resident, all its processes): %d MiB now, %d MiB at the peak of the walkthrough.",
		demo.Round(startup), now.Total>>20, peak.Total>>20)
	out.Block(now.String())
}

// ensureAssets finds the Kubernetes, etcd and versitygw binaries, building them with
// hack/test-binaries.sh when they are missing (a fresh machine).
func ensureAssets(ctx context.Context, out *demo.Printer, root, dir string) (string, error) {
	assets, err := devcluster.ResolveAssets(dir)
	if err == nil || dir != "" {
		return assets, err
	}
	out.Say("The Kubernetes, etcd and S3 server binaries are missing: building them from source with hack/test-binaries.sh (about 20 minutes on 2 cores, once; they are cached outside the checkout).")
	t := time.Now()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack/test-binaries.sh"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/test-binaries.sh: %w", err)
	}
	out.Check("built the test binaries in %s", since(t))
	return devcluster.ResolveAssets("")
}

func since(t time.Time) time.Duration { return demo.Round(time.Since(t)) }

// logger writes the devcluster's progress lines to path, and to stderr when verbose.
func logger(path string, verbose bool) (logr.Logger, func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return logr.Discard(), nil, err
	}
	var w io.Writer = f
	if verbose {
		w = io.MultiWriter(f, os.Stderr)
	}
	return stdr.New(stdlog.New(w, "", stdlog.LstdFlags)), func() { _ = f.Close() }, nil
}
