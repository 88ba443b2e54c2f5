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

// Alphabet is the character set of a Random value.
// +kubebuilder:validation:Enum=Alphanumeric;Hex;Base64URL;Printable
type Alphabet string

const (
	AlphabetAlphanumeric Alphabet = "Alphanumeric"
	AlphabetHex          Alphabet = "Hex"
	AlphabetBase64URL    Alphabet = "Base64URL"
	AlphabetPrintable    Alphabet = "Printable"
)

// RotatedKey is one key of the Secret and how its new value is made.
// +kubebuilder:validation:XValidation:rule="has(self.generator) != has(self.copyFrom)",message="each key needs exactly one of generator or copyFrom"
// +kubebuilder:validation:XValidation:rule="!has(self.length) || (has(self.generator) && self.generator == 'Random')",message="length applies to generator Random only"
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
	KeepPrevious int32 `json:"keepPrevious,omitempty"`

	// previousKey is the Secret key that holds previous values as a comma-separated
	// list, newest first, e.g. `SECRET_KEY_FALLBACKS` for Django. When empty, previous
	// values follow the current one in this key, comma-separated newest first
	// (MultiFernet style).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	PreviousKey string `json:"previousKey,omitempty"`
}

// SecretRotationSpec rotates keys of one Secret on an interval or on request.
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
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	Interval *Duration `json:"interval,omitempty"`

	// rotateRequest rotates now when changed to a new value, e.g. a timestamp.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RotateRequest string `json:"rotateRequest,omitempty"`

	// restartTargets are restarted (pod template stamped) after each rotation.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	RestartTargets []WorkloadReference `json:"restartTargets,omitempty"`

	// suspend stops scheduled rotations; rotateRequest still works. Default: false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
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

	// currentVersionHash is a SHA-256 prefix over the current values; it changes with
	// every rotation and reveals nothing of the values.
	// +optional
	CurrentVersionHash string `json:"currentVersionHash,omitempty"`

	// lastRotateRequest is the rotateRequest last acted on.
	// +optional
	LastRotateRequest string `json:"lastRotateRequest,omitempty"`

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
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Rotation",type=date,JSONPath=`.status.lastRotationTime`
// +kubebuilder:printcolumn:name="Next",type=date,JSONPath=`.status.nextRotationTime`
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
