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

package plugin

// `kubectl runbook report`: what a bug report or a post-mortem needs, as one
// redacted, size-bounded tar.gz. Redaction and the bound are internal/evidence's (the
// Incident's evidence capture uses the same): the values of every Secret the objects
// and pods refer to, and secret-looking text, never leave the cluster.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/evidence"
)

// Bounds of what a report reads.
const (
	reportPods   = 30
	reportEvents = 500
)

// ReportManifest is manifest.json in the archive: what report.txt holds.
type ReportManifest struct {
	Namespace string    `json:"namespace"`
	Release   string    `json:"release,omitempty"`
	Created   time.Time `json:"created"`
	SHA256    string    `json:"sha256"`
	Truncated bool      `json:"truncated"`
	Sections  []string  `json:"sections"`
	// Notes say what could not be read (e.g. the manager's logs without access to
	// its namespace).
	Notes []string `json:"notes,omitempty"`
}

// SecretNames are the Secrets the snapshot's objects refer to.
func (s Snapshot) SecretNames() []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	s3 := func(l opsv1alpha1.S3Location) {
		if l.CredentialsSecretRef != nil {
			add(l.CredentialsSecretRef.Name)
		}
	}
	for _, r := range s.Releases {
		if r.Spec.Database != nil {
			add(r.Spec.Database.SecretRef.Name)
		}
		if r.Spec.Backup != nil && r.Spec.Backup.Destination != nil {
			s3(r.Spec.Backup.Destination.S3)
		}
		for _, p := range r.Spec.ImagePullSecrets {
			add(p.Name)
		}
		for _, ef := range r.Spec.EnvFrom {
			if ef.SecretRef != nil {
				add(ef.SecretRef.Name)
			}
		}
	}
	for _, x := range s.Schedules {
		add(x.Spec.Template.Spec.Database.SecretRef.Name)
		s3(x.Spec.Template.Spec.Destination.S3)
	}
	for _, x := range s.Backups {
		add(x.Spec.Database.SecretRef.Name)
		s3(x.Spec.Destination.S3)
	}
	for _, x := range s.Restores {
		add(x.Spec.Database.SecretRef.Name)
		if x.Spec.Source.S3 != nil {
			s3(x.Spec.Source.S3.S3Location)
		}
	}
	for _, x := range s.Rotations {
		add(x.Spec.SecretName)
	}
	for _, x := range s.Incidents {
		for _, n := range x.Spec.Notify {
			add(n.SecretRef.Name)
		}
	}
	return names
}

// podSecretNames are the Secrets pods read through env and envFrom.
func podSecretNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					names = append(names, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					names = append(names, ef.SecretRef.Name)
				}
			}
		}
	}
	return names
}

// ObjectSections are the snapshot's objects as YAML, one section each, without
// managedFields.
func ObjectSections(s Snapshot) []evidence.Section {
	var out []evidence.Section
	for _, o := range s.Objects()["items"].([]runtime.Object) {
		obj := o.DeepCopyObject().(client.Object)
		obj.SetManagedFields(nil)
		b, err := yaml.Marshal(obj)
		if err != nil {
			b = []byte(err.Error())
		}
		out = append(out, evidence.Section{Name: "objects/" + obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetName(), Content: string(b)})
	}
	return out
}

// involved is the set of kind/name the events of a report are about.
func involved(s Snapshot, pods []corev1.Pod, jobs []string) map[string]bool {
	m := map[string]bool{}
	for _, o := range s.Objects()["items"].([]runtime.Object) {
		obj := o.(client.Object)
		m[obj.GetObjectKind().GroupVersionKind().Kind+"/"+obj.GetName()] = true
	}
	for _, p := range pods {
		m["Pod/"+p.Name] = true
	}
	for _, j := range jobs {
		m["Job/"+j] = true
	}
	for _, r := range s.Releases {
		for _, c := range r.Spec.Components {
			m["Deployment/"+r.Name+"-"+c.Name] = true
		}
	}
	return m
}

// EventsSection lists the events about the objects of want, oldest first.
func EventsSection(events []corev1.Event, want map[string]bool) evidence.Section {
	var keep []corev1.Event
	for _, e := range events {
		if want[e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name] {
			keep = append(keep, e)
		}
	}
	slices.SortStableFunc(keep, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(keep) > reportEvents {
		keep = keep[len(keep)-reportEvents:]
	}
	var b strings.Builder
	for _, e := range keep {
		fmt.Fprintf(&b, "%s %s %s %s/%s (x%d): %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, max(e.Count, 1), strings.TrimSpace(e.Message))
	}
	return evidence.Section{Name: "events", Content: b.String(), Tail: true}
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

// WriteReport writes the archive: report.txt (the assembled bundle) and
// manifest.json.
func WriteReport(w io.Writer, m ReportManifest, b evidence.Bundle) error {
	m.SHA256, m.Truncated = b.SHA256, b.Truncated
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", append(man, '\n')}, {"report.txt", []byte(b.Data)}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: m.Created}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func reportCommand(e *env) *cobra.Command {
	var release, file, managerNS string
	var maxBytes int
	cmd := &cobra.Command{
		Use:   "report [--release RELEASE] [-f FILE]",
		Short: "A redacted, size-bounded tar.gz of the runbook objects, their events and the recent logs, for a bug report or a post-mortem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			cfg, err := e.restConfig()
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			snap, err := readSnapshot(ctx, c, ns, release)
			if err != nil {
				return err
			}
			now := e.now()
			m := ReportManifest{Namespace: ns, Release: release, Created: now.UTC().Truncate(time.Second)}
			sections := ObjectSections(snap)

			pods, jobs, err := affectedPods(ctx, c, ns, snap)
			if err != nil {
				return err
			}
			var events corev1.EventList
			if err := c.List(ctx, &events, client.InNamespace(ns)); err != nil {
				m.Notes = append(m.Notes, "events: "+err.Error())
			}
			sections = append(sections, EventsSection(events.Items, involved(snap, pods, jobs)))
			sections = append(sections, podSections(pods)...)
			var mgr corev1.PodList
			if err := c.List(ctx, &mgr, client.InNamespace(managerNS), client.MatchingLabels{"control-plane": "controller-manager"}); err != nil {
				m.Notes = append(m.Notes, fmt.Sprintf("manager pods in namespace %s: %v (give --manager-namespace)", managerNS, err))
			} else if len(mgr.Items) == 0 {
				m.Notes = append(m.Notes, fmt.Sprintf("no manager pod (label control-plane=controller-manager) in namespace %s (give --manager-namespace)", managerNS))
			}
			logs, notes := podLogs(ctx, cs, append(mgr.Items, pods...))
			sections = append(sections, logs...)
			m.Notes = append(m.Notes, notes...)

			values, notes := secretValues(ctx, c, ns, append(snap.SecretNames(), podSecretNames(pods)...))
			m.Notes = append(m.Notes, notes...)
			mv, _ := secretValues(ctx, c, managerNS, podSecretNames(mgr.Items))
			values = append(values, mv...)
			for _, s := range sections {
				m.Sections = append(m.Sections, s.Name)
			}
			if len(m.Notes) > 0 {
				sections = append(sections, evidence.Section{Name: "notes", Content: strings.Join(m.Notes, "\n")})
			}
			bundle := evidence.Assemble(sections, evidence.NewRedactor(values), maxBytes)
			if file == "" {
				file = fmt.Sprintf("runbook-report-%s-%s.tar.gz", ns, stamp(now))
			}
			var buf bytes.Buffer
			if err := WriteReport(&buf, m, bundle); err != nil {
				return err
			}
			if file == "-" {
				_, err := e.streams.Out.Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
				return err
			}
			trunc := ""
			if bundle.Truncated {
				trunc = ", cut to fit"
			}
			e.printf("wrote %s (%d sections, %d bytes before compression%s, Secret values redacted; sha256 of report.txt %s)\n", file, len(m.Sections), len(bundle.Data), trunc, short(bundle.SHA256))
			for _, n := range m.Notes {
				e.printf("note: %s\n", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&release, "release", "", "only this Release and what concerns it")
	f.StringVarP(&file, "file", "f", "", "where to write the tar.gz (default runbook-report-<namespace>-<time>.tar.gz; - for stdout)")
	f.StringVar(&managerNS, "manager-namespace", "runbook-operator-system", "the operator's namespace, for its logs")
	f.IntVar(&maxBytes, "max-bytes", evidence.DefaultMaxBytes, "bound of report.txt before compression")
	_ = cmd.RegisterFlagCompletionFunc("release", e.completeFlag("", &opsv1alpha1.ReleaseList{}))
	return cmd
}

// affectedPods are the pods of the snapshot's Releases (their component label) and
// of the Jobs of its backups and restores, at most reportPods.
func affectedPods(ctx context.Context, c client.Client, ns string, s Snapshot) ([]corev1.Pod, []string, error) {
	var jobs []string
	for _, b := range s.Backups {
		if b.Status.JobName != "" {
			jobs = append(jobs, b.Status.JobName)
		}
	}
	for _, r := range s.Restores {
		if r.Status.JobName != "" {
			jobs = append(jobs, r.Status.JobName)
		}
	}
	var all corev1.PodList
	if err := c.List(ctx, &all, client.InNamespace(ns)); err != nil {
		return nil, nil, err
	}
	var pods []corev1.Pod
	for _, p := range all.Items {
		rel := p.Labels[opsv1alpha1.LabelRelease]
		if (rel != "" && slices.ContainsFunc(s.Releases, func(r opsv1alpha1.Release) bool { return r.Name == rel })) || slices.Contains(jobs, p.Labels["job-name"]) {
			pods = append(pods, p)
		}
	}
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int { return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) })
	if len(pods) > reportPods {
		pods = pods[:reportPods]
	}
	return pods, jobs, nil
}

// podSections state each pod: phase, containers, restarts.
func podSections(pods []corev1.Pod) []evidence.Section {
	if len(pods) == 0 {
		return nil
	}
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s %s node=%s\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s image=%s ready=%t restarts=%d\n", cs.Name, cs.Image, cs.Ready, cs.RestartCount)
		}
	}
	return []evidence.Section{{Name: "pods", Content: b.String()}}
}

// podLogs reads each container's recent log (evidence's bounds), the previous
// container's too when it restarted.
func podLogs(ctx context.Context, cs kubernetes.Interface, pods []corev1.Pod) ([]evidence.Section, []string) {
	var out []evidence.Section
	var notes []string
	for _, p := range pods {
		for _, c := range p.Status.ContainerStatuses {
			for _, previous := range []bool{false, true} {
				if previous && c.RestartCount == 0 {
					continue
				}
				rc, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
					Container: c.Name, Previous: previous, TailLines: ptr.To(int64(evidence.DefaultLogLines)), LimitBytes: ptr.To(int64(evidence.DefaultLogBytes)),
				}).Stream(ctx)
				if err != nil {
					notes = append(notes, fmt.Sprintf("logs of %s/%s: %v", p.Name, c.Name, err))
					continue
				}
				data, err := io.ReadAll(io.LimitReader(rc, evidence.DefaultLogBytes+1))
				_ = rc.Close()
				if err != nil {
					notes = append(notes, fmt.Sprintf("logs of %s/%s: %v", p.Name, c.Name, err))
				}
				text, cut := evidence.TailLines(string(data), evidence.DefaultLogLines, evidence.DefaultLogBytes)
				name := "logs/" + p.Namespace + "/" + p.Name + "/" + c.Name
				if previous {
					name += " (previous)"
				}
				out = append(out, evidence.Section{Name: name, Content: text, Tail: true, Truncated: cut})
			}
		}
	}
	return out, notes
}

// secretValues are the values of the named Secrets, for the redactor. A Secret that
// cannot be read is noted (the pattern rules still apply).
func secretValues(ctx context.Context, c client.Client, ns string, names []string) ([]string, []string) {
	var values, notes []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		var s corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, &s); apierrors.IsNotFound(err) {
			notes = append(notes, fmt.Sprintf("Secret %s not found: only secret-looking text is redacted for it", n))
			continue
		} else if err != nil {
			notes = append(notes, fmt.Sprintf("Secret %s not read for redaction (%v): only secret-looking text is redacted for it", n, err))
			continue
		}
		for _, v := range s.Data {
			values = append(values, string(v))
		}
		for _, v := range s.StringData {
			values = append(values, v)
		}
	}
	return values, notes
}
