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

// RestoreMode says how the restored data replaces the live database.
// +kubebuilder:validation:Enum=Swap;InPlace
type RestoreMode string

const (
	// RestoreModeSwap restores into a new database, then renames the live one to
	// `<name>_pre_restore_<timestamp>` and the restored one into its place (default).
	RestoreModeSwap RestoreMode = "Swap"
	// RestoreModeInPlace drops and recreates the live database before restoring, as
	// the manual runbook did. Needs confirmInPlace: true.
	RestoreModeInPlace RestoreMode = "InPlace"
)

// RestorePhase is a restore's lifecycle step, for humans.
// +kubebuilder:validation:Enum=Pending;Quiescing;Restoring;Resuming;Completed;Failed
type RestorePhase string

const (
	RestorePhasePending   RestorePhase = "Pending"
	RestorePhaseQuiescing RestorePhase = "Quiescing"
	RestorePhaseRestoring RestorePhase = "Restoring"
	RestorePhaseResuming  RestorePhase = "Resuming"
	RestorePhaseCompleted RestorePhase = "Completed"
	RestorePhaseFailed    RestorePhase = "Failed"
)

// S3ObjectSource is a dump object given directly.
// +kubebuilder:validation:XValidation:rule="(has(self.prefix) ? size(bytes(self.prefix)) + 1 : 0) + size(bytes(self.key)) <= 1024",message="prefix/key is the object key, which S3 limits to 1024 bytes"
type S3ObjectSource struct {
	S3Location `json:",inline"`

	// key is the dump's object key within the bucket (without the prefix).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key"`

	// sha256 is the expected hex SHA-256 of the object. Default: taken from the dump's
	// manifest object.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256,omitempty"`
}

// RestoreSource is exactly one of a DatabaseBackup or an S3 object.
// +kubebuilder:validation:XValidation:rule="has(self.backupRef) != has(self.s3)",message="source needs exactly one of backupRef or s3"
type RestoreSource struct {
	// backupRef names a Completed DatabaseBackup in the same namespace; its location and
	// sha256 are used.
	// +optional
	BackupRef *LocalObjectReference `json:"backupRef,omitempty"`

	// s3 is a dump object given directly, e.g. one taken before the operator was installed.
	// +optional
	S3 *S3ObjectSource `json:"s3,omitempty"`
}

// Quiesce names the workloads scaled to zero during the restore and scaled back after.
type Quiesce struct {
	// releaseRef names a Release whose components are all scaled to zero.
	// +optional
	ReleaseRef *LocalObjectReference `json:"releaseRef,omitempty"`

	// deployments names further Deployments to scale to zero.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Deployments []string `json:"deployments,omitempty"`

	// keepStoppedOnFailure leaves the workloads at zero when the restore fails, for a
	// person to inspect. Default: false (they are resumed).
	// +optional
	KeepStoppedOnFailure bool `json:"keepStoppedOnFailure,omitempty"`
}

// DatabaseRestoreSpec describes one restore. It is immutable: to restore again,
// create a new DatabaseRestore.
// +kubebuilder:validation:XValidation:rule="self.mode != 'InPlace' || (has(self.confirmInPlace) && self.confirmInPlace)",message="mode InPlace drops the live database first: set confirmInPlace: true to confirm, or use mode Swap"
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new DatabaseRestore to restore again"
type DatabaseRestoreSpec struct {
	// source is the dump to restore.
	// +required
	Source RestoreSource `json:"source"`

	// database is the target database; its name in the Secret is the live name that
	// ends up holding the restored data.
	// +required
	Database DatabaseConnection `json:"database"`

	// mode: Swap restores into a new database and swaps names, keeping the previous one;
	// InPlace drops and recreates the live database first. Default: Swap.
	// +optional
	// +kubebuilder:default=Swap
	Mode RestoreMode `json:"mode,omitempty"`

	// confirmInPlace must be true for mode InPlace, which drops the live database.
	// +optional
	ConfirmInPlace bool `json:"confirmInPlace,omitempty"`

	// keepPrevious keeps the replaced database as `<name>_pre_restore_<timestamp>`
	// after a Swap (drop it by hand once satisfied). Default: true.
	// +optional
	// +kubebuilder:default=true
	KeepPrevious *bool `json:"keepPrevious,omitempty"`

	// quiesce names the workloads stopped during the restore.
	// +optional
	Quiesce *Quiesce `json:"quiesce,omitempty"`

	// timeout is the longest the restore Job may run (Go duration). Default: 2h.
	// +optional
	// +kubebuilder:default="2h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('168h'))",message="timeout must be between 1m and 168h (7 days)",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`
}

// QuiescedWorkload records a workload's replica count before the restore scaled it to zero.
type QuiescedWorkload struct {
	// kind of the workload.
	// +required
	Kind WorkloadKind `json:"kind"`

	// name of the workload (for a Release component: the Deployment's name).
	// +required
	Name string `json:"name"`

	// replicas the workload had, which it gets back after the restore.
	// +required
	Replicas int32 `json:"replicas"`
}

// DatabaseRestoreStatus is what the controller observed of the restore.
type DatabaseRestoreStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase: Pending, Quiescing, Restoring, Resuming, Completed or Failed.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`

	// startTime is when the restore started quiescing.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the restore reached Completed or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// sourceLocation is the restored dump, `s3://bucket/key`.
	// +optional
	SourceLocation string `json:"sourceLocation,omitempty"`

	// restoredDatabase is the database that now holds the restored data.
	// +optional
	RestoredDatabase string `json:"restoredDatabase,omitempty"`

	// previousDatabase is the name the replaced database was kept under (Swap).
	// +optional
	PreviousDatabase string `json:"previousDatabase,omitempty"`

	// tablesRestored and rowsRestored count what the restore loaded.
	// +optional
	TablesRestored int64 `json:"tablesRestored,omitempty"`
	// +optional
	RowsRestored int64 `json:"rowsRestored,omitempty"`

	// quiescedWorkloads are the workloads stopped and the replica counts they get back.
	// +optional
	// +listType=atomic
	QuiescedWorkloads []QuiescedWorkload `json:"quiescedWorkloads,omitempty"`

	// jobName is the restore Job's name.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Quiesced, Restored, Resumed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dbr;dbrestore,categories=runbook
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.sourceLocation`,priority=1
// +kubebuilder:printcolumn:name="Previous",type=string,JSONPath=`.status.previousDatabase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// DatabaseRestore restores a dump without losing the live database: it quiesces the
// app, restores into a new database, swaps names and resumes the app.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: DatabaseRestore
//	metadata: {name: restore-before-v2-4-0}
//	spec:
//	  source: {backupRef: {name: before-v2-4-0}}
//	  database: {secretRef: {name: saas-db}}
//	  quiesce: {releaseRef: {name: saas}}
type DatabaseRestore struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the restore.
	// +required
	Spec DatabaseRestoreSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status DatabaseRestoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DatabaseRestoreList contains a list of DatabaseRestore.
type DatabaseRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DatabaseRestore `json:"items"`
}

func init() {
	register(&DatabaseRestore{}, &DatabaseRestoreList{})
}
