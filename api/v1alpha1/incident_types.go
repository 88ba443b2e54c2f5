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

const (
	// SeverityP0 is a full outage or data breach: respond within 15 minutes.
	SeverityP0 IncidentSeverity = "P0"
	// SeverityP1 is a major degradation: respond within 1 hour.
	SeverityP1 IncidentSeverity = "P1"
	// SeverityP2 is a partial degradation: respond within 4 hours.
	SeverityP2 IncidentSeverity = "P2"
	// SeverityP3 is a minor issue: respond by the next business day.
	SeverityP3 IncidentSeverity = "P3"
)

// IncidentPhase is an incident's lifecycle step.
// +kubebuilder:validation:Enum=Open;Acknowledged;Mitigated;Resolved
type IncidentPhase string

const (
	IncidentPhaseOpen         IncidentPhase = "Open"
	IncidentPhaseAcknowledged IncidentPhase = "Acknowledged"
	IncidentPhaseMitigated    IncidentPhase = "Mitigated"
	IncidentPhaseResolved     IncidentPhase = "Resolved"
)

// NotifierType is the payload format of a notification webhook.
// +kubebuilder:validation:Enum=Slack;PagerDuty;Webhook
type NotifierType string

const (
	NotifierSlack     NotifierType = "Slack"
	NotifierPagerDuty NotifierType = "PagerDuty"
	NotifierWebhook   NotifierType = "Webhook"
)

// DiagnosticCommand is a command run in a Job with the release's image, its output
// kept as evidence.
type DiagnosticCommand struct {
	// name of the diagnostic.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=30
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// command to run, e.g. `[python, manage.py, check, --deploy]`.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command"`
}

// IncidentResponse lists the actions the controller takes. Destructive ones happen
// only when asked here.
type IncidentResponse struct {
	// captureEvidence stores the release's pod states, events and recent logs in a
	// ConfigMap before anything is changed. Default: true.
	// +optional
	// +kubebuilder:default=true
	CaptureEvidence bool `json:"captureEvidence"`

	// isolate applies a NetworkPolicy that denies all ingress and egress of the
	// release's pods except to the database and DNS. Default: false.
	// +optional
	Isolate bool `json:"isolate,omitempty"`

	// takeOffline scales every component of the release to zero. Default: false.
	// +optional
	TakeOffline bool `json:"takeOffline,omitempty"`

	// rollback rolls the release back to its stable revision. Default: false.
	// +optional
	Rollback bool `json:"rollback,omitempty"`

	// rotateSecrets names SecretRotations to trigger now.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	RotateSecrets []string `json:"rotateSecrets,omitempty"`

	// diagnostics run in Jobs; their output is kept as evidence.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Diagnostics []DiagnosticCommand `json:"diagnostics,omitempty"`
}

// Notifier sends the incident's transitions to a webhook.
type Notifier struct {
	// type of payload: Slack, PagerDuty (Events API v2) or Webhook (generic JSON).
	// +required
	Type NotifierType `json:"type"`

	// urlSecretRef selects the Secret key holding the webhook URL (for PagerDuty, the
	// routing key). The URL never appears in status or events.
	// +required
	URLSecretRef SecretKeyReference `json:"urlSecretRef"`
}

// IncidentSpec describes an incident and the response it asks for.
// +kubebuilder:validation:XValidation:rule="has(self.releaseRef) || !has(self.response) || ((!has(self.response.isolate) || !self.response.isolate) && (!has(self.response.takeOffline) || !self.response.takeOffline) && (!has(self.response.rollback) || !self.response.rollback))",message="response.isolate, takeOffline and rollback need spec.releaseRef"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.resolution) || has(self.resolution)",message="resolution cannot be removed once the incident is resolved; open a new Incident instead"
type IncidentSpec struct {
	// severity: P0 (respond within 15 min), P1 (1 h), P2 (4 h), P3 (next business day).
	// +required
	Severity IncidentSeverity `json:"severity"`

	// title is a one-line summary.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title"`

	// description says what is known.
	// +optional
	// +kubebuilder:validation:MaxLength=10000
	Description string `json:"description,omitempty"`

	// releaseRef names the affected Release.
	// +optional
	ReleaseRef *LocalObjectReference `json:"releaseRef,omitempty"`

	// response lists the actions to take.
	// +optional
	// +kubebuilder:default={captureEvidence: true}
	Response *IncidentResponse `json:"response,omitempty"`

	// notify lists the webhooks told of every transition.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	Notify []Notifier `json:"notify,omitempty"`

	// acknowledgedBy names the person who took the incident; setting it acknowledges.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`

	// resolution says how the incident was resolved; setting it resolves the incident.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10000
	Resolution string `json:"resolution,omitempty"`
}

// TimelineEntry is one thing that happened during an incident.
type TimelineEntry struct {
	// time it happened.
	// +required
	Time metav1.Time `json:"time"`

	// type of entry, e.g. Opened, Acknowledged, ActionTaken, Notified, Resolved.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type"`

	// message says what happened.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// Evidence is where the captured state was stored.
type Evidence struct {
	// configMapName holds pod states, events, recent logs and diagnostic output.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`

	// capturedAt is when the evidence was captured.
	// +optional
	CapturedAt *metav1.Time `json:"capturedAt,omitempty"`
}

// IncidentStatus is what the controller observed and did.
type IncidentStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase: Open, Acknowledged, Mitigated or Resolved.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// openedAt, acknowledgedAt, mitigatedAt and resolvedAt are the phase transitions.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`
	// +optional
	AcknowledgedAt *metav1.Time `json:"acknowledgedAt,omitempty"`
	// +optional
	MitigatedAt *metav1.Time `json:"mitigatedAt,omitempty"`
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`

	// responseDeadline is when the incident must be acknowledged, from its severity.
	// +optional
	ResponseDeadline *metav1.Time `json:"responseDeadline,omitempty"`

	// timeline of what happened, oldest first, at most 200 entries.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Timeline []TimelineEntry `json:"timeline,omitempty"`

	// evidence is where the captured state was stored.
	// +optional
	Evidence *Evidence `json:"evidence,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Acknowledged, Mitigated, Notified,
	// EvidenceCaptured.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=inc,categories=runbook
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.spec.severity`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Deadline",type=date,JSONPath=`.status.responseDeadline`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Incident records an incident and performs the response it asks for: evidence
// capture, isolation, taking the app offline, rollback, secret rotation and
// notifications, with a timeline and a response deadline from its severity.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: Incident
//	metadata: {name: checkout-errors}
//	spec:
//	  severity: P1
//	  title: Checkout returns 500 after v2.4.0
//	  releaseRef: {name: saas}
//	  response: {captureEvidence: true, rollback: true}
type Incident struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the incident.
	// +required
	Spec IncidentSpec `json:"spec"`

	// status is what the controller observed and did.
	// +optional
	Status IncidentStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// IncidentList contains a list of Incident.
type IncidentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Incident `json:"items"`
}

func init() {
	register(&Incident{}, &IncidentList{})
}
