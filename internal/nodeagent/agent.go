package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"runbook-operator/internal/imagefs"
)

// Options configure the node agent.
type Options struct {
	// NodeName is the Node the agent registers (default "devcluster").
	NodeName string
	// Images maps images to host programs; containers of other images are not run.
	Images ImageMap
	// StateDir holds per-pod folders: container logs and termination-message files.
	StateDir string
	// HostIP is the node address (default 127.0.0.1).
	HostIP string
	// FirstPodIP and LastPodIP bound the loopback addresses given to pods
	// (default 127.0.0.2 to 127.0.255.254).
	FirstPodIP, LastPodIP string
	// BackoffBase and BackoffMax bound the restart back-off of crashing containers
	// (default 2s and 60s; a kubelet uses 10s and 5m).
	BackoffBase, BackoffMax time.Duration
	// HeartbeatInterval is how often the Node's Lease and Ready condition are renewed
	// (default 10s).
	HeartbeatInterval time.Duration
	// ShutdownGracePeriod caps the grace period given to pod processes when the agent
	// stops (default 5s).
	ShutdownGracePeriod time.Duration
	// ImageCache holds the file systems of unpacked images (ImageMapping.Layout),
	// one per manifest digest, kept across runs (default: StateDir/images).
	ImageCache string
	// APIServer is the API server's URL as pods reach it: containers of images get
	// KUBERNETES_SERVICE_HOST and _PORT pointing at it (there is no kube-proxy).
	APIServer string
	// Log receives the agent's log lines.
	Log logr.Logger
}

func (o *Options) defaults() error {
	if o.NodeName == "" {
		o.NodeName = "devcluster"
	}
	if o.StateDir == "" {
		return errors.New("nodeagent: StateDir is required")
	}
	if o.HostIP == "" {
		o.HostIP = "127.0.0.1"
	}
	if o.FirstPodIP == "" {
		o.FirstPodIP = "127.0.0.2"
	}
	if o.LastPodIP == "" {
		o.LastPodIP = "127.0.255.254"
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = 2 * time.Second
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = time.Minute
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.ShutdownGracePeriod == 0 {
		o.ShutdownGracePeriod = 5 * time.Second
	}
	if o.ImageCache == "" {
		o.ImageCache = filepath.Join(o.StateDir, "images")
	}
	return nil
}

// Agent is the node agent. Create it with New and run it with Run.
type Agent struct {
	opts     Options
	log      logr.Logger
	cs       kubernetes.Interface
	started  metav1.Time
	ips      *ipPool
	recorder record.EventRecorder
	objects  ObjectSource
	pods     corelisters.PodLister
	queue    workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	workers map[types.UID]*podWorker

	ready       chan struct{}
	kubeletPort int32
	images      *imagefs.Store
}

// New creates a node agent for the cluster at cfg.
func New(cfg *rest.Config, opts Options) (*Agent, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	first, err := netip.ParseAddr(opts.FirstPodIP)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: FirstPodIP: %w", err)
	}
	last, err := netip.ParseAddr(opts.LastPodIP)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: LastPodIP: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "devcluster-nodeagent/" + opts.NodeName
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, err
	}
	return &Agent{
		opts:    opts,
		log:     opts.Log,
		cs:      cs,
		started: metav1.Now().Rfc3339Copy(),
		ips:     newIPPool(first, last),
		objects: apiObjects{cs},
		workers: map[types.UID]*podWorker{},
		ready:   make(chan struct{}),
		images:  &imagefs.Store{Dir: opts.ImageCache},
	}, nil
}

// kubernetesEnv are KUBERNETES_SERVICE_HOST and _PORT for Options.APIServer.
func (a *Agent) kubernetesEnv() []EnvVar {
	u, err := url.Parse(a.opts.APIServer)
	if err != nil || u.Host == "" {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return KubernetesEnv(u.Hostname(), port)
}

// Ready is closed once the Node is registered and pods are being watched.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// NodeName is the name of the agent's Node.
func (a *Agent) NodeName() string { return a.opts.NodeName }

// Run registers the node and runs pods until ctx is done; then it stops every pod
// process (SIGTERM, SIGKILL after the shutdown grace period) and returns.
func (a *Agent) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.opts.NodeName})

	port, err := a.serveKubeletAPI(ctx)
	if err != nil {
		return fmt.Errorf("nodeagent: serve the kubelet API: %w", err)
	}
	a.kubeletPort = int32(port) //nolint:gosec // G115: a TCP port fits
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	hbCtx, hbCancel := context.WithCancel(ctx)
	defer hbCancel()
	go a.heartbeatLoop(hbCtx)

	factory := informers.NewSharedInformerFactory(a.cs, 0)
	podInformer := factory.Core().V1().Pods()
	a.pods = podInformer.Lister()
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeagent"})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("nodeagent: cache for %v did not sync", typ)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	close(a.ready)
	a.log.Info("node agent ready", "node", a.opts.NodeName)
	<-ctx.Done()
	a.queue.ShutDown()
	wg.Wait()
	factory.Shutdown()
	a.stopAll()
	return nil
}

// stopAll stops every pod process and waits for them.
func (a *Agent) stopAll() {
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.stop(a.opts.ShutdownGracePeriod)
	}
	for _, w := range workers {
		<-w.done
	}
}

func (a *Agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	if err := a.sync(ctx, key); err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			a.log.Error(err, "sync pod", "pod", key)
		}
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

func (a *Agent) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil //nolint:nilerr // a malformed key is dropped: retrying cannot mend it
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		a.forgetKey(key, "")
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp != nil {
			return nil
		}
		return a.bind(ctx, pod)
	}
	if pod.Spec.NodeName != a.opts.NodeName {
		return nil
	}
	// A pod recreated under the same name (new UID) replaces the old one.
	a.forgetKey(key, pod.UID)

	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed

	if pod.DeletionTimestamp != nil {
		if w != nil {
			grace := 30 * time.Second
			if pod.DeletionGracePeriodSeconds != nil {
				grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
			}
			if !w.stopping() {
				a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping containers (grace period %s)", grace)
			}
			w.stop(grace)
			select {
			case <-w.done:
			default:
				return nil // the worker re-queues the pod when its processes are gone
			}
			if err := a.writeStatus(ctx, pod, w); err != nil && !apierrors.IsNotFound(err) {
				a.log.V(1).Info("final status before deletion", "pod", key, "error", err.Error())
			}
		}
		err := a.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To(int64(0)),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete pod: %w", err)
		}
		if w != nil {
			a.removeWorker(w)
		}
		return nil
	}

	if w == nil {
		if terminal {
			return nil // finished before this agent started; nothing to run
		}
		w, err = a.startWorker(pod, key)
		if err != nil {
			return err
		}
	}
	w.setPod(pod)
	return a.writeStatus(ctx, pod, w)
}

// writeStatus reports the worker's view of the pod through the status subresource
// when it differs from what the API server has.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, w *podWorker) error {
	status := BuildStatus(pod, w.snapshot(), time.Now().Truncate(time.Second))
	if statusEqual(status, pod.Status) {
		return nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil // terminal phases never change
	}
	updated := pod.DeepCopy()
	updated.Status = status
	_, err := a.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err == nil {
		a.log.V(1).Info("pod status", "pod", pod.Namespace+"/"+pod.Name, "phase", status.Phase)
	}
	return err
}

// statusEqual compares ignoring observedGeneration, which the API server drops when
// its feature gate is off.
func statusEqual(a, b corev1.PodStatus) bool {
	norm := func(s corev1.PodStatus) corev1.PodStatus {
		s = *s.DeepCopy()
		s.ObservedGeneration = 0
		for i := range s.Conditions {
			s.Conditions[i].ObservedGeneration = 0
		}
		return s
	}
	return equality.Semantic.DeepEqual(norm(a), norm(b))
}

func (a *Agent) bind(ctx context.Context, pod *corev1.Pod) error {
	err := a.cs.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.opts.NodeName},
	}, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // bound already, or gone
		}
		return fmt.Errorf("bind pod: %w", err)
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, a.opts.NodeName)
	return nil
}

func (a *Agent) startWorker(pod *corev1.Pod, key string) (*podWorker, error) {
	ip := a.opts.HostIP
	if !pod.Spec.HostNetwork {
		var err error
		if ip, err = a.ips.Allocate(); err != nil {
			return nil, err
		}
	}
	uid := string(pod.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	dir := filepath.Join(a.opts.StateDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, uid))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		a.ips.Release(ip)
		return nil, err
	}
	w := newPodWorker(a, pod, key, ip, dir)
	a.mu.Lock()
	a.workers[pod.UID] = w
	a.mu.Unlock()
	go w.loop()
	return w, nil
}

// forgetKey stops and drops workers of key whose UID is not keep.
func (a *Agent) forgetKey(key string, keep types.UID) {
	a.mu.Lock()
	var stale []*podWorker
	for uid, w := range a.workers {
		if w.key == key && uid != keep {
			stale = append(stale, w)
		}
	}
	a.mu.Unlock()
	for _, w := range stale {
		w.stop(0)
		go func() {
			<-w.done
			a.removeWorker(w)
		}()
	}
}

func (a *Agent) removeWorker(w *podWorker) {
	a.mu.Lock()
	if a.workers[w.uid] == w {
		delete(a.workers, w.uid)
		if w.ip != a.opts.HostIP {
			a.ips.Release(w.ip)
		}
	}
	a.mu.Unlock()
}

// notify asks for the pod's status to be reported again.
func (a *Agent) notify(key string) {
	if a.queue != nil && !a.queue.ShuttingDown() {
		a.queue.Add(key)
	}
}

type apiObjects struct{ cs kubernetes.Interface }

func (o apiObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return o.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o apiObjects) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return o.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}
