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

// `kubectl runbook status`: the namespace's runbook objects as a tree, built from one
// read of each kind (Snapshot) by pure functions.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/names"
)

// Snapshot is every runbook object of a namespace, as read.
type Snapshot struct {
	Namespace string
	Releases  []opsv1alpha1.Release
	Schedules []opsv1alpha1.BackupSchedule
	Backups   []opsv1alpha1.DatabaseBackup
	Restores  []opsv1alpha1.DatabaseRestore
	Rotations []opsv1alpha1.SecretRotation
	Incidents []opsv1alpha1.Incident
}

// latestBackups is how many of a schedule's (or the unscheduled) backups are shown.
const latestBackups = 3

// ForRelease keeps the release and what concerns it: backups, schedules and restores
// of its database (or labelled with it), rotations restarting it, incidents about it.
// ok is false when there is no such Release.
func (s Snapshot) ForRelease(name string) (Snapshot, bool) {
	out := Snapshot{Namespace: s.Namespace}
	db := ""
	for _, r := range s.Releases {
		if r.Name == name {
			out.Releases = append(out.Releases, r)
			if r.Spec.Database != nil {
				db = r.Spec.Database.SecretRef.Name
			}
		}
	}
	if len(out.Releases) == 0 {
		return out, false
	}
	for _, x := range s.Schedules {
		if db != "" && x.Spec.Template.Spec.Database.SecretRef.Name == db {
			out.Schedules = append(out.Schedules, x)
		}
	}
	for _, x := range s.Backups {
		if (db != "" && x.Spec.Database.SecretRef.Name == db) || x.Labels[opsv1alpha1.LabelRelease] == name {
			out.Backups = append(out.Backups, x)
		}
	}
	for _, x := range s.Restores {
		if (db != "" && x.Spec.Database.SecretRef.Name == db) || (x.Spec.Quiesce != nil && x.Spec.Quiesce.ReleaseRef != nil && x.Spec.Quiesce.ReleaseRef.Name == name) {
			out.Restores = append(out.Restores, x)
		}
	}
	for _, x := range s.Rotations {
		for _, t := range x.Spec.RestartTargets {
			if t.Kind == opsv1alpha1.RestartRelease && t.Name == name {
				out.Rotations = append(out.Rotations, x)
				break
			}
		}
	}
	for _, x := range s.Incidents {
		if x.Spec.ReleaseRef != nil && x.Spec.ReleaseRef.Name == name {
			out.Incidents = append(out.Incidents, x)
		}
	}
	return out, true
}

// Objects is the snapshot as a v1 List (for -o json|yaml), each item with its kind
// and, as kubectl get shows them, without managedFields.
func (s Snapshot) Objects() map[string]any {
	var items []runtime.Object
	add := func(kind string, o interface {
		runtime.Object
		SetManagedFields([]metav1.ManagedFieldsEntry)
	}) {
		o.GetObjectKind().SetGroupVersionKind(opsv1alpha1.GroupVersion.WithKind(kind))
		o.SetManagedFields(nil)
		items = append(items, o)
	}
	for i := range s.Releases {
		add("Release", &s.Releases[i])
	}
	for i := range s.Schedules {
		add("BackupSchedule", &s.Schedules[i])
	}
	for i := range s.Backups {
		add("DatabaseBackup", &s.Backups[i])
	}
	for i := range s.Restores {
		add("DatabaseRestore", &s.Restores[i])
	}
	for i := range s.Rotations {
		add("SecretRotation", &s.Rotations[i])
	}
	for i := range s.Incidents {
		add("Incident", &s.Incidents[i])
	}
	if items == nil {
		items = []runtime.Object{}
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
}

// Palette colours words; the zero Palette leaves them plain.
type Palette struct{ On bool }

func (p Palette) paint(code, s string) string {
	if !p.On || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Good, Bad, Busy and Dim colour a word by what it means.
func (p Palette) Good(s string) string { return p.paint("32", s) }
func (p Palette) Bad(s string) string  { return p.paint("31", s) }
func (p Palette) Busy(s string) string { return p.paint("33", s) }
func (p Palette) Dim(s string) string  { return p.paint("2", s) }
func (p Palette) Bold(s string) string { return p.paint("1", s) }

// phase colours a phase word.
func (p Palette) phase(ph string) string {
	switch ph {
	case "Deployed", "Completed", "Idle", "Active", "Resolved", "Mitigated":
		return p.Good(ph)
	case "Failed", "Blocked", "RolledBack", "Failing", "Invalid", "Open":
		return p.Bad(ph)
	case "":
		return p.Dim("(not reconciled yet)")
	}
	return p.Busy(ph)
}

// node is one line of the tree and the lines under it.
type node struct {
	text     string
	children []node
}

func write(w io.Writer, n node, prefix string, last, root bool) {
	if root {
		fmt.Fprintln(w, n.text)
	} else {
		branch := "├── "
		if last {
			branch = "└── "
		}
		fmt.Fprintln(w, prefix+branch+n.text)
		if last {
			prefix += "    "
		} else {
			prefix += "│   "
		}
	}
	for i, c := range n.children {
		write(w, c, prefix, i == len(n.children)-1, false)
	}
}

func ago(now time.Time, t *metav1.Time) string {
	if t == nil {
		return "never"
	}
	if t.After(now) {
		return "in " + duration.HumanDuration(t.Sub(now))
	}
	return duration.HumanDuration(now.Sub(t.Time)) + " ago"
}

// RenderStatus writes the snapshot as a tree.
func RenderStatus(w io.Writer, s Snapshot, now time.Time, p Palette) {
	root := node{text: p.Bold("namespace " + s.Namespace)}
	for _, r := range s.Releases {
		root.children = append(root.children, releaseNode(r, now, p))
	}
	bySchedule := map[string][]opsv1alpha1.DatabaseBackup{}
	var loose []opsv1alpha1.DatabaseBackup
	backups := slices.Clone(s.Backups)
	slices.SortFunc(backups, func(a, b opsv1alpha1.DatabaseBackup) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	for _, b := range backups {
		sch := b.Labels[opsv1alpha1.LabelBackupSchedule]
		if i := slices.IndexFunc(s.Schedules, func(x opsv1alpha1.BackupSchedule) bool { return sch != "" && names.LabelValue(x.Name) == sch }); i >= 0 {
			bySchedule[s.Schedules[i].Name] = append(bySchedule[s.Schedules[i].Name], b)
		} else {
			loose = append(loose, b)
		}
	}
	for _, sch := range s.Schedules {
		n := scheduleNode(sch, now, p)
		n.children = backupNodes(bySchedule[sch.Name], now, p)
		root.children = append(root.children, n)
	}
	root.children = append(root.children, backupNodes(loose, now, p)...)
	for _, r := range s.Restores {
		root.children = append(root.children, restoreNode(r, now, p))
	}
	for _, r := range s.Rotations {
		root.children = append(root.children, rotationNode(r, now, p))
	}
	for _, i := range s.Incidents {
		if n, ok := incidentNode(i, now, p); ok {
			root.children = append(root.children, n)
		}
	}
	if len(root.children) == 0 {
		root.children = append(root.children, node{text: p.Dim("no runbook objects")})
	}
	write(w, root, "", true, true)
}

func releaseNode(r opsv1alpha1.Release, now time.Time, p Palette) node {
	st := r.Status
	text := fmt.Sprintf("Release %s  %s  %s", p.Bold(r.Name), p.phase(string(st.Phase)), r.Spec.Version)
	if st.CurrentRevision != "" {
		text += " (revision " + st.CurrentRevision + ")"
	}
	if st.StableRevision != "" && st.StableRevision != st.CurrentRevision {
		text += ", stable " + st.StableVersion + " (" + st.StableRevision + ")"
	}
	if pr := st.Progress; pr != nil && pr.Revision != st.CurrentRevision {
		text += ", in progress: revision " + pr.Revision
	}
	if r.Spec.Paused {
		text += "  " + p.Busy("paused")
	}
	if app, ok := ArgoCD(&r); ok {
		text += p.Dim("  Argo CD: " + app)
	}
	n := node{text: text}
	for _, c := range st.Components {
		ready := fmt.Sprintf("%d/%d ready", c.ReadyReplicas, c.Replicas)
		if c.ReadyReplicas < c.Replicas {
			ready = p.Busy(ready)
		}
		line := c.Name + "  " + ready
		if c.Revision != "" {
			line += "  revision " + c.Revision
		}
		n.children = append(n.children, node{text: line})
	}
	if c, ok := canaryNode(r, now, p); ok {
		n.children = append(n.children, c)
	}
	if g, ok := guardNode(r, p); ok {
		n.children = append(n.children, g)
	}
	return n
}

// canaryNode is the canary of the revision in progress while it runs (started, not
// passed, the rollout not begun), from status alone, e.g.
// "canary web: 1/1 ready beside 2 stable, healthy for 12s of 30s".
func canaryNode(r opsv1alpha1.Release, now time.Time, p Palette) (node, bool) {
	pr := r.Status.Progress
	if pr == nil || pr.Canary == nil || pr.Canary.Passed || pr.RolloutStartTime != nil {
		return node{}, false
	}
	c := pr.Canary
	ready := fmt.Sprintf("%d/%d ready", c.ReadyReplicas, c.Replicas)
	if c.ReadyReplicas < c.Replicas {
		ready = p.Busy(ready)
	}
	text := fmt.Sprintf("canary %s: %s beside %d stable", c.Component, ready, c.StableReplicas)
	window := r.Spec.Canary.WindowOrDefault()
	switch {
	case c.WindowStartTime != nil:
		healthy := min(max(now.Sub(c.WindowStartTime.Time), 0), window)
		text += fmt.Sprintf(", healthy for %s of %s", duration.HumanDuration(healthy), duration.HumanDuration(window))
	case c.StartTime != nil:
		text += ", " + p.Busy("starting") + " (started " + ago(now, c.StartTime) + ", window " + duration.HumanDuration(window) + ")"
	}
	if pr.FailedChecks > 0 && c.Message != "" {
		text += "  " + p.Bad(bounded(c.Message, maxStatusWords))
	}
	return node{text: text}, true
}

// maxStatusWords bounds a message or statement quoted on a status line (in runes).
const maxStatusWords = 120

// bounded cuts s to at most n runes, on one line, marking the cut with "…".
func bounded(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// guardNode is the destructive migration guard's finding on the revision in progress
// (or the current one) when the DestructiveMigration condition says it Blocked or
// Warned: how many statements, and the first of them.
func guardNode(r opsv1alpha1.Release, p Palette) (node, bool) {
	c := conditions.Get(&r, opsv1alpha1.ConditionDestructiveMigration)
	if c == nil || c.Status != metav1.ConditionTrue {
		return node{}, false
	}
	word := ""
	switch c.Reason {
	case opsv1alpha1.ReasonDestructiveMigrationBlocked:
		word = p.Bad("Blocked")
	case opsv1alpha1.ReasonDestructiveMigrationWarned:
		word = p.Busy("Warned")
	default:
		return node{}, false
	}
	findings := guardFindings(r.Status)
	if len(findings) == 0 {
		return node{text: "destructive migrations " + word + ": " + bounded(c.Message, maxStatusWords)}, true
	}
	count := fmt.Sprint(len(findings))
	if len(findings) >= opsv1alpha1.MaxDestructiveMigrations {
		count = "at least " + count
	}
	noun := "statements"
	if len(findings) == 1 {
		noun = "statement"
	}
	f := findings[0]
	what := f.Table
	if f.Column != "" {
		what += "." + f.Column
	}
	first := strings.TrimSpace(f.Migration + " " + f.Kind + " " + what)
	switch {
	case f.Note != "": // the row estimate a unique index was judged by (it names the table), rather than its statement
		first = f.Migration + " " + f.Kind + ": " + f.Note
	case f.Statement != "":
		first += ": " + f.Statement
	}
	return node{text: fmt.Sprintf("destructive migrations %s: %s %s, first %s", word, count, noun, bounded(first, maxStatusWords))}, true
}

// guardFindings are the findings recorded on the history entry of the revision in
// progress, else of the current revision, else the latest entry.
func guardFindings(st opsv1alpha1.ReleaseStatus) []opsv1alpha1.MigrationFinding {
	rev := st.CurrentRevision
	if st.Progress != nil {
		rev = st.Progress.Revision
	}
	for _, h := range st.History {
		if h.Revision == rev {
			return h.DestructiveMigrations
		}
	}
	if len(st.History) > 0 {
		return st.History[0].DestructiveMigrations
	}
	return nil
}

func scheduleNode(s opsv1alpha1.BackupSchedule, now time.Time, p Palette) node {
	st := s.Status
	tz := s.Spec.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	text := fmt.Sprintf("BackupSchedule %s  %s  %q %s", p.Bold(s.Name), p.phase(string(st.Phase)), s.Spec.Schedule, tz)
	last := "last good " + ago(now, st.LastSuccessfulTime)
	// The latest run did not succeed: the last good backup is older than it.
	if st.LastScheduleTime != nil && (st.LastSuccessfulTime == nil || st.LastSuccessfulTime.Before(st.LastScheduleTime)) && len(st.Active) == 0 {
		last = p.Bad(last + " (the latest run, " + ago(now, st.LastScheduleTime) + ", did not succeed)")
	}
	text += ", " + last + ", next " + ago(now, st.NextScheduleTime)
	if s.Spec.Suspend {
		text += "  " + p.Busy("suspended")
	}
	return node{text: text}
}

func backupNodes(bs []opsv1alpha1.DatabaseBackup, now time.Time, p Palette) []node {
	var out []node
	for i, b := range bs {
		if i == latestBackups {
			out = append(out, node{text: p.Dim(fmt.Sprintf("… %d older", len(bs)-latestBackups))})
			break
		}
		st := b.Status
		text := fmt.Sprintf("DatabaseBackup %s  %s  %s", b.Name, p.phase(string(st.Phase)), ago(now, &b.CreationTimestamp))
		switch st.Phase {
		case opsv1alpha1.BackupPhaseCompleted:
			text += "  " + bytesWords(st.SizeBytes)
		case opsv1alpha1.BackupPhaseFailed:
			text += "  " + p.Bad(statusMessage(&b))
		default:
			if w := progressWords(st.Progress); w != "" {
				text += "  " + w
			}
		}
		out = append(out, node{text: text})
	}
	return out
}

func restoreNode(r opsv1alpha1.DatabaseRestore, now time.Time, p Palette) node {
	st := r.Status
	source := ""
	if r.Spec.Source.BackupRef != nil {
		source = "from " + r.Spec.Source.BackupRef.Name
	} else if r.Spec.Source.S3 != nil {
		source = "from s3 " + r.Spec.Source.S3.Key
	}
	text := fmt.Sprintf("DatabaseRestore %s  %s  %s  %s", r.Name, p.phase(string(st.Phase)), source, ago(now, &r.CreationTimestamp))
	switch st.Phase {
	case opsv1alpha1.RestorePhaseCompleted:
		if st.PreviousDatabase != "" {
			text += "  kept " + st.PreviousDatabase
		}
	case opsv1alpha1.RestorePhaseFailed:
		text += "  " + p.Bad(statusMessage(&r))
	default:
		if w := progressWords(st.Progress); w != "" {
			text += "  " + w
		}
	}
	return node{text: text}
}

func rotationNode(r opsv1alpha1.SecretRotation, now time.Time, p Palette) node {
	st := r.Status
	text := fmt.Sprintf("SecretRotation %s  %s  Secret %s, last %s, next %s", r.Name, p.phase(string(st.Phase)), r.Spec.SecretName, ago(now, st.LastRotationTime), ago(now, st.NextRotationTime))
	if r.Spec.Mode == opsv1alpha1.RotationImmediate {
		text += "  " + p.Busy("mode Immediate (the next rotateRequest is an emergency too)")
	}
	if st.Phase == opsv1alpha1.RotationPhaseFailed || st.Phase == opsv1alpha1.RotationPhaseBlocked {
		text += "  " + p.Bad(statusMessage(&r))
	}
	return node{text: text}
}

// incidentNode shows open incidents (not resolved) with their deadline.
func incidentNode(i opsv1alpha1.Incident, now time.Time, p Palette) (node, bool) {
	st := i.Status
	if st.Phase == opsv1alpha1.IncidentPhaseResolved {
		return node{}, false
	}
	text := fmt.Sprintf("Incident %s  %s %s  %q", p.Bold(i.Name), p.Bad(string(i.Spec.Severity)), p.phase(string(st.Phase)), i.Spec.Title)
	switch {
	case st.Acknowledgement != nil && st.Phase != opsv1alpha1.IncidentPhaseOpen:
		text += ", acknowledged by " + st.Acknowledgement.By
	case st.ResponseDeadline != nil:
		d := "deadline " + ago(now, st.ResponseDeadline)
		if st.ResponseDeadline.Time.Before(now) {
			d = p.Bad(d + fmt.Sprintf(", escalations: %d", st.Escalations))
		}
		text += ", " + d
	}
	var actions []string
	for _, a := range st.Actions {
		actions = append(actions, a.Name+" "+string(a.State))
	}
	if len(actions) > 0 {
		text += p.Dim("  [" + strings.Join(actions, ", ") + "]")
	}
	return node{text: text}, true
}

// Status writes `kubectl runbook status [release]` of namespace ns as read through c
// (for callers with a client of their own, e.g. the demo).
func Status(ctx context.Context, c client.Client, w io.Writer, ns, release string, now time.Time, p Palette) error {
	s, err := readSnapshot(ctx, c, ns, release)
	if err != nil {
		return err
	}
	RenderStatus(w, s, now, p)
	return nil
}
