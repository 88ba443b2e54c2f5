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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MissedRunPolicy says what a schedule does about runs missed while the operator was down.
// +kubebuilder:validation:Enum=RunOnce;Skip
type MissedRunPolicy string

const (
	// MissedRunRunOnce takes one catch-up backup however many runs were missed (default).
	MissedRunRunOnce MissedRunPolicy = "RunOnce"
	// MissedRunSkip waits for the next scheduled time.
	MissedRunSkip MissedRunPolicy = "Skip"
)

// SchedulePhase is a schedule's state, for humans (the conditions say why).
// +kubebuilder:validation:Enum=Active;Suspended;Failing;Invalid
type SchedulePhase string

const (
	// SchedulePhaseActive: backups are created on schedule and the newest finished one
	// completed (or none has finished yet).
	SchedulePhaseActive SchedulePhase = "Active"
	// SchedulePhaseSuspended: spec.suspend is set; no new backups, retention still applies.
	SchedulePhaseSuspended SchedulePhase = "Suspended"
	// SchedulePhaseFailing: backups are created on schedule but the newest finished one failed.
	SchedulePhaseFailing SchedulePhase = "Failing"
	// SchedulePhaseInvalid: the schedule or time zone cannot be read; nothing runs (Stalled).
	SchedulePhaseInvalid SchedulePhase = "Invalid"
)

// BackupTemplate is the DatabaseBackup a schedule creates at each run.
type BackupTemplate struct {
	// metadata holds labels and annotations copied onto each DatabaseBackup.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`

	// spec of each DatabaseBackup.
	// +required
	Spec DatabaseBackupSpec `json:"spec"`
}

// LabelValue is a Kubernetes label value: at most 63 letters, digits, '-', '_' and
// '.', starting and ending with a letter or digit, or empty.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`
type LabelValue string

// TemplateMetadata is the part of object metadata a template may set.
type TemplateMetadata struct {
	// labels added to each created object.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule=`self.all(k, size(k) <= 317 && k.matches(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))`,message="labels keys must be Kubernetes label keys ([prefix/]name, name at most 63 characters)"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// annotations added to each created object.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule=`self.all(k, size(k) <= 317 && k.matches(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))`,message="annotations keys must be Kubernetes annotation keys ([prefix/]name, name at most 63 characters)"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Retention decides which of a schedule's backups are kept (grandfather-father-son).
// A backup is kept when any rule keeps it. The newest Completed backup and running
// backups are never pruned. Pruning deletes DatabaseBackup objects; their
// deletionPolicy decides about the S3 objects.
type Retention struct {
	// keepLast keeps the N most recent Completed backups. Default: 7.
	// +optional
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	KeepLast *int32 `json:"keepLast,omitempty"`

	// keepDaily keeps the newest Completed backup of each of the last N days that have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	KeepDaily int32 `json:"keepDaily,omitempty"`

	// keepWeekly keeps the newest Completed backup of each of the last N ISO weeks that have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	KeepWeekly int32 `json:"keepWeekly,omitempty"`

	// keepMonthly keeps the newest Completed backup of each of the last N months that have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	KeepMonthly int32 `json:"keepMonthly,omitempty"`

	// keepFailed keeps the N most recent Failed backups for inspection. Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	KeepFailed *int32 `json:"keepFailed,omitempty"`
}

// BackupScheduleSpec creates DatabaseBackups on a cron schedule and prunes old ones.
type BackupScheduleSpec struct {
	// schedule is a 5-field cron expression (minute hour day-of-month month day-of-week),
	// e.g. `0 3 * * *`, or a descriptor such as `@daily`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^\s]+\s+[^\s]+\s+[^\s]+\s+[^\s]+\s+[^\s]+)$`
	// +kubebuilder:validation:XValidation:rule=`self.startsWith('@') || self.matches(r'^((\*|\?|[0-5]?[0-9](-[0-5]?[0-9])?)(/[1-9][0-9]?)?(,(\*|\?|[0-5]?[0-9](-[0-5]?[0-9])?)(/[1-9][0-9]?)?)*)(\s+[^\s]+){4}$')`,message="the minute field of spec.schedule must be *, ?, or values 0-59 as a list (a,b), range (a-b) or step (*/n)"
	// +kubebuilder:validation:XValidation:rule=`self.startsWith('@') || self.matches(r'^[^\s]+\s+((\*|\?|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[1-9][0-9]?)?(,(\*|\?|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[1-9][0-9]?)?)*)(\s+[^\s]+){3}$')`,message="the hour field of spec.schedule must be *, ?, or values 0-23 as a list (a,b), range (a-b) or step (*/n)"
	// +kubebuilder:validation:XValidation:rule=`self.startsWith('@') || self.matches(r'^[^\s]+\s+[^\s]+\s+((\*|\?|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[1-9][0-9]?)?(,(\*|\?|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[1-9][0-9]?)?)*)(\s+[^\s]+){2}$')`,message="the day-of-month field of spec.schedule must be *, ?, or values 1-31 as a list (a,b), range (a-b) or step (*/n)"
	// +kubebuilder:validation:XValidation:rule=`self.startsWith('@') || self.matches(r'^[^\s]+\s+[^\s]+\s+[^\s]+\s+((\*|\?|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/[1-9][0-9]?)?(,(\*|\?|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/[1-9][0-9]?)?)*)(\s+[^\s]+){1}$')`,message="the month field of spec.schedule must be *, ?, or values 1-12 or JAN-DEC as a list (a,b), range (a-b) or step (*/n)"
	// +kubebuilder:validation:XValidation:rule=`self.startsWith('@') || self.matches(r'^[^\s]+\s+[^\s]+\s+[^\s]+\s+[^\s]+\s+((\*|\?|(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/[1-9][0-9]?)?(,(\*|\?|(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/[1-9][0-9]?)?)*)$')`,message="the day-of-week field of spec.schedule must be *, ?, or values 0-6 or SUN-SAT as a list (a,b), range (a-b) or step (*/n)"
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone the schedule is read in, e.g. `Europe/Berlin`.
	// The API server checks the shape (Area/Location, capitalised) and refuses a name
	// its zone database lacks, as it does for a CronJob; a name the manager's zone
	// database lacks (an older database than the API server's) marks the schedule
	// Stalled. Default: UTC.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="timeZone Local is the manager's own zone, not an IANA name: write one such as Europe/Berlin or UTC"
	// +kubebuilder:validation:XValidation:rule="timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",message="timeZone is not in the API server's IANA time zone database: write a zone name such as Europe/Berlin, America/New_York or UTC"
	TimeZone string `json:"timeZone,omitempty"`

	// suspend stops new runs; running backups finish and retention still applies.
	// Default: false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// missedRunPolicy: RunOnce takes at most one catch-up backup for runs missed while
	// the operator was down; Skip waits for the next time. Default: RunOnce.
	// +optional
	// +kubebuilder:default=RunOnce
	MissedRunPolicy MissedRunPolicy `json:"missedRunPolicy,omitempty"`

	// template is the DatabaseBackup created at each run.
	// +required
	Template BackupTemplate `json:"template"`

	// retention decides which backups are pruned. Default: keepLast 7, keepFailed 3.
	// +optional
	// +kubebuilder:default={}
	Retention Retention `json:"retention,omitempty"`
}

// BackupScheduleStatus is what the controller observed of the schedule.
type BackupScheduleStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is Active, Suspended, Failing (the newest finished backup failed) or
	// Invalid (the schedule or time zone cannot be read).
	// +optional
	Phase SchedulePhase `json:"phase,omitempty"`

	// lastScheduleTime is the scheduled time of the last run handled: a backup was
	// created for it, or it was skipped (previous backup still running, or missed with
	// missedRunPolicy Skip). Runs up to this time are never taken again.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// nextScheduleTime is when the next run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// lastSuccessfulBackup is the name of the newest Completed backup.
	// +optional
	LastSuccessfulBackup string `json:"lastSuccessfulBackup,omitempty"`

	// lastSuccessfulTime is when the newest Completed backup completed.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// lastFailedBackup is the name of the newest Failed backup.
	// +optional
	LastFailedBackup string `json:"lastFailedBackup,omitempty"`

	// active lists the backups of this schedule that are still running.
	// +optional
	// +listType=set
	Active []string `json:"active,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Scheduled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bsched,categories=runbook
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessfulTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`,description="When the next backup is due (RFC 3339)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// BackupSchedule creates DatabaseBackups on a cron schedule and prunes them by retention.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: BackupSchedule
//	metadata: {name: nightly}
//	spec:
//	  schedule: "0 3 * * *"
//	  timeZone: Europe/Berlin
//	  retention: {keepDaily: 7, keepWeekly: 4, keepMonthly: 6}
//	  template:
//	    spec:
//	      database: {secretRef: {name: saas-db}}
//	      destination: {s3: {bucket: saas-backups, prefix: nightly}}
type BackupSchedule struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the schedule.
	// +required
	Spec BackupScheduleSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status BackupScheduleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BackupScheduleList contains a list of BackupSchedule.
type BackupScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupSchedule `json:"items"`
}

func init() {
	register(&BackupSchedule{}, &BackupScheduleList{})
}
