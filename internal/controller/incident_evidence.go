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

package controller

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/incident"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create
// +kubebuilder:rbac:groups=apps,resources=deployments;replicasets,verbs=get;list
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get

// PodLogs reads a container's log tail through pods/log.
type PodLogs interface {
	// Tail returns at most lines lines and bytes bytes of the end of container's log
	// in pod; previous: of the container's previous instance.
	Tail(ctx context.Context, namespace, pod, container string, previous bool, lines, bytes int64) (string, error)
}

// apiPodLogs is PodLogs through the API server.
type apiPodLogs struct{ cs kubernetes.Interface }

func (l apiPodLogs) Tail(ctx context.Context, namespace, pod, container string, previous bool, lines, bytes int64) (string, error) {
	rc, err := l.cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: ptr.To(lines), LimitBytes: ptr.To(bytes),
	}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, bytes+1))
	return string(b), err
}

// Bounds of what is read for evidence.
const (
	evidenceEvents = 200
	evidencePods   = 50
)

// captureEvidence reads the release's pods (statuses, restarts, log tails including
// the previous containers'), the events about its objects and its workloads'
// history, redacts them, and stores the bundle in ConfigMaps owned by the incident.
// When the release has spec.database, the agent's database check runs first as a Job
// (see databaseCheck) and its report is a section of the bundle. The action was
// recorded Running before; this records how it ended. Nothing in the cluster is
// changed besides the ConfigMaps (and the check Job). It reports whether rec changed.
func (r *IncidentReconciler) captureEvidence(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	fail := func(format string, args ...any) bool {
		msg := fmt.Sprintf(format, args...)
		rec.State, rec.CompletionTime, rec.Message = opsv1alpha1.ActionFailed, ptrTime(s.now), cutMessage(msg)
		conditions.Set(inc, opsv1alpha1.ConditionEvidenceCaptured, "False", opsv1alpha1.ReasonFailed, cutMessage(msg))
		r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineFailed, "evidence/failed", corev1.EventTypeWarning, "EvidenceFailed", msg)
		return true
	}
	var sections []evidence.Section
	var secretValues []string
	summary := []string{}
	if ref := inc.Spec.ReleaseRef; ref != nil {
		rel := &opsv1alpha1.Release{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: ref.Name}, rel); err != nil {
			if apierrors.IsNotFound(err) {
				return fail("spec.releaseRef: Release %s does not exist; no evidence captured", ref.Name)
			}
			return fail("cannot read Release %s: %v", ref.Name, err)
		}
		var check *evidence.Section
		if rel.Spec.Database != nil {
			sec, done, changed := r.databaseCheck(ctx, s, rec, rel)
			if !done {
				return changed
			}
			check = &sec
		}
		secs, values, sum, err := r.releaseEvidence(ctx, inc, rel)
		if err != nil {
			return fail("reading the release's objects: %v", err)
		}
		sections, secretValues, summary = secs, values, sum
		if check != nil {
			sections = append(sections, *check)
			summary = append(summary, "the database check")
		}
	}
	sections = append(sections, evidence.Section{Name: "incident", Content: fmt.Sprintf("%s/%s %s %q opened %s\n%s\n", inc.Namespace, inc.Name, inc.Spec.Severity, inc.Spec.Title,
		inc.Status.OpenedAt.UTC().Format(time.RFC3339), inc.Spec.Description)})
	bundle := evidence.Assemble(sections, evidence.NewRedactor(secretValues), evidence.DefaultMaxBytes)
	pieces := bundle.Pieces(evidence.DefaultPieceBytes)
	var names []string
	for _, cm := range incident.EvidenceConfigMaps(inc, pieces, bundle.SHA256) {
		if err := controllerutil.SetControllerReference(inc, cm, r.Scheme()); err != nil {
			return fail("owning ConfigMap %s: %v", cm.Name, err)
		}
		if err := r.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fail("storing ConfigMap %s: %v", cm.Name, err)
		}
		names = append(names, cm.Name)
	}
	inc.Status.Evidence = &opsv1alpha1.Evidence{ConfigMaps: names, SHA256: bundle.SHA256, SizeBytes: int64(len(bundle.Data)), Truncated: bundle.Truncated, CapturedAt: ptrTime(s.now)}
	msg := fmt.Sprintf("evidence captured (%s), %d bytes, sha256 %s, in ConfigMap(s) %s; nothing was changed", strings.Join(summary, ", "), len(bundle.Data), bundle.SHA256, strings.Join(names, ", "))
	rec.State, rec.CompletionTime, rec.Message, rec.Object = opsv1alpha1.ActionSucceeded, ptrTime(s.now), cutMessage(msg), names[0]
	conditions.Set(inc, opsv1alpha1.ConditionEvidenceCaptured, "True", opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineSucceeded, "evidence", corev1.EventTypeNormal, "EvidenceCaptured", msg)
	return true
}

// releaseEvidence reads the release's pods, logs, events and workloads.
func (r *IncidentReconciler) releaseEvidence(ctx context.Context, inc *opsv1alpha1.Incident, rel *opsv1alpha1.Release) ([]evidence.Section, []string, []string, error) {
	sel := client.MatchingLabels{opsv1alpha1.LabelRelease: rel.Name}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if len(pods.Items) > evidencePods {
		pods.Items = pods.Items[:evidencePods]
	}
	var deps appsv1.DeploymentList
	if err := r.APIReader.List(ctx, &deps, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}
	var rss appsv1.ReplicaSetList
	if err := r.APIReader.List(ctx, &rss, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}

	var b strings.Builder
	involved := []corev1.ObjectReference{{Kind: "Release", Name: rel.Name}}
	for _, p := range pods.Items {
		involved = append(involved, corev1.ObjectReference{Kind: "Pod", Name: p.Name})
		fmt.Fprintf(&b, "pod %s phase=%s node=%s\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%s last=%s\n", c.Name, c.Ready, c.RestartCount, stateWords(c.State), stateWords(c.LastTerminationState))
		}
	}
	sections := []evidence.Section{{Name: "pods", Content: b.String()}}

	b.Reset()
	fmt.Fprintf(&b, "release %s: phase=%s current=%s stable=%s\n", rel.Name, rel.Status.Phase, rel.Status.CurrentRevision, rel.Status.StableRevision)
	for _, h := range rel.Status.History {
		fmt.Fprintf(&b, "  revision %s version=%s result=%s %s\n", h.Revision, h.Version, h.Result, h.Message)
	}
	for _, d := range deps.Items {
		involved = append(involved, corev1.ObjectReference{Kind: "Deployment", Name: d.Name})
		fmt.Fprintf(&b, "deployment %s replicas=%d updated=%d ready=%d available=%d\n", d.Name, ptr.Deref(d.Spec.Replicas, 0), d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
		for _, c := range d.Status.Conditions {
			fmt.Fprintf(&b, "  %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, rs := range rss.Items {
		involved = append(involved, corev1.ObjectReference{Kind: "ReplicaSet", Name: rs.Name})
		fmt.Fprintf(&b, "replicaset %s revision=%s template=%s replicas=%d ready=%d\n", rs.Name, rs.Annotations["deployment.kubernetes.io/revision"], rs.Labels[opsv1alpha1.LabelRevision], ptr.Deref(rs.Spec.Replicas, 0), rs.Status.ReadyReplicas)
	}
	sections = append(sections, evidence.Section{Name: "workloads", Content: b.String()})

	events, err := r.latestEvents(ctx, inc.Namespace, involved, evidenceEvents)
	if err != nil {
		return nil, nil, nil, err
	}
	b.Reset()
	for _, e := range events {
		fmt.Fprintf(&b, "%s %s %s/%s %s (x%d): %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, max(e.Count, 1), e.Message)
	}
	sections = append(sections, evidence.Section{Name: "events", Content: b.String()})

	values := r.podSecretValues(ctx, inc.Namespace, pods.Items)
	logs, previous := 0, 0
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			for _, prev := range []bool{false, true} {
				if prev && c.RestartCount == 0 && c.LastTerminationState.Terminated == nil {
					continue
				}
				name := fmt.Sprintf("logs/%s/%s", p.Name, c.Name)
				if prev {
					name += " (previous)"
				}
				text, err := r.logs().Tail(ctx, p.Namespace, p.Name, c.Name, prev, evidence.DefaultLogLines, evidence.DefaultLogBytes)
				if err != nil {
					text = "log not readable: " + err.Error()
				}
				tail, cut := evidence.TailLines(text, evidence.DefaultLogLines, evidence.DefaultLogBytes)
				sections = append(sections, evidence.Section{Name: name, Content: tail, Tail: true, Truncated: cut})
				logs++
				if prev {
					previous++
				}
			}
		}
	}
	summary := []string{fmt.Sprintf("%d pods", len(pods.Items)), fmt.Sprintf("%d log tails (%d of previous containers)", logs, previous), fmt.Sprintf("%d events", len(events))}
	return sections, values, summary, nil
}

// latestEvents returns the latest limit events about the objects (kind and name), oldest
// first. Each object's events are listed with a field selector on involvedObject.kind
// and involvedObject.name through the API reader (the API server filters; the cache
// holds no events), in pages of limit: the manager never holds the namespace's other
// events, and holds at most three times limit of the object's own however many it has.
func (r *IncidentReconciler) latestEvents(ctx context.Context, namespace string, objects []corev1.ObjectReference, limit int) ([]corev1.Event, error) {
	var kept []corev1.Event
	for _, o := range objects {
		sel := client.MatchingFields{"involvedObject.kind": o.Kind, "involvedObject.name": o.Name}
		cont := ""
		for {
			var page corev1.EventList
			if err := r.APIReader.List(ctx, &page, client.InNamespace(namespace), sel, client.Limit(int64(limit)), client.Continue(cont)); err != nil {
				return nil, fmt.Errorf("listing the events of %s %s: %w", o.Kind, o.Name, err)
			}
			kept = append(kept, page.Items...)
			if len(kept) > 2*limit {
				kept = keepLatest(kept, limit)
			}
			if cont = page.Continue; cont == "" {
				break
			}
		}
	}
	return keepLatest(kept, limit), nil
}

// keepLatest sorts events oldest first (by time, then name: an event's name carries its
// object's name and a timestamp) and keeps the last limit.
func keepLatest(events []corev1.Event, limit int) []corev1.Event {
	slices.SortFunc(events, func(a, b corev1.Event) int {
		return cmp.Or(eventTime(a).Compare(eventTime(b)), strings.Compare(a.Name, b.Name))
	})
	if len(events) > limit {
		events = slices.Delete(events, 0, len(events)-limit) // zeroes the tail: the dropped events are freed
	}
	return events
}

// podSecretValues reads the values of the Secrets the pods' containers take env from
// (secretKeyRef, envFrom), each Secret with one get, so that they are redacted.
func (r *IncidentReconciler) podSecretValues(ctx context.Context, namespace string, pods []corev1.Pod) []string {
	keys := map[string]map[string]bool{} // Secret → keys (nil: all)
	for _, p := range pods {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
					if keys[ref.SecretKeyRef.Name] == nil {
						keys[ref.SecretKeyRef.Name] = map[string]bool{}
					}
					keys[ref.SecretKeyRef.Name][ref.SecretKeyRef.Key] = true
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					keys[ef.SecretRef.Name] = map[string]bool{"*": true}
				}
			}
		}
	}
	var values []string
	for name, want := range keys {
		var sec corev1.Secret
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &sec); err != nil {
			continue
		}
		for k, v := range sec.Data {
			if want["*"] || want[k] {
				values = append(values, string(v))
			}
		}
	}
	return values
}

func stateWords(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting(" + s.Waiting.Reason + ")"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s, exit %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "-"
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func (r *IncidentReconciler) logs() PodLogs {
	if r.Logs != nil {
		return r.Logs
	}
	return noLogs{}
}

// noLogs is used when no clientset could be built: the bundle says so.
type noLogs struct{}

func (noLogs) Tail(context.Context, string, string, string, bool, int64, int64) (string, error) {
	return "", fmt.Errorf("pods/log is not available to the manager")
}
