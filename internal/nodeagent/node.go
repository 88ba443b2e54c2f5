package nodeagent

import (
	"context"
	"fmt"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// KubeletVersion is reported in the Node's nodeInfo.
const KubeletVersion = "v1.37.2"

const leaseDurationSeconds = 40

func (a *Agent) nodeCapacity() corev1.ResourceList {
	mem := resource.MustParse("8Gi")
	if total := hostMemoryBytes(); total > 0 {
		mem = *resource.NewQuantity(total, resource.BinarySI)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           mem,
		corev1.ResourcePods:             resource.MustParse("250"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

func (a *Agent) nodeStatus(now metav1.Time) corev1.NodeStatus {
	capacity := a.nodeCapacity()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: a.started}
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "devcluster node agent is posting ready status"),
		},
		// No Hostname address: the API server would try to resolve it to reach the
		// kubelet API (kubectl logs).
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.opts.HostIP}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.kubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			ContainerRuntimeVersion: "devcluster-nodeagent://host-processes",
			OSImage:                 "host processes (runbook-operator devcluster)",
		},
	}
}

// registerNode creates (or takes over) the Node and marks it Ready.
func (a *Agent) registerNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: a.opts.NodeName,
		Labels: map[string]string{
			"kubernetes.io/hostname":                a.opts.NodeName,
			"kubernetes.io/os":                      runtime.GOOS,
			"kubernetes.io/arch":                    runtime.GOARCH,
			"node.runbook.dev/devcluster":           "true",
			"node-role.kubernetes.io/control-plane": "",
		},
	}}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return true, nil
		}
		a.log.V(1).Info("creating node", "error", err.Error())
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.opts.NodeName, err)
	}
	return a.heartbeat(ctx)
}

// heartbeat renews the node Lease and the Ready condition; the node lifecycle
// controller marks the node NotReady (and later evicts its pods) without them.
func (a *Agent) heartbeat(ctx context.Context) error {
	now := metav1.Now().Rfc3339Copy()
	var node *corev1.Node
	// kube-controller-manager writes the Node too (right after it is created: taints,
	// annotations), so a read-modify-write can meet a conflict; read again and retry.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node: %w", err)
		}
		current.Status = a.nodeStatus(now)
		node, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update node status: %w", err)
	}
	leases := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	micro := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.opts.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      a.opts.NodeName,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.opts.NodeName),
				LeaseDurationSeconds: ptr.To(int32(leaseDurationSeconds)),
				RenewTime:            &micro,
			},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	case err == nil:
		lease.Spec.HolderIdentity = ptr.To(a.opts.NodeName)
		lease.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDurationSeconds))
		lease.Spec.RenewTime = &micro
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("renew node lease: %w", err)
	}
	return nil
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.log.Error(err, "node heartbeat failed")
			}
		}
	}
}
