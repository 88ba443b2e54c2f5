//go:build e2e && bench

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

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/controller"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
	"runbook-operator/internal/healthcheck"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/release"
)

// The Release benchmark (make bench-release): the Django app's Release (worker, then
// web with 2 gunicorn pods) with a pre-deploy backup, migrations with their plan and a
// collectstatic pre-deploy Job, taken BENCH_RELEASE_RUNS times (default 5) for each of
// two web readiness probes through a good revision (saas:1.1.0) and then a bad one
// (saas:1.2.0, whose /api/v1/health/ answers 503), which is rolled back. Each revision is new (the spec's env
// carries the run number), so every run goes through the whole pipeline. It prints
// median and spread; it asserts only that each revision ended as expected.
//
// Method. For this spec the suite's manager process is stopped and the same
// controllers (controller.SetupWithManager, as cmd/manager; admin credentials) run in
// this test process, with one difference: Releases' verification goes through a Checker
// that wraps the manager's real HTTP checker (healthcheck.HTTP against the real pods)
// and records when each check started and returned and what it found. Informers on the
// Release, its Deployments, pods, Jobs and DatabaseBackups timestamp every change as
// this process receives it (the same clock as the checks). So:
//
//   - crossing: the return of the last check of the bad revision before the rollback's
//     first write (the controller rolls back in the reconcile of the check that crosses
//     failureThreshold; at least that many failed checks must come before it);
//   - figure 1, crossing → every Deployment's pod template back on the stable revision
//     (the first informer event carrying it, for the last Deployment);
//   - figure 2, crossing → every pod of the stable revision Ready (informer: as many
//     Ready, not terminating pods with the stable revision's label as each component
//     asks for) and → every stable web pod answering 200 (polled every 20 ms). The
//     controller's share is figure 1; the rest is the Deployment controller, the node
//     agent, the app starting and the probe's period;
//   - figure 3, the return of the first failed check → the first rollback write seen
//     (a Deployment back on the stable template), against failureThreshold × interval +
//     100 ms; and the web's new template written → that write;
//
// Figures 1 to 3 are taken twice, BENCH_RELEASE_RUNS runs each: first with the web's
// readiness probe a TCP connect to its port every 2 s (no healthPath): 1.2.0's pods
// become Ready once gunicorn listens and the verification catches the 503s; then with
// healthPath /api/v1/health/, as a user would configure it: 1.2.0's pods never become
// Ready, and the rollout's checks of pods running but not Ready catch them (before
// those, the rollout waited for verify.progressDeadline). Figure 4 is the TCP runs';
//   - figure 4, the controller's own time per step: from the moment what it waits for
//     is visible (a Job Complete, the DatabaseBackup Completed, a Deployment available
//     by release.Available, the controller's own criterion) to its next write (the next
//     Job or DatabaseBackup created, the next Deployment written, the first check made).
//     The Jobs' and rollouts' run times are printed apart and excluded;
//   - figure 5, memory: the real manager process (cmd/manager, restarted after the
//     runs) with BENCH_RELEASES (default 100) Releases of one no-op component each (an
//     image the node agent reports Running without running anything), all Deployed:
//     its resident set (VmRSS from /proc) and its Go heap in use
//     (go_memstats_heap_inuse_bytes from its metrics endpoint), before and after, and
//     the peak RSS sampled every 500 ms meanwhile;
//   - figure 6, a third set of runs with the TCP probe and rollback.openIncident: P3,
//     so the rollback opens its Incident first and waits for its pods and logs: the
//     decision (the first Release status naming the Incident in the revision's
//     history entry) → the Incident created, → status.evidence.podsCapturedAt and
//     → capturedAt first seen here (their own times are whole seconds, and the
//     capturing reconcile's start), → the rollback's first write (its wait).
const (
	relBenchDB       = "bench_release"
	relBenchDBSecret = "bench-release-db"
	relBenchName     = "bench-release"
	relBenchInterval = 2 * time.Second
	relBenchFailures = 3
	// relBenchVerify: the window holds three checks and the threshold lets two fail.
	relBenchVerify = "{path: /api/v1/health/, interval: 2s, window: 6s, failureThreshold: 3, progressDeadline: 2m}"
	relBenchWeb    = 2
)

// relBenchSpec is the benchmark's spec of tag for run; healthProbe gives the web the
// health path as its readiness probe (healthPath), as a user would configure it.
// incident, when set, is the spec's rollback.openIncident.
func relBenchSpec(tag string, run int, healthProbe bool, incident opsv1alpha1.IncidentSeverity) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	var spec opsv1alpha1.ReleaseSpec
	Expect(yaml.Unmarshal([]byte(demo.ReleaseSpecYAML(tag, relBenchDBSecret, relBenchWeb, relBenchVerify)), &spec)).To(Succeed())
	if healthProbe {
		for i := range spec.Components {
			if spec.Components[i].Name == "web" {
				spec.Components[i].HealthPath = "/api/v1/health/"
			}
		}
	}
	dest := destination("bench-release", devcluster.DemoS3Secret)
	spec.Backup = &opsv1alpha1.ReleaseBackup{Enabled: ptr.To(true), Destination: &dest}
	spec.PreDeploy = []opsv1alpha1.PreDeployJob{{Name: "collectstatic", Command: []string{"python", "manage.py", "collectstatic", "--noinput"}}}
	spec.Env = append(spec.Env, opsv1alpha1.EnvVar{Name: "BENCH_RUN", Value: strconv.Itoa(run)})
	spec.Rollback.OpenIncident = incident
	return spec
}

// timedCheck is one check the controller made.
type timedCheck struct {
	start, end time.Time
	url        string
	res        healthcheck.Result
}

// timedChecker is the Release controller's Checker in the benchmark: the manager's
// HTTP checker inside, timestamps outside.
type timedChecker struct {
	inner  healthcheck.Checker
	mu     sync.Mutex
	checks []timedCheck
}

func (c *timedChecker) Check(ctx context.Context, url string) healthcheck.Result {
	start := time.Now()
	res := c.inner.Check(ctx, url)
	end := time.Now()
	c.mu.Lock()
	c.checks = append(c.checks, timedCheck{start: start, end: end, url: url, res: res})
	c.mu.Unlock()
	return res
}

// since returns the checks started at or after t, in order.
func (c *timedChecker) since(t time.Time) []timedCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []timedCheck
	for _, ch := range c.checks {
		if !ch.start.Before(t) {
			out = append(out, ch)
		}
	}
	return out
}

// benchEvent is one change an informer delivered, stamped when it arrived.
type benchEvent struct {
	at      time.Time
	obj     client.Object
	deleted bool
}

// timeline holds every change of the objects the benchmark watches, in arrival order,
// and the objects as they are now.
type timeline struct {
	mu      sync.Mutex
	events  []benchEvent
	current map[string]client.Object
}

func objKey(o client.Object) string {
	return fmt.Sprintf("%T/%s", o, o.GetName())
}

func (t *timeline) add(obj any, deleted bool) {
	at := time.Now()
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, benchEvent{at: at, obj: o, deleted: deleted})
	if deleted {
		delete(t.current, objKey(o))
	} else {
		t.current[objKey(o)] = o
	}
}

// watchTimeline starts informers on the namespace's Releases, Deployments, pods, Jobs,
// DatabaseBackups and Incidents that record into a new timeline until ctx ends.
func watchTimeline(ctx context.Context, cfg *rest.Config) *timeline {
	GinkgoHelper()
	t := &timeline{current: map[string]client.Object{}}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range []client.Object{&opsv1alpha1.Release{}, &appsv1.Deployment{}, &corev1.Pod{}, &batchv1.Job{}, &opsv1alpha1.DatabaseBackup{}, &opsv1alpha1.Incident{}} {
		inf, err := c.GetInformer(ctx, obj)
		Expect(err).NotTo(HaveOccurred())
		_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { t.add(o, false) },
			UpdateFunc: func(_, o any) { t.add(o, false) },
			DeleteFunc: func(o any) { t.add(o, true) },
		})
		Expect(err).NotTo(HaveOccurred())
	}
	go func() { _ = c.Start(ctx) }()
	Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
	return t
}

// lookupWait is how long firstEvent and firstState wait for a moment that has not
// arrived yet (this informer may lag behind the API reads that ended a revision).
const lookupWait = time.Minute

// firstEvent is the arrival of the first change at or after after of an object of
// type T that satisfies pred; it waits up to lookupWait for one.
func firstEvent[T client.Object](t *timeline, after time.Time, pred func(T) bool) (time.Time, bool) {
	return t.await(func(events []benchEvent) (time.Time, bool) {
		for _, e := range events {
			if o, ok := e.obj.(T); ok && !e.deleted && !e.at.Before(after) && pred(o) {
				return e.at, true
			}
		}
		return time.Time{}, false
	})
}

// firstState replays the changes of objects of type T and returns the first moment at
// or after after when pred holds for the objects that exist then; it waits up to
// lookupWait for one.
func firstState[T client.Object](t *timeline, after time.Time, pred func(map[string]T) bool) (time.Time, bool) {
	return t.await(func(events []benchEvent) (time.Time, bool) {
		now := map[string]T{}
		for _, e := range events {
			o, ok := e.obj.(T)
			if !ok {
				continue
			}
			if e.deleted {
				delete(now, o.GetName())
			} else {
				now[o.GetName()] = o
			}
			if !e.at.Before(after) && pred(now) {
				return e.at, true
			}
		}
		return time.Time{}, false
	})
}

func (t *timeline) await(find func([]benchEvent) (time.Time, bool)) (time.Time, bool) {
	deadline := time.Now().Add(lookupWait)
	for {
		if at, ok := find(t.snapshot()); ok || time.Now().After(deadline) {
			return at, ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// currentPods lists the pods as the informer has them now.
func (t *timeline) currentPods() []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*corev1.Pod
	for _, o := range t.current {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	if !p.DeletionTimestamp.IsZero() || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func jobDone(name string) func(*batchv1.Job) bool {
	return func(j *batchv1.Job) bool { return j.Name == name && jobstep.StateOf(j).Succeeded }
}

func named[T client.Object](name string) func(T) bool {
	return func(o T) bool { return o.GetName() == name }
}

// stepTimes collects named durations over runs, in the order first added.
type stepTimes struct {
	order []string
	d     map[string][]time.Duration
}

func (s *stepTimes) add(name string, d time.Duration) {
	if s.d == nil {
		s.d = map[string][]time.Duration{}
	}
	if _, ok := s.d[name]; !ok {
		s.order = append(s.order, name)
	}
	s.d[name] = append(s.d[name], d)
}

func (s *stepTimes) report(indent string, round time.Duration) string {
	w := 0
	for _, n := range s.order {
		w = max(w, len(n))
	}
	out := ""
	for _, n := range s.order {
		out += fmt.Sprintf("%s%-*s  %s\n", indent, w, n, spread(s.d[n], round))
	}
	return out
}

// analysePipeline measures revision's pipeline from the timeline: every moment must
// have been seen, or the benchmark fails naming it.
func analysePipeline(t *timeline, checks *timedChecker, rel *opsv1alpha1.Release, revision string, specSeen time.Time, own, external *stepTimes) (ownTotal time.Duration) {
	GinkgoHelper()
	addOwn := func(name string, d time.Duration) {
		own.add(name, d)
		ownTotal += d
	}
	at := func(what string) func(time.Time, bool) time.Time {
		return seenMoment("revision " + revision + ": " + what)
	}
	backupName := release.BackupName(rel, revision)
	backupCreated := at("the DatabaseBackup created")(firstEvent(t, specSeen, named[*opsv1alpha1.DatabaseBackup](backupName)))
	addOwn("spec change → pre-deploy DatabaseBackup created", backupCreated.Sub(specSeen))
	var backupJob string
	backupDone := at("the DatabaseBackup Completed")(firstEvent(t, specSeen, func(b *opsv1alpha1.DatabaseBackup) bool {
		if b.Name == backupName && b.Status.Phase == opsv1alpha1.BackupPhaseCompleted {
			backupJob = b.Status.JobName
			return true
		}
		return false
	}))
	bjCreated := at("the backup's Job created")(firstEvent(t, specSeen, named[*batchv1.Job](backupJob)))
	bjDone := at("the backup's Job complete")(firstEvent(t, specSeen, jobDone(backupJob)))
	addOwn("  DatabaseBackup created → its Job created (backup controller)", bjCreated.Sub(backupCreated))
	addOwn("  backup Job complete → DatabaseBackup Completed (backup controller)", backupDone.Sub(bjDone))
	external.add("backup Job (pg_dump | gzip → S3)", bjDone.Sub(bjCreated))

	prevDone, prevWhat := backupDone, "DatabaseBackup Completed"
	var lastWritten time.Time
	for _, step := range []string{release.StepNamePlan, release.StepNameMigrate, "collectstatic"} {
		name := release.JobName(rel, step, revision)
		created := at(step + " Job created")(firstEvent(t, specSeen, named[*batchv1.Job](name)))
		done := at(step + " Job complete")(firstEvent(t, specSeen, jobDone(name)))
		addOwn(fmt.Sprintf("%s → %s Job created", prevWhat, step), created.Sub(prevDone))
		external.add(step+" Job", done.Sub(created))
		prevDone, prevWhat = done, step+" Job complete"
	}
	for _, c := range rel.Spec.Components {
		dep := opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)
		written := at(dep + " written")(firstEvent(t, specSeen, func(d *appsv1.Deployment) bool {
			return d.Name == dep && d.Spec.Template.Labels[opsv1alpha1.LabelRevision] == revision
		}))
		avail := at(dep + " available")(firstEvent(t, specSeen, func(d *appsv1.Deployment) bool {
			ok, _ := release.Available(d, revision)
			return d.Name == dep && ok
		}))
		addOwn(fmt.Sprintf("%s → %s Deployment written", prevWhat, c.Name), written.Sub(prevDone))
		external.add(c.Name+" rollout", avail.Sub(written))
		prevDone, prevWhat, lastWritten = avail, c.Name+" available", written
	}
	// The verification's first check: the rollout's checks of pods running but not
	// Ready come before it, the status write that starts the window (verifyStartTime)
	// just before it. The controller's informer and this one get the same watch events;
	// the check may start a few ms before this one saw that write or the web available
	// (a negative figure): it is the first to start at most 100 ms before the write.
	verifying := at("the window started")(firstEvent(t, lastWritten, func(r *opsv1alpha1.Release) bool {
		return r.Name == rel.Name && r.Status.CurrentRevision == revision && r.Status.Progress != nil && r.Status.Progress.VerifyStartTime != nil
	}))
	cs := checks.since(verifying.Add(-100 * time.Millisecond))
	Expect(cs).NotTo(BeEmpty(), "revision %s: no health check after the rollout", revision)
	addOwn(prevWhat+" → first health check", cs[0].start.Sub(prevDone))
	return ownTotal
}

// timedLogs is the Incident controller's PodLogs in the benchmark: the manager's
// (pods/log through the API server) inside, each read's start and end outside.
type timedLogs struct {
	inner controller.PodLogs
	mu    sync.Mutex
	reads []timedRead
}

type timedRead struct {
	start, end time.Time
	bytes      int
}

func (l *timedLogs) Tail(ctx context.Context, namespace, pod, container string, previous bool, lines, bytes int64) (string, error) {
	start := time.Now()
	out, err := l.inner.Tail(ctx, namespace, pod, container, previous, lines, bytes)
	end := time.Now()
	l.mu.Lock()
	l.reads = append(l.reads, timedRead{start: start, end: end, bytes: len(out)})
	l.mu.Unlock()
	return out, err
}

// between returns the reads that started in [from, to]: their count, the sum of their
// durations, the first start to the last end, and the bytes read.
func (l *timedLogs) between(from, to time.Time) (n int, sum, span time.Duration, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first, last time.Time
	for _, r := range l.reads {
		if r.start.Before(from) || r.start.After(to) {
			continue
		}
		n++
		sum += r.end.Sub(r.start)
		bytes += r.bytes
		if first.IsZero() || r.start.Before(first) {
			first = r.start
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	return n, sum, last.Sub(first), bytes
}

// relBenchManager runs the manager's controllers in this process with checker as the
// Release controller's and the Incident controller's pod log reads timed into logs,
// until the returned stop is called (which waits for it).
func relBenchManager(checker healthcheck.Checker, logs *timedLogs) (stop func()) {
	GinkgoHelper()
	logFile, err := os.Create(filepath.Join(cluster.LogDir, "bench-release-manager.log"))
	Expect(err).NotTo(HaveOccurred())
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile))) // for this process's remaining life
	cfg := rest.CopyConfig(cluster.RESTConfig)
	// cmd/manager's default client rate limit (--kube-api-qps): none, as
	// controller-runtime's GetConfig leaves it; BENCH_KUBE_API_QPS sets one (e.g. 20,
	// client-go's usual, with bursts of 30 as controller-runtime used to set).
	qps, burst := controller.DefaultAPIQPS, 0
	if v, err := strconv.ParseFloat(os.Getenv("BENCH_KUBE_API_QPS"), 32); err == nil && v != 0 {
		qps, burst = float32(v), int(1.5*v)
	}
	Expect(controller.APIRateLimits(cfg, qps, burst)).To(Succeed())
	fmt.Fprintf(GinkgoWriter, "the in-process manager's client rate limit: %v requests a second (bursts %d; -1: none)\n", cfg.QPS, cfg.Burst)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: controller.ManagedSecretsCache()},
	})
	Expect(err).NotTo(HaveOccurred())
	rs, err := controller.NewReconcilers(mgr, controller.Config{
		AgentImage: devcluster.AgentImage, ProgressInterval: time.Second, Checker: checker,
	})
	Expect(err).NotTo(HaveOccurred())
	logs.inner = rs.Incident.Logs
	rs.Incident.Logs = logs
	Expect(rs.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		Expect(<-done).To(Succeed())
	}
}

// freeLoopbackAddr is a loopback host:port nothing listens on now.
func freeLoopbackAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// managerPID is the process id of the manager process this test started.
func managerPID() int {
	GinkgoHelper()
	for _, p := range devcluster.Processes() {
		if p.Name == "manager" {
			return p.PID
		}
	}
	Fail("no manager process among this test's descendants")
	return 0
}

func processRSS(pid int) int64 {
	for _, p := range devcluster.Processes() {
		if p.PID == pid {
			return p.RSSBytes
		}
	}
	return 0
}

// heapInUse reads go_memstats_heap_inuse_bytes from a metrics endpoint.
func heapInUse(ctx context.Context, addr string) int64 {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			Expect(err).NotTo(HaveOccurred())
			return int64(f)
		}
	}
	Fail("go_memstats_heap_inuse_bytes is not in the manager's metrics")
	return 0
}

// serving reports whether want pods of the web component at revision answer
// /api/v1/health/ with 200 and version.
func serving(ctx context.Context, pods []*corev1.Pod, revision, version string, want int) bool {
	n := 0
	for _, p := range pods {
		if p.Labels[opsv1alpha1.LabelRelease] != relBenchName || p.Labels[opsv1alpha1.LabelComponent] != "web" ||
			p.Labels[opsv1alpha1.LabelRevision] != revision || !p.DeletionTimestamp.IsZero() || p.Status.PodIP == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+net.JoinHostPort(p.Status.PodIP, "8000")+"/api/v1/health/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var h struct{ Version string }
			_ = json.Unmarshal(body, &h)
			if resp.StatusCode == http.StatusOK && h.Version == version {
				n++
			}
		}
		cancel()
	}
	return n >= want
}

var _ = Describe("Release benchmark: rollback, pipeline steps and memory on the devcluster", Label("bench", "bench-release"), Ordered, func() {
	It("times the rollback of a failing revision, the controller's own share of each step, and the manager's memory with many Releases", func(ctx SpecContext) {
		runs := 5
		if v, err := strconv.Atoi(os.Getenv("BENCH_RELEASE_RUNS")); err == nil && v > 0 {
			runs = v
		}
		releases := 100
		if v, err := strconv.Atoi(os.Getenv("BENCH_RELEASES")); err == nil && v > 0 {
			releases = v
		}

		By("stopping the suite's manager process: the same controllers run in this process with a timed checker")
		manager.Stop(10 * time.Second)
		checks := &timedChecker{inner: healthcheck.HTTP{}}
		logReads := &timedLogs{}
		stopManager := relBenchManager(checks, logReads)
		managerStopped := false
		restart := func(ctx context.Context, args ...string) {
			GinkgoHelper()
			if !managerStopped {
				stopManager()
				managerStopped = true
			}
			var err error
			manager, err = cluster.StartManager(ctx, binaries["manager"], args...)
			Expect(err).NotTo(HaveOccurred())
		}
		DeferCleanup(func(ctx SpecContext) {
			select {
			case <-manager.Done():
				restart(ctx)
			default:
			}
		})

		wctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		tl := watchTimeline(wctx, cluster.RESTConfig)

		By("creating database " + relBenchDB + " and Release " + relBenchName + " (worker, web ×2) at saas:1.1.0")
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+relBenchDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+relBenchDB)
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: relBenchDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": relBenchDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		})).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: relBenchName, Namespace: ns}, Spec: relBenchSpec("1.1.0", 0, false, "")}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })

		// deploy sets the spec and waits for the revision to end in phase; it returns
		// the Release as it ended, its revision and when the informer saw the spec.
		deploy := func(tag string, run int, healthProbe bool, incident opsv1alpha1.IncidentSeverity, phase opsv1alpha1.ReleasePhase) (*opsv1alpha1.Release, string, time.Time) {
			GinkgoHelper()
			gen := rel.Generation // run 0: as created
			Eventually(func() error {
				if run == 0 {
					return nil
				}
				got := &opsv1alpha1.Release{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), got); err != nil {
					return err
				}
				got.Spec = relBenchSpec(tag, run, healthProbe, incident)
				if err := k8sClient.Update(ctx, got); err != nil {
					return err
				}
				gen = got.Generation
				return nil
			}).WithContext(ctx).Should(Succeed())
			var got *opsv1alpha1.Release
			Eventually(func(g Gomega) {
				got = &opsv1alpha1.Release{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), got)).To(Succeed())
				g.Expect(got.Status.ObservedGeneration).To(BeNumerically(">=", gen))
				g.Expect(got.Status.History).NotTo(BeEmpty())
				g.Expect(got.Status.History[0].Revision).To(Equal(got.Status.CurrentRevision))
				g.Expect(got.Status.History[0].Result).NotTo(Equal(opsv1alpha1.RevisionInProgress))
				g.Expect(got.Status.Phase).To(Equal(phase), "revision %s: %s", got.Status.CurrentRevision, got.Status.History[0].Message)
			}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
			seen, ok := firstEvent(tl, time.Time{}, func(r *opsv1alpha1.Release) bool { return r.Name == relBenchName && r.Generation >= gen })
			Expect(ok).To(BeTrue())
			return got, got.Status.CurrentRevision, seen
		}

		_, stable, _ := deploy("1.1.0", 0, false, "", opsv1alpha1.ReleasePhaseDeployed)

		// Figures 1 to 3, and the web's new template to the rollback, for each readiness
		// probe of the web: on TCP 1.2.0's web pods become Ready and the verification
		// catches the 503s; on the health path they never become Ready and the rollout's
		// checks of pods running but not Ready catch them.
		type probeFigures struct {
			name                                                      string
			healthProbe                                               bool
			incident                                                  opsv1alpha1.IncidentSeverity
			toTemplates, toReady, toServing, toDecision, toRolledBack []time.Duration
			fromWebWritten                                            []time.Duration
			caughtBy                                                  map[string]int // "rollout" or "verification"
			// figure 6 (rollback.openIncident): the decision → the Incident created, its
			// pods and logs stored (podsCapturedAt), its bundle complete (capturedAt);
			// and the rollback's wait, the decision → its first write.
			toIncident, toPods, toBundle, waited, podsToWrite []time.Duration
			logSum, logSpan                                   []time.Duration // the pod log reads before podsCapturedAt
			failingInBundle                                   int             // runs whose bundle holds a failing web pod
		}
		modes := []*probeFigures{
			{name: "web readiness probe a TCP connect (no healthPath)", caughtBy: map[string]int{}},
			{name: "web readiness probe on the health path (healthPath: /api/v1/health/)", healthProbe: true, caughtBy: map[string]int{}},
			{name: "web readiness probe a TCP connect, rollback.openIncident: P3", incident: opsv1alpha1.SeverityP3, caughtBy: map[string]int{}},
		}
		DeferCleanup(func(ctx SpecContext) { // the Incidents are not owned: they outlive the Release
			_ = k8sClient.DeleteAllOf(ctx, &opsv1alpha1.Incident{}, client.InNamespace(ns), client.MatchingLabels{opsv1alpha1.LabelRelease: relBenchName})
		})
		var goodOwn, goodExt, badOwn stepTimes
		budget := time.Duration(relBenchFailures)*relBenchInterval + 100*time.Millisecond
		window := 6 * time.Second
		for mi, mode := range modes {
			for i := 1; i <= runs; i++ {
				run := mi*runs + i // every revision new
				By(fmt.Sprintf("%s, run %d: a good revision (saas:1.1.0), then a failing one (saas:1.2.0)", mode.name, i))
				good, goodRev, seen := deploy("1.1.0", run, mode.healthProbe, mode.incident, opsv1alpha1.ReleasePhaseDeployed)
				ownTimes, extTimes := &goodOwn, &goodExt
				if mode.healthProbe || mode.incident != "" {
					ownTimes, extTimes = &stepTimes{}, &stepTimes{} // figure 4 is the TCP runs'
				}
				goodTotal := analysePipeline(tl, checks, good, goodRev, seen, ownTimes, extTimes)
				var verifyStart time.Time // status.progress.verifyStartTime: the controller's window starts there
				seenMoment("the good revision Verifying")(firstEvent(tl, seen, func(r *opsv1alpha1.Release) bool {
					if r.Name == relBenchName && r.Status.CurrentRevision == goodRev && r.Status.Progress != nil && r.Status.Progress.VerifyStartTime != nil {
						verifyStart = r.Status.Progress.VerifyStartTime.Time
						return true
					}
					return false
				}))
				deployed := seenMoment("the good revision Deployed")(firstEvent(tl, seen, func(r *opsv1alpha1.Release) bool {
					return r.Name == relBenchName && r.Status.StableRevision == goodRev && r.Status.Phase == opsv1alpha1.ReleasePhaseDeployed
				}))
				// A window that ends while the latest check fails goes on to the next check.
				due := verifyStart.Add(window)
				for _, c := range checks.since(verifyStart) {
					if c.end.Before(deployed) && c.end.After(due) {
						due = c.end
					}
				}
				ownTimes.add("verify.window over (or its last check) → Deployed recorded", deployed.Sub(due))
				ownTimes.add("sum: the controllers' own time in the whole pipeline", goodTotal+deployed.Sub(due))
				stable = goodRev

				// Poll the stable web pods from the moment the bad revision verifies or
				// rolls back: with a TCP probe they are gone by then (the rollout replaced
				// them) and answer again after the rollback.
				servedAt := make(chan time.Time, 1)
				pctx, stopPoll := context.WithCancel(ctx)
				go func() {
					defer GinkgoRecover()
					_ = wait.PollUntilContextCancel(pctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
						r, ok := tl.currentRelease()
						if !ok || r.Status.CurrentRevision == stable {
							return false, nil
						}
						switch r.Status.Phase {
						case opsv1alpha1.ReleasePhaseVerifying, opsv1alpha1.ReleasePhaseRollingBack, opsv1alpha1.ReleasePhaseRolledBack:
						default:
							return false, nil
						}
						if serving(ctx, tl.currentPods(), stable, "1.1.0", relBenchWeb) {
							servedAt <- time.Now()
							return true, nil
						}
						return false, nil
					})
				}()
				bad, badRev, seen := deploy("1.2.0", run, mode.healthProbe, mode.incident, opsv1alpha1.ReleasePhaseRolledBack)
				if !mode.healthProbe && mode.incident == "" { // with the health path the web never becomes available
					badTotal := analysePipeline(tl, checks, bad, badRev, seen, &badOwn, &stepTimes{})
					badOwn.add("sum: the controllers' own time up to the first check", badTotal)
				}
				webDep := opsv1alpha1.ComponentDeploymentName(relBenchName, "web")
				webWritten := seenMoment("the web written with the failing revision")(firstEvent(tl, seen, func(d *appsv1.Deployment) bool {
					return d.Name == webDep && d.Spec.Template.Labels[opsv1alpha1.LabelRevision] == badRev
				}))

				// The rollback is written in the reconcile of the check that crosses the
				// threshold: every Deployment's first write back to the stable template
				// after the bad spec (the stable label appears on them only then).
				var last, firstWrite time.Time
				for _, c := range bad.Spec.Components {
					dep := opsv1alpha1.ComponentDeploymentName(relBenchName, c.Name)
					back := seenMoment(dep + " back on the stable template")(firstEvent(tl, seen, func(d *appsv1.Deployment) bool {
						return d.Name == dep && d.Spec.Template.Labels[opsv1alpha1.LabelRevision] == stable
					}))
					if back.After(last) {
						last = back
					}
					if firstWrite.IsZero() || back.Before(firstWrite) {
						firstWrite = back
					}
				}
				// With rollback.openIncident the rollback waits for the Incident's evidence
				// after its decision: the decision is the first Release status this process
				// sees naming the Incident in the revision's history entry (recorded with the
				// rollback, before the Incident is created); then the Incident's creation and
				// the first Incident status with podsCapturedAt and with capturedAt, stamped
				// on arrival here (the status times have 1 s resolution).
				cut := firstWrite
				var decision time.Time
				if mode.incident != "" {
					incName := release.IncidentName(bad, badRev)
					decision = seenMoment("the rollback decided, naming its Incident")(firstEvent(tl, seen, func(r *opsv1alpha1.Release) bool {
						return r.Name == relBenchName && len(r.Status.History) > 0 && r.Status.History[0].Revision == badRev && r.Status.History[0].Incident != nil
					}))
					created := seenMoment("Incident " + incName + " created")(firstEvent(tl, seen, named[*opsv1alpha1.Incident](incName)))
					var inc *opsv1alpha1.Incident
					pods := seenMoment("Incident " + incName + " podsCapturedAt")(firstEvent(tl, seen, func(i *opsv1alpha1.Incident) bool {
						return i.Name == incName && i.Status.Evidence != nil && i.Status.Evidence.PodsCapturedAt != nil
					}))
					bundle := seenMoment("Incident " + incName + " capturedAt")(firstEvent(tl, seen, func(i *opsv1alpha1.Incident) bool {
						inc = i
						return i.Name == incName && i.Status.Evidence != nil && i.Status.Evidence.CapturedAt != nil
					}))
					rb := meta.FindStatusCondition(bad.Status.Conditions, opsv1alpha1.ConditionRolledBack)
					Expect(rb).NotTo(BeNil())
					Expect(rb.Message).To(ContainSubstring("read the failing pods and their logs first"),
						"the rollback went ahead without its Incident's evidence")
					mode.toIncident = append(mode.toIncident, created.Sub(decision))
					mode.toPods = append(mode.toPods, pods.Sub(decision))
					mode.toBundle = append(mode.toBundle, bundle.Sub(decision))
					mode.waited = append(mode.waited, firstWrite.Sub(decision))
					mode.podsToWrite = append(mode.podsToWrite, firstWrite.Sub(pods))
					cut = decision
					// Does the bundle hold the failing revision's web pods? The capture lists
					// the Release's pods by name, at most 50: every Job pod of earlier runs
					// comes before "…-web-".
					var bundleText strings.Builder
					for _, name := range inc.Status.Evidence.ConfigMaps {
						var cm corev1.ConfigMap
						Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm)).To(Succeed())
						bundleText.WriteString(cm.Data[incident.EvidenceKey])
					}
					podLines, failingWeb := 0, 0
					for _, line := range strings.Split(bundleText.String(), "\n") {
						if strings.HasPrefix(line, "pod ") {
							podLines++
							if strings.HasPrefix(line, "pod "+webDep+"-") && strings.Contains(line, " revision="+badRev+" ") {
								failingWeb++
							}
						}
					}
					if failingWeb > 0 {
						mode.failingInBundle++
					}
					fmt.Fprintf(GinkgoWriter, "%s, run %d: the bundle lists %d pods, %d of them the failing revision's web pods\n", mode.name, i, podLines, failingWeb)
					nReads, readSum, readSpan, readBytes := logReads.between(created, pods)
					Expect(nReads).To(BeNumerically(">", 0), "no pod log read between the Incident's creation and podsCapturedAt")
					mode.logSum = append(mode.logSum, readSum)
					mode.logSpan = append(mode.logSpan, readSpan)
					fmt.Fprintf(GinkgoWriter, "%s, run %d: %d pod log reads before podsCapturedAt, %d bytes: %s in all, first start to last end %s\n",
						mode.name, i, nReads, readBytes, ms(readSum), ms(readSpan))
					fmt.Fprintf(GinkgoWriter, "%s, run %d: decision → Incident created %s, → podsCapturedAt %s, → capturedAt %s, → rollback written %s (status: created %s, podsCapturedAt %s, capturedAt %s, %d bytes)\n",
						mode.name, i, ms(created.Sub(decision)), ms(pods.Sub(decision)), ms(bundle.Sub(decision)), ms(firstWrite.Sub(decision)),
						inc.CreationTimestamp.UTC().Format(time.TimeOnly), inc.Status.Evidence.PodsCapturedAt.UTC().Format(time.TimeOnly),
						inc.Status.Evidence.CapturedAt.UTC().Format(time.TimeOnly), inc.Status.Evidence.SizeBytes)
				}
				// Every check since the spec change is the bad revision's (the only Release
				// being checked). The crossing is the last one that returned before the
				// rollback's first write (with openIncident: before its decision): which failures the controller counts is its own
				// business (it may disregard some), so the bench does not recount them; it
				// checks that at least failureThreshold failed checks came first.
				var first, crossing time.Time
				var offsets []string
				failed := 0
				for _, c := range checks.since(seen) {
					if c.end.After(cut) {
						break
					}
					if c.res.Err != nil || c.res.Refused {
						continue // not checkable, or a pod starting (not Ready, not listening yet): nothing counts
					}
					Expect(c.res.Healthy).To(BeFalse(), "a check of saas:1.2.0 passed: %s", c.res.Detail)
					if failed == 0 {
						first = c.end
					}
					offsets = append(offsets, "+"+ms(c.end.Sub(first)))
					failed++
					crossing = c.end
				}
				Expect(failed).To(BeNumerically(">=", relBenchFailures), "revision %s: failed checks before the rollback", badRev)
				Expect(bad.Status.History[0].Message).To(And(ContainSubstring("503"), ContainSubstring("renewal_reminder_sent")),
					"the rollback names the pod's answer")
				caught := "verification"
				for _, c := range bad.Status.Conditions {
					if c.Type == opsv1alpha1.ConditionRolledOut && c.Status == metav1.ConditionFalse {
						caught = "rollout"
					}
				}
				mode.caughtBy[caught]++
				want := map[string]int{}
				for _, c := range bad.Spec.Components {
					want[c.Name] = int(ptr.Deref(c.Replicas, 1))
				}
				ready := seenMoment("every stable pod Ready")(firstState(tl, crossing, func(pods map[string]*corev1.Pod) bool {
					n := map[string]int{}
					for _, p := range pods {
						if p.Labels[opsv1alpha1.LabelRelease] == relBenchName && p.Labels[opsv1alpha1.LabelRevision] == stable && podReady(p) {
							n[p.Labels[opsv1alpha1.LabelComponent]]++
						}
					}
					for c, w := range want {
						if n[c] < w {
							return false
						}
					}
					return true
				}))
				rolledBack := seenMoment("status RolledBack")(firstEvent(tl, crossing, func(r *opsv1alpha1.Release) bool {
					return r.Name == relBenchName && r.Status.CurrentRevision == badRev && r.Status.Phase == opsv1alpha1.ReleasePhaseRolledBack
				}))
				var served time.Time
				select {
				case served = <-servedAt:
				case <-time.After(time.Minute):
					Fail("the stable web pods did not answer 200 within a minute of the rollback")
				}
				stopPoll()
				Expect(served.After(crossing)).To(BeTrue(), "the stable pods answered before the rollback")

				if os.Getenv("BENCH_RELEASE_DEBUG") != "" {
					printVerification(tl, checks, seen, rolledBack)
				}
				mode.toTemplates = append(mode.toTemplates, last.Sub(crossing))
				mode.toReady = append(mode.toReady, ready.Sub(crossing))
				mode.toServing = append(mode.toServing, served.Sub(crossing))
				mode.toDecision = append(mode.toDecision, firstWrite.Sub(first))
				mode.toRolledBack = append(mode.toRolledBack, rolledBack.Sub(crossing))
				mode.fromWebWritten = append(mode.fromWebWritten, firstWrite.Sub(webWritten))
				fmt.Fprintf(GinkgoWriter, "%s, run %d: caught by the %s's checks: %s\n", mode.name, i, caught, bad.Status.History[0].Message)
				fmt.Fprintf(GinkgoWriter, "%s, run %d: failed checks returned at %s; crossing → templates %s, → stable pods Ready %s, → serving 200 %s; first failed check → rollback written %s (budget %s); → RolledBack recorded %s; web's new template → rollback written %s\n",
					mode.name, i, strings.Join(offsets, ", "), ms(last.Sub(crossing)), ms(ready.Sub(crossing)), ms(served.Sub(crossing)), ms(firstWrite.Sub(first)),
					ms(budget), ms(rolledBack.Sub(crossing)), ms(firstWrite.Sub(webWritten)))
			}
		}

		By("restarting the manager process with its metrics on loopback, then creating " + strconv.Itoa(releases) + " Releases")
		metricsAddr := freeLoopbackAddr()
		restart(ctx, "--metrics-bind-address="+metricsAddr, "--metrics-secure=false")
		pid := managerPID()
		time.Sleep(2 * time.Second)
		rssBefore, heapBefore := processRSS(pid), heapInUse(ctx, metricsAddr)
		var peakMu sync.Mutex
		peak := rssBefore
		sctx, stopSampling := context.WithCancel(ctx)
		go func() {
			_ = wait.PollUntilContextCancel(sctx, 500*time.Millisecond, false, func(context.Context) (bool, error) {
				r := processRSS(pid)
				peakMu.Lock()
				peak = max(peak, r)
				peakMu.Unlock()
				return false, nil
			})
		}()
		memStart := time.Now()
		for i := range releases {
			r := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-mem-%03d", i), Namespace: ns,
				Labels: map[string]string{"bench": "release-memory"}}}
			Expect(yaml.Unmarshal([]byte(`{version: "1.0.0", image: "bench/noop:1.0.0", components: [{name: web}]}`), &r.Spec)).To(Succeed())
			Expect(k8sClient.Create(ctx, r)).To(Succeed())
		}
		DeferCleanup(func(ctx SpecContext) {
			_ = k8sClient.DeleteAllOf(ctx, &opsv1alpha1.Release{}, client.InNamespace(ns), client.MatchingLabels{"bench": "release-memory"})
		})
		Eventually(func(g Gomega) {
			var list opsv1alpha1.ReleaseList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"bench": "release-memory"})).To(Succeed())
			deployed := 0
			for _, r := range list.Items {
				if r.Status.Phase == opsv1alpha1.ReleasePhaseDeployed {
					deployed++
				}
			}
			g.Expect(deployed).To(Equal(releases))
		}).WithContext(ctx).WithTimeout(10 * time.Minute).WithPolling(time.Second).Should(Succeed())
		allDeployed := time.Since(memStart)
		time.Sleep(5 * time.Second)
		rssAfter, heapAfter := processRSS(pid), heapInUse(ctx, metricsAddr)
		stopSampling()
		peakMu.Lock()
		rssPeak := max(peak, rssAfter)
		peakMu.Unlock()

		report := fmt.Sprintf("\nRelease of the Django app on the devcluster (worker 1 pod, web %d pods of gunicorn; verify every %s, failureThreshold %d, window %s), %d runs per readiness probe, median (min, max):\n",
			relBenchWeb, relBenchInterval, relBenchFailures, window, runs)
		for _, m := range modes {
			report += fmt.Sprintf("  rollback of saas:1.2.0 (health 503), %s; caught by the rollout's checks %d times, by the verification %d times:\n",
				m.name, m.caughtBy["rollout"], m.caughtBy["verification"])
			report += "    from the check that crosses failureThreshold:\n"
			report += "    1. to every Deployment back on the stable template:   " + spread(m.toTemplates, time.Millisecond) + "   (target ≤ 100ms)\n"
			report += "    2. to every stable pod Ready:                        " + spread(m.toReady, time.Millisecond) + "\n"
			report += "       to every stable web pod answering 200 (gunicorn): " + spread(m.toServing, time.Millisecond) + "\n"
			report += "       to status RolledBack recorded:                    " + spread(m.toRolledBack, time.Millisecond) + "\n"
			report += "    3. first failed check to the first rollback write:   " + spread(m.toDecision, time.Millisecond) +
				fmt.Sprintf("   (bound failureThreshold × interval + 100ms = %s)\n", ms(budget))
			report += "       the web's new template to the rollback write:     " + spread(m.fromWebWritten, time.Millisecond) + "\n"
			if m.incident != "" {
				report += "    6. the rollback decision (the Incident named in the revision's history entry, seen here):\n"
				report += "       to the Incident created:                          " + spread(m.toIncident, time.Millisecond) + "\n"
				report += "       to its pods and logs stored (podsCapturedAt):     " + spread(m.toPods, time.Millisecond) + "   (target ≤ 2s)\n"
				report += "       to its bundle complete (capturedAt, DB check):    " + spread(m.toBundle, time.Millisecond) + "\n"
				report += "       to the rollback's first write (its wait):         " + spread(m.waited, time.Millisecond) + "\n"
				report += "       podsCapturedAt seen to the rollback's first write: " + spread(m.podsToWrite, time.Millisecond) + "\n"
				report += fmt.Sprintf("       bundles holding the failing web pods: %d of %d runs\n", m.failingInBundle, runs)
				report += "       of the pods part: the pod log reads, summed:      " + spread(m.logSum, time.Millisecond) + "\n"
				report += "                         first read's start to last's end: " + spread(m.logSpan, time.Millisecond) + "\n"
			}
		}
		report += "  4. the controller's own time per step (what it waits for seen → its next write):\n"
		report += "    good revision (saas:1.1.0, deployed):\n" + goodOwn.report("      ", time.Millisecond)
		report += "    failing revision (saas:1.2.0, rolled back), up to its verification:\n" + badOwn.report("      ", time.Millisecond)
		report += "    not counted: the Jobs' and rollouts' own run times (good revision):\n" + goodExt.report("      ", 10*time.Millisecond)
		report += fmt.Sprintf("  5. the manager process (cmd/manager) with %d Releases of one no-op pod each, all Deployed after %s:\n",
			releases, allDeployed.Round(100*time.Millisecond))
		report += fmt.Sprintf("     RSS %d MiB before, %d MiB after, %d MiB peak; Go heap in use %d MiB before, %d MiB after\n",
			rssBefore>>20, rssAfter>>20, rssPeak>>20, heapBefore>>20, heapAfter>>20)
		fmt.Fprint(GinkgoWriter, report)
		AddReportEntry("release benchmark", report)
	})
})

// seenMoment unwraps a timeline lookup that must have found its moment (what).
func seenMoment(what string) func(time.Time, bool) time.Time {
	return func(t time.Time, ok bool) time.Time {
		GinkgoHelper()
		Expect(ok).To(BeTrue(), "never seen: %s", what)
		return t
	}
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// snapshot copies the events recorded so far.
func (t *timeline) snapshot() []benchEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]benchEvent(nil), t.events...)
}

// currentRelease is the benchmark's Release as the informer has it now.
func (t *timeline) currentRelease() (*opsv1alpha1.Release, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.current[objKey(&opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: relBenchName}})].(*opsv1alpha1.Release)
	return r, ok
}

// printVerification writes the checks and the Release's verification status between
// from and to, in order (BENCH_RELEASE_DEBUG=1).
func printVerification(t *timeline, checks *timedChecker, from, to time.Time) {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, c := range checks.since(from) {
		if c.start.After(to) {
			break
		}
		lines = append(lines, line{c.start, fmt.Sprintf("check %s → %s healthy=%v err=%v %s", c.url, ms(c.end.Sub(c.start)), c.res.Healthy, c.res.Err, c.res.Detail)})
	}
	for _, e := range t.snapshot() {
		r, ok := e.obj.(*opsv1alpha1.Release)
		if !ok || e.at.Before(from) || e.at.After(to) {
			continue
		}
		txt := fmt.Sprintf("release rv %s phase %s", r.ResourceVersion, r.Status.Phase)
		if p := r.Status.Progress; p != nil {
			txt += fmt.Sprintf(" rolledOut %d verifyStart %v lastCheck %v failed %d", p.RolledOut, p.VerifyStartTime, p.LastCheckTime, p.FailedChecks)
		}
		lines = append(lines, line{e.at, txt})
	}
	slices.SortFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	for _, l := range lines {
		fmt.Fprintf(GinkgoWriter, "  %s %s\n", l.at.Format("15:04:05.000"), l.text)
	}
}
