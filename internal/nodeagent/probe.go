package nodeagent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeEventInterval is how often a probe failure with an unchanged message is
// reported again while it lasts. The kubelet reports every failed probe and lets the
// event correlator count them, but client-go's spam filter allows one object 25
// Warning events and then one per 5 minutes: a readiness probe failing every 10 s
// would silence the pod's other Warnings (BackOff, Failed) within 4 minutes. Once a
// minute still shows the failure and its count in `kubectl describe pod`.
const probeEventInterval = time.Minute

// maxProbeOutput is how much of an exec probe's output is kept, as in the kubelet.
const maxProbeOutput = 10 * 1024

// failureReport decides which probe failures become events: the first, any whose
// message differs from the last one reported, and an unchanged one again once every
// interval.
type failureReport struct {
	interval time.Duration
	last     string
	at       time.Time
}

func (f *failureReport) due(msg string, now time.Time) bool {
	if !f.at.IsZero() && msg == f.last && now.Sub(f.at) < f.interval {
		return false
	}
	f.last, f.at = msg, now
	return true
}

// prober runs the probes of one run of a container.
type prober struct {
	w       *podWorker
	c       corev1.Container
	env     []string
	mapping ImageMapping
	// jail and pid are set for a container of an unpacked image, which exec
	// probes enter (its mount namespace, root and working folder, its user).
	jail *jailed
	pid  int
}

// probe runs the startup, liveness and readiness probes of a running container.
func (w *podWorker) probe(ctx context.Context, idx int, c corev1.Container, p *process, kill func(string)) {
	pr := &prober{w: w, c: c, env: p.env, mapping: p.mapping, jail: p.jail, pid: p.cmd.Process.Pid}
	setReady := func(ready bool) {
		w.updateContainer(false, idx, func(cr *ContainerRun) { cr.Ready = ready })
	}
	if c.StartupProbe != nil {
		_, _, succT, failT := probeTimings(c.StartupProbe)
		started := false
		pr.loop(ctx, "Startup", c.StartupProbe, func(_ bool, succ, fail int) bool {
			started = succ >= succT
			return !started && fail < failT
		})
		if ctx.Err() != nil {
			return
		}
		if !started {
			kill("failed startup probe")
			return
		}
	}
	if c.LivenessProbe != nil {
		go func() {
			_, _, _, failT := probeTimings(c.LivenessProbe)
			pr.loop(ctx, "Liveness", c.LivenessProbe, func(_ bool, _, fail int) bool { return fail < failT })
			if ctx.Err() == nil {
				kill("failed liveness probe")
			}
		}()
	}
	if c.ReadinessProbe == nil {
		setReady(true)
		return
	}
	_, _, succT, failT := probeTimings(c.ReadinessProbe)
	ready := false
	pr.loop(ctx, "Readiness", c.ReadinessProbe, func(ok bool, succ, fail int) bool {
		if ok && !ready && succ >= succT {
			ready = true
			setReady(true)
		}
		if !ok && ready && fail >= failT {
			ready = false
			setReady(false)
		}
		return true
	})
}

// loop probes every period after the initial delay, reports each failure as the
// kubelet does ("<kind> probe failed: <output>", rate-limited by failureReport), and
// after each probe calls next with its result and the counts of consecutive successes
// and failures. It returns when next returns false or ctx ends.
func (pr *prober) loop(ctx context.Context, kind string, p *corev1.Probe, next func(ok bool, succ, fail int) bool) {
	period, timeout, _, _ := probeTimings(p)
	report := &failureReport{interval: probeEventInterval}
	succ, fail := 0, 0
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return
	}
	for {
		err := pr.run(ctx, p.ProbeHandler, timeout)
		if ctx.Err() != nil {
			return // a probe cut short by the container stopping is no failure
		}
		if err == nil {
			succ, fail = succ+1, 0
		} else {
			succ, fail = 0, fail+1
			if report.due(err.Error(), time.Now()) {
				pr.w.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, err.Error())
			}
		}
		if !next(err == nil, succ, fail) || !sleepCtx(ctx, period) {
			return
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

// run runs one probe. httpGet succeeds on 200-399, tcpSocket and grpc on a TCP
// connection, exec on exit code 0 (the command runs on the host when it maps to one;
// otherwise it counts as success). The error says what failed, in the kubelet's words.
func (pr *prober) run(ctx context.Context, h corev1.ProbeHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.HTTPGet != nil:
		return httpProbe(ctx, h.HTTPGet, &pr.c, pr.w.ip)
	case h.TCPSocket != nil:
		port, err := ResolvePort(h.TCPSocket.Port, &pr.c)
		if err != nil {
			return err
		}
		host := pr.w.ip
		if h.TCPSocket.Host != "" {
			host = h.TCPSocket.Host
		}
		return tcpProbe(ctx, host, port)
	case h.GRPC != nil:
		return tcpProbe(ctx, pr.w.ip, int(h.GRPC.Port))
	case h.Exec != nil:
		return pr.execProbe(ctx, h.Exec.Command)
	}
	return nil
}

var probeClient = &http.Client{
	Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}, //nolint:gosec // G402: probes skip certificate verification, as the kubelet's do
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// httpProbe GETs the probe's path on podIP (or its host) and fails on a status
// outside 200-399 with the kubelet's message. Like the kubelet's, the message leaves
// the body out: it may hold what a pod would not put in an event.
func httpProbe(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) error {
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = podIP
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
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeOutput))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// tcpProbe succeeds when a TCP connection to host:port opens.
func tcpProbe(ctx context.Context, host string, port int) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return conn.Close()
}

// execProbe runs the command in the container's environment and image folder. A
// command that maps to no host program counts as success. On a non-zero exit the
// error is the command's output (its first 10 KiB), as in the kubelet's event.
func (pr *prober) execProbe(ctx context.Context, command []string) error {
	if pr.jail != nil {
		return runProbe(pr.jail.nsenter(ctx, pr.pid, command, pr.env))
	}
	argv, err := pr.mapping.Argv(command[:1], command[1:], exec.LookPath)
	if err != nil {
		return nil //nolint:nilerr // a command with no host program cannot run here: counted as success, as documented
	}
	dir := pr.w.dir
	if _, root, err := pr.mapping.ForImage(pr.c.Image); err == nil && root != "" {
		dir = root // the image's working directory, as for the container
		for i := range argv {
			argv[i] = pr.mapping.InImage(argv[i], root)
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // G204: running the pod's probe command is the node agent's job
	cmd.Env = pr.env
	cmd.Dir = dir
	return runProbe(cmd)
}

// runProbe runs an exec probe's command; on a non-zero exit the error is its output.
func runProbe(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && out.Len() > 0 {
		b := out.Bytes()
		return errors.New(strings.TrimRight(string(b[:min(len(b), maxProbeOutput)]), "\n"))
	}
	return err
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
