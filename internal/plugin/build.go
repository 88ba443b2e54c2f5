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

// Package plugin is `kubectl runbook`: commands for people on call that create or
// patch the same custom resources a person could write by hand, and follow them until
// they end. Nothing a controller does is done here. This file holds the pure parts:
// the objects and patches each command writes, and the names it gives them.
package plugin

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Labels and annotations the plugin puts on what it creates, so that a person (and
// `kubectl runbook status`) can tell them apart from Git's.
const (
	// LabelCreatedBy is app.kubernetes.io/managed-by's neighbour: who made the object.
	LabelCreatedBy = "app.kubernetes.io/created-by"
	// CreatedByValue is the plugin's value of LabelCreatedBy.
	CreatedByValue = "kubectl-runbook"
	// AnnotationFromSchedule names the BackupSchedule a `backup now --from-schedule`
	// copied its template from.
	AnnotationFromSchedule = "ops.runbook.dev/from-schedule"
)

// Argo CD's resource tracking: the label (default), the annotation (annotation or
// annotation+label tracking).
const (
	argoLabel      = "app.kubernetes.io/instance"
	argoAnnotation = "argocd.argoproj.io/tracking-id"
)

// stamp is a time as a name suffix: 20261207-132500.
func stamp(t time.Time) string { return t.UTC().Format("20060102-150405") }

// ObjectName is base-<stamp>, base cut so the name stays a valid object name that
// also fits in a Job's name (63 characters) with the controllers' suffixes.
func ObjectName(base string, now time.Time) string {
	suffix := "-" + stamp(now)
	const max = 63 - len("-restore") // the longest suffix a controller adds to a Job name
	base = strings.Trim(strings.ToLower(base), "-.")
	if len(base)+len(suffix) > max {
		base = strings.TrimRight(base[:max-len(suffix)], "-.")
	}
	return base + suffix
}

// ValidName says what is wrong with a name given on the command line, or nil.
func ValidName(kind, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%s name %q: %s", kind, name, strings.Join(errs, "; "))
	}
	return nil
}

func created() map[string]string { return map[string]string{LabelCreatedBy: CreatedByValue} }

// BackupNow is a DatabaseBackup of the database in Secret secret to dest.
func BackupNow(namespace, name, secret string, dest opsv1alpha1.BackupDestination, verify bool) *opsv1alpha1.DatabaseBackup {
	return &opsv1alpha1.DatabaseBackup{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseBackup"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: created()},
		Spec: opsv1alpha1.DatabaseBackupSpec{
			Database:    opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: secret}},
			Destination: dest,
			Verify:      verify,
		},
	}
}

// BackupFromSchedule is a DatabaseBackup with the schedule's template (its labels,
// annotations and spec), as the schedule's next run would create it; verify true
// turns verification on, false keeps the template's.
func BackupFromSchedule(s *opsv1alpha1.BackupSchedule, name string, verify bool) *opsv1alpha1.DatabaseBackup {
	b := &opsv1alpha1.DatabaseBackup{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseBackup"},
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name, Labels: created(), Annotations: map[string]string{}},
		Spec:       *s.Spec.Template.Spec.DeepCopy(),
	}
	for k, v := range s.Spec.Template.Metadata.Labels {
		b.Labels[k] = string(v)
	}
	// Not one of the schedule's runs: its retention neither counts nor prunes it.
	delete(b.Labels, opsv1alpha1.LabelBackupSchedule)
	b.Labels[LabelCreatedBy] = CreatedByValue
	for k, v := range s.Spec.Template.Metadata.Annotations {
		b.Annotations[k] = v
	}
	b.Annotations[AnnotationFromSchedule] = s.Name
	b.Spec.Verify = b.Spec.Verify || verify
	return b
}

// DestinationFor finds where a backup of the database in Secret secret goes when
// the command line does not say: the destination of a BackupSchedule of that
// database, else the pre-deploy backup destination of a Release using it. It says
// where it took it from.
func DestinationFor(secret string, schedules []opsv1alpha1.BackupSchedule, releases []opsv1alpha1.Release) (opsv1alpha1.BackupDestination, string, bool) {
	for _, s := range schedules {
		if s.Spec.Template.Spec.Database.SecretRef.Name == secret {
			return s.Spec.Template.Spec.Destination, "BackupSchedule " + s.Name, true
		}
	}
	for _, r := range releases {
		if r.Spec.Database != nil && r.Spec.Database.SecretRef.Name == secret && r.Spec.Backup != nil && r.Spec.Backup.Destination != nil {
			return *r.Spec.Backup.Destination, "Release " + r.Name, true
		}
	}
	return opsv1alpha1.BackupDestination{}, "", false
}

// Restore is a DatabaseRestore of backup into the database in Secret secret,
// quiescing the Release quiesce (empty: nothing) while it runs.
func Restore(namespace, name, backup, secret, quiesce string) *opsv1alpha1.DatabaseRestore {
	r := &opsv1alpha1.DatabaseRestore{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "DatabaseRestore"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: created()},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: backup}},
			Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: secret}},
		},
	}
	if quiesce != "" {
		r.Spec.Quiesce = &opsv1alpha1.Quiesce{ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: quiesce}}
	}
	return r
}

// ParseQuiesce reads --quiesce: release/NAME (or a bare NAME).
func ParseQuiesce(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	kind, name, found := strings.Cut(v, "/")
	if !found {
		kind, name = "release", v
	}
	switch strings.ToLower(kind) {
	case "release", "releases", "release.ops.runbook.dev", "releases.ops.runbook.dev":
	default:
		return "", fmt.Errorf("--quiesce %s: only a Release can be quiesced from here (release/NAME); list Deployments in the DatabaseRestore's spec.quiesce.deployments instead", v)
	}
	if err := ValidName("Release", name); err != nil {
		return "", fmt.Errorf("--quiesce: %w", err)
	}
	return name, nil
}

// mergePatch is a JSON merge patch.
func mergePatch(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and bools always marshal
	}
	return b
}

func annotationPatch(key, value string) []byte {
	return mergePatch(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
}

// RollbackRevision is the revision `release rollback` names in the rollback
// annotation: the one rolling out or verifying. A Release on its stable revision has
// nothing to roll back.
func RollbackRevision(r *opsv1alpha1.Release) (string, error) {
	p := r.Status.Progress
	if p == nil || p.Revision == "" || p.Revision == r.Status.StableRevision {
		stable := r.Status.StableRevision
		if stable == "" {
			stable = "(none yet)"
		}
		return "", fmt.Errorf("release %s has no revision in progress to roll back (phase %s, stable revision %s): to go back to an earlier version, revert spec.version/image in Git (or in the Release)",
			r.Name, phaseOr(string(r.Status.Phase)), stable)
	}
	return p.Revision, nil
}

// RollbackPatch sets ops.runbook.dev/rollback to revision.
func RollbackPatch(revision string) []byte {
	return annotationPatch(opsv1alpha1.AnnotationRollback, revision)
}

// RetryValue is a new value of ops.runbook.dev/retry, different from observed.
func RetryValue(now time.Time, observed *string) string {
	v := now.UTC().Format(time.RFC3339)
	if observed != nil && *observed == v {
		v += "-again"
	}
	return v
}

// RetryPatch sets ops.runbook.dev/retry to value and removes a rollback request: the
// Release controller rolls back the revision in progress whenever
// ops.runbook.dev/rollback names it, so the one `release rollback` left would roll
// the retried revision back again at once (the docs e2e spec saw it).
func RetryPatch(value string) []byte {
	return mergePatch(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		opsv1alpha1.AnnotationRetry: value, opsv1alpha1.AnnotationRollback: nil}}})
}

// PausePatch sets spec.paused.
func PausePatch(paused bool) []byte {
	return mergePatch(map[string]any{"spec": map[string]any{"paused": paused}})
}

// RotateRequest is a new rotateRequest value; emergency ones say so.
func RotateRequest(now time.Time, emergency bool) string {
	v := now.UTC().Format(time.RFC3339)
	if emergency {
		return "emergency-" + v
	}
	return v
}

// RotatePatch asks for a rotation now: a new rotateRequest (carried out in the
// spec's mode), or with emergency a new value of the emergency-rotation annotation,
// one Immediate rotation whatever spec.mode says, leaving the spec (and Git) alone.
func RotatePatch(request string, emergency bool) []byte {
	if emergency {
		return annotationPatch(opsv1alpha1.AnnotationEmergencyRotation, request)
	}
	return mergePatch(map[string]any{"spec": map[string]any{"rotateRequest": request}})
}

// IncidentOptions are `incident open`'s flags.
type IncidentOptions struct {
	Severity    string
	Title       string
	Description string
	Release     string
}

// Incident is a new Incident.
func Incident(namespace, name string, o IncidentOptions) *opsv1alpha1.Incident {
	inc := &opsv1alpha1.Incident{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "Incident"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: created()},
		Spec: opsv1alpha1.IncidentSpec{
			Severity:    opsv1alpha1.IncidentSeverity(strings.ToUpper(o.Severity)),
			Title:       o.Title,
			Description: o.Description,
		},
	}
	if o.Release != "" {
		inc.Spec.ReleaseRef = &opsv1alpha1.LocalObjectReference{Name: o.Release}
	}
	return inc
}

// AckPatch sets spec.acknowledgedBy.
func AckPatch(by string) []byte {
	return mergePatch(map[string]any{"spec": map[string]any{"acknowledgedBy": by}})
}

// ResolvePatch sets spec.resolution.
func ResolvePatch(resolution string) []byte {
	return mergePatch(map[string]any{"spec": map[string]any{"resolution": resolution}})
}

// ArgoCD says whether Argo CD tracks obj (its tracking label or annotation) and by
// which application.
func ArgoCD(obj metav1.Object) (string, bool) {
	if id, ok := obj.GetAnnotations()[argoAnnotation]; ok {
		app, _, _ := strings.Cut(id, ":")
		return app, true
	}
	if app, ok := obj.GetLabels()[argoLabel]; ok {
		return app, true
	}
	return "", false
}

// ArgoNote is what a command changing a Release tracked by Argo CD prints: what the
// change means for the application in Git.
func ArgoNote(app, command string) string {
	switch command {
	case "rollback":
		return fmt.Sprintf("Argo CD (application %s) tracks this Release. The rollback annotation does not change the spec: Git still asks for the failed version, which the controller keeps pinned as rolled back. Revert spec.version/image in Git to make the rollback the desired state; until then an Argo CD sync does not start the failed version again.", app)
	case "retry":
		return fmt.Sprintf("Argo CD (application %s) tracks this Release. The retry annotation runs the version Git asks for again; nothing in Git changes.", app)
	case "pause":
		return fmt.Sprintf("Argo CD (application %s) tracks this Release. spec.paused is now different from Git: with self-heal on, Argo CD sets it back at its next sync; set it in Git (or pause the application's auto-sync) to keep it.", app)
	case "resume":
		return fmt.Sprintf("Argo CD (application %s) tracks this Release: if Git sets spec.paused: true, its next sync pauses it again.", app)
	}
	return ""
}

func phaseOr(p string) string {
	if p == "" {
		return "not reconciled yet"
	}
	return p
}
