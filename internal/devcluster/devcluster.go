// Package devcluster runs a small but real Kubernetes on this machine: etcd and
// kube-apiserver (through envtest), kube-controller-manager with every controller, a
// node agent that runs pods of mapped images as host processes (the runbook's Django
// application among them), a PostgreSQL server, Redis and an S3 server (versitygw),
// and a "demo" namespace wired to them. `make demo` and
// the end-to-end tests use it.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// Images adds mappings; they take precedence over the ones above.
	Images nodeagent.ImageMap
	// CRDDirs are installed once the API server is up.
	CRDDirs []string
	// WithoutPostgres, WithoutS3 and WithoutRedis skip those servers (and their demo
	// Secrets).
	WithoutPostgres, WithoutS3, WithoutRedis bool
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
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Postgres   *harness.Postgres
	S3         *harness.S3
	Redis      *Redis
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
		for _, img := range []string{"runbook-operator", "ghcr.io/runbook-operator/runbook-operator", "controller"} {
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
	log := opts.Log
	c := &Cluster{Dir: dir, LogDir: filepath.Join(dir, "logs"), log: log, failed: make(chan struct{})}
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

	// PostgreSQL and S3 start while the control plane does.
	var pgErr, s3Err, redisErr error
	var side sync.WaitGroup
	if !opts.WithoutRedis {
		side.Go(func() { c.Redis, redisErr = StartRedis(ctx, filepath.Join(dir, "redis")) })
	}
	if !opts.WithoutPostgres {
		side.Go(func() { c.Postgres, pgErr = harness.StartPostgres(ctx, harness.PostgresOptions{}) })
	}
	if !opts.WithoutS3 {
		t := os.Getenv("KUBEBUILDER_ASSETS")
		if t == "" {
			_ = os.Setenv("VERSITYGW", filepath.Join(assets, "versitygw"))
		}
		side.Go(func() { c.S3, s3Err = harness.StartS3(ctx, harness.S3Options{}) })
	}
	waitSide := func() error {
		side.Wait()
		return errors.Join(pgErr, s3Err, redisErr)
	}
	defer side.Wait()

	apiLog, err := c.openLog("kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	etcdLog, err := c.openLog("etcd.log")
	if err != nil {
		return nil, err
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     opts.CRDDirs,
		ErrorIfCRDPathMissing: len(opts.CRDDirs) > 0,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Out: apiLog, Err: apiLog, StartTimeout: time.Minute,
				Path: deathSignalWrapper(dir, assets, "kube-apiserver")},
			Etcd: &envtest.Etcd{Out: etcdLog, Err: etcdLog, StartTimeout: time.Minute,
				Path: deathSignalWrapper(dir, assets, "etcd")},
		},
	}
	// blockOwnerDeletion needs `update` on the owner's finalizers, as on OpenShift.
	c.env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	if _, err := c.env.Start(); err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	log.Info("kube-apiserver is up", "after", time.Since(t0).Round(time.Millisecond))

	admin, err := c.env.AddUser(envtest.User{Name: adminUserName, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("create admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfig = renameContext(kubeconfig)
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	c.RESTConfig = rest.CopyConfig(admin.Config())
	c.RESTConfig.QPS, c.RESTConfig.Burst = 100, 200
	if c.Client, err = kubernetes.NewForConfig(c.RESTConfig); err != nil {
		return nil, err
	}

	if err := c.startControllerManager(assets); err != nil {
		return nil, err
	}

	podNet, err := setupPodNetwork()
	if err != nil {
		log.Error(err, "pods get loopback addresses: they run, but EndpointSlices reject these addresses")
	}
	c.podNet = podNet
	c.PodCIDR = podNet.cidr

	images := append(nodeagent.ImageMap{}, opts.Images...)
	images = append(images, DefaultImages(opts.AgentBinary, opts.ManagerBinary)...)
	if opts.SaaSSource != "-" {
		src := opts.SaaSSource
		if src == "" {
			if src, err = FindModuleFile("test/saas"); err != nil {
				return nil, fmt.Errorf("the application's source: %w", err)
			}
		}
		if c.SaaSTags, err = BuildSaaSImages(src, filepath.Join(dir, "images", SaaSImage)); err != nil {
			return nil, err
		}
		images = append(images, SaaSImages(c.SaaSTags)...)
	}
	agentOpts := opts.NodeAgent
	agentOpts.NodeName = opts.NodeName
	agentOpts.Images = images
	agentOpts.StateDir = filepath.Join(dir, "pods")
	if agentOpts.FirstPodIP == "" {
		agentOpts.FirstPodIP, agentOpts.LastPodIP = podNet.first, podNet.last
	}
	agentOpts.Log = log.WithName("nodeagent")
	agent, err := nodeagent.New(c.RESTConfig, agentOpts)
	if err != nil {
		return nil, err
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
		return nil, c.failErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	log.Info("node registered", "node", opts.NodeName, "after", time.Since(t0).Round(time.Millisecond))

	// The ServiceAccount controller creating "default" proves the controller manager works.
	if err := c.waitFor(ctx, "the default ServiceAccount (kube-controller-manager)", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	if err := waitSide(); err != nil {
		return nil, err
	}
	if err := c.setupDemo(ctx); err != nil {
		return nil, fmt.Errorf("set up the demo namespace: %w", err)
	}
	c.StartupDuration = time.Since(t0)
	log.Info("devcluster is ready", "after", c.StartupDuration.Round(time.Millisecond))
	return c, nil
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

func (c *Cluster) setupDemo(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DemoNamespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	endpoints := map[string]string{}
	if c.Postgres != nil {
		conn, err := pgx.Connect(ctx, c.Postgres.DSN("postgres"))
		if err != nil {
			return fmt.Errorf("connect to postgres: %w", err)
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+DemoDatabase)
		_ = conn.Close(ctx)
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("create database %s: %w", DemoDatabase, err)
		}
		if err := c.applySecret(ctx, DemoDBSecret, map[string]string{
			"host":     c.Postgres.Host,
			"port":     fmt.Sprint(c.Postgres.Port),
			"dbname":   DemoDatabase,
			"user":     c.Postgres.User,
			"password": c.Postgres.Password,
			"sslmode":  "disable",
		}); err != nil {
			return err
		}
		endpoints["dbHost"] = c.Postgres.Host
		endpoints["dbPort"] = fmt.Sprint(c.Postgres.Port)
		endpoints["dbName"] = DemoDatabase
	}
	if c.S3 != nil {
		if err := c.S3.CreateBucket(ctx, DemoBucket); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
			return fmt.Errorf("create bucket %s: %w", DemoBucket, err)
		}
		if err := c.applySecret(ctx, DemoS3Secret, map[string]string{
			"AWS_ACCESS_KEY_ID":     c.S3.AccessKey,
			"AWS_SECRET_ACCESS_KEY": c.S3.SecretKey,
		}); err != nil {
			return err
		}
		endpoints["s3Endpoint"] = c.S3.Endpoint
		endpoints["s3Region"] = c.S3.Region
		endpoints["s3Bucket"] = DemoBucket
	}
	if c.Redis != nil {
		if err := c.applySecret(ctx, DemoRedisSecret, map[string]string{
			"REDIS_URL":      c.Redis.URL(0),
			"REDIS_HOST":     c.Redis.Host,
			"REDIS_PORT":     fmt.Sprint(c.Redis.Port),
			"REDIS_PASSWORD": c.Redis.Password,
		}); err != nil {
			return err
		}
		endpoints["redisHost"] = c.Redis.Host
		endpoints["redisPort"] = fmt.Sprint(c.Redis.Port)
	}
	if c.SaaSTags != nil {
		if err := c.createSecretOnce(ctx, DemoAppSecret, SaaSSecrets()); err != nil {
			return err
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: DemoConfigMap, Namespace: DemoNamespace}, Data: endpoints}
	if _, err := c.Client.CoreV1().ConfigMaps(DemoNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func (c *Cluster) applySecret(ctx context.Context, name string, data map[string]string) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DemoNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "devcluster"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: data,
	}
	_, err := c.Client.CoreV1().Secrets(DemoNamespace).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Client.CoreV1().Secrets(DemoNamespace).Update(ctx, s, metav1.UpdateOptions{})
	}
	return err
}

// createSecretOnce creates a Secret unless it exists: generated keys are never
// replaced.
func (c *Cluster) createSecretOnce(ctx context.Context, name string, data map[string]string) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DemoNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "devcluster"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: data,
	}
	_, err := c.Client.CoreV1().Secrets(DemoNamespace).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
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

// ResolveAssets finds the directory with etcd, kube-apiserver and
// kube-controller-manager: dir, else $KUBEBUILDER_ASSETS, else the directory
// hack/test-binaries.sh prints. It fails when a binary is missing there.
func ResolveAssets(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir == "" {
		if script, err := FindModuleFile("hack/test-binaries.sh"); err == nil {
			out, err := exec.Command("bash", script, "--print").Output()
			if err == nil {
				dir = strings.TrimSpace(string(out))
			}
		}
	}
	if dir == "" {
		return "", errors.New("devcluster: no assets directory: set KUBEBUILDER_ASSETS or run hack/test-binaries.sh")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("devcluster: %s missing in %s: build it with hack/test-binaries.sh", b, dir)
		}
	}
	return dir, nil
}

// deathSignalWrapper returns a script that runs the asset with a parent-death
// signal (setpriv --pdeathsig KILL), so etcd and kube-apiserver, which envtest starts
// without one, die with this process even when it is killed without a chance to
// clean up (SIGKILL, a `go test` timeout). Without setpriv it returns the asset itself.
func deathSignalWrapper(dir, assets, name string) string {
	bin := filepath.Join(assets, name)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return bin
	}
	wrapDir := filepath.Join(dir, "wrappers")
	if err := os.MkdirAll(wrapDir, 0o755); err != nil {
		return bin
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s --pdeathsig KILL -- %s \"$@\"\n", setpriv, bin)
	path := filepath.Join(wrapDir, name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return bin
	}
	return path
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

// FindModuleFile walks up from the working directory to find rel.
func FindModuleFile(rel string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s not found above %s", rel, wd)
		}
	}
}

// ModuleRoot is the directory of the go.mod above the working directory.
func ModuleRoot() (string, error) {
	p, err := FindModuleFile("go.mod")
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

// BuildBinaries builds the given main packages (name → import path relative to the
// module root, "./cmd/agent") into outDir with one `go build` and returns their paths.
func BuildBinaries(ctx context.Context, moduleRoot, outDir string, pkgs map[string]string, out io.Writer) (map[string]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for name, pkg := range pkgs {
		bin := filepath.Join(outDir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = moduleRoot
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
		paths[name] = bin
	}
	return paths, nil
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
	path := filepath.Join(c.Dir, "env")
	return path, os.WriteFile(path, []byte(env.String()), 0o600)
}
