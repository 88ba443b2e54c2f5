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

// BackupFormat is the pg_dump output format.
// +kubebuilder:validation:Enum=Custom
type BackupFormat string

const (
	// BackupFormatCustom is pg_dump's custom format (-Fc), restorable with pg_restore
	// table by table and in parallel.
	BackupFormatCustom BackupFormat = "Custom"
)

// Compression is the compression applied to the dump stream before upload.
// +kubebuilder:validation:Enum=zstd;gzip;none
type Compression string

const (
	// CompressionZstd is multi-threaded zstd: fast and compact (default).
	CompressionZstd Compression = "zstd"
	// CompressionGzip is gzip, for tools that only read .gz.
	CompressionGzip Compression = "gzip"
	// CompressionNone uploads the dump as it is.
	CompressionNone Compression = "none"
)

// DeletionPolicy says what happens to a backup's S3 objects when the object is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the dump and its manifest in S3 (default).
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete removes the dump and its manifest from S3.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// BackupPhase is a backup's lifecycle step, for humans.
// +kubebuilder:validation:Enum=Pending;Running;Verifying;Completed;Failed
type BackupPhase string

const (
	BackupPhasePending   BackupPhase = "Pending"
	BackupPhaseRunning   BackupPhase = "Running"
	BackupPhaseVerifying BackupPhase = "Verifying"
	BackupPhaseCompleted BackupPhase = "Completed"
	BackupPhaseFailed    BackupPhase = "Failed"
)

// DatabaseBackupSpec describes one logical backup of a PostgreSQL database to S3.
type DatabaseBackupSpec struct {
	// database is the PostgreSQL database to dump.
	// +required
	Database DatabaseConnection `json:"database"`

	// destination is where the dump and its manifest are uploaded. The object key is
	// `<prefix>/<namespace>/<name>/<start time>.dump[.zst|.gz]`.
	// +required
	Destination BackupDestination `json:"destination"`

	// format is the pg_dump format. Default: Custom.
	// +optional
	// +kubebuilder:default=Custom
	Format BackupFormat `json:"format,omitempty"`

	// compression applied to the dump stream: zstd, gzip or none. Default: zstd.
	// +optional
	// +kubebuilder:default=zstd
	Compression Compression `json:"compression,omitempty"`

	// timeout is the longest the backup Job may run (Go duration, e.g. `45m`), after
	// which it is killed and the backup fails. Default: 1h.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('168h'))",message="timeout must be between 1m and 168h (7 days)",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`

	// deletionPolicy says whether deleting this object also deletes the dump and its
	// manifest from S3 (Delete) or keeps them (Retain). It may be changed at any time.
	// Default: Retain.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// verify restores the finished dump into a scratch database, checks it against the
	// manifest and drops the scratch database; the result is the Verified condition.
	// Default: false.
	// +optional
	// +kubebuilder:default=false
	Verify bool `json:"verify,omitempty"`
}

// DatabaseBackupStatus is what the controller observed of the backup.
type DatabaseBackupStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is the backup's lifecycle step: Pending, Running, Verifying, Completed or Failed.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`

	// startTime is when the backup Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the backup reached Completed or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// location is the dump's URL, `s3://bucket/key`.
	// +optional
	Location string `json:"location,omitempty"`

	// key is the dump's object key within the bucket.
	// +optional
	Key string `json:"key,omitempty"`

	// sizeBytes is the size of the uploaded (compressed) dump, in bytes.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`

	// sha256 is the hex SHA-256 of the uploaded object.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// serverVersion is the PostgreSQL server version that was dumped.
	// +optional
	ServerVersion string `json:"serverVersion,omitempty"`

	// durationSeconds is how long the dump and upload took, in seconds.
	// +optional
	DurationSeconds int64 `json:"durationSeconds,omitempty"`

	// jobName is the backup Job's name.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// conditions: Ready, Reconciling, Stalled, BackupSucceeded, Verified, Deleted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dbb;dbbackup,categories=runbook
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.sizeBytes`
// +kubebuilder:printcolumn:name="Location",type=string,JSONPath=`.status.location`,priority=1
// +kubebuilder:printcolumn:name="SHA256",type=string,JSONPath=`.status.sha256`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startTime) || (self.spec.database == oldSelf.spec.database && self.spec.destination == oldSelf.spec.destination && self.spec.format == oldSelf.spec.format && self.spec.compression == oldSelf.spec.compression && (has(self.spec.timeout) ? duration(self.spec.timeout) : duration('0s')) == (has(oldSelf.spec.timeout) ? duration(oldSelf.spec.timeout) : duration('0s')) && self.spec.verify == oldSelf.spec.verify)",message="spec is immutable once the backup has started (only deletionPolicy may change); create a new DatabaseBackup instead"

// DatabaseBackup is one logical backup (pg_dump) of a PostgreSQL database, streamed,
// compressed and uploaded to S3 with a checksum by a Job.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: DatabaseBackup
//	metadata: {name: before-v2-4-0}
//	spec:
//	  database: {secretRef: {name: saas-db}}
//	  destination: {s3: {bucket: saas-backups, prefix: prod, credentialsSecretRef: {name: saas-s3}}}
type DatabaseBackup struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the backup.
	// +required
	Spec DatabaseBackupSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status DatabaseBackupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DatabaseBackupList contains a list of DatabaseBackup.
type DatabaseBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DatabaseBackup `json:"items"`
}

func init() {
	register(&DatabaseBackup{}, &DatabaseBackupList{})
}
