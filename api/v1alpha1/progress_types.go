/*
Copyright 2026.

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

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Progress is how far a running backup or restore Job got, read by the controller
// from the agent's last progress line in the pod's log (at most every ~12 s). It is
// finalised when the Job ends: 100% on success, the last figures seen on failure.
type Progress struct {
	// bytesDone: for a backup, the bytes read from pg_dump (uncompressed); for a
	// restore, the bytes of the object downloaded.
	// +optional
	BytesDone int64 `json:"bytesDone,omitempty"`

	// bytesExpected: for a backup, the database's pg_database_size (an estimate:
	// the dump holds no indexes and usually ends below it); for a restore, the
	// object's size. Absent when unknown.
	// +optional
	BytesExpected int64 `json:"bytesExpected,omitempty"`

	// percent is bytesDone of bytesExpected, 0–100 (99 at most until the Job
	// succeeded). Absent when nothing is expected.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent *int32 `json:"percent,omitempty"`

	// summary is the short form shown in the Progress column: `42%`, or the bytes
	// done when nothing is expected.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Summary string `json:"summary,omitempty"`

	// phase is the agent's step: dump for a backup; download, pre-data, data,
	// post-data, count or analyze for a restore.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Phase string `json:"phase,omitempty"`

	// tablesDone of tablesTotal tables have their data loaded (restore, from the
	// archive's table of contents).
	// +optional
	TablesDone int32 `json:"tablesDone,omitempty"`
	// +optional
	TablesTotal int32 `json:"tablesTotal,omitempty"`

	// estimatedCompletionTime is when the bytes are expected to be done at the
	// throughput so far. Absent when it cannot be estimated and once the Job ended.
	// +optional
	EstimatedCompletionTime *metav1.Time `json:"estimatedCompletionTime,omitempty"`

	// lastUpdateTime is when the controller last read a progress line.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`

	// lastProgressTime is when bytesDone, tablesDone or phase last moved; a
	// progress that has not moved for longer than the manager's
	// --progress-stall-after is reported in the Reconciling message, without
	// failing anything.
	// +optional
	LastProgressTime *metav1.Time `json:"lastProgressTime,omitempty"`
}
