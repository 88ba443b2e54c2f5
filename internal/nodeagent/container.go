package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const maxTerminationMessage = 4096

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
	if err := os.MkdirAll(cdir, 0o750); err != nil {
		w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return false
	}
	for {
		if ctx.Err() != nil {
			return false
		}
		term, ran, pullErr := w.runOnce(ctx, init, idx, c, mapping, cdir)
		if pullErr != nil {
			w.pullBackOff(init, idx, c, pullErr, backoff)
			select {
			case <-ctx.Done():
				return false
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, w.a.opts.BackoffMax)
			continue
		}
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
func (w *podWorker) runOnce(ctx context.Context, init bool, idx int, c corev1.Container, mapping ImageMapping, cdir string) (*corev1.ContainerStateTerminated, time.Duration, error) {
	proc, failed, pullErr := w.prepare(ctx, init, idx, c, mapping, cdir)
	if proc == nil {
		return failed, 0, pullErr
	}
	defer func() { _ = proc.logFile.Close() }()
	if err := proc.cmd.Start(); err != nil {
		return w.startError(err, proc.start), 0, nil
	}
	term, ran := w.wait(ctx, init, idx, c, proc)
	return term, ran, nil
}

// process is a container's process, prepared to start.
type process struct {
	cmd      *exec.Cmd
	argv     []string
	env      []string // the full environment, which exec probes share
	mapping  ImageMapping
	termPath string
	logPath  string
	logFile  *os.File
	start    metav1.Time
	// jail is set for a container running from an unpacked image.
	jail *jailed
	// image is the unpacked image's digest, for the Started event.
	image string
}

// prepare resolves the container's environment and argv, creates its termination
// log and log file, and picks its working directory. It returns a nil process with a
// nil state when the container could not be configured (reported as waiting, retried),
// and a nil process with a terminated state when it cannot start.
func (w *podWorker) prepare(ctx context.Context, init bool, idx int, c corev1.Container, mapping ImageMapping, cdir string) (*process, *corev1.ContainerStateTerminated, error) {
	pod := w.currentPod()
	info := RuntimeInfo{PodIP: w.ip, HostIP: w.a.opts.HostIP, NodeName: w.a.opts.NodeName, Allocatable: w.a.nodeCapacity()}
	env, err := ResolveEnv(ctx, pod, &c, w.a.objects, info)
	if err != nil {
		if w.setWaiting(init, idx, "CreateContainerConfigError", err.Error()) {
			w.event(corev1.EventTypeWarning, "Failed", "Error: %s", err.Error())
		}
		return nil, nil, nil
	}
	p := &process{
		termPath: filepath.Join(cdir, "termination-log"),
		logPath:  filepath.Join(w.dir, c.Name+".log"),
		start:    metav1.NewTime(time.Now().Truncate(time.Second)),
	}
	if mapping.Layout != "" {
		return w.prepareFromImage(ctx, init, idx, c, mapping, env, p, cdir)
	}
	mapping, root, err := mapping.ForImage(c.Image)
	var pullErr *ErrImagePull
	if errors.As(err, &pullErr) {
		if w.setWaiting(init, idx, "ErrImagePull", err.Error()) {
			w.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, err.Error())
		}
		return nil, nil, nil
	}
	p.mapping = mapping
	p.env = ContainerEnv(pod, &c, env, EnvContext{PodIP: w.ip, PodDir: w.dir, TerminationLog: p.termPath, Path: mapping.PathDirs(root)})
	argv, err := mapping.Argv(c.Command, c.Args, exec.LookPath)
	if err != nil {
		return nil, w.startError(err, p.start), nil
	}
	argv = RewritePath(ExpandAll(argv, env), terminationMessagePath(&c), p.termPath)
	for i := range argv {
		argv[i] = mapping.InImage(argv[i], root)
	}
	p.argv = argv
	if err := p.openFiles(w.dir, c.Name); err != nil {
		return nil, w.startError(err, p.start), nil
	}
	p.cmd = exec.Command(argv[0], argv[1:]...) //nolint:gosec // G204: running the pod's command is the node agent's job
	p.cmd.Env = p.env
	p.cmd.Dir = workingDir(c, mapping, root, cdir)
	p.cmd.Stdout, p.cmd.Stderr = p.logFile, p.logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return p, nil, nil
}

// openFiles creates the termination log (empty) and the log file; the previous
// run's output stays available to `kubectl logs --previous`.
func (p *process) openFiles(podDir, name string) error {
	if err := os.WriteFile(p.termPath, nil, 0o666); err != nil { //nolint:gosec // the container's user may differ from the agent's; it must write its termination log
		return err
	}
	if err := os.Chmod(p.termPath, 0o666); err != nil { //nolint:gosec // as above, past the umask
		return err
	}
	if _, err := os.Stat(p.logPath); err == nil {
		_ = os.Rename(p.logPath, filepath.Join(podDir, name+".previous.log"))
	}
	var err error
	p.logFile, err = os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644) //nolint:gosec // kubectl logs reads it through the agent; no secret is written here that the pod's own log would not hold
	return err
}

// prepareFromImage prepares a container of an image the agent unpacks (a mapping
// with Layout): a failed pull is returned as the error (ErrImagePull), a volume or
// user that cannot be set up leaves the container waiting
// (CreateContainerConfigError), as the kubelet does.
func (w *podWorker) prepareFromImage(ctx context.Context, init bool, idx int, c corev1.Container, mapping ImageMapping, env []EnvVar, p *process, cdir string) (*process, *corev1.ContainerStateTerminated, error) {
	img, err := w.pullImage(c, mapping)
	if err != nil {
		return nil, nil, err
	}
	p.image = img.Digest
	p.mapping = mapping
	if err := p.openFiles(w.dir, c.Name); err != nil {
		return nil, w.startError(err, p.start), nil
	}
	if err := w.prepareImage(ctx, c, img, env, p, cdir); err != nil {
		_ = p.logFile.Close()
		if w.setWaiting(init, idx, "CreateContainerConfigError", err.Error()) {
			w.event(corev1.EventTypeWarning, "Failed", "Error: %s", err.Error())
		}
		return nil, nil, nil
	}
	p.cmd.Stdout, p.cmd.Stderr = p.logFile, p.logFile
	return p, nil, nil
}

// workingDir is the container's workingDir inside its image's folder, the host folder
// of that name, or else the image's folder (or the container's own folder).
func workingDir(c corev1.Container, mapping ImageMapping, root, cdir string) string {
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
	return workDir
}

// startError reports a container that could not start, as the kubelet does.
func (w *podWorker) startError(err error, start metav1.Time) *corev1.ContainerStateTerminated {
	w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
	return &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: start, FinishedAt: start}
}

// wait reports the started process running, runs its probes, and waits until it exits,
// the pod stops (SIGTERM, SIGKILL after the grace period) or a probe kills it.
func (w *podWorker) wait(ctx context.Context, init bool, idx int, c corev1.Container, p *process) (*corev1.ContainerStateTerminated, time.Duration) {
	pod := w.currentPod()
	started := time.Now()
	pid := p.cmd.Process.Pid
	id := fmt.Sprintf("devcluster://%d", pid)
	w.a.log.V(1).Info("container started", "pod", w.key, "container", c.Name, "pid", pid, "argv", p.argv[0])
	w.updateContainer(init, idx, func(cr *ContainerRun) {
		cr.ContainerID = id
		cr.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: p.start}}
		cr.Ready = !init && c.ReadinessProbe == nil && c.StartupProbe == nil
	})
	if p.jail != nil {
		w.event(corev1.EventTypeNormal, "Started", "Started container %s as process %d (%s) chrooted in image %s as %d:%d; output in %s", c.Name, pid, p.argv[0], p.image, p.jail.uid, p.jail.gid, p.logPath)
	} else {
		w.event(corev1.EventTypeNormal, "Started", "Started container %s as host process %d (%s); output in %s", c.Name, pid, p.argv[0], p.logPath)
	}

	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	probeCtx, stopProbes := context.WithCancel(ctx)
	killed := make(chan string, 1)
	kill := func(reason string) {
		select {
		case killed <- reason:
		default:
		}
	}
	if !init {
		go w.probe(probeCtx, idx, c, p, kill)
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
	term := &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: p.start, FinishedAt: finished, ContainerID: id, Reason: "Completed"}
	if code != 0 {
		term.Reason = "Error"
	}
	term.Message = readTerminationMessage(p.termPath, p.logPath, code, c.TerminationMessagePolicy)
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
				return 128 + int32(ws.Signal()) //nolint:gosec // G115: signal numbers are below 65
			}
			return int32(ws.ExitStatus()) //nolint:gosec // G115: an exit status is 0-255
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
	data, _ := os.ReadFile(termPath) //nolint:gosec // G304: the container's termination log in its pod folder
	if len(data) > maxTerminationMessage {
		data = data[:maxTerminationMessage]
	}
	if len(data) == 0 && code != 0 && policy == corev1.TerminationMessageFallbackToLogsOnError {
		logs, _ := os.ReadFile(logPath) //nolint:gosec // G304: the container's log in its pod folder
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
