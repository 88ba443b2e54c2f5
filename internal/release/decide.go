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

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Step is what the reconciler does next for a release.
type Step string

const (
	// StepSteady: the spec asks for the stable revision; only direct changes apply.
	StepSteady Step = "Steady"
	// StepRollingBack: a failed revision's rollback is decided and recorded (phase
	// RollingBack, RolledBack=Unknown); every component is written back to the stable
	// templates, then the rollback is complete. With an Incident to open, it waits
	// first (at most EvidenceWait) for the Incident to read the failing pods
	// (GateRollback).
	StepRollingBack Step = "RollingBack"
	// StepFollowUps: the failed revision's history entry names a DatabaseRestore or an
	// Incident not created yet; each is created once: the Incident before the
	// rollback's templates are written (so that its evidence holds the failing pods),
	// the DatabaseRestore after.
	StepFollowUps Step = "FollowUps"
	// StepPinned: the spec asks for a revision that failed; it is not run again until
	// the spec changes or the retry annotation gets a new value.
	StepPinned Step = "Pinned"
	// StepQuiesced: a DatabaseRestore holds the release; nothing starts.
	StepQuiesced Step = "Quiesced"
	// StepPaused: spec.paused; nothing starts.
	StepPaused Step = "Paused"
	// StepStart records a new revision in history and progress.
	StepStart   Step = "Start"
	StepBackup  Step = "Backup"
	StepPlan    Step = "Plan"
	StepMigrate Step = "Migrate"
	// StepBlocked: migrations.destructiveMigrations is Block and the plan's SQL breaks
	// the pods still serving the previous revision; nothing is migrated until the spec
	// changes (the policy, or a new revision).
	StepBlocked   Step = "Blocked"
	StepPreDeploy Step = "PreDeploy"
	// StepCanary: spec.canary's pods of the new revision run beside the stable pods and
	// are checked for canary.window before any component is rolled out.
	StepCanary  Step = "Canary"
	StepRollout Step = "Rollout"
	StepVerify  Step = "Verify"
	// StepFinish makes the revision stable.
	StepFinish Step = "Finish"
)

// Input is what Next looks at: the spec, the status and the metadata the controller
// honours.
type Input struct {
	Spec     *opsv1alpha1.ReleaseSpec
	Status   *opsv1alpha1.ReleaseStatus
	Revision string // of the spec
	Retry    string // the ops.runbook.dev/retry annotation
	Quiesced string // the ops.runbook.dev/quiesced-by annotation
	Now      time.Time
}

// Decision is the next step and why, in words for a person.
type Decision struct {
	Step Step
	Why  string
}

// Next names the step the release takes now: first what holds the pipeline (a failed
// revision, the stable revision, a quiescing restore, spec.paused), then the
// pipeline's next step.
//
// The whole state machine, in the order Next tries it:
//
//	failed revision:  FollowUps (the Incident) → RollingBack (once the Incident read
//	                  the pods, or EvidenceWait passed) → FollowUps (the restore) →
//	                  Pinned (until the spec or retry changes)
//	no pipeline:      Steady | Quiesced | Paused
//	pipeline:         Start → Backup → Plan → (Blocked) → Migrate → PreDeploy → (Canary) → Rollout → Verify → Finish
//
// Rollout and Verify end a failing revision by recording the rollback (or the
// failure); the revision is then pinned and RollingBack and FollowUps carry it out.
func Next(in Input) Decision {
	if d, ok := prelude(in); ok {
		return d
	}
	return nextPipelineStep(in, progressOf(in))
}

// progressOf is the pipeline's progress for the spec's revision, or nil when none
// runs for it: the spec moved on, or a retry was asked for (Start begins afresh).
func progressOf(in Input) *opsv1alpha1.ReleaseProgress {
	p := in.Status.Progress
	rec := Find(in.Status.History, in.Revision)
	if p != nil && (p.Revision != in.Revision || rec == nil || RetryBaseline(rec, in.Status) != in.Retry) {
		return nil
	}
	return p
}

// prelude decides the steps that hold the pipeline: a pinned revision (its rollback
// and follow-ups first), the stable revision, a quiesced or paused release.
func prelude(in Input) (Decision, bool) {
	st, spec := in.Status, in.Spec
	rec := Find(st.History, in.Revision)
	if why, ok := pinnedWhy(rec, in); ok {
		return failedStep(rec, in, why), true
	}
	switch {
	case progressOf(in) == nil && st.StableRevision == in.Revision:
		return Decision{StepSteady, fmt.Sprintf("revision %s (%s) is deployed", in.Revision, spec.Version)}, true
	case in.Quiesced != "":
		return Decision{StepQuiesced, fmt.Sprintf("%s holds the release's workloads at zero (annotation %s); no pipeline starts until it lets them go", opsv1alpha1.QuiescedByWords(in.Quiesced), opsv1alpha1.AnnotationQuiescedBy)}, true
	case spec.Paused:
		return Decision{StepPaused, "spec.paused is true"}, true
	}
	return Decision{}, false
}

// failedStep is the step of a pinned revision: the Incident it opens is created
// first, then its decided rollback is written while the controller holds the
// workloads (not paused, not quiesced), then its other follow-ups are created, then it
// stays pinned.
func failedStep(rec *opsv1alpha1.RevisionRecord, in Input, why string) Decision {
	holds := in.Quiesced == "" && !in.Spec.Paused
	rollingBack := in.Status.Phase == opsv1alpha1.ReleasePhaseRollingBack
	switch {
	case rollingBack && rec.Incident != nil && !rec.Incident.Created:
		return Decision{StepFollowUps, fmt.Sprintf("revision %s (%s) failed: Incident %s is opened before the rollback replaces the failing pods, so that its evidence holds them",
			in.Revision, in.Spec.Version, rec.Incident.Name)}
	case rollingBack && holds:
		return Decision{StepRollingBack, fmt.Sprintf("revision %s (%s) is rolled back: every component goes back to the templates of revision %s (%s)",
			in.Revision, in.Spec.Version, in.Status.StableRevision, in.Status.StableVersion)}
	case PendingFollowUps(rec, in.Status.Phase):
		return Decision{StepFollowUps, fmt.Sprintf("revision %s (%s) failed and its rollback asks for objects not created yet", in.Revision, in.Spec.Version)}
	}
	return Decision{StepPinned, why}
}

// PendingFollowUps reports whether rec names a follow-up not created yet that may be
// created now: the DatabaseRestore only once the stable templates are written (not
// while the phase is RollingBack), the Incident at once.
func PendingFollowUps(rec *opsv1alpha1.RevisionRecord, phase opsv1alpha1.ReleasePhase) bool {
	restore := rec.DatabaseRestore != nil && !rec.DatabaseRestore.Created && phase != opsv1alpha1.ReleasePhaseRollingBack
	incident := rec.Incident != nil && !rec.Incident.Created
	return restore || incident
}

// nextPipelineStep names the pipeline's next step for the spec's revision; p is its
// progress (nil: not started).
func nextPipelineStep(in Input, p *opsv1alpha1.ReleaseProgress) Decision {
	spec := in.Spec
	if p == nil {
		return Decision{StepStart, fmt.Sprintf("the spec asks for revision %s (%s)", in.Revision, spec.Version)}
	}
	if d, ok := databaseStep(in, p); ok {
		return d
	}
	if int(p.PreDeployDone) < len(spec.PreDeploy) {
		return Decision{StepPreDeploy, fmt.Sprintf("pre-deploy Job %s runs", spec.PreDeploy[p.PreDeployDone].Name)}
	}
	if CanaryPending(spec, in.Status, p) {
		return Decision{StepCanary, fmt.Sprintf("the canary of component %s (%s) runs revision %s beside the stable pods for %s before the rollout",
			spec.Canary.Component, pods(CanaryReplicas(spec.Canary), "new"), in.Revision, spec.Canary.WindowOrDefault())}
	}
	if int(p.RolledOut) < len(spec.Components) {
		return Decision{StepRollout, fmt.Sprintf("component %s is rolled out", spec.Components[p.RolledOut].Name)}
	}
	if v := spec.Verify; v != nil && (p.VerifyStartTime == nil || in.Now.Before(p.VerifyStartTime.Add(Window(v)))) {
		return Decision{StepVerify, "the new revision is verified for " + Window(v).String()}
	}
	if v := spec.Verify; v != nil && p.FailedChecks > 0 {
		// The window ran out while the latest checks fail: a window shorter than
		// failureThreshold × interval must not deploy a failing revision. Checking goes
		// on until a check passes or the threshold rolls it back.
		return Decision{StepVerify, fmt.Sprintf("the window ended with %d failing checks; checks go on until one passes or verify.failureThreshold is reached", p.FailedChecks)}
	}
	if v := spec.Verify; v != nil && (p.InconclusiveChecks > 0 || p.QueryErrors > 0 || (v.Prometheus != nil && p.LastCheckTime == nil)) {
		// The latest round's queries were inconclusive or unanswered, or none ran
		// (a zero window): that passes nothing. Verify applies verify.prometheus.onInconclusive, or waits for
		// Prometheus.
		return Decision{StepVerify, "the window ended while the latest queries were inconclusive or Prometheus did not answer; queries go on until they pass (verify.prometheus)"}
	}
	return Decision{StepFinish, fmt.Sprintf("revision %s (%s) is rolled out and verified", in.Revision, spec.Version)}
}

// databaseStep names the backup, plan or migration step still to run, if any: none
// for a revert (its migrations ran before).
func databaseStep(in Input, p *opsv1alpha1.ReleaseProgress) (Decision, bool) {
	spec := in.Spec
	if p.Revert {
		return Decision{}, false
	}
	if BackupEnabled(spec) && !p.BackedUp {
		return Decision{StepBackup, "a pre-deploy backup is taken before migrations"}, true
	}
	if m := spec.Migrations; m != nil {
		if len(m.PlanCommand) > 0 && !p.Planned {
			return Decision{StepPlan, "the migration plan is recorded before migrations run"}, true
		}
		if rec := Find(in.Status.History, in.Revision); rec == nil || !rec.Migrated {
			if rec != nil && Blocked(m, rec, p) {
				return Decision{StepBlocked, fmt.Sprintf("migrations.destructiveMigrations is Block and %d statements of the planned migrations break the pods still serving the previous revision; nothing is migrated until the spec changes",
					len(rec.DestructiveMigrations))}, true
			}
			return Decision{StepMigrate, "migrations run with the new image"}, true
		}
	}
	return Decision{}, false
}

// Blocked reports whether the destructive-migration guard holds the revision of rec
// before its migrations: the policy is Block, the plan found statements that break the
// previous revision's pods, and the migration Job was not created (one that runs is
// never stopped half-way).
func Blocked(m *opsv1alpha1.Migrations, rec *opsv1alpha1.RevisionRecord, p *opsv1alpha1.ReleaseProgress) bool {
	return Policy(m) == opsv1alpha1.DestructiveMigrationsBlock && len(rec.DestructiveMigrations) > 0 && p.MigrationJob == ""
}

// pinnedWhy says why the spec's revision is not run (again), if it is pinned.
func pinnedWhy(rec *opsv1alpha1.RevisionRecord, in Input) (string, bool) {
	switch {
	case rec == nil || !pinned(rec):
		return "", false
	case RetryBaseline(rec, in.Status) == in.Retry:
		return fmt.Sprintf("revision %s (%s) ended %s and is not retried while the spec asks for it; change the spec or the %s annotation to run it again",
			in.Revision, in.Spec.Version, rec.Result, opsv1alpha1.AnnotationRetry), true
	case rec.DatabaseRestore != nil:
		// Its migration Job succeeded once and is not run again, but the restore undid
		// what it applied: a retry would run the revision's code on the old schema.
		return fmt.Sprintf("revision %s (%s) was rolled back and its pre-deploy backup restored by DatabaseRestore %s, which undid its migrations; the %s annotation does not run it again (its migration Job would not run twice): change the spec, e.g. the version, to deploy it as a new revision",
			in.Revision, in.Spec.Version, rec.DatabaseRestore.Name, opsv1alpha1.AnnotationRetry), true
	}
	return "", false
}

// RetryBaseline is the retry annotation value rec's revision ran with: the one that
// retried it (rec.Retry), else the one when the latest revision started. A pinned
// revision runs again when the annotation differs from it. (A status written before
// observedRetry existed kept the value in every history entry.)
func RetryBaseline(rec *opsv1alpha1.RevisionRecord, st *opsv1alpha1.ReleaseStatus) string {
	if rec.Retry != "" || st.ObservedRetry == nil {
		return rec.Retry
	}
	return *st.ObservedRetry
}

// IsRetry reports whether starting revision now, with the retry annotation at retry,
// runs it again because the annotation changed: it failed, was rolled back or is in
// progress, and retry differs from the value it ran with. Its history entry then
// records retry.
func IsRetry(st *opsv1alpha1.ReleaseStatus, revision, retry string) bool {
	rec := Find(st.History, revision)
	return rec != nil && (pinned(rec) || rec.Result == opsv1alpha1.RevisionInProgress) && RetryBaseline(rec, st) != retry
}

func pinned(rec *opsv1alpha1.RevisionRecord) bool {
	return rec.Result == opsv1alpha1.RevisionFailed || rec.Result == opsv1alpha1.RevisionRolledBack
}

// BackupEnabled reports whether the pipeline takes a pre-deploy backup.
func BackupEnabled(spec *opsv1alpha1.ReleaseSpec) bool {
	return spec.Database != nil && spec.Backup != nil && (spec.Backup.Enabled == nil || *spec.Backup.Enabled) && spec.Backup.Destination != nil
}

// Find returns the history record of revision, or nil.
func Find(history []opsv1alpha1.RevisionRecord, revision string) *opsv1alpha1.RevisionRecord {
	for i := range history {
		if history[i].Revision == revision {
			return &history[i]
		}
	}
	return nil
}

// IsRevert reports whether starting revision needs neither backup nor migrations: it is
// in history and its migrations already ran (a GitOps revert to an earlier revision).
func IsRevert(history []opsv1alpha1.RevisionRecord, revision string) bool {
	rec := Find(history, revision)
	return rec != nil && rec.Migrated
}

// Start returns the history after a new revision started: the revision's record
// (reused when it is in history, keeping its migrations) moved to the front as
// InProgress, any other InProgress record Superseded, at most limit entries kept.
func Start(history []opsv1alpha1.RevisionRecord, rec opsv1alpha1.RevisionRecord, limit int32) []opsv1alpha1.RevisionRecord {
	out := []opsv1alpha1.RevisionRecord{}
	if old := Find(history, rec.Revision); old != nil {
		rec.Migrated = old.Migrated
		rec.AppliedMigrations = old.AppliedMigrations
	}
	rec.Result = opsv1alpha1.RevisionInProgress
	out = append(out, rec)
	for _, h := range history {
		if h.Revision == rec.Revision {
			continue
		}
		if h.Result == opsv1alpha1.RevisionInProgress {
			h.Result = opsv1alpha1.RevisionSuperseded
			h.Message = "superseded by revision " + rec.Revision + " before it finished"
		}
		out = append(out, h)
	}
	if limit > 0 && len(out) > int(limit) {
		out = out[:limit]
	}
	return out
}

// Revert returns the history after the spec went back to the stable revision while
// a later one failed or was in progress: the stable revision's record (rec, from
// history or made anew) at the front as Succeeded, any InProgress record Superseded,
// at most limit entries kept. Nothing is rolled out for it: the stable templates run.
func Revert(history []opsv1alpha1.RevisionRecord, rec opsv1alpha1.RevisionRecord, limit int32) []opsv1alpha1.RevisionRecord {
	out := Start(history, rec, limit)
	out[0].Result = opsv1alpha1.RevisionSucceeded
	return out
}

// Reverted reports whether the stable revision the spec asks for is not what history
// and progress say happened last: a later revision is at the front of history (it
// failed, or is in progress) or progress belongs to one. Revert records it.
func Reverted(st *opsv1alpha1.ReleaseStatus, revision string) bool {
	return (len(st.History) > 0 && st.History[0].Revision != revision) || (st.Progress != nil && st.Progress.Revision != revision)
}

// ComponentRevisions says which revision's template each component (in spec order)
// runs now: during a rollout the components already rolled out and the one rolling
// out run the new revision and the rest the stable one; otherwise all run the stable
// revision. "" means the component has no template to apply yet (a first deploy).
func ComponentRevisions(spec *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus) []string {
	out := make([]string, len(spec.Components))
	p := st.Progress
	for i := range out {
		out[i] = st.StableRevision
		if p != nil && p.RolloutStartTime != nil && i <= int(p.RolledOut) {
			out[i] = p.Revision
		}
	}
	return out
}

// Rollback is what a failed rollout or verification leads to.
type Rollback struct {
	// Possible is false when there is no stable revision (a first deploy) or
	// rollback.automatic is off: the release fails and stays Stalled.
	Possible bool
	// To is the stable revision every component returns to.
	To string
	// KeptMigrations are the migrations the failed revision applied: they stay
	// applied, the old code runs on the migrated schema.
	KeptMigrations []string
	// Why says why no rollback happens, when not Possible.
	Why string
	// Canary: the failure came during the canary, before any component changed: only
	// the canary's pods go (whatever rollback.automatic says), the stable templates
	// are written again as they are.
	Canary bool
}

// PlanRollback decides what a failure of revision leads to.
func PlanRollback(spec *opsv1alpha1.ReleaseSpec, st *opsv1alpha1.ReleaseStatus, revision string) Rollback {
	var kept []string
	if rec := Find(st.History, revision); rec != nil {
		kept = rec.AppliedMigrations
	}
	canary := CanaryRunning(spec, st) != nil
	switch {
	case st.StableRevision == "" || st.StableRevision == revision:
		return Rollback{KeptMigrations: kept, Why: "this is the first deploy: there is no stable revision to roll back to"}
	case canary:
		return Rollback{Possible: true, To: st.StableRevision, KeptMigrations: kept, Canary: true}
	case spec.Rollback.Automatic != nil && !*spec.Rollback.Automatic:
		return Rollback{KeptMigrations: kept, Why: "rollback.automatic is false"}
	}
	return Rollback{Possible: true, To: st.StableRevision, KeptMigrations: kept}
}

// KeptMessage says which migrations stay applied after a rollback, or "".
func KeptMessage(kept []string) string {
	if len(kept) == 0 {
		return ""
	}
	return "; migrations kept applied: " + strings.Join(kept, ", ")
}

// AppliedMigrations reads the migrations a plan says the migration Job applies: the
// unapplied entries of Django's `showmigrations --plan` ("[ ]  app.0002_name"), or
// the migrations `migrate --plan` lists under "Planned operations:" (each
// "app.0002_name" at the start of a line, its operations indented below it).
func AppliedMigrations(plan string) []string {
	var out []string
	planned := false
	for _, raw := range strings.Split(plan, "\n") {
		l := strings.TrimSpace(raw)
		if rest, ok := strings.CutPrefix(l, "[ ]"); ok {
			if name := strings.TrimSpace(rest); name != "" && len(out) < 200 {
				out = append(out, name)
			}
			continue
		}
		switch {
		case l == "Planned operations:":
			planned = true
		case planned && l != "" && l == raw && strings.Contains(l, ".") && !strings.ContainsAny(l, " \t") && len(out) < 200:
			out = append(out, l)
		}
	}
	return out
}

// Window, Interval and ProgressDeadline read the verify durations with their defaults.
func Window(v *opsv1alpha1.ReleaseVerify) time.Duration {
	return durationOr(v, func(v *opsv1alpha1.ReleaseVerify) *time.Duration { return dur(v.Window) }, 2*time.Minute)
}

// Interval is the time between two rounds of health checks.
func Interval(v *opsv1alpha1.ReleaseVerify) time.Duration {
	return durationOr(v, func(v *opsv1alpha1.ReleaseVerify) *time.Duration { return dur(v.Interval) }, 10*time.Second)
}

// ProgressDeadline is how long the rollout may take.
func ProgressDeadline(v *opsv1alpha1.ReleaseVerify) time.Duration {
	return durationOr(v, func(v *opsv1alpha1.ReleaseVerify) *time.Duration { return dur(v.ProgressDeadline) }, 10*time.Minute)
}

// FailureThreshold is how many consecutive failed rounds fail verification.
func FailureThreshold(v *opsv1alpha1.ReleaseVerify) int32 {
	if v == nil || v.FailureThreshold < 1 {
		return 3
	}
	return v.FailureThreshold
}
