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

package v1alpha1

import "runbook-operator/internal/names"

// Condition types shared by every kind. They follow kstatus: Ready summarises,
// Reconciling is True while work is in flight, Stalled is True only for terminal
// states that need a person.
const (
	// ConditionReady summarises the object: True when it reached its goal.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is making progress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the object cannot progress without a person.
	ConditionStalled = "Stalled"
)

// Per-step condition types, which keep the root cause visible.
const (
	// ConditionBackupSucceeded reports the outcome of a database dump.
	ConditionBackupSucceeded = "BackupSucceeded"
	// ConditionVerified reports a restore test of a backup, or a release's health check.
	ConditionVerified = "Verified"
	// ConditionDeleted reports the removal of a backup's S3 objects.
	ConditionDeleted = "Deleted"
	// ConditionScheduled reports whether a schedule is active and valid.
	ConditionScheduled = "Scheduled"
	// ConditionQuiesced reports that a restore's workloads are scaled to zero.
	ConditionQuiesced = "Quiesced"
	// ConditionRestored reports the outcome of a restore Job.
	ConditionRestored = "Restored"
	// ConditionResumed reports that a restore's workloads are back at their counts.
	ConditionResumed = "Resumed"
	// ConditionMigrationsApplied reports a release's migration Job.
	ConditionMigrationsApplied = "MigrationsApplied"
	// ConditionPreDeployCompleted reports a release's pre-deploy Jobs.
	ConditionPreDeployCompleted = "PreDeployCompleted"
	// ConditionRolledOut reports that every component runs the new revision.
	ConditionRolledOut = "RolledOut"
	// ConditionRolledBack is True when a release went back to its stable revision.
	ConditionRolledBack = "RolledBack"
	// ConditionRotated reports the last secret rotation.
	ConditionRotated = "Rotated"
	// ConditionRestarted reports the restart of a rotation's dependents.
	ConditionRestarted = "Restarted"
	// ConditionAcknowledged is True once a person acknowledged an incident.
	ConditionAcknowledged = "Acknowledged"
	// ConditionMitigated is True once an incident's response actions completed.
	ConditionMitigated = "Mitigated"
	// ConditionNotified reports the delivery of an incident's notifications.
	ConditionNotified = "Notified"
	// ConditionEvidenceCaptured reports an incident's evidence capture.
	ConditionEvidenceCaptured = "EvidenceCaptured"
)

// Condition reasons. CamelCase, one word per cause a person may need to act on.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonFailed             = "Failed"
	ReasonProgressing        = "Progressing"
	ReasonPending            = "Pending"
	ReasonJobCreated         = "JobCreated"
	ReasonJobRunning         = "JobRunning"
	ReasonJobFailed          = "JobFailed"
	ReasonJobMissing         = "JobMissing"
	ReasonDeadlineExceeded   = "DeadlineExceeded"
	ReasonWaitingForLock     = "WaitingForDatabaseLock"
	ReasonWaitingForSource   = "WaitingForSource"
	ReasonSourceFailed       = "SourceFailed"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonCreateFailed       = "CreateFailed"
	ReasonSecretMissing      = "SecretMissing"
	ReasonDeleting           = "Deleting"
	ReasonDeleteFailed       = "DeleteFailed"
	ReasonRetained           = "Retained"
	ReasonSuspended          = "Suspended"
	ReasonScheduled          = "Scheduled"
	ReasonRunSkipped         = "RunSkipped"
	ReasonQuiescing          = "Quiescing"
	ReasonRestoring          = "Restoring"
	ReasonResuming           = "Resuming"
	ReasonKeptStopped        = "KeptStopped"
	ReasonBackingUp          = "BackingUp"
	ReasonMigrating          = "Migrating"
	ReasonRollingOut         = "RollingOut"
	ReasonVerifying          = "Verifying"
	ReasonHealthCheckFailed  = "HealthCheckFailed"
	ReasonProgressDeadline   = "ProgressDeadlineExceeded"
	ReasonRolledBack         = "RolledBack"
	ReasonPaused             = "Paused"
	ReasonRotated            = "Rotated"
	ReasonRotationDue        = "RotationDue"
	ReasonGeneratorFailed    = "GeneratorFailed"
	ReasonAwaitingAck        = "AwaitingAcknowledgement"
	ReasonAcknowledged       = "Acknowledged"
	ReasonDeadlineMissed     = "ResponseDeadlineMissed"
	ReasonMitigated          = "Mitigated"
	ReasonResolved           = "Resolved"
	ReasonNotificationFailed = "NotificationFailed"
	// ReasonCapturingEvidence: the evidence's first part (the release's pods and
	// logs) is stored; the database check runs.
	ReasonCapturingEvidence = "CapturingEvidence"
)

// Reasons and names added for DatabaseBackup and BackupSchedule.
const (
	ReasonJobDeleted        = "JobDeleted"
	ReasonResultUnavailable = "ResultUnavailable"
	ReasonVerifyFailed      = "VerificationFailed"
	ReasonJobConflict       = "JobNameInUse"
	ReasonDeleted           = "Deleted"
	ReasonCatchUp           = "CatchUp"
	ReasonInvalidSchedule   = "InvalidSchedule"
	ReasonBackupFailed      = "BackupFailed"
	ReasonPruned            = "Pruned"
	ReasonWaitingForRun     = "WaitingForNextRun"
)

// FinalizerBackupObjects is set on a DatabaseBackup whose deletionPolicy is Delete: the
// controller removes the dump and its manifest from S3 before the object goes.
const FinalizerBackupObjects = "ops.runbook.dev/backup-objects"

// LabelBackupSchedule is set on each DatabaseBackup a BackupSchedule creates, with the
// schedule's name (hash-shortened to 63 characters when longer, see names.LabelValue).
const LabelBackupSchedule = "ops.runbook.dev/backup-schedule"

// AnnotationScheduledTime is set on each DatabaseBackup a BackupSchedule creates: the
// scheduled time of its run (RFC 3339, UTC).
const AnnotationScheduledTime = "ops.runbook.dev/scheduled-time"

// Reasons and names added for DatabaseRestore.
const (
	// ReasonWaitingForWorkloads: a Release or Deployment named in spec.quiesce does not
	// exist yet, or another DatabaseRestore holds it at zero.
	ReasonWaitingForWorkloads = "WaitingForWorkloads"
	// ReasonQuiesced: every workload is at zero replicas and its pods are gone.
	ReasonQuiesced = "Quiesced"
	// ReasonNothingToQuiesce: spec.quiesce names no workloads.
	ReasonNothingToQuiesce = "NothingToQuiesce"
	// ReasonResumed: every workload is back at its recorded replica count.
	ReasonResumed = "Resumed"
	// ReasonScaledUpDuringRestore: a quiesced workload was scaled up by someone else
	// while the restore ran, and was scaled to zero again.
	ReasonScaledUpDuringRestore = "ScaledUpDuringRestore"
	// ReasonCancelled: the DatabaseRestore was deleted before it finished.
	ReasonCancelled = "Cancelled"
)

// FinalizerRestoreWorkloads is set on every unfinished DatabaseRestore (and on a failed
// one that keeps its workloads stopped): deleting the restore stops its Job and scales
// the workloads it quiesced back to their recorded replica counts before the object goes.
const FinalizerRestoreWorkloads = "ops.runbook.dev/restore-workloads"

// Reasons and names added for SecretRotation.
const (
	// ReasonPublishing: the new values are accepted but not yet used; targets restart.
	ReasonPublishing = "Publishing"
	// ReasonPromoting: the new values are current; targets restart again.
	ReasonPromoting = "Promoting"
	// ReasonReplacing: a one-phase rotation is restarting the targets.
	ReasonReplacing = "Replacing"
	// ReasonEmergencyRotation: an Immediate rotation dropped every previous value.
	ReasonEmergencyRotation = "EmergencyRotation"
	// ReasonCreated: the Secret or a missing key was written for the first time.
	ReasonCreated = "Created"
	// ReasonTargetMissing: a restart target does not exist.
	ReasonTargetMissing = "TargetMissing"
	// ReasonRolloutFailed: a restart target did not roll out.
	ReasonRolloutFailed = "RolloutFailed"
	// ReasonSourceMissing: a copyFrom Secret or key does not exist.
	ReasonSourceMissing = "SourceMissing"
	// ReasonUnparseable: a managed key holds data the controller cannot read.
	ReasonUnparseable = "UnparseableValue"
	// ReasonForbidden: the manager's RBAC does not allow what the rotation needs.
	ReasonForbidden = "Forbidden"
	// ReasonManagedElsewhere: another SecretRotation manages the Secret.
	ReasonManagedElsewhere = "ManagedElsewhere"
	// ReasonChangedDuringRotation: the Secret's managed keys changed mid-rotation.
	ReasonChangedDuringRotation = "ChangedDuringRotation"
	// ReasonRestarted: every target runs the current values.
	ReasonRestarted = "Restarted"
	// ReasonReencrypting: the reencrypt Job of an emergency rotation is running.
	ReasonReencrypting = "Reencrypting"
	// ReasonReencryptFailed: the reencrypt Job failed; the old Fernet values stay
	// decrypt-only.
	ReasonReencryptFailed = "ReencryptFailed"
	// ReasonDroppingOldValues: the data is re-encrypted; the old values are dropped
	// and the targets restart once more.
	ReasonDroppingOldValues = "DroppingOldValues"
	// ReasonRolloutStalled: a restarted target's new pods run but do not become Ready.
	ReasonRolloutStalled = "RolloutStalled"
)

// LabelSecretRotation is set on every Secret a SecretRotation manages, with the
// SecretRotation's name (hash-shortened to 63 characters when longer, see
// names.LabelValue): the manager caches only Secrets that carry it.
const LabelSecretRotation = "ops.runbook.dev/secret-rotation"

// Annotations a SecretRotation keeps on its Secret: the record of rotations that
// survives the manager (and the SecretRotation's status). Never a value.
const (
	// AnnotationRotationPhase is the phase in progress (Publishing, Promoting,
	// Replacing); absent when idle.
	AnnotationRotationPhase = "ops.runbook.dev/rotation-phase"
	// AnnotationRotationMode is the mode of the rotation in progress or last done.
	AnnotationRotationMode = "ops.runbook.dev/rotation-mode"
	// AnnotationRotationVersion is the version (hash of the managed keys) written by
	// the phase in progress or the last one.
	AnnotationRotationVersion = "ops.runbook.dev/rotation-version"
	// AnnotationRotatedAt is when the last rotation (or the first write) completed.
	AnnotationRotatedAt = "ops.runbook.dev/rotated-at"
	// AnnotationRotateRequest is the rotateRequest last acted on.
	AnnotationRotateRequest = "ops.runbook.dev/rotate-request"
	// AnnotationEmergencyRequest is the emergency request (the SecretRotation's
	// AnnotationEmergencyRotation) last acted on.
	AnnotationEmergencyRequest = "ops.runbook.dev/emergency-request"
	// AnnotationRotations counts completed rotations.
	AnnotationRotations = "ops.runbook.dev/rotations"
	// AnnotationRotationPhaseStarted is when the phase in progress wrote the Secret.
	AnnotationRotationPhaseStarted = "ops.runbook.dev/rotation-phase-started"
	// AnnotationRotationKeys lists the keys the rotation in progress changes.
	AnnotationRotationKeys = "ops.runbook.dev/rotation-keys"
	// AnnotationRotationDecryptOnly lists the keys whose old values an emergency
	// rotation keeps decrypt-only until the data is re-encrypted.
	AnnotationRotationDecryptOnly = "ops.runbook.dev/rotation-decrypt-only"
	// AnnotationRotationReencryptedBy names the Job that re-encrypted the data in the
	// last emergency rotation.
	AnnotationRotationReencryptedBy = "ops.runbook.dev/rotation-reencrypted-by"
)

// SecretVersionAnnotation is the pod-template annotation through which a
// SecretRotation restarts a Deployment: its value is the Secret's version. The name
// part of an annotation key holds at most 63 characters: a longer "secret.<name>" is
// cut and ends with a hash of the whole (names.LabelValue), so two Secrets whose names
// share their first 56 characters still get different keys.
func SecretVersionAnnotation(secretName string) string {
	return "ops.runbook.dev/" + names.LabelValue("secret."+secretName)
}
