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

// Generator makes a new secret value.
// +kubebuilder:validation:Enum=DjangoSecretKey;Fernet;Random
type Generator string

const (
	// GeneratorDjangoSecretKey is 50 characters from Django's get_random_secret_key alphabet.
	GeneratorDjangoSecretKey Generator = "DjangoSecretKey"
	// GeneratorFernet is a url-safe base64 32-byte key, as Fernet.generate_key().
	GeneratorFernet Generator = "Fernet"
	// GeneratorRandom is `length` characters of `alphabet`.
	GeneratorRandom Generator = "Random"
)

// Alphabet is the character set of a Random value. None holds a comma, the separator
// of the lists that keep previous values.
// +kubebuilder:validation:Enum=Alphanumeric;Hex;Base64URL;Printable
type Alphabet string

const (
	// AlphabetAlphanumeric is A-Z, a-z and 0-9.
	AlphabetAlphanumeric Alphabet = "Alphanumeric"
	// AlphabetHex is 0-9 and a-f; with `bytes`, the hex encoding of that many bytes.
	AlphabetHex Alphabet = "Hex"
	// AlphabetBase64URL is A-Z, a-z, 0-9, - and _; with `bytes`, the URL-safe base64
	// encoding (with padding) of that many bytes.
	AlphabetBase64URL Alphabet = "Base64URL"
	// AlphabetPrintable is printable ASCII without space and comma.
	AlphabetPrintable Alphabet = "Printable"
)

// PreviousFormat is how a companion key (previousKey) lists previous values.
// +kubebuilder:validation:Enum=Comma;JSON
type PreviousFormat string

const (
	// PreviousFormatComma is "newest,older,oldest".
	PreviousFormatComma PreviousFormat = "Comma"
	// PreviousFormatJSON is a JSON array of strings, newest first.
	PreviousFormatJSON PreviousFormat = "JSON"
)

// RotationMode says how a rotation asked for by rotateRequest is carried out.
// +kubebuilder:validation:Enum=TwoPhase;Immediate
type RotationMode string

const (
	// RotationTwoPhase publishes the new value accept-only and restarts every target,
	// then promotes it and restarts them again: nothing breaks mid-rollout.
	RotationTwoPhase RotationMode = "TwoPhase"
	// RotationImmediate is an emergency rotation after a suspected leak: the new value
	// becomes current at once. Sessions and tokens signed with the old values stop
	// validating at once; the old Fernet values are kept decrypt-only until
	// spec.reencrypt re-encrypted the data with the new one, then dropped.
	RotationImmediate RotationMode = "Immediate"
)

// AnnotationEmergencyRotation on a SecretRotation asks for one emergency rotation
// (mode Immediate) when set to a new value, whatever spec.mode says, without
// changing the spec: an Incident's rotateSecrets sets it (incident-<uid>), and a
// person can (`kubectl annotate`). The SecretRotation rotates once per value
// (status.lastEmergencyRequest); removing the annotation changes nothing.
const AnnotationEmergencyRotation = "ops.runbook.dev/emergency-rotation"

// RestartTargetKind is a kind of workload a SecretRotation restarts.
// +kubebuilder:validation:Enum=Deployment;Release
type RestartTargetKind string

const (
	// RestartDeployment is an apps/v1 Deployment.
	RestartDeployment RestartTargetKind = "Deployment"
	// RestartRelease is a Release: every component Deployment, in its order.
	RestartRelease RestartTargetKind = "Release"
)

// RestartTarget names a workload restarted when the Secret changes.
type RestartTarget struct {
	// kind of the workload: Deployment or Release.
	// +required
	Kind RestartTargetKind `json:"kind"`

	// name of the workload in the SecretRotation's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// Reencrypt is the re-encryption step of an emergency rotation: a Job that runs
// command with the app's image and environment after every target encrypts with the
// new Fernet values, before the leaked ones are dropped.
type Reencrypt struct {
	// command re-encrypts every value encrypted with an old Fernet key with the newest
	// one (MultiFernet.rotate), e.g. [python, manage.py, reencrypt]. It must be
	// idempotent: after a failure it runs again when its Job is deleted. Its output
	// (stdout and stderr, the last 4 KiB) is recorded in status.reencryption.output and
	// must hold no secret.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command"`

	// deployment whose pod template (image, env, envFrom, volumes, service account)
	// the Job copies. Default: the first restart target's Deployment (a Release's
	// first component).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Deployment string `json:"deployment,omitempty"`

	// container of that pod template whose image and environment the Job uses.
	// Default: the first container.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`

	// timeout stops the Job after this long (Go duration). Default: 1h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule=`(oldSelf.hasValue() && oldSelf.value() == self) || !self.matches(r'^([0-9]+(\.[0-9]+)?(s|m|h))+$') || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))`,message="reencrypt.timeout must be between 1m and 24h",optionalOldSelf=true
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^([0-9]+(\.[0-9]+)?(s|m|h))+$')`,message="reencrypt.timeout is a duration in hours, minutes or seconds, e.g. 30m or 2h"
	// +kubebuilder:validation:MaxLength=32
	Timeout *Duration `json:"timeout,omitempty"`
}

// RotatedKey is one key of the Secret and how its new value is made.
// +kubebuilder:validation:XValidation:rule="has(self.generator) != has(self.copyFrom)",message="each key needs exactly one of generator or copyFrom"
// +kubebuilder:validation:XValidation:rule="!has(self.length) || (has(self.generator) && self.generator == 'Random')",message="length applies to generator Random only"
// +kubebuilder:validation:XValidation:rule="!has(self.bytes) || (has(self.generator) && self.generator == 'Random' && !has(self.length) && (self.alphabet == 'Hex' || self.alphabet == 'Base64URL'))",message="bytes applies to generator Random with alphabet Hex or Base64URL, without length"
// +kubebuilder:validation:XValidation:rule="!has(self.characters) || (has(self.generator) && self.generator == 'Random' && !has(self.bytes))",message="characters applies to generator Random only, without bytes"
// +kubebuilder:validation:XValidation:rule="!has(self.characters) || !self.characters.contains(',')",message="characters must not contain a comma: previous values are kept as a comma-separated list"
// +kubebuilder:validation:XValidation:rule="!has(self.previousFormat) || has(self.previousKey)",message="previousFormat applies to previousKey only"
// +kubebuilder:validation:XValidation:rule="!has(self.previousKey) || self.previousKey != self.key",message="previousKey must differ from key"
type RotatedKey struct {
	// key in the Secret's data, e.g. `SECRET_KEY`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`

	// generator makes the new value: DjangoSecretKey, Fernet or Random.
	// +optional
	Generator Generator `json:"generator,omitempty"`

	// length of a Random value, in characters. Default: 32.
	// +optional
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=4096
	Length *int32 `json:"length,omitempty"`

	// alphabet of a Random value. Default: Alphanumeric.
	// +optional
	// +kubebuilder:default=Alphanumeric
	Alphabet Alphabet `json:"alphabet,omitempty"`

	// characters is the alphabet of a Random value spelled out, instead of `alphabet`:
	// 2 to 95 distinct printable ASCII characters, never a comma.
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=95
	// +kubebuilder:validation:Pattern=`^[!-~]+$`
	Characters string `json:"characters,omitempty"`

	// bytes makes a Random value of this many random bytes, encoded as `alphabet` says
	// (Hex: 2 characters per byte; Base64URL: URL-safe base64 with padding), instead of
	// `length` characters.
	// +optional
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=1024
	Bytes *int32 `json:"bytes,omitempty"`

	// copyFrom takes the new value from another Secret's key, for values issued
	// elsewhere (a Stripe webhook secret, a provider API key).
	// +optional
	CopyFrom *SecretKeyReference `json:"copyFrom,omitempty"`

	// keepPrevious is how many previous values are kept so that old sessions, tokens
	// and ciphertexts stay valid. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	KeepPrevious *int32 `json:"keepPrevious,omitempty"`

	// previousKey is the Secret key that holds previous values as a comma-separated
	// list, newest first, e.g. `SECRET_KEY_FALLBACKS` for Django. When empty, previous
	// values follow the current one in this key, comma-separated newest first
	// (MultiFernet style).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	PreviousKey string `json:"previousKey,omitempty"`

	// previousFormat is how previousKey lists the previous values: Comma
	// ("newest,older") or JSON (a JSON array of strings). Default: Comma.
	// +optional
	PreviousFormat PreviousFormat `json:"previousFormat,omitempty"`
}

// SecretRotationSpec rotates keys of one Secret on an interval or on request.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Immediate' || has(self.reencrypt) || (has(self.dropUnreadable) && self.dropUnreadable) || !self.keys.exists(k, has(k.generator) && k.generator == 'Fernet')",message="mode Immediate drops the old Fernet values, and data encrypted with them could no longer be read: set reencrypt.command (e.g. [python, manage.py, reencrypt]) to re-encrypt it with the new value before they are dropped, or dropUnreadable: true to accept the loss"
// +kubebuilder:validation:XValidation:rule="!has(self.reencrypt) || has(self.reencrypt.deployment) || (has(self.restartTargets) && size(self.restartTargets) > 0)",message="reencrypt needs a Deployment whose image and environment its Job uses: set reencrypt.deployment, or list a restart target"
// +kubebuilder:validation:XValidation:rule="self.keys.all(k, !has(k.previousKey) || self.keys.all(o, o.key != k.previousKey))",message="a previousKey must not be another rotated key"
// +kubebuilder:validation:XValidation:rule="self.keys.all(k, !has(k.previousKey) || self.keys.exists_one(o, has(o.previousKey) && o.previousKey == k.previousKey))",message="each previousKey belongs to one key only"
type SecretRotationSpec struct {
	// secretName is the Secret whose keys are rotated; it is created when missing.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName"`

	// keys rotated together.
	// +required
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Keys []RotatedKey `json:"keys"`

	// interval between rotations (Go duration). Default: 2160h (90 days).
	// +optional
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^([0-9]+(\.[0-9]+)?(s|m|h))+$')`,message="interval is a duration in hours, minutes or seconds (Go syntax), e.g. 168h for a week or 2160h for 90 days"
	// +kubebuilder:validation:XValidation:rule=`(oldSelf.hasValue() && oldSelf.value() == self) || !self.matches(r'^([0-9]+(\.[0-9]+)?(s|m|h))+$') || (duration(self) >= duration('1h') && duration(self) <= duration('17520h'))`,message="interval must be between 1h and 17520h (2 years)",optionalOldSelf=true
	Interval *Duration `json:"interval,omitempty"`

	// rotateRequest rotates now when changed to a new value, e.g. a timestamp.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RotateRequest string `json:"rotateRequest,omitempty"`

	// mode of the rotation a rotateRequest change asks for: TwoPhase (publish, then
	// promote, a restart of every target each) or Immediate (an emergency after a
	// suspected leak: the new values are current at once and old sessions invalid;
	// the old Fernet values stay decrypt-only until reencrypt re-encrypted the data,
	// then they are dropped). Scheduled rotations are always TwoPhase. Default: TwoPhase.
	// +optional
	// +kubebuilder:default=TwoPhase
	Mode RotationMode `json:"mode,omitempty"`

	// reencrypt is the re-encryption Job of an Immediate rotation of Fernet keys,
	// run after every target encrypts with the new value and before the leaked
	// value is dropped, so that no data is lost.
	// +optional
	Reencrypt *Reencrypt `json:"reencrypt,omitempty"`

	// dropUnreadable acknowledges that an Immediate rotation without reencrypt drops
	// the old Fernet values at once, and that data encrypted with them can no longer
	// be read by anyone. Default: false.
	// +optional
	DropUnreadable bool `json:"dropUnreadable,omitempty"`

	// restartTargets are restarted (pod template stamped) once per phase of each
	// rotation, in order, one at a time: Deployments, or every component Deployment of
	// a Release.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	RestartTargets []RestartTarget `json:"restartTargets,omitempty"`

	// suspend stops scheduled rotations; rotateRequest still works. Default: false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// RotationPhase is where a SecretRotation is.
// +kubebuilder:validation:Enum=Pending;Publishing;Promoting;Replacing;Reencrypting;Dropping;Idle;Blocked;Failed
type RotationPhase string

const (
	// RotationPhasePending: the Secret has not been written yet.
	RotationPhasePending RotationPhase = "Pending"
	// RotationPhasePublishing: the new values are accepted but not used; targets restart.
	RotationPhasePublishing RotationPhase = "Publishing"
	// RotationPhasePromoting: the new values are current; targets restart again.
	RotationPhasePromoting RotationPhase = "Promoting"
	// RotationPhaseReplacing: a one-phase rotation (Immediate, or keys that hold one
	// value only); targets restart. In an Immediate rotation with reencrypt the old
	// Fernet values are kept decrypt-only.
	RotationPhaseReplacing RotationPhase = "Replacing"
	// RotationPhaseReencrypting: every target encrypts with the new Fernet values;
	// the reencrypt Job re-encrypts the data written under the old ones.
	RotationPhaseReencrypting RotationPhase = "Reencrypting"
	// RotationPhaseDropping: the data is re-encrypted; the old Fernet values are
	// dropped and targets restart once more.
	RotationPhaseDropping RotationPhase = "Dropping"
	// RotationPhaseIdle: no rotation in progress; every target runs the current values.
	RotationPhaseIdle RotationPhase = "Idle"
	// RotationPhaseBlocked: no rotation in progress, and one cannot start (a missing
	// target, bad input); the Stalled condition says why.
	RotationPhaseBlocked RotationPhase = "Blocked"
	// RotationPhaseFailed: the rotation stopped (a target did not roll out, bad input);
	// the Secret holds values every running pod accepts.
	RotationPhaseFailed RotationPhase = "Failed"
)

// TargetRestartState is how far one restart target is in the current phase.
// +kubebuilder:validation:Enum=Waiting;RollingOut;RolledOut;Failed
type TargetRestartState string

const (
	TargetWaiting    TargetRestartState = "Waiting"
	TargetRollingOut TargetRestartState = "RollingOut"
	TargetRolledOut  TargetRestartState = "RolledOut"
	TargetFailed     TargetRestartState = "Failed"
)

// RestartTargetStatus is the restart of one target (a Deployment; each component of
// a Release has its own entry).
type RestartTargetStatus struct {
	// kind of the target as named in spec.restartTargets.
	Kind RestartTargetKind `json:"kind"`
	// name of the target in spec.restartTargets.
	Name string `json:"name"`
	// deployment restarted for it (a Release's component Deployment, or the target).
	Deployment string `json:"deployment"`
	// version is the Secret version its pod template carries.
	// +optional
	Version string `json:"version,omitempty"`
	// state in the current phase.
	State TargetRestartState `json:"state"`
}

// ReencryptionState is where a re-encryption Job is.
// +kubebuilder:validation:Enum=Running;Succeeded;Failed
type ReencryptionState string

const (
	ReencryptionRunning   ReencryptionState = "Running"
	ReencryptionSucceeded ReencryptionState = "Succeeded"
	ReencryptionFailed    ReencryptionState = "Failed"
)

// ReencryptionStatus is the re-encryption Job of an emergency rotation.
type ReencryptionStatus struct {
	// job is the Job's name.
	Job string `json:"job"`
	// version is the Secret version the Job ran with (new values current, old Fernet
	// values decrypt-only).
	// +optional
	Version string `json:"version,omitempty"`
	// state: Running, Succeeded or Failed.
	State ReencryptionState `json:"state"`
	// output is the end of the command's output (stdout and stderr), or why it failed.
	// +optional
	Output string `json:"output,omitempty"`
	// startTime is when the Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime is when it succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// SecretRotationStatus is what the controller observed of the rotation.
type SecretRotationStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastRotationTime is when the keys were last rotated.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// nextRotationTime is when the next scheduled rotation is due.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// currentVersionHash is a SHA-256 prefix over the managed keys' data; it changes
	// with every phase of every rotation and reveals nothing of the values. Restarted
	// pod templates carry it in the annotation ops.runbook.dev/secret.<secretName>.
	// +optional
	CurrentVersionHash string `json:"currentVersionHash,omitempty"`

	// phase: Pending, Publishing, Promoting, Replacing, Reencrypting, Dropping, Idle,
	// Blocked or Failed.
	// +optional
	Phase RotationPhase `json:"phase,omitempty"`

	// mode of the rotation in progress or last done (TwoPhase or Immediate).
	// +optional
	Mode RotationMode `json:"mode,omitempty"`

	// targets is the restart state of every target in the current phase, in order.
	// +optional
	// +listType=atomic
	Targets []RestartTargetStatus `json:"targets,omitempty"`

	// reencryption is the re-encryption Job of the emergency rotation in progress or
	// last done.
	// +optional
	Reencryption *ReencryptionStatus `json:"reencryption,omitempty"`

	// lastRotateRequest is the rotateRequest last acted on.
	// +optional
	LastRotateRequest string `json:"lastRotateRequest,omitempty"`

	// lastEmergencyRequest is the value of the annotation
	// ops.runbook.dev/emergency-rotation last acted on.
	// +optional
	LastEmergencyRequest string `json:"lastEmergencyRequest,omitempty"`

	// rotations counts the rotations performed.
	// +optional
	Rotations int64 `json:"rotations,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Rotated, Restarted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=srot,categories=runbook
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Rotations",type=integer,JSONPath=`.status.rotations`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Rotation",type=date,JSONPath=`.status.lastRotationTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextRotationTime`,description="When the next rotation is due (a date column would print a future time as <invalid>)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SecretRotation generates new values for a Secret's keys on an interval, keeps
// previous values for fallbacks and restarts the workloads that read them.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: SecretRotation
//	metadata: {name: django-secret-key}
//	spec:
//	  secretName: saas-app
//	  keys: [{key: SECRET_KEY, generator: DjangoSecretKey, previousKey: SECRET_KEY_FALLBACKS}]
//	  restartTargets: [{kind: Release, name: saas}]
type SecretRotation struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the rotation.
	// +required
	Spec SecretRotationSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status SecretRotationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SecretRotationList contains a list of SecretRotation.
type SecretRotationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecretRotation `json:"items"`
}

func init() {
	register(&SecretRotation{}, &SecretRotationList{})
}
