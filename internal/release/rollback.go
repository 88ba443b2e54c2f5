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

package release

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/truncate"
)

// What a failed rollout or verification asks for beyond putting the stable templates
// back: a DatabaseRestore of the pre-deploy backup (rollback.restoreDatabase) and an
// Incident (rollback.openIncident). Both are decided once, when the revision ends,
// recorded in its history entry before they are created, and created exactly once.

// RestoreName is the deterministic name of the DatabaseRestore a rollback of revision creates.
func RestoreName(rel *opsv1alpha1.Release, revision string) string {
	return jobs.Name(rel.Name, "rollback-"+revision)
}

// IncidentName is the deterministic name of the Incident opened for revision's failure.
func IncidentName(rel *opsv1alpha1.Release, revision string) string {
	return jobs.Name(rel.Name, "incident-"+revision)
}

// RestorePlan says whether a rollback restores the database.
type RestorePlan struct {
	// Backup is the pre-deploy DatabaseBackup to restore; "" for no restore.
	Backup string
	// Why says, when rollback.restoreDatabase is set and nothing is restored, why not.
	Why string
}

// PlanRestore decides whether the rollback of revision restores the pre-deploy
// backup: only with rollback.restoreDatabase, only when this attempt's migration Job
// ran (the point of no return), and only from the backup this attempt took.
func PlanRestore(spec *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus, revision string) RestorePlan {
	if !spec.Rollback.RestoreDatabase {
		return RestorePlan{}
	}
	rec, p := Find(st.History, revision), st.Progress
	switch {
	case spec.Migrations == nil:
		return RestorePlan{Why: "rollback.restoreDatabase: the database was not restored, because the revision has no migrations (its schema is the stable revision's and a restore would only lose writes)"}
	case p != nil && p.Revert:
		return RestorePlan{Why: "rollback.restoreDatabase: the database was not restored, because this attempt ran no migrations (the revision's migrations had run before) and took no pre-deploy backup"}
	case rec == nil || !rec.Migrated:
		return RestorePlan{Why: "rollback.restoreDatabase: the database was not restored, because the revision's migrations did not run"}
	case !BackupEnabled(spec) || rec.Backup == "" || (p != nil && !p.BackedUp):
		return RestorePlan{Why: "rollback.restoreDatabase: the database could not be restored, because no pre-deploy backup was taken (spec.backup.enabled is false)"}
	}
	return RestorePlan{Backup: rec.Backup}
}

// RestoreMessage is what the rollback message says about the restore it asked for:
// which migrations it undoes and what it loses.
func RestoreMessage(restore, backup string, applied []string) string {
	undone := ""
	if len(applied) > 0 {
		undone = ", undoing migrations " + strings.Join(applied, ", ")
	}
	return fmt.Sprintf("; the database goes back to pre-deploy backup %s with DatabaseRestore %s%s (writes since the backup are lost; the replaced database is kept)", backup, restore, undone)
}

// DatabaseRestore builds the rollback's DatabaseRestore of backup: Swap mode (the
// replaced database is kept), quiescing the release while it runs.
func DatabaseRestore(rel *opsv1alpha1.Release, revision, backup string) *opsv1alpha1.DatabaseRestore {
	return &opsv1alpha1.DatabaseRestore{
		ObjectMeta: metav1.ObjectMeta{Name: RestoreName(rel, revision), Namespace: rel.Namespace, Labels: Labels(rel, "rollback", revision)},
		Spec: opsv1alpha1.DatabaseRestoreSpec{
			Source:   opsv1alpha1.RestoreSource{BackupRef: &opsv1alpha1.LocalObjectReference{Name: backup}},
			Database: *rel.Spec.Database,
			Mode:     opsv1alpha1.RestoreModeSwap,
			Quiesce:  &opsv1alpha1.Quiesce{ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: rel.Name}},
		},
	}
}

// RestoreState is the DatabaseRestored condition for the rollback's restore: rs is
// the DatabaseRestore as observed (nil when it does not exist). ok is false when
// there is nothing new to say (a restore that finished and was deleted since).
func RestoreState(f *opsv1alpha1.FollowUp, rs *opsv1alpha1.DatabaseRestore, prev *metav1.Condition) (cond metav1.Condition, ok bool) {
	c := metav1.Condition{Type: opsv1alpha1.ConditionDatabaseRestored}
	switch {
	case rs == nil && prev != nil && prev.Status != metav1.ConditionUnknown:
		return c, false // it finished and the Release said so; deleting it changes nothing
	case rs == nil && f.Created:
		c.Status, c.Reason = metav1.ConditionFalse, opsv1alpha1.ReasonRestoreFailed
		c.Message = fmt.Sprintf("DatabaseRestore %s was deleted before it finished; check the database and the application", f.Name)
	case rs == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, opsv1alpha1.ReasonRestoringDatabase
		c.Message = fmt.Sprintf("Creating DatabaseRestore %s", f.Name)
	case rs.Status.Phase == opsv1alpha1.RestorePhaseCompleted:
		c.Status, c.Reason = metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded
		c.Message = fmt.Sprintf("DatabaseRestore %s restored pre-deploy backup %s", rs.Name, backupOf(rs))
		if rs.Status.PreviousDatabase != "" {
			c.Message += "; the replaced database is kept as " + rs.Status.PreviousDatabase
		}
	case rs.Status.Phase == opsv1alpha1.RestorePhaseFailed:
		c.Status, c.Reason = metav1.ConditionFalse, opsv1alpha1.ReasonRestoreFailed
		c.Message = fmt.Sprintf("DatabaseRestore %s failed", rs.Name)
		if rc := conditions.Get(rs, opsv1alpha1.ConditionReady); rc != nil && rc.Message != "" {
			c.Message += ": " + rc.Message
		}
	default:
		phase := rs.Status.Phase
		if phase == "" {
			phase = opsv1alpha1.RestorePhasePending
		}
		c.Status, c.Reason = metav1.ConditionUnknown, opsv1alpha1.ReasonRestoringDatabase
		c.Message = fmt.Sprintf("DatabaseRestore %s restores pre-deploy backup %s: %s", rs.Name, backupOf(rs), phase)
	}
	return c, true
}

func backupOf(rs *opsv1alpha1.DatabaseRestore) string {
	if b := rs.Spec.Source.BackupRef; b != nil {
		return b.Name
	}
	return "(an S3 object)"
}

// Incident builds the Incident opened for the failure of revision (rec), of the
// severity rollback.openIncident asks for: its title names the release, the revision
// and how it ended, its description is the revision's message (the failing check and
// pod). It is labelled with the release and revision and not owned: an incident's
// record outlives the Release.
func Incident(rel *opsv1alpha1.Release, rec *opsv1alpha1.RevisionRecord, stableVersion string) *opsv1alpha1.Incident {
	sev := rel.Spec.Rollback.OpenIncident
	if sev == "" {
		sev = opsv1alpha1.SeverityP2 // openIncident was removed after the rollback decided on one
	}
	title := fmt.Sprintf("Release %s: revision %s (%s) failed", rel.Name, rec.Revision, rec.Version)
	if rec.Result == opsv1alpha1.RevisionRolledBack {
		title = fmt.Sprintf("Release %s: revision %s (%s) rolled back to %s", rel.Name, rec.Revision, rec.Version, stableVersion)
	}
	return &opsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: IncidentName(rel, rec.Revision), Namespace: rel.Namespace, Labels: Labels(rel, "incident", rec.Revision)},
		Spec: opsv1alpha1.IncidentSpec{
			Severity:    sev,
			Title:       truncate.String(title, 200),
			Description: truncate.String(rec.Message, 10000),
			ReleaseRef:  &opsv1alpha1.LocalObjectReference{Name: rel.Name},
			Notify:      append([]opsv1alpha1.Notifier(nil), rel.Spec.Rollback.IncidentNotify...),
		},
	}
}

// EvidenceWait is the longest a decided rollback waits for its Incident to read the
// failing pods before the stable templates replace them: a broken Incident (or
// Incident controller) never holds a rollback longer.
const EvidenceWait = 60 * time.Second

// EvidenceGate is what a decided rollback does about its Incident's evidence.
type EvidenceGate struct {
	// Wait: the Incident has not read the pods yet; look again within After (the
	// bound; the Incident's status change wakes the release sooner).
	Wait  bool
	After time.Duration
	// Missing says why the rollback goes ahead without the failing pods in the
	// evidence; "" when they were read first (or no Incident was asked for).
	Missing string
	// Note is what the rollback's message says about the evidence ("" for none).
	Note string
}

// GateRollback decides whether the rollback of rec may write the stable templates at
// now. With an Incident to open (rec.Incident), the Incident is created first
// (StepFollowUps), then the rollback waits until it has read the failing revision's
// pods and logs (status.evidence.podsCapturedAt) or its evidence failed, at most
// EvidenceWait from the decision (rec.CompletionTime), and then goes ahead anyway,
// saying that the evidence may miss the pods' logs. inc is the Incident as read (nil:
// it does not exist).
func GateRollback(rec *opsv1alpha1.RevisionRecord, inc *opsv1alpha1.Incident, now time.Time) EvidenceGate {
	if rec == nil || rec.Incident == nil {
		return EvidenceGate{}
	}
	name := rec.Incident.Name
	if inc != nil {
		if ev := inc.Status.Evidence; ev != nil && ev.PodsCapturedAt != nil {
			return EvidenceGate{Note: fmt.Sprintf("; Incident %s read the failing pods and their logs first (%s)", name, ev.PodsCapturedAt.UTC().Format(time.RFC3339))}
		}
		if c := conditions.Get(inc, opsv1alpha1.ConditionEvidenceCaptured); c != nil && c.Status == metav1.ConditionFalse {
			why := fmt.Sprintf("Incident %s's evidence failed (%s)", name, truncate.String(c.Message, 300))
			return EvidenceGate{Missing: why, Note: "; " + why + ": its evidence may miss the failing pods' logs"}
		}
	}
	if rec.CompletionTime != nil && rec.Incident.Created && now.Before(rec.CompletionTime.Add(EvidenceWait)) {
		return EvidenceGate{Wait: true, After: rec.CompletionTime.Add(EvidenceWait).Sub(now) + time.Second}
	}
	why := fmt.Sprintf("Incident %s had not read the failing pods within %s", name, EvidenceWait)
	if inc == nil && rec.Incident.Created {
		why = fmt.Sprintf("Incident %s does not exist (deleted)", name)
	}
	return EvidenceGate{Missing: why, Note: "; rolled back without waiting longer: " + why + ", so its evidence may miss the failing pods' logs"}
}
