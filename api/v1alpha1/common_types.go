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

import "strings"

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the object, in the same namespace as the referring object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretKeyReference selects one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// DatabaseConnection says how to reach a PostgreSQL database. Credentials never leave
// the Secret: Jobs receive them as secretKeyRef environment variables.
type DatabaseConnection struct {
	// secretRef names a Secret in the same namespace holding libpq keys: `host`, `port`
	// (default 5432), `dbname`, `user`, `password` and optional `sslmode`; or a single
	// `uri` key (postgres://user:password@host:port/dbname?sslmode=require).
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// S3Location is a bucket and prefix in S3 or an S3-compatible store.
type S3Location struct {
	// bucket is the S3 bucket name (3-63 lowercase letters, digits, dots and hyphens).
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`
	Bucket string `json:"bucket"`

	// prefix is prepended to every object key, without a leading slash, e.g. `backups/prod`.
	// Default: no prefix.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/')",message="prefix must not start with '/'"
	Prefix string `json:"prefix,omitempty"`

	// region of the bucket. Default: us-east-1.
	// +optional
	// +kubebuilder:default=us-east-1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+$`
	Region string `json:"region,omitempty"`

	// endpoint is the URL of an S3-compatible store (MinIO, Ceph, versitygw, R2), e.g.
	// `https://minio.storage.svc:9000`. Default: AWS S3.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Endpoint string `json:"endpoint,omitempty"`

	// forcePathStyle addresses the bucket as endpoint/bucket instead of bucket.endpoint,
	// which most S3-compatible stores need. Default: false.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// credentialsSecretRef names a Secret with `AWS_ACCESS_KEY_ID` and
	// `AWS_SECRET_ACCESS_KEY`. Default: the AWS default credential chain of the Job's
	// pod (IRSA / EKS Pod Identity, instance profile).
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`
}

// BackupDestination says where a backup is stored.
type BackupDestination struct {
	// s3 is the bucket and prefix the dump and its manifest are uploaded to.
	// +required
	S3 S3Location `json:"s3"`
}

// WorkloadKind names a kind of workload the operator can scale or restart.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;Release
type WorkloadKind string

const (
	// WorkloadDeployment is an apps/v1 Deployment.
	WorkloadDeployment WorkloadKind = "Deployment"
	// WorkloadStatefulSet is an apps/v1 StatefulSet.
	WorkloadStatefulSet WorkloadKind = "StatefulSet"
	// WorkloadRelease is a Release: all of its components.
	WorkloadRelease WorkloadKind = "Release"
)

// WorkloadReference names a workload in the same namespace.
type WorkloadReference struct {
	// kind of the workload: Deployment, StatefulSet or Release.
	// +required
	Kind WorkloadKind `json:"kind"`

	// name of the workload.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// AnnotationQuiescedBy is set on a Release by the object that holds the release's
// components at zero replicas: a DatabaseRestore (the value is its name, same
// namespace) or an Incident's takeOffline (`Incident/<name>`); QuiescedByWords names
// the holder for messages. The contract between the holder and the Release controller
// (written for the restore; an Incident follows it the same way):
//
//   - The restore records every component Deployment's replica count in its
//     status.quiescedWorkloads first, then sets this annotation, then scales the
//     Deployments (`<release>-<component>`, see ComponentDeploymentName) to zero
//     through their scale subresource.
//   - While the annotation is present the Release reconciler must not change the
//     replicas of the component Deployments (nor of their HorizontalPodAutoscalers),
//     must not create missing component Deployments with more than zero replicas, and
//     must not start a new pipeline (pre-deploy backup, migrations, pre-deploy Jobs,
//     rollout): the database is being replaced under it. It may keep updating status,
//     and should say that it is quiesced and by which restore.
//   - The restore scales the Deployments back to the recorded counts first and removes
//     the annotation last, only if it still holds its own name. It does so when the
//     restore completes, when it fails (unless spec.quiesce.keepStoppedOnFailure), and
//     when the DatabaseRestore is deleted (a finalizer guarantees it), so deleting a
//     restore that kept the workloads stopped is how a person resumes them.
//   - Once the annotation is gone the Release reconciler resumes as usual, including
//     any pipeline that a spec change asked for in the meantime.
const AnnotationQuiescedBy = "ops.runbook.dev/quiesced-by"

// QuiescedByWords names the holder an AnnotationQuiescedBy value records, for
// messages: `<Kind>/<name>` reads "<Kind> <name>"; a bare name is a DatabaseRestore's.
func QuiescedByWords(v string) string {
	if kind, name, ok := strings.Cut(v, "/"); ok {
		return kind + " " + name
	}
	return "DatabaseRestore " + v
}
