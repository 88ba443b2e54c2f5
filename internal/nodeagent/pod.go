package nodeagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TerminationLogEnv names the environment variable that holds the host file standing
// in for the container's terminationMessagePath. Occurrences of terminationMessagePath
// (default /dev/termination-log) in the command, args and env values are rewritten to
// that file as well, so a program that takes the path as a flag needs no change.
const TerminationLogEnv = "RUNBOOK_TERMINATION_LOG"

const maxTerminationMessage = 4096

// podWorker runs the containers of one pod.
type podWorker struct {
	a   *Agent
	key string
	uid types.UID
	ip  string
	dir string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	pod       *corev1.Pod
	run       PodRun
	grace     time.Duration
	isStopped bool
	notRun    map[string]bool
}

func newPodWorker(a *Agent, pod *corev1.Pod, key, ip, dir string) *podWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWorker{
		a: a, key: key, uid: pod.UID, ip: ip, dir: dir,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		pod:    pod,
		notRun: map[string]bool{},
	}
	now := time.Now().Truncate(time.Second)
	w.run = PodRun{PodIP: ip, HostIP: a.opts.HostIP, StartTime: now}
	for _, c := range pod.Spec.InitContainers {
		w.run.Init = append(w.run.Init, ContainerRun{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}})
	}
	for _, c := range pod.Spec.Containers {
		reason := "ContainerCreating"
		if len(pod.Spec.InitContainers) > 0 {
			reason = "PodInitializing"
		}
		w.run.Containers = append(w.run.Containers, ContainerRun{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}})
	}
	w.run.InitDone = len(pod.Spec.InitContainers) == 0
	return w
}

func (w *podWorker) setPod(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
}

func (w *podWorker) currentPod() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) snapshot() PodRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.run
	r.Init = append([]ContainerRun(nil), w.run.Init...)
	r.Containers = append([]ContainerRun(nil), w.run.Containers...)
	return r
}

func (w *podWorker) update(f func(r *PodRun)) {
	w.mu.Lock()
	f(&w.run)
	w.mu.Unlock()
	w.a.notify(w.key)
}

func (w *podWorker) updateContainer(init bool, idx int, f func(c *ContainerRun)) {
	w.update(func(r *PodRun) {
		if init {
			f(&r.Init[idx])
		} else {
			f(&r.Containers[idx])
		}
	})
}

// stop asks every container to stop within grace (a shorter grace given later wins).
func (w *podWorker) stop(grace time.Duration) {
	w.mu.Lock()
	if !w.isStopped || grace < w.grace {
		w.grace = grace
	}
	w.isStopped = true
	w.mu.Unlock()
	w.cancel()
}

func (w *podWorker) stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.isStopped
}

func (w *podWorker) gracePeriod() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.grace
}

func (w *podWorker) event(typ, reason, format string, args ...any) {
	w.a.recorder.Eventf(w.currentPod(), typ, reason, format, args...)
}

func (w *podWorker) loop() {
	defer func() {
		close(w.done)
		w.a.notify(w.key)
	}()
	pod := w.currentPod()
	policy := pod.Spec.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	w.a.notify(w.key)
	for i, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A sidecar: started in order, kept running beside the main containers.
			wg.Go(func() { w.runContainer(true, i, c, corev1.RestartPolicyAlways) })
			continue
		}
		initPolicy := corev1.RestartPolicyOnFailure
		if policy == corev1.RestartPolicyNever {
			initPolicy = corev1.RestartPolicyNever
		}
		if ok := w.runContainer(true, i, c, initPolicy); !ok {
			return
		}
	}
	w.update(func(r *PodRun) {
		r.InitDone = true
		for i := range r.Containers {
			if r.Containers[i].State.Waiting != nil && r.Containers[i].State.Waiting.Reason == "PodInitializing" {
				r.Containers[i].State.Waiting.Reason = "ContainerCreating"
			}
		}
	})
	for i, c := range pod.Spec.Containers {
		wg.Go(func() { w.runContainer(false, i, c, policy) })
	}
}

// runContainer runs one container until it will not be restarted any more or the pod
// stops. It reports whether the container completed successfully.
func (w *podWorker) runContainer(init bool, idx int, c corev1.Container, policy corev1.RestartPolicy) bool {
	ctx := w.ctx
	mapping, mapped := w.a.opts.Images.Lookup(c.Image)
	if !mapped {
		return w.runUnmapped(init, idx, c)
	}
	backoff := w.a.opts.BackoffBase
	cdir := filepath.Join(w.dir, c.Name)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return false
	}
	for {
		if ctx.Err() != nil {
			return false
		}
		term, ran := w.runOnce(ctx, init, idx, c, mapping, cdir)
		if term == nil { // configuration error: reported as waiting, retried
			select {
			case <-ctx.Done():
				return false
			case <-time.After(2 * time.Second):
				continue
			}
		}
		if ctx.Err() != nil {
			w.updateContainer(init, idx, func(cr *ContainerRun) {
				cr.State = corev1.ContainerState{Terminated: term}
				cr.Ready = false
			})
			return term.ExitCode == 0
		}
		restart := policy == corev1.RestartPolicyAlways ||
			(policy == corev1.RestartPolicyOnFailure && term.ExitCode != 0)
		if !restart {
			w.updateContainer(init, idx, func(cr *ContainerRun) {
				cr.State = corev1.ContainerState{Terminated: term}
				cr.Ready = false
				cr.Final = true
			})
			return term.ExitCode == 0
		}
		if ran > 10*time.Minute {
			backoff = w.a.opts.BackoffBase
		}
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", backoff, c.Name, w.currentPod().Name, w.currentPod().Namespace, w.uid)
		w.updateContainer(init, idx, func(cr *ContainerRun) {
			cr.LastState = corev1.ContainerState{Terminated: term}
			cr.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
			cr.Ready = false
		})
		w.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, w.currentPod().Name)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.a.opts.BackoffMax)
		w.updateContainer(init, idx, func(cr *ContainerRun) { cr.RestartCount++ })
	}
}

func (w *podWorker) runUnmapped(init bool, idx int, c corev1.Container) bool {
	w.event(corev1.EventTypeNormal, "NotRun",
		"Image %q of container %s is not mapped to a local program: the devcluster node agent reports it %s without running anything",
		c.Image, c.Name, map[bool]string{true: "Completed", false: "Running and Ready"}[init])
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	id := fmt.Sprintf("devcluster://not-run/%s/%s", w.uid, c.Name)
	if init {
		w.updateContainer(init, idx, func(cr *ContainerRun) {
			cr.ContainerID = id
			cr.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", Message: "not run: image not mapped to a local program",
				StartedAt: now, FinishedAt: now, ContainerID: id}}
			cr.Final = true
		})
		return true
	}
	w.updateContainer(init, idx, func(cr *ContainerRun) {
		cr.ContainerID = id
		cr.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		cr.Ready = true
	})
	<-w.ctx.Done()
	return true
}

// runOnce starts the container's process and waits for it. It returns nil when the
// container could not be configured (missing Secret, ...), which is retried.
func (w *podWorker) runOnce(ctx context.Context, init bool, idx int, c corev1.Container, mapping ImageMapping, cdir string) (*corev1.ContainerStateTerminated, time.Duration) {
	pod := w.currentPod()
	info := RuntimeInfo{PodIP: w.ip, HostIP: w.a.opts.HostIP, NodeName: w.a.opts.NodeName, Allocatable: w.a.nodeCapacity()}
	env, err := ResolveEnv(ctx, pod, &c, w.a.objects, info)
	if err != nil {
		if w.setWaiting(init, idx, "CreateContainerConfigError", err.Error()) {
			w.event(corev1.EventTypeWarning, "Failed", "Error: %s", err.Error())
		}
		return nil, 0
	}
	termPath := filepath.Join(cdir, "termination-log")
	logPath := filepath.Join(w.dir, c.Name+".log")
	start := metav1.NewTime(time.Now().Truncate(time.Second))
	startErr := func(err error) *corev1.ContainerStateTerminated {
		w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: start, FinishedAt: start}
	}
	mapping, root, err := mapping.ForImage(c.Image)
	var pullErr *ErrImagePull
	if errors.As(err, &pullErr) {
		if w.setWaiting(init, idx, "ErrImagePull", err.Error()) {
			w.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, err.Error())
		}
		return nil, 0
	}
	full := ContainerEnv(pod, &c, env, EnvContext{PodIP: w.ip, PodDir: w.dir, TerminationLog: termPath, Path: mapping.PathDirs(root)})
	argv, err := mapping.Argv(c.Command, c.Args, exec.LookPath)
	if err != nil {
		return startErr(err), 0
	}
	argv = RewritePath(ExpandAll(argv, env), terminationMessagePath(&c), termPath)
	for i := range argv {
		argv[i] = mapping.InImage(argv[i], root)
	}
	if err := os.WriteFile(termPath, nil, 0o666); err != nil {
		return startErr(err), 0
	}
	// The previous run's output stays available to `kubectl logs --previous`.
	if _, err := os.Stat(logPath); err == nil {
		_ = os.Rename(logPath, filepath.Join(w.dir, c.Name+".previous.log"))
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return startErr(err), 0
	}
	defer func() { _ = logFile.Close() }()
	workDir := cdir
	if root != "" {
		workDir = root
	}
	if c.WorkingDir != "" {
		if wd := mapping.InImage(c.WorkingDir, root); wd != c.WorkingDir {
			workDir = wd
		} else if fi, err := os.Stat(c.WorkingDir); err == nil && fi.IsDir() {
			workDir = c.WorkingDir
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = full
	cmd.Dir = workDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return startErr(err), 0
	}
	started := time.Now()
	pid := cmd.Process.Pid
	id := fmt.Sprintf("devcluster://%d", pid)
	w.a.log.V(1).Info("container started", "pod", w.key, "container", c.Name, "pid", pid, "argv", argv[0])
	w.updateContainer(init, idx, func(cr *ContainerRun) {
		cr.ContainerID = id
		cr.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}
		cr.Ready = !init && c.ReadinessProbe == nil && c.StartupProbe == nil
	})
	w.event(corev1.EventTypeNormal, "Started", "Started container %s as host process %d (%s); output in %s", c.Name, pid, argv[0], logPath)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	probeCtx, stopProbes := context.WithCancel(ctx)
	killed := make(chan string, 1)
	kill := func(reason string) {
		select {
		case killed <- reason:
		default:
		}
	}
	if !init {
		go w.probe(probeCtx, idx, c, full, mapping, kill)
	}

	var waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		waitErr = terminate(pid, w.gracePeriod(), exited)
	case reason := <-killed:
		w.event(corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", c.Name, reason)
		waitErr = terminate(pid, podGrace(pod), exited)
	}
	stopProbes()
	_ = syscall.Kill(-pid, syscall.SIGKILL) // whatever the container left behind in its group
	finished := metav1.NewTime(time.Now().Truncate(time.Second))

	code := exitCode(waitErr)
	term := &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: start, FinishedAt: finished, ContainerID: id, Reason: "Completed"}
	if code != 0 {
		term.Reason = "Error"
	}
	term.Message = readTerminationMessage(termPath, logPath, code, c.TerminationMessagePolicy)
	w.a.log.V(1).Info("container exited", "pod", w.key, "container", c.Name, "exitCode", code)
	return term, time.Since(started)
}

// setWaiting reports the container waiting for reason and says whether that changed
// its message (an Event is then due). The Event is sent by the caller, outside the
// worker's lock, which sending it takes.
func (w *podWorker) setWaiting(init bool, idx int, reason, msg string) bool {
	changed := false
	w.updateContainer(init, idx, func(cr *ContainerRun) {
		changed = cr.State.Waiting == nil || cr.State.Waiting.Message != msg
		cr.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	})
	return changed
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace.
func terminate(pid int, grace time.Duration, exited <-chan error) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	if grace <= 0 {
		grace = 0
	}
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return <-exited
}

func podGrace(pod *corev1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func exitCode(err error) int32 {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return 128 + int32(ws.Signal())
			}
			return int32(ws.ExitStatus())
		}
	}
	return 128
}

func terminationMessagePath(c *corev1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return corev1.TerminationMessagePathDefault
}

// readTerminationMessage returns the termination message (at most 4 KiB), falling back
// to the tail of this run's output for FallbackToLogsOnError.
func readTerminationMessage(termPath, logPath string, code int32, policy corev1.TerminationMessagePolicy) string {
	data, _ := os.ReadFile(termPath)
	if len(data) > maxTerminationMessage {
		data = data[:maxTerminationMessage]
	}
	if len(data) == 0 && code != 0 && policy == corev1.TerminationMessageFallbackToLogsOnError {
		logs, _ := os.ReadFile(logPath)
		data = TailLines(logs, 80, 2048)
	}
	return string(data)
}

// TailLines returns at most the last n lines and max bytes of b.
func TailLines(b []byte, n, maxBytes int) []byte {
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	s := strings.TrimRight(string(b), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return []byte(strings.Join(lines, "\n"))
}

// EnvContext is what ContainerEnv adds to a container's own environment.
type EnvContext struct {
	PodIP          string
	PodDir         string
	TerminationLog string
	// Path are folders put before the host PATH (the image's own, ImageMapping.Path).
	Path []string
}

// ContainerEnv returns the full process environment: PATH (the image's folders, then
// the host's), the variables the node agent provides (HOSTNAME, POD_IP, POD_NAME,
// POD_NAMESPACE, HOME and TMPDIR in the pod folder, RUNBOOK_TERMINATION_LOG, RUNBOOK_IMAGE, RUNBOOK_IMAGE_TAG), then the
// container's resolved env, which wins. Values naming the terminationMessagePath are
// rewritten to the host file.
func ContainerEnv(pod *corev1.Pod, c *corev1.Container, env []EnvVar, ec EnvContext) []string {
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	path = strings.Join(append(slices.Clone(ec.Path), path), string(os.PathListSeparator))
	vars := []EnvVar{
		{"PATH", path},
		{"HOSTNAME", hostname},
		{"HOME", ec.PodDir},
		{"TMPDIR", ec.PodDir},
		{"POD_IP", ec.PodIP},
		{"POD_NAME", pod.Name},
		{"POD_NAMESPACE", pod.Namespace},
		{TerminationLogEnv, ec.TerminationLog},
		{"RUNBOOK_IMAGE", c.Image},
		{"RUNBOOK_IMAGE_TAG", Tag(c.Image)},
	}
	vars = append(vars, env...)
	seen := map[string]int{}
	var out []string
	tpath := terminationMessagePath(c)
	for _, v := range vars {
		val := v.Value
		if ec.TerminationLog != "" {
			val = strings.ReplaceAll(val, tpath, ec.TerminationLog)
		}
		kv := v.Name + "=" + val
		if i, ok := seen[v.Name]; ok {
			out[i] = kv
			continue
		}
		seen[v.Name] = len(out)
		out = append(out, kv)
	}
	return out
}

// RewritePath replaces every occurrence of from in args by to.
func RewritePath(args []string, from, to string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, from, to)
	}
	return out
}

// probe runs the startup, liveness and readiness probes of a running container.
func (w *podWorker) probe(ctx context.Context, idx int, c corev1.Container, env []string, mapping ImageMapping, kill func(string)) {
	setReady := func(ready bool) {
		w.updateContainer(false, idx, func(cr *ContainerRun) { cr.Ready = ready })
	}
	if c.StartupProbe != nil {
		ok := w.probeLoop(ctx, c.StartupProbe, c, env, mapping, false, true)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			w.event(corev1.EventTypeWarning, "Unhealthy", "Startup probe failed for container %s", c.Name)
			kill("failed startup probe")
			return
		}
	}
	if c.LivenessProbe != nil {
		go func() {
			if !w.probeLoop(ctx, c.LivenessProbe, c, env, mapping, true, false) && ctx.Err() == nil {
				w.event(corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed for container %s", c.Name)
				kill("failed liveness probe")
			}
		}()
	}
	if c.ReadinessProbe == nil {
		setReady(true)
		return
	}
	p := c.ReadinessProbe
	period, timeout, succT, failT := probeTimings(p)
	ready, succ, fail := false, 0, 0
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return
	}
	for {
		err := w.doProbe(ctx, p.ProbeHandler, c, env, mapping, timeout)
		if err == nil {
			succ, fail = succ+1, 0
			if !ready && succ >= succT {
				ready = true
				setReady(true)
			}
		} else {
			succ, fail = 0, fail+1
			if ready && fail >= failT {
				ready = false
				setReady(false)
				w.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %v", err)
			}
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

// probeLoop probes until the result settles. With untilFailure it returns false after
// failureThreshold consecutive failures (liveness); otherwise it returns true after
// successThreshold consecutive successes or false after failureThreshold failures
// (startup).
func (w *podWorker) probeLoop(ctx context.Context, p *corev1.Probe, c corev1.Container, env []string, mapping ImageMapping, untilFailure, _ bool) bool {
	period, timeout, succT, failT := probeTimings(p)
	if untilFailure {
		succT = 1
	}
	succ, fail := 0, 0
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return false
	}
	for {
		if err := w.doProbe(ctx, p.ProbeHandler, c, env, mapping, timeout); err == nil {
			succ, fail = succ+1, 0
			if !untilFailure && succ >= succT {
				return true
			}
		} else {
			succ, fail = 0, fail+1
			if fail >= failT {
				return false
			}
		}
		if !sleepCtx(ctx, period) {
			return false
		}
	}
}

func probeTimings(p *corev1.Probe) (period, timeout time.Duration, succ, fail int) {
	period, timeout, succ, fail = 10*time.Second, time.Second, 1, 3
	if p.PeriodSeconds > 0 {
		period = time.Duration(p.PeriodSeconds) * time.Second
	}
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	if p.SuccessThreshold > 0 {
		succ = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		fail = int(p.FailureThreshold)
	}
	return
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

var probeClient = &http.Client{
	Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}, //nolint:gosec // probes skip verification like the kubelet
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// doProbe runs one probe. httpGet succeeds on 200-399, tcpSocket and grpc on a TCP
// connection, exec on exit code 0 (the command runs on the host when it maps to one;
// otherwise it counts as success).
func (w *podWorker) doProbe(ctx context.Context, h corev1.ProbeHandler, c corev1.Container, env []string, mapping ImageMapping, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.HTTPGet != nil:
		g := h.HTTPGet
		port, err := ResolvePort(g.Port, &c)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = w.ip
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, hd := range g.HTTPHeaders {
			if strings.EqualFold(hd.Name, "host") {
				req.Host = hd.Value
				continue
			}
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10240))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil, h.GRPC != nil:
		var port int
		var err error
		host := w.ip
		if h.TCPSocket != nil {
			port, err = ResolvePort(h.TCPSocket.Port, &c)
			if h.TCPSocket.Host != "" {
				host = h.TCPSocket.Host
			}
		} else {
			port = int(h.GRPC.Port)
		}
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.Exec != nil:
		argv, err := mapping.Argv(h.Exec.Command[:1], h.Exec.Command[1:], exec.LookPath)
		if err != nil {
			return nil
		}
		dir := w.dir
		if _, root, err := mapping.ForImage(c.Image); err == nil && root != "" {
			dir = root // the image's working directory, as for the container
			for i := range argv {
				argv[i] = mapping.InImage(argv[i], root)
			}
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Dir = dir
		return cmd.Run()
	}
	return nil
}

// ResolvePort turns a probe port (number or container port name) into a number.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}
