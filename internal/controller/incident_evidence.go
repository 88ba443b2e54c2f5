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
	"sync"
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
	"runbook-operator/internal/release"
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

// evidenceCheckReserve is the part of the bundle's bound kept for the database check,
// which is stored after the pods' part.
const evidenceCheckReserve = 64 << 10

// captureEvidence captures the evidence in two parts, each stored before the next
// starts. First what disappears when the pods are replaced (a rollback, a restart,
// takeOffline): the release's pods (statuses, restarts), the tail of every container's
// log including the previous instance's, the events about its objects and its
// workloads' history, read at once, redacted and stored in ConfigMaps owned by the
// incident, and status.evidence.podsCapturedAt set (a Release's rollback waits for
// it). Then, when the release has spec.database, the database check, an agent Job
// (see databaseCheck) that takes seconds to minutes and reads what stays: its report
// is stored as the bundle's last part. The action was recorded Running before; this
// records how each part ended. Nothing in the cluster is changed besides the
// ConfigMaps (and the check Job). It reports whether rec changed.
func (r *IncidentReconciler) captureEvidence(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	fail := func(format string, args ...any) bool {
		msg := fmt.Sprintf(format, args...)
		rec.State, rec.CompletionTime, rec.Message = opsv1alpha1.ActionFailed, ptrTime(s.now), cutMessage(msg)
		conditions.Set(inc, opsv1alpha1.ConditionEvidenceCaptured, "False", opsv1alpha1.ReasonFailed, cutMessage(msg))
		r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineFailed, "evidence/failed", corev1.EventTypeWarning, "EvidenceFailed", msg)
		return true
	}
	var rel *opsv1alpha1.Release
	if ref := inc.Spec.ReleaseRef; ref != nil {
		rel = &opsv1alpha1.Release{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: ref.Name}, rel); err != nil {
			if apierrors.IsNotFound(err) {
				return fail("spec.releaseRef: Release %s does not exist; no evidence captured", ref.Name)
			}
			return fail("cannot read Release %s: %v", ref.Name, err)
		}
	}
	if ev := inc.Status.Evidence; ev == nil || ev.PodsCapturedAt == nil {
		return r.capturePods(ctx, s, rec, rel, fail)
	}
	// The pods' part is stored; the database check reads what does not go away with
	// the pods, so it runs only now.
	sec := evidence.Section{Name: evidenceCheckSection, Content: "no database check: the Release has no spec.database any more\n"}
	if rel != nil && rel.Spec.Database != nil {
		var done, changed bool
		if sec, done, changed = r.databaseCheck(ctx, s, rec, rel); !done {
			return changed
		}
	}
	part := evidence.Assemble([]evidence.Section{sec}, evidence.NewRedactor(nil), evidenceCheckReserve)
	ev := inc.Status.Evidence
	whole := strings.Builder{}
	for _, name := range ev.ConfigMaps {
		var cm corev1.ConfigMap
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: name}, &cm); err != nil {
			return fail("reading back evidence ConfigMap %s: %v", name, err)
		}
		whole.WriteString(cm.Data[incident.EvidenceKey])
	}
	whole.WriteString(part.Data)
	names, err := r.storeEvidence(ctx, inc, part)
	if err != nil {
		return fail("%v", err)
	}
	bundle := evidence.Bundle{Data: whole.String(), Truncated: ev.Truncated || part.Truncated}
	bundle.SHA256 = evidence.Sum(bundle.Data)
	r.evidenceStored(s, rec, bundle, append(append([]string{}, ev.ConfigMaps...), names...),
		fmt.Sprintf("the release's pods, logs, events and workloads (read %s), then the database check", ev.PodsCapturedAt.UTC().Format(time.RFC3339)))
	return true
}

// capturePods reads and stores the evidence's first part (see captureEvidence); with
// nothing else to capture (no release, or one without spec.database) the evidence is
// then complete.
func (r *IncidentReconciler) capturePods(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord, rel *opsv1alpha1.Release, fail func(string, ...any) bool) bool {
	inc := s.inc
	var sections []evidence.Section
	var secretValues []string
	var summary []string
	if rel != nil {
		secs, values, sum, err := r.releaseEvidence(ctx, inc, rel)
		if err != nil {
			return fail("reading the release's objects: %v", err)
		}
		sections, secretValues, summary = secs, values, sum
		if why := rolledBackBefore(inc, rel); why != "" {
			r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineInfo, "evidence/after-rollback", corev1.EventTypeWarning, "EvidenceAfterRollback", why)
		}
	} else {
		secs, values, sum, err := r.namespaceEvidence(ctx, inc)
		if err != nil {
			return fail("reading the namespace's pods and events: %v", err)
		}
		sections, secretValues, summary = secs, values, sum
	}
	sections = append(sections, evidence.Section{Name: "incident", Content: fmt.Sprintf("%s/%s %s %q opened %s\n%s\n", inc.Namespace, inc.Name, inc.Spec.Severity, inc.Spec.Title,
		inc.Status.OpenedAt.UTC().Format(time.RFC3339), inc.Spec.Description)})
	check := rel != nil && rel.Spec.Database != nil
	bound := evidence.DefaultMaxBytes
	if check {
		bound -= evidenceCheckReserve
	}
	bundle := evidence.Assemble(sections, evidence.NewRedactor(secretValues), bound)
	names, err := r.storeEvidence(ctx, inc, bundle)
	if err != nil {
		return fail("%v", err)
	}
	what := strings.Join(summary, ", ")
	if !check {
		r.evidenceStored(s, rec, bundle, names, what)
		return true
	}
	inc.Status.Evidence = &opsv1alpha1.Evidence{ConfigMaps: names, SizeBytes: int64(len(bundle.Data)), Truncated: bundle.Truncated, PodsCapturedAt: ptrTime(s.now)}
	msg := fmt.Sprintf("the release's pods read first (%s), %d bytes in ConfigMap(s) %s; the database check runs next", what, len(bundle.Data), strings.Join(names, ", "))
	rec.Message = cutMessage(msg)
	conditions.Set(inc, opsv1alpha1.ConditionEvidenceCaptured, "Unknown", opsv1alpha1.ReasonCapturingEvidence, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineInfo, "evidence/pods", corev1.EventTypeNormal, "PodsCaptured", msg)
	return true
}

// storeEvidence stores a part of the bundle in ConfigMaps owned by the incident and
// returns their names, in order.
func (r *IncidentReconciler) storeEvidence(ctx context.Context, inc *opsv1alpha1.Incident, part evidence.Bundle) ([]string, error) {
	var names []string
	for _, cm := range incident.EvidenceConfigMaps(inc, part.Pieces(evidence.DefaultPieceBytes), part.SHA256) {
		if err := controllerutil.SetControllerReference(inc, cm, r.Scheme()); err != nil {
			return nil, fmt.Errorf("owning ConfigMap %s: %w", cm.Name, err)
		}
		if err := r.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("storing ConfigMap %s: %w", cm.Name, err)
		}
		names = append(names, cm.Name)
	}
	return names, nil
}

// evidenceStored records the complete evidence (bundle, stored in names).
func (r *IncidentReconciler) evidenceStored(s *incidentScope, rec *opsv1alpha1.IncidentActionRecord, bundle evidence.Bundle, names []string, what string) {
	inc := s.inc
	pods := ptrTime(s.now)
	if ev := inc.Status.Evidence; ev != nil && ev.PodsCapturedAt != nil {
		pods = ev.PodsCapturedAt
	}
	inc.Status.Evidence = &opsv1alpha1.Evidence{ConfigMaps: names, SHA256: bundle.SHA256, SizeBytes: int64(len(bundle.Data)), Truncated: bundle.Truncated,
		CapturedAt: ptrTime(s.now), PodsCapturedAt: pods}
	if what == "" {
		what = "the incident only"
	}
	msg := fmt.Sprintf("evidence captured (%s), %d bytes, sha256 %s, in ConfigMap(s) %s; nothing was changed", what, len(bundle.Data), bundle.SHA256, strings.Join(names, ", "))
	rec.State, rec.CompletionTime, rec.Message, rec.Object = opsv1alpha1.ActionSucceeded, ptrTime(s.now), cutMessage(msg), names[0]
	conditions.Set(inc, opsv1alpha1.ConditionEvidenceCaptured, "True", opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	r.record(s, opsv1alpha1.TimelineEvidenceCaptured, opsv1alpha1.TimelineSucceeded, "evidence", corev1.EventTypeNormal, "EvidenceCaptured", msg)
}

// rolledBackBefore says, for an Incident a Release's rollback opened (labelled with
// the failed revision), when the release already wrote the stable templates before
// its pods were read (the rollback waits at most release.EvidenceWait): the failing
// revision's pods and logs may be missing. "" otherwise.
func rolledBackBefore(inc *opsv1alpha1.Incident, rel *opsv1alpha1.Release) string {
	rev := inc.Labels[opsv1alpha1.LabelRevision]
	if rev == "" || inc.Labels[opsv1alpha1.LabelRelease] != rel.Name {
		return ""
	}
	h := release.Find(rel.Status.History, rev)
	if h == nil || h.Result != opsv1alpha1.RevisionRolledBack || rel.Status.Phase == opsv1alpha1.ReleasePhaseRollingBack {
		return ""
	}
	return fmt.Sprintf("Release %s rolled revision %s back before its pods were read (it waits at most %s for this evidence): the failing revision's pods and their logs may be missing from the evidence",
		rel.Name, rev, release.EvidenceWait)
}

// Bounds of the evidence of an Incident that names no Release.
const evidenceNamespacePods = 20

// namespaceEvidence is the evidence of an Incident that names no Release (one an
// alert opened without a Release to point at, or one opened by hand): the namespace's
// latest Warning events, and its pods in trouble (incident.TroubledPods: not Ready,
// restarting or failed; at most evidenceNamespacePods) with their containers' log
// tails, the previous instance's included. The summary is never empty.
func (r *IncidentReconciler) namespaceEvidence(ctx context.Context, inc *opsv1alpha1.Incident) ([]evidence.Section, []string, []string, error) {
	var troubled []corev1.Pod
	cont := ""
	for {
		var page corev1.PodList
		if err := r.APIReader.List(ctx, &page, client.InNamespace(inc.Namespace), client.Limit(evidenceListPage), client.Continue(cont)); err != nil {
			return nil, nil, nil, err
		}
		troubled = incident.TroubledPods(append(troubled, page.Items...), evidenceNamespacePods)
		if cont = page.Continue; cont == "" {
			break
		}
	}
	events, err := r.latestEvents(ctx, inc.Namespace, client.MatchingFields{"type": corev1.EventTypeWarning}, nil, evidenceEvents)
	if err != nil {
		return nil, nil, nil, err
	}
	sections := []evidence.Section{
		{Name: "pods not Ready, restarting or failed", Content: podLines(troubled)},
		{Name: "Warning events of the namespace", Content: eventLines(events)},
	}
	values := r.podSecretValues(ctx, inc.Namespace, troubled)
	logSections, logs, previous := r.logTails(ctx, troubled)
	sections = append(sections, logSections...)
	summary := []string{
		fmt.Sprintf("no releaseRef: namespace %s's %d pods not Ready, restarting or failed", inc.Namespace, len(troubled)),
		fmt.Sprintf("%d log tails (%d of previous containers)", logs, previous),
		fmt.Sprintf("%d Warning events", len(events)),
	}
	return sections, values, summary, nil
}

// releaseEvidence reads the release's pods, logs, events and workloads.
func (r *IncidentReconciler) releaseEvidence(ctx context.Context, inc *opsv1alpha1.Incident, rel *opsv1alpha1.Release) ([]evidence.Section, []string, []string, error) {
	sel := client.MatchingLabels{opsv1alpha1.LabelRelease: rel.Name}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}
	// The failing revision's pods first: they are what the rollback waits to have read.
	pods.Items = incident.EvidencePods(pods.Items, inc.Labels[opsv1alpha1.LabelRevision], evidencePods)
	var deps appsv1.DeploymentList
	if err := r.APIReader.List(ctx, &deps, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}
	var rss appsv1.ReplicaSetList
	if err := r.APIReader.List(ctx, &rss, client.InNamespace(inc.Namespace), sel); err != nil {
		return nil, nil, nil, err
	}

	var b strings.Builder
	involved := involvedObjects{}
	involved.add("Release", rel.Name, rel.UID)
	for _, p := range pods.Items {
		involved.add("Pod", p.Name, p.UID)
	}
	b.WriteString(podLines(pods.Items))
	sections := []evidence.Section{{Name: "pods", Content: b.String()}}

	b.Reset()
	fmt.Fprintf(&b, "release %s: phase=%s current=%s stable=%s\n", rel.Name, rel.Status.Phase, rel.Status.CurrentRevision, rel.Status.StableRevision)
	for _, h := range rel.Status.History {
		fmt.Fprintf(&b, "  revision %s version=%s result=%s %s\n", h.Revision, h.Version, h.Result, h.Message)
	}
	for _, d := range deps.Items {
		involved.add("Deployment", d.Name, d.UID)
		fmt.Fprintf(&b, "deployment %s template=%s replicas=%d updated=%d ready=%d available=%d\n", d.Name, d.Spec.Template.Labels[opsv1alpha1.LabelRevision], ptr.Deref(d.Spec.Replicas, 0), d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
		for _, c := range d.Status.Conditions {
			fmt.Fprintf(&b, "  %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, rs := range rss.Items {
		involved.add("ReplicaSet", rs.Name, rs.UID)
		fmt.Fprintf(&b, "replicaset %s revision=%s template=%s replicas=%d ready=%d\n", rs.Name, rs.Annotations["deployment.kubernetes.io/revision"], rs.Labels[opsv1alpha1.LabelRevision], ptr.Deref(rs.Spec.Replicas, 0), rs.Status.ReadyReplicas)
	}
	sections = append(sections, evidence.Section{Name: "workloads", Content: b.String()})

	events, err := r.latestEvents(ctx, inc.Namespace, nil, involved.about, evidenceEvents)
	if err != nil {
		return nil, nil, nil, err
	}
	sections = append(sections, evidence.Section{Name: "events", Content: eventLines(events)})

	values := r.podSecretValues(ctx, inc.Namespace, pods.Items)
	logSections, logs, previous := r.logTails(ctx, pods.Items)
	sections = append(sections, logSections...)
	summary := []string{fmt.Sprintf("%d pods", len(pods.Items)), fmt.Sprintf("%d log tails (%d of previous containers)", logs, previous), fmt.Sprintf("%d events", len(events))}
	return sections, values, summary, nil
}

// involvedObjects are the objects whose events the evidence holds.
type involvedObjects map[string]bool

func (o involvedObjects) add(kind, name string, uid types.UID) {
	o["uid/"+string(uid)] = true
	o[kind+"/"+name] = true
}

// about reports whether e is about one of the objects: by UID, or by kind and name
// for an event that names no UID. An event about an earlier object of the same name
// (a pod deleted and created again) has another UID and is left out.
func (o involvedObjects) about(e *corev1.Event) bool {
	if e.InvolvedObject.UID != "" {
		return o["uid/"+string(e.InvolvedObject.UID)]
	}
	return o[e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name]
}

// podLines is the evidence's line per pod and per container: phase, revision, node,
// readiness, restarts, state and last state.
func podLines(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "pod %s phase=%s revision=%s node=%s\n", p.Name, p.Status.Phase, p.Labels[opsv1alpha1.LabelRevision], p.Spec.NodeName)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%s last=%s\n", c.Name, c.Ready, c.RestartCount, stateWords(c.State), stateWords(c.LastTerminationState))
		}
	}
	return b.String()
}

// eventLines is the evidence's line per event, oldest first.
func eventLines(events []corev1.Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s %s %s/%s %s (x%d): %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, max(e.Count, 1), e.Message)
	}
	return b.String()
}

// evidenceLogReaders bounds the pod log reads in flight at once: the rollback waits
// for them, and one at a time they took about a second for a Release of 50 pods.
const evidenceLogReaders = 8

// logTails reads the tail of every container's log of pods, and of its previous
// instance when it restarted, at most evidenceLogReaders at once; the sections come in
// the pods' order, each container's current log before its previous one, however
// the reads finish. It returns them with the count of tails and of previous ones.
func (r *IncidentReconciler) logTails(ctx context.Context, pods []corev1.Pod) ([]evidence.Section, int, int) {
	type read struct {
		pod       *corev1.Pod
		container string
		previous  bool
	}
	var reads []read
	for i := range pods {
		p := &pods[i]
		for _, c := range p.Status.ContainerStatuses {
			reads = append(reads, read{pod: p, container: c.Name})
			if c.RestartCount > 0 || c.LastTerminationState.Terminated != nil {
				reads = append(reads, read{pod: p, container: c.Name, previous: true})
			}
		}
	}
	sections := make([]evidence.Section, len(reads))
	logs := r.logs()
	var wg sync.WaitGroup
	sem := make(chan struct{}, evidenceLogReaders)
	previous := 0
	for i, rd := range reads {
		if rd.previous {
			previous++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("logs/%s/%s", rd.pod.Name, rd.container)
			if rd.previous {
				name += " (previous)"
			}
			text, err := logs.Tail(ctx, rd.pod.Namespace, rd.pod.Name, rd.container, rd.previous, evidence.DefaultLogLines, evidence.DefaultLogBytes)
			if err != nil {
				text = "log not readable: " + err.Error()
			}
			tail, cut := evidence.TailLines(text, evidence.DefaultLogLines, evidence.DefaultLogBytes)
			sections[i] = evidence.Section{Name: name, Content: tail, Tail: true, Truncated: cut}
		}()
	}
	wg.Wait()
	return sections, len(reads), previous
}

// evidenceListPage is the page size of the events list: the namespace's events are
// read once, in pages, and only those kept matches (at most three times limit) stay.
const evidenceListPage = 500

// latestEvents returns the latest limit events of the namespace that keep selects,
// oldest first; fields, when set, is a field selector the API server applies first
// (e.g. type=Warning). The namespace's events are listed once, in pages, through the
// API reader (the cache holds no events), and filtered here: one list for all the
// objects in question, where a field selector per object took a list each (60 for a
// Release of 50 pods). The manager holds one page and at most three times limit of
// the matching events at a time.
func (r *IncidentReconciler) latestEvents(ctx context.Context, namespace string, fields client.MatchingFields, keep func(*corev1.Event) bool, limit int) ([]corev1.Event, error) {
	var kept []corev1.Event
	cont := ""
	for {
		opts := []client.ListOption{client.InNamespace(namespace), client.Limit(evidenceListPage), client.Continue(cont)}
		if len(fields) > 0 {
			opts = append(opts, fields)
		}
		var page corev1.EventList
		if err := r.APIReader.List(ctx, &page, opts...); err != nil {
			return nil, fmt.Errorf("listing the events of namespace %s: %w", namespace, err)
		}
		for i := range page.Items {
			if keep == nil || keep(&page.Items[i]) {
				kept = append(kept, page.Items[i])
			}
		}
		if len(kept) > 2*limit {
			kept = keepLatest(kept, limit)
		}
		if cont = page.Continue; cont == "" {
			break
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
