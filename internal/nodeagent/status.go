package nodeagent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContainerRun is what the node agent knows about one container of a pod.
type ContainerRun struct {
	Name         string
	Image        string
	ContainerID  string
	State        corev1.ContainerState
	LastState    corev1.ContainerState
	RestartCount int32
	Ready        bool
	// Final is set once the container has terminated and will not be restarted.
	Final bool
}

// PodRun is the node agent's view of a pod it runs.
type PodRun struct {
	PodIP      string
	HostIP     string
	StartTime  time.Time
	Init       []ContainerRun
	Containers []ContainerRun
	// InitDone is set once every init container has completed successfully.
	InitDone bool
}

// Phase computes the pod phase from its containers, following the kubelet's rules.
func (r PodRun) Phase() corev1.PodPhase {
	if !r.InitDone {
		for _, c := range r.Init {
			if c.Final && c.State.Terminated != nil && c.State.Terminated.ExitCode != 0 {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	if len(r.Containers) == 0 {
		return corev1.PodPending
	}
	var waiting, running, succeeded, failed int
	for _, c := range r.Containers {
		switch {
		case c.State.Terminated != nil && c.Final:
			if c.State.Terminated.ExitCode == 0 {
				succeeded++
			} else {
				failed++
			}
		case c.State.Running != nil, c.State.Terminated != nil, c.LastState.Terminated != nil:
			running++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case failed > 0:
		return corev1.PodFailed
	default:
		return corev1.PodSucceeded
	}
}

// BuildStatus returns the status a kubelet would report for pod given what runs. It
// keeps conditions it does not own (DisruptionTarget, readiness gates) and the
// transition times of conditions that did not change.
func BuildStatus(pod *corev1.Pod, run PodRun, now time.Time) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		Phase:              run.Phase(),
		HostIP:             run.HostIP,
		PodIP:              run.PodIP,
		QOSClass:           old.QOSClass,
		ObservedGeneration: pod.Generation,
	}
	if run.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: run.HostIP}}
	}
	if run.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: run.PodIP}}
	}
	if !run.StartTime.IsZero() {
		t := metav1.NewTime(run.StartTime)
		st.StartTime = &t
	}
	for _, c := range run.Init {
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(c))
	}
	for _, c := range run.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(c))
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed

	notReady, pendingInit := run.notReady()

	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: pod.Generation}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		c.LastTransitionTime = metav1.NewTime(now)
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	containersReady := len(notReady) == 0 && !terminal && st.Phase == corev1.PodRunning
	readyReason, readyMsg := "ContainersNotReady", ""
	if len(notReady) > 0 {
		readyMsg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	if terminal {
		readyReason, readyMsg = "PodCompleted", ""
	}
	gatesMissing := missingReadinessGates(pod)
	podReady := cond(corev1.PodReady, containersReady && len(gatesMissing) == 0, readyReason, readyMsg)
	if containersReady && len(gatesMissing) > 0 {
		podReady.Reason = "ReadinessGatesNotReady"
		podReady.Message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", strings.Join(gatesMissing, ","))
	}

	initMsg := ""
	if len(pendingInit) > 0 {
		initMsg = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pendingInit, " "))
	}
	owned := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, run.PodIP != "" && !terminal, "", ""),
		cond(corev1.PodInitialized, run.InitDone, "ContainersNotInitialized", initMsg),
		podReady,
		cond(corev1.ContainersReady, containersReady, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	isOwned := map[corev1.PodConditionType]bool{}
	for _, c := range owned {
		isOwned[c.Type] = true
	}
	st.Conditions = append(st.Conditions, owned...)
	for _, o := range old.Conditions {
		if !isOwned[o.Type] {
			st.Conditions = append(st.Conditions, o)
		}
	}
	slices.SortStableFunc(st.Conditions, func(a, b corev1.PodCondition) int { return strings.Compare(string(a.Type), string(b.Type)) })
	return st
}

// notReady lists the containers that are not ready and the init containers that
// have not completed.
func (r PodRun) notReady() (containers, initContainers []string) {
	for _, c := range r.Containers {
		if !c.Ready {
			containers = append(containers, c.Name)
		}
	}
	for _, c := range r.Init {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
			initContainers = append(initContainers, c.Name)
		}
	}
	return containers, initContainers
}

// missingReadinessGates lists the readiness gates whose condition is not True.
func missingReadinessGates(pod *corev1.Pod) []string {
	var missing []string
	for _, g := range pod.Spec.ReadinessGates {
		ok := slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == g.ConditionType && c.Status == corev1.ConditionTrue
		})
		if !ok {
			missing = append(missing, string(g.ConditionType))
		}
	}
	return missing
}

func containerStatus(c ContainerRun) corev1.ContainerStatus {
	started := c.State.Running != nil
	return corev1.ContainerStatus{
		Name:                 c.Name,
		Image:                c.Image,
		ImageID:              c.Image,
		ContainerID:          c.ContainerID,
		State:                c.State,
		LastTerminationState: c.LastState,
		RestartCount:         c.RestartCount,
		Ready:                c.Ready && c.State.Running != nil,
		Started:              &started,
	}
}
