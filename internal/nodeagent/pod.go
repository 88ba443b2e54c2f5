package nodeagent

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TerminationLogEnv names the environment variable that holds the host file standing
// in for the container's terminationMessagePath. Occurrences of terminationMessagePath
// (default /dev/termination-log) in the command, args and env values are rewritten to
// that file as well, so a program that takes the path as a flag needs no change.
const TerminationLogEnv = "RUNBOOK_TERMINATION_LOG"

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
	// volumes are the pod's volumes written so far (name to host folder).
	volumes map[string]string
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
