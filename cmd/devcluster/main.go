// Command devcluster runs a local Kubernetes for runbook-operator: etcd,
// kube-apiserver, kube-controller-manager, a node agent that runs pods of the
// operator's and the demo app's images as host processes, PostgreSQL, Redis, an S3
// server, Prometheus and Alertmanager. It stops everything on Ctrl-C or SIGTERM.
//
//	go run ./cmd/devcluster --dir .devcluster
package main

import (
	"context"
	"flag"
	"fmt"
	stdlog "log"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"

	"runbook-operator/internal/devcluster"
)

func main() {
	dir := flag.String("dir", ".devcluster", "folder for the kubeconfig, logs and pod files (emptied of a previous run's pods)")
	assets := flag.String("assets", "", "folder with etcd, kube-apiserver, kube-controller-manager (default $KUBEBUILDER_ASSETS or hack/test-binaries.sh --print)")
	agentBin := flag.String("agent-binary", "", "host program for the runbook-operator image (default: go build ./cmd/agent)")
	managerBin := flag.String("manager-binary", "", "host program for the operator image's /manager command (default: none)")
	crdDir := flag.String("crd-dir", "", "CRDs to install (default config/crd/bases when it exists; \"-\" for none)")
	noPG := flag.Bool("no-postgres", false, "do not start PostgreSQL")
	noS3 := flag.Bool("no-s3", false, "do not start the S3 server")
	noRedis := flag.Bool("no-redis", false, "do not start Redis")
	noMonitoring := flag.Bool("no-monitoring", false, "do not start Prometheus and Alertmanager")
	runManager := flag.Bool("manager", false, "also build ./cmd/manager and run it on the host against the cluster (output in DIR/logs/manager.log)")
	managerArgs := flag.String("manager-args", "", "more arguments for the manager with --manager (it always gets "+strings.Join(devcluster.ManagerArgs(), " ")+")")
	verbose := flag.Int("v", 0, "log verbosity")
	flag.Parse()

	stdr.SetVerbosity(*verbose)
	log := stdr.New(stdlog.New(os.Stderr, "", stdlog.LstdFlags))
	var mArgs []string
	if *runManager {
		mArgs = strings.Fields(*managerArgs)
	}
	if err := run(log, *dir, *assets, *agentBin, *managerBin, *crdDir, *noPG, *noS3, *noRedis, *noMonitoring, *runManager, mArgs); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(log logr.Logger, dir, assets, agentBin, managerBin, crdDir string, noPG, noS3, noRedis, noMonitoring, runManager bool, managerArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "pods")); err != nil {
		return err
	}
	root, rootErr := devcluster.ModuleRoot()
	build := map[string]string{}
	if agentBin == "" && rootErr == nil {
		if _, err := os.Stat(filepath.Join(root, "cmd/agent/main.go")); err == nil {
			build["agent"] = "./cmd/agent"
		}
	}
	if runManager && managerBin == "" {
		build["manager"] = "./cmd/manager"
	}
	if len(build) > 0 {
		if rootErr != nil {
			return fmt.Errorf("building %v needs the module: %w", build, rootErr)
		}
		t := time.Now()
		bins, err := devcluster.BuildBinaries(ctx, root, filepath.Join(dir, "bin"), build, os.Stderr)
		if err != nil {
			return err
		}
		log.Info("built host programs", "took", time.Since(t).Round(time.Millisecond), "into", filepath.Join(dir, "bin"))
		if agentBin == "" {
			agentBin = bins["agent"]
		}
		if managerBin == "" {
			managerBin = bins["manager"]
		}
	}
	var crds []string
	switch crdDir {
	case "-":
	case "":
		if rootErr == nil {
			if _, err := os.Stat(filepath.Join(root, "config/crd/bases")); err == nil {
				crds = []string{filepath.Join(root, "config/crd/bases")}
			}
		}
	default:
		crds = []string{crdDir}
	}

	c, err := devcluster.Start(ctx, devcluster.Options{
		Dir: dir, AssetsDir: assets,
		AgentBinary: agentBin, ManagerBinary: managerBin,
		CRDDirs:         crds,
		WithoutPostgres: noPG, WithoutS3: noS3, WithoutRedis: noRedis, WithoutMonitoring: noMonitoring,
		Log: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping the devcluster")
		if err := c.Stop(); err != nil {
			log.Error(err, "stop")
		}
		log.Info("stopped")
	}()
	var managerDone <-chan struct{}
	if runManager {
		m, err := c.StartManager(ctx, managerBin, managerArgs...)
		if err != nil {
			return err
		}
		managerDone = m.Done()
		defer func() {
			if err := m.Err(); err != nil {
				log.Error(err, "the manager exited", "log", m.LogPath)
			}
		}()
	}
	printUsage(c, agentBin)
	select {
	case <-ctx.Done():
		return nil
	case <-c.Failed():
		return c.Err()
	case <-managerDone:
		return fmt.Errorf("the manager exited; see %s", filepath.Join(c.LogDir, "manager.log"))
	}
}

func printUsage(c *devcluster.Cluster, agentBin string) {
	envFile, err := c.WriteEnvFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
	}
	fmt.Printf(`
devcluster is ready in %s (Kubernetes %s, node %q); %s.

  export KUBECONFIG=%s
  kubectl get nodes,pods -A
  source %s     # also sets PG*, AWS_* and REDIS_URL for psql, the S3 server and redis-cli

Images run as host processes: saas:<tag> (test/saas, tags %s), runbook-operator -> %s. Other images are reported Running without running anything.
Demo namespace %q: Secrets %s (host, port, dbname, user, password), %s
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), %s (REDIS_URL, ...) and %s
(DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY); ConfigMap %s has the endpoints,
database %q and bucket %q exist.
Logs: %s   pod output: %s
%sPress Ctrl-C to stop and remove everything.
`, c.StartupDuration.Round(100*time.Millisecond), devcluster.KubernetesVer, c.Agent.NodeName(), devcluster.Memory(),
		c.Kubeconfig, envFile, strings.Join(slices.Sorted(maps.Keys(c.SaaSTags)), ", "), orNone(agentBin),
		devcluster.DemoNamespace, devcluster.DemoDBSecret, devcluster.DemoS3Secret, devcluster.DemoRedisSecret, devcluster.DemoAppSecret, devcluster.DemoConfigMap,
		devcluster.DemoDatabase, devcluster.DemoBucket, c.LogDir, filepath.Join(c.Dir, "pods"), monitoringUsage(c))
}

func orNone(s string) string {
	if s == "" {
		return "(not mapped)"
	}
	return s
}

func monitoringUsage(c *devcluster.Cluster) string {
	m := c.Monitoring
	if m == nil {
		return ""
	}
	return fmt.Sprintf(`Prometheus %s (scrapes the manager at %s, shipped alert rules) and Alertmanager %s
(posts to the manager's receiver at %s with the token in Secret %s; a copy of each post
and the alert-opened Incidents' notifications are in %s); they need --manager.
`, m.PrometheusURL, m.MetricsAddr, m.AlertmanagerURL, m.ReceiverAddr, m.TokenSecret, filepath.Join(c.LogDir, "alert-posts.jsonl"))
}
