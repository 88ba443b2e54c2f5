// Package devcluster runs a small but real Kubernetes on this machine: etcd and
// kube-apiserver (through envtest), kube-controller-manager with every controller, a
// node agent that runs pods of mapped images as host processes (the runbook's Django
// application among them), a PostgreSQL server, Redis and an S3 server (versitygw),
// Prometheus and Alertmanager (monitoring.go), and a "demo" namespace wired to them. `make demo` and
// the end-to-end tests use it.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"runbook-operator/internal/nodeagent"
	"runbook-operator/test/harness"
)

// Names of what the devcluster creates for the demo.
const (
	DemoNamespace    = "demo"
	DemoDBSecret     = "demo-db"
	DemoDB17Secret   = "demo-db-17"
	DemoS3Secret     = "demo-s3"
	DemoConfigMap    = "demo-endpoints"
	DemoRedisSecret  = "demo-redis"
	DemoAppSecret    = "demo-app"
	DemoDatabase     = "saas_production"
	DemoBucket       = "saas-backups"
	DefaultNodeName  = "devcluster"
	KubernetesVer    = "v1.37.2"
	adminUserName    = "devcluster-admin"
	kcmStopTimeout   = 10 * time.Second
	readinessTimeout = 2 * time.Minute
)

// Options configure Start.
type Options struct {
	// Dir receives the kubeconfig, the logs of every component and the pod folders.
	Dir string
	// AssetsDir holds etcd, kube-apiserver and kube-controller-manager (default:
	// $KUBEBUILDER_ASSETS, else the directory printed by hack/test-binaries.sh --print).
	AssetsDir string
	// AgentBinary and ManagerBinary are host programs for the operator's image
	// (ENTRYPOINT agent; "/manager" runs ManagerBinary). Empty leaves the image
	// unmapped.
	AgentBinary, ManagerBinary string
	// OperatorImage is the operator's image as an OCI layout (BuildImage, make
	// image): pods of the operator's image then run from it, chrooted in its
	// unpacked file system, and AgentBinary and ManagerBinary are unused.
	OperatorImage string
	// Images adds mappings; they take precedence over the ones above.
	Images nodeagent.ImageMap
	// CRDDirs are installed once the API server is up.
	CRDDirs []string
	// Postgres17Rootfs, when set, is a Debian file system with the PostgreSQL 17
	// server (hack/rootfs.sh's second): a second server, version 17, runs chrooted
	// in it, with the demo database and Secret DemoDB17Secret.
	Postgres17Rootfs string
	// WithoutPostgres, WithoutS3 and WithoutRedis skip those servers (and their demo
	// Secrets).
	WithoutPostgres, WithoutS3, WithoutRedis bool
	// WithoutMonitoring skips Prometheus and Alertmanager (monitoring.go).
	WithoutMonitoring bool
	// SaaSSource is the application's source (default: test/saas of this module); its
	// releases become the tags of the image "saas". "-" leaves the image unmapped.
	SaaSSource string
	// NodeName of the single node (default "devcluster").
	NodeName string
	// NodeAgent tunes the node agent (NodeName, Images, StateDir and Log are set here).
	NodeAgent nodeagent.Options
	// Log receives progress lines.
	Log logr.Logger
}

// Cluster is a running devcluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig (user in system:masters).
	Kubeconfig string
	// AssetsDir is the resolved Options.AssetsDir: etcd, kube-apiserver and, where
	// hack/test-binaries.sh built it, kubectl.
	AssetsDir  string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Postgres   *harness.Postgres
	// Postgres17 is the PostgreSQL 17 server (Options.Postgres17Rootfs), or nil.
	Postgres17 *harness.Postgres
	S3         *harness.S3
	Redis      *Redis
	// Monitoring is Prometheus and Alertmanager (nil WithoutMonitoring).
	Monitoring *Monitoring
	Agent      *nodeagent.Agent
	// SaaSTags maps the tags of the image "saas" to their folders on the host.
	SaaSTags map[string]string
	// Dir is Options.Dir; LogDir holds one log file per component.
	Dir, LogDir string
	// StartupDuration is how long Start took.
	StartupDuration time.Duration
	// PodCIDR is the /24 whose addresses pods get (a local route on lo), or empty
	// when pods fall back to loopback addresses.
	PodCIDR string

	log    logr.Logger
	podNet podNetwork
	// managerKubeconfig is the manager's when RunManagerAs was called (else admin).
	managerKubeconfig string
	env               *envtest.Environment
	kcm               *exec.Cmd
	kcmDone           chan struct{}
	agentCancel       context.CancelFunc
	agentDone         chan struct{}
	failed            chan struct{}
	failOnce          sync.Once
	failErr           error
	stopOnce          sync.Once
	stopErr           error
	logFiles          []*os.File
	procMu            sync.Mutex
	procs             []*HostProcess
	monitoring        *Monitoring // set as soon as startMonitoring has something to stop
}

// operatorRepos are the repositories of the operator's image: the released one,
// the short name, and kubebuilder's placeholder ("controller").
var operatorRepos = []string{"runbook-operator", "ghcr.io/runbook-operator/runbook-operator", "controller"}

// OperatorImages maps the operator's image to the OCI layout at dir.
func OperatorImages(dir string) nodeagent.ImageMap {
	var m nodeagent.ImageMap
	for _, img := range operatorRepos {
		m = append(m, nodeagent.ImageMapping{Image: img, Layout: dir})
	}
	return m
}

// DefaultImages returns the standard image mappings for the given host programs.
func DefaultImages(agent, manager string) nodeagent.ImageMap {
	var m nodeagent.ImageMap
	if agent != "" || manager != "" {
		cmds := map[string]string{}
		if manager != "" {
			cmds["/manager"] = manager
			cmds["manager"] = manager
		}
		for _, img := range operatorRepos {
			m = append(m, nodeagent.ImageMapping{Image: img, Binary: agent, Entrypoints: []string{"/agent", "agent"}, Commands: cmds})
		}
	}
	return m
}

// Start brings the cluster up and returns once the node is Ready, the controller
// manager works (the default ServiceAccount exists) and the demo namespace is set up.
// ctx bounds the start-up only; the cluster runs until Stop. On error everything
// started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	t0 := time.Now()
	if opts.Dir == "" {
		return nil, errors.New("devcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.NodeName == "" {
		opts.NodeName = DefaultNodeName
	}
	c := &Cluster{Dir: dir, LogDir: filepath.Join(dir, "logs"), log: opts.Log, failed: make(chan struct{})}
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	assets, err := ResolveAssets(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	c.AssetsDir = assets
	side := c.startSideServices(ctx, opts, assets)
	defer side.wg.Wait() // before Stop, which stops what they started
	if err := c.startControlPlane(opts, assets, t0); err != nil {
		return nil, err
	}
	if err := c.startNodeAgent(ctx, opts, t0); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, side); err != nil {
		return nil, err
	}
	if err := c.setupDemo(ctx); err != nil {
		return nil, fmt.Errorf("set up the demo namespace: %w", err)
	}
	if !opts.WithoutMonitoring {
		if c.Monitoring, err = c.startMonitoring(ctx); err != nil {
			return nil, fmt.Errorf("start Prometheus and Alertmanager: %w", err)
		}
	}
	c.StartupDuration = time.Since(t0)
	c.log.Info("devcluster is ready", "after", c.StartupDuration.Round(time.Millisecond))
	return c, nil
}

// sideServices are PostgreSQL, Redis and S3, which start while the control plane does.
type sideServices struct {
	wg                     sync.WaitGroup
	pgErr, s3Err, redisErr error
	pg17Err                error
}

// wait waits for the side services and returns why any of them did not start.
func (s *sideServices) wait() error {
	s.wg.Wait()
	return errors.Join(s.pgErr, s.s3Err, s.redisErr, s.pg17Err)
}

func (c *Cluster) startSideServices(ctx context.Context, opts Options, assets string) *sideServices {
	s := &sideServices{}
	if !opts.WithoutRedis {
		s.wg.Go(func() { c.Redis, s.redisErr = StartRedis(ctx, filepath.Join(c.Dir, "redis")) })
	}
	if !opts.WithoutPostgres {
		s.wg.Go(func() { c.Postgres, s.pgErr = harness.StartPostgres(ctx, harness.PostgresOptions{}) })
	}
	if opts.Postgres17Rootfs != "" {
		s.wg.Go(func() {
			c.Postgres17, s.pg17Err = harness.StartPostgres(ctx, harness.PostgresOptions{Version: "17", Rootfs: opts.Postgres17Rootfs})
			if s.pg17Err != nil {
				s.pg17Err = fmt.Errorf("PostgreSQL 17: %w", s.pg17Err)
			}
		})
	}
	if !opts.WithoutS3 {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			_ = os.Setenv("VERSITYGW", filepath.Join(assets, "versitygw"))
		}
		s.wg.Go(func() { c.S3, s.s3Err = harness.StartS3(ctx, harness.S3Options{}) })
	}
	return s
}

// startControlPlane starts etcd and kube-apiserver (through envtest), writes the admin
// kubeconfig and starts kube-controller-manager.
func (c *Cluster) startControlPlane(opts Options, assets string, t0 time.Time) error {
	apiLog, err := c.openLog("kube-apiserver.log")
	if err != nil {
		return err
	}
	etcdLog, err := c.openLog("etcd.log")
	if err != nil {
		return err
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     opts.CRDDirs,
		ErrorIfCRDPathMissing: len(opts.CRDDirs) > 0,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Out: apiLog, Err: apiLog, StartTimeout: time.Minute,
				Path: deathSignalWrapper(c.Dir, assets, "kube-apiserver")},
			Etcd: &envtest.Etcd{Out: etcdLog, Err: etcdLog, StartTimeout: time.Minute,
				Path: deathSignalWrapper(c.Dir, assets, "etcd")},
		},
	}
	// Pods get their ServiceAccount's token, the cluster's CA and namespace as a
	// projected volume, as in any cluster (envtest turns the plugin off).
	c.env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	// blockOwnerDeletion needs `update` on the owner's finalizers, as on OpenShift.
	c.env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	if _, err := c.env.Start(); err != nil {
		return fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	c.log.Info("kube-apiserver is up", "after", time.Since(t0).Round(time.Millisecond))

	admin, err := c.env.AddUser(envtest.User{Name: adminUserName, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("create admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig = renameContext(kubeconfig)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	c.RESTConfig = rest.CopyConfig(admin.Config())
	c.RESTConfig.QPS, c.RESTConfig.Burst = 100, 200
	if c.Client, err = kubernetes.NewForConfig(c.RESTConfig); err != nil {
		return err
	}
	return c.startControllerManager(assets)
}

// startNodeAgent sets up the pod network, builds the saas image's tags, and runs the
// node agent until Stop; it returns once the node is registered.
func (c *Cluster) startNodeAgent(ctx context.Context, opts Options, t0 time.Time) error {
	podNet, err := setupPodNetwork()
	if err != nil {
		c.log.Error(err, "pods get loopback addresses: they run, but EndpointSlices reject these addresses")
	}
	c.podNet = podNet
	c.PodCIDR = podNet.cidr

	images, err := c.images(opts)
	if err != nil {
		return err
	}
	agentOpts := opts.NodeAgent
	agentOpts.NodeName = opts.NodeName
	agentOpts.Images = images
	agentOpts.StateDir = filepath.Join(c.Dir, "pods")
	if agentOpts.ImageCache == "" {
		agentOpts.ImageCache = ImageCache()
	}
	agentOpts.APIServer = c.RESTConfig.Host
	if agentOpts.FirstPodIP == "" {
		agentOpts.FirstPodIP, agentOpts.LastPodIP = podNet.first, podNet.last
	}
	agentOpts.Log = c.log.WithName("nodeagent")
	agent, err := nodeagent.New(c.RESTConfig, agentOpts)
	if err != nil {
		return err
	}
	c.Agent = agent
	agentCtx, cancel := context.WithCancel(context.Background())
	c.agentCancel = cancel
	c.agentDone = make(chan struct{})
	go func() {
		defer close(c.agentDone)
		if err := agent.Run(agentCtx); err != nil && agentCtx.Err() == nil {
			c.fail(fmt.Errorf("node agent: %w", err))
		}
	}()
	select {
	case <-agent.Ready():
	case <-c.failed:
		return c.failErr
	case <-ctx.Done():
		return ctx.Err()
	}
	c.log.Info("node registered", "node", opts.NodeName, "after", time.Since(t0).Round(time.Millisecond))
	return nil
}

// images are the node agent's image mappings: the caller's, the operator's, and the
// saas image's tags, built from the application's source.
func (c *Cluster) images(opts Options) (nodeagent.ImageMap, error) {
	images := append(nodeagent.ImageMap{}, opts.Images...)
	if opts.OperatorImage != "" {
		images = append(images, OperatorImages(opts.OperatorImage)...)
	} else {
		images = append(images, DefaultImages(opts.AgentBinary, opts.ManagerBinary)...)
	}
	if opts.SaaSSource == "-" {
		return images, nil
	}
	src := opts.SaaSSource
	if src == "" {
		var err error
		if src, err = FindModuleFile("test/saas"); err != nil {
			return nil, fmt.Errorf("the application's source: %w", err)
		}
	}
	tags, err := BuildSaaSImages(src, filepath.Join(c.Dir, "images", SaaSImage))
	if err != nil {
		return nil, err
	}
	c.SaaSTags = tags
	return append(images, SaaSImages(c.SaaSTags)...), nil
}

// waitReady waits until kube-controller-manager works and the side services are up.
func (c *Cluster) waitReady(ctx context.Context, side *sideServices) error {
	// The ServiceAccount controller creating "default" proves the controller manager works.
	if err := c.waitFor(ctx, "the default ServiceAccount (kube-controller-manager)", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	return side.wait()
}

func (c *Cluster) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.LogDir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	c.logFiles = append(c.logFiles, f)
	return f, nil
}

func (c *Cluster) waitFor(ctx context.Context, what string, cond wait.ConditionWithContextFunc) error {
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-c.failed:
			return false, c.failErr
		default:
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w (logs in %s)", what, err, c.LogDir)
	}
	return nil
}

func (c *Cluster) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		c.log.Error(err, "devcluster component failed")
		close(c.failed)
	})
}

// Failed is closed when a component (kube-controller-manager, the node agent) stops
// unexpectedly; Err then says which.
func (c *Cluster) Failed() <-chan struct{} { return c.failed }

// Err is the reason Failed was closed.
func (c *Cluster) Err() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

func (c *Cluster) startControllerManager(assets string) error {
	certDir := c.env.ControlPlane.APIServer.CertDir
	caFile := filepath.Join(c.Dir, "ca.crt")
	if err := os.WriteFile(caFile, c.env.ControlPlane.APIServer.CA, 0o644); err != nil {
		return err
	}
	logFile, err := c.openLog("kube-controller-manager.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers=*",
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+caFile,
		"--cluster-name=devcluster",
		"--concurrent-job-syncs=5",
		"--v=1",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	c.kcm = cmd
	c.kcmDone = make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(c.kcmDone)
		c.fail(fmt.Errorf("kube-controller-manager exited: %v (see %s)", err, filepath.Join(c.LogDir, "kube-controller-manager.log")))
	}()
	return nil
}

// Stop stops the pods' processes, the node agent, kube-controller-manager,
// kube-apiserver, etcd, PostgreSQL, Redis and S3. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		c.procMu.Lock()
		procs := c.procs
		c.procMu.Unlock()
		for _, p := range procs {
			p.Stop(kcmStopTimeout)
		}
		if c.agentCancel != nil {
			c.agentCancel()
			<-c.agentDone
		}
		if err := c.podNet.teardown(); err != nil {
			errs = append(errs, err)
		}
		if err := c.monitoring.stop(); err != nil {
			errs = append(errs, err)
		}
		if c.kcm != nil {
			c.failOnce.Do(func() { c.failErr = errors.New("stopped"); close(c.failed) })
			_ = syscall.Kill(-c.kcm.Process.Pid, syscall.SIGTERM)
			select {
			case <-c.kcmDone:
			case <-time.After(kcmStopTimeout):
				_ = syscall.Kill(-c.kcm.Process.Pid, syscall.SIGKILL)
				<-c.kcmDone
			}
		}
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop control plane: %w", err))
			}
		}
		if c.Postgres17 != nil {
			if err := c.Postgres17.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Postgres != nil {
			if err := c.Postgres.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop postgres: %w", err))
			}
		}
		if c.Redis != nil {
			if err := c.Redis.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop redis: %w", err))
			}
		}
		if c.S3 != nil {
			if err := c.S3.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop s3: %w", err))
			}
		}
		for _, f := range c.logFiles {
			_ = f.Close()
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// renameContext names the kubeconfig's context "devcluster".
func renameContext(kubeconfig []byte) []byte {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return kubeconfig
	}
	if ctx, ok := cfg.Contexts[cfg.CurrentContext]; ok && cfg.CurrentContext != "devcluster" {
		delete(cfg.Contexts, cfg.CurrentContext)
		cfg.Contexts["devcluster"] = ctx
		cfg.CurrentContext = "devcluster"
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return kubeconfig
	}
	return out
}

// WriteEnvFile writes DIR/env, a shell file that points kubectl at the cluster and
// psql and AWS tools at its PostgreSQL and S3 server (`source DIR/env`), and returns
// its path.
func (c *Cluster) WriteEnvFile() (string, error) {
	var env strings.Builder
	fmt.Fprintf(&env, "export KUBECONFIG=%s\n", c.Kubeconfig)
	if c.Postgres != nil {
		fmt.Fprintf(&env, "export PGHOST=%s PGPORT=%d PGUSER=%s PGPASSWORD=%s PGDATABASE=%s\n",
			c.Postgres.Host, c.Postgres.Port, c.Postgres.User, c.Postgres.Password, DemoDatabase)
	}
	if c.S3 != nil {
		fmt.Fprintf(&env, "export AWS_ENDPOINT_URL_S3=%s AWS_REGION=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n",
			c.S3.Endpoint, c.S3.Region, c.S3.AccessKey, c.S3.SecretKey)
	}
	if c.Redis != nil {
		fmt.Fprintf(&env, "export REDIS_URL=%s\n", c.Redis.URL(0))
	}
	if c.Monitoring != nil {
		fmt.Fprintf(&env, "export PROMETHEUS_URL=%s ALERTMANAGER_URL=%s\n", c.Monitoring.PrometheusURL, c.Monitoring.AlertmanagerURL)
	}
	path := filepath.Join(c.Dir, "env")
	return path, os.WriteFile(path, []byte(env.String()), 0o600)
}
