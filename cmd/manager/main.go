/*
Copyright 2026 The runbook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command manager runs the runbook-operator controllers.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"k8s.io/apimachinery/pkg/types"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
	"runbook-operator/internal/controller"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(opsv1alpha1.AddToScheme(scheme))
}

// defaultAgentImage is the image built from this repository's Dockerfile.
const defaultAgentImage = "ghcr.io/runbook-operator/runbook-operator:latest"

func main() {
	var (
		metricsAddr, probeAddr     string
		secureMetrics, enableHTTP2 bool
		enableLeaderElection       bool
		leaderElectionNamespace    string
		watchNamespaces            string
		cfg                        controller.Config
		alerts                     alertFlags
		api                        apiFlags
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"Address of the metrics endpoint: :8443 for HTTPS, :8080 for HTTP, 0 to disable.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one of several manager replicas reconciles.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease (default: the manager's namespace).")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off because of the HTTP/2 rapid reset CVEs).")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces to watch (default: all namespaces).")
	flag.StringVar(&cfg.AgentImage, "agent-image", envOr("AGENT_IMAGE", defaultAgentImage),
		"Image of the Jobs that run the agent (backup, restore, verify); env AGENT_IMAGE.")
	flag.StringVar(&cfg.AgentServiceAccount, "agent-service-account", "",
		"ServiceAccount of agent Jobs, e.g. one annotated for IRSA (default: the namespace's default).")
	flag.DurationVar(&cfg.ProgressInterval, "progress-interval", controller.DefaultProgressInterval,
		"How often a running backup's or restore's status.progress is refreshed from its pod's log.")
	flag.DurationVar(&cfg.ProgressStallAfter, "progress-stall-after", controller.DefaultProgressStallAfter,
		"A progress that has not moved for longer is reported as such in the Reconciling message.")
	flag.StringVar(&cfg.IncidentTimeZone, "incident-time-zone", "UTC",
		"IANA time zone a P3 Incident's next business day (09:00) is counted in when its spec.responseClock.timeZone is empty.")
	flag.IntVar(&cfg.IncidentConcurrency, "incident-concurrency", controller.DefaultIncidentConcurrency,
		"How many Incidents are reconciled at once.")
	api.bind(flag.CommandLine)
	alerts.bind(flag.CommandLine)
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	metricsOpts := metricsOptions(metricsAddr, secureMetrics, enableHTTP2)
	cacheOpts := cacheOptions(watchNamespaces)

	if cfg.IncidentConcurrency < 1 {
		setupLog.Error(fmt.Errorf("--incident-concurrency %d: want 1 or more", cfg.IncidentConcurrency), "invalid flag")
		os.Exit(1)
	}
	restConfig, err := api.restConfig()
	if err != nil {
		setupLog.Error(err, "invalid client rate limit")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                enableLeaderElection,
		LeaderElectionID:              "runbook-operator.ops.runbook.dev",
		LeaderElectionNamespace:       leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}
	if err := controller.SetupWithManager(mgr, cfg); err != nil {
		setupLog.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if err := alerts.add(mgr); err != nil {
		setupLog.Error(err, "unable to set up the alert receiver")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager", "agentImage", cfg.AgentImage, "watchNamespaces", watchNamespaces)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}

// alertFlags are the flags of the Alertmanager webhook receiver (off by default).
type alertFlags struct {
	addr, secret, key, severity string
	notify                      string
	opts                        alertreceiver.Options
}

func (f *alertFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "alert-receiver-bind-address", "0",
		"Address of the Alertmanager webhook receiver (path "+alertreceiver.Path+"), e.g. :9093; 0 to disable.")
	fs.StringVar(&f.secret, "alert-receiver-token-secret", "",
		"namespace/name of the Secret holding the receiver's bearer token (required with the receiver).")
	fs.StringVar(&f.key, "alert-receiver-token-key", alertreceiver.DefaultTokenKey, "Key of the token in that Secret.")
	fs.StringVar(&f.opts.ReleaseLabel, "alert-receiver-release-label", alertreceiver.DefaultReleaseLabel,
		"Alert label naming the Release an alert-opened Incident refers to (empty: none).")
	fs.StringVar(&f.opts.DefaultNamespace, "alert-receiver-default-namespace", "",
		"Namespace of an alert group without a common namespace label (empty: such notifications are refused with 400).")
	fs.StringVar(&f.severity, "alert-receiver-default-severity", "P2",
		"Severity of an alert-opened Incident when no alert has a known severity label (P0-P3).")
	fs.StringVar(&f.notify, "alert-receiver-notify", "",
		"TYPE:SECRET/KEY: every alert-opened Incident notifies a notifier of TYPE (Slack, PagerDuty, Webhook) whose URL is under KEY of the Secret SECRET in the Incident's namespace (empty: none).")
}

// add adds the receiver to mgr when its address is set.
func (f *alertFlags) add(mgr ctrl.Manager) error {
	if f.addr == "" || f.addr == "0" {
		return nil
	}
	ns, name, ok := strings.Cut(f.secret, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--alert-receiver-token-secret %q: want namespace/name of the Secret holding the bearer token", f.secret)
	}
	sev, ok := alertreceiver.Severity(f.severity)
	if !ok {
		return fmt.Errorf("--alert-receiver-default-severity %q: want P0, P1, P2 or P3", f.severity)
	}
	opts := f.opts
	opts.DefaultSeverity = sev
	n, err := alertreceiver.ParseNotifier(f.notify)
	if err != nil {
		return fmt.Errorf("--alert-receiver-notify %w", err)
	}
	opts.Notifier = n
	return mgr.Add(&alertreceiver.Receiver{Addr: f.addr, Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		TokenSecret: types.NamespacedName{Namespace: ns, Name: name}, TokenKey: f.key, Options: opts,
		Log: ctrl.Log.WithName("alert-receiver")})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitNamespaces(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// apiFlags are the manager's client-side limits on its API requests.
type apiFlags struct {
	qps   float64
	burst int
}

func (a *apiFlags) bind(fs *flag.FlagSet) {
	fs.Float64Var(&a.qps, "kube-api-qps", float64(controller.DefaultAPIQPS),
		"Client-side limit of the manager's API requests per second, per client and resource; -1: none, the API server's Priority and Fairness queues them.")
	fs.IntVar(&a.burst, "kube-api-burst", 0, "Burst above --kube-api-qps when that is positive (0: twice the rate).")
}

// restConfig is the kubeconfig's (or the in-cluster) config with these limits.
func (a *apiFlags) restConfig() (*rest.Config, error) {
	c := ctrl.GetConfigOrDie()
	return c, controller.APIRateLimits(c, float32(a.qps), a.burst)
}

// metricsOptions serves metrics at addr, over HTTPS with authentication and
// authorization when secure, and HTTP/1.1 only unless http2.
func metricsOptions(addr string, secure, http2 bool) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !http2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	o := metricsserver.Options{BindAddress: addr, SecureServing: secure, TLSOpts: tlsOpts}
	if secure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}

// cacheOptions watches the comma-separated namespaces (all when empty) and caches
// only the Secrets a SecretRotation manages (label selector).
func cacheOptions(watchNamespaces string) cache.Options {
	o := cache.Options{ByObject: controller.ManagedSecretsCache()}
	if ns := splitNamespaces(watchNamespaces); len(ns) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			o.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return o
}
