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

package jobstep

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Bounds of one read of a pod's log: the agent prints two lines every 5 s, so the
// last 40 lines hold several progress lines; limitBytes keeps a pathological line
// from costing more.
const (
	progressTailLines  = 40
	progressLimitBytes = 64 << 10
)

// JobLogs reads the tail of the agent container's log of a running Job's pod. The
// manager's implementation uses pods/log (get); the envtest suite injects text,
// since envtest runs no kubelet to serve logs.
type JobLogs interface {
	Tail(ctx context.Context, job *batchv1.Job) ([]byte, error)
}

// podLogs is JobLogs through the API server: the Job's newest pod (listed with the
// uncached reader), its container's log's last progressTailLines lines.
type podLogs struct {
	reader    client.Reader
	pods      kubernetes.Interface
	container string
}

// NewPodLogs reads the log of container through pods/log (get) on the API server at
// cfg; reader lists pods (uncached).
func NewPodLogs(cfg *rest.Config, reader client.Reader, container string) (JobLogs, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &podLogs{reader: reader, pods: cs, container: container}, nil
}

func (l *podLogs) Tail(ctx context.Context, job *batchv1.Job) ([]byte, error) {
	if job.Status.Active == 0 {
		return nil, nil // no pod runs yet (or any more): no API call
	}
	newest, err := NewestPod(ctx, l.reader, job)
	if err != nil || newest == nil {
		return nil, err
	}
	tail, limit := int64(progressTailLines), int64(progressLimitBytes)
	return l.pods.CoreV1().Pods(job.Namespace).GetLogs(newest.Name, &corev1.PodLogOptions{
		Container: l.container, TailLines: &tail, LimitBytes: &limit,
	}).DoRaw(ctx)
}

// NewestPod is the newest pod of job that got past Pending (its container ran, so it
// has a log), listed with reader (uncached, so that a pod just created is seen), or
// nil when there is none. Pods another Job of that name controls are skipped when job
// carries its UID (a Job built from the spec, not read back, has none: the name's
// label alone then).
func NewestPod(ctx context.Context, reader client.Reader, job *batchv1.Job) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return nil, err
	}
	var newest *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if (job.UID != "" && !ownedByJob(p, job)) || p.Status.Phase == corev1.PodPending {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
			newest = p
		}
	}
	return newest, nil
}
