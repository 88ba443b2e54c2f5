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

// MaxDiagnostics is how many diagnostic commands an incident may run.
const MaxDiagnostics = 10

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
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command"`

	// timeout is the longest the diagnostic Job may run; it is then killed and
	// recorded as failed. Default: 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('10s') && duration(self) <= duration('1h'))",message="timeout must be between 10s and 1h",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`
}

// IsolationSource is a source still allowed to reach isolated pods, e.g. an admin
// network or a debugging pod. At least one of podLabels or namespaceLabels is given;
// both means pods with podLabels in namespaces with namespaceLabels.
// +kubebuilder:validation:XValidation:rule="has(self.podLabels) || has(self.namespaceLabels)",message="an isolation source needs podLabels, namespaceLabels or both"
type IsolationSource struct {
	// name says what the source is, for the timeline (e.g. `admin-shell`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// podLabels selects the allowed pods (in the incident's namespace unless
	// namespaceLabels is given).
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule=`self.all(k, size(k) <= 317 && k.matches(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))`,message="podLabels keys must be Kubernetes label keys ([prefix/]name, name at most 63 characters)"
	PodLabels map[string]LabelValue `json:"podLabels,omitempty"`

	// namespaceLabels selects the namespaces whose pods (all, or those with podLabels)
	// are allowed.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule=`self.all(k, size(k) <= 317 && k.matches(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))`,message="namespaceLabels keys must be Kubernetes label keys ([prefix/]name, name at most 63 characters)"
	NamespaceLabels map[string]LabelValue `json:"namespaceLabels,omitempty"`
}

// IsolateAction asks for a NetworkPolicy, owned by the incident, that denies all
// ingress to the release's pods except from allowFrom. It needs a CNI that enforces
// NetworkPolicies.
type IsolateAction struct {
	// allowFrom lists the sources still allowed in. Default: none.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	AllowFrom []IsolationSource `json:"allowFrom,omitempty"`

	// keepIsolation keeps the NetworkPolicy when the incident is resolved (delete it,
	// or the Incident, to lift it). Default: false, removed on resolution.
	// +optional
	KeepIsolation bool `json:"keepIsolation,omitempty"`
}

// TakeOfflineAction asks for the release's components to be scaled to zero.
type TakeOfflineAction struct {
	// restoreOnResolve scales the components back to the recorded counts when the
	// incident is resolved. Default: false, they stay down until a person acts.
	// +optional
	RestoreOnResolve bool `json:"restoreOnResolve,omitempty"`
}

// IncidentResponse lists the actions the controller takes. Destructive ones
// (isolate, takeOffline, rollback, rotateSecrets) happen only when asked here, and
// evidence is captured before any of them.
type IncidentResponse struct {
	// captureEvidence stores the release's pod states and restarts, events, workload
	// history, recent logs (previous containers too), a database check and the
	// diagnostics' output, redacted, in ConfigMaps owned by the incident, before
	// anything is changed. Default: true.
	// +optional
	// +kubebuilder:default=true
	CaptureEvidence bool `json:"captureEvidence"`

	// isolate applies a NetworkPolicy that denies ingress to the release's pods.
	// Present (even `{}`) means asked. Default: not isolated.
	// +optional
	Isolate *IsolateAction `json:"isolate,omitempty"`

	// takeOffline scales every component of the release to zero, as a DatabaseRestore
	// quiesces it. Present (even `{}`) means asked. Default: left running.
	// +optional
	TakeOffline *TakeOfflineAction `json:"takeOffline,omitempty"`

	// rollback rolls the release back to its stable revision. Default: false.
	// +optional
	Rollback bool `json:"rollback,omitempty"`

	// rotateSecrets names SecretRotations (in the incident's namespace) to rotate now:
	// an emergency rotation (the SecretRotation's mode Immediate and a rotateRequest
	// derived from the incident's UID, so it is asked for once). The SecretRotation
	// decides re-encryption: its reencrypt or dropUnreadable is required for Fernet
	// keys, and the API server refuses the rotation otherwise (the action then fails
	// with that message). Each is recorded with the resulting version hash.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	RotateSecrets []string `json:"rotateSecrets,omitempty"`

	// diagnostics run in Jobs with the release's image; their bounded output is kept
	// in the evidence. At most 10.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Diagnostics []DiagnosticCommand `json:"diagnostics,omitempty"`
}

// Notifier sends the incident's transitions to Slack, PagerDuty or a webhook.
type Notifier struct {
	// name of the notifier, unique in the incident; its deliveries are recorded
	// under it in status.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// type of payload: Slack (incoming webhook), PagerDuty (Events API v2) or Webhook
	// (the operator's versioned generic JSON).
	// +required
	Type NotifierType `json:"type"`

	// secretRef selects the Secret key holding the webhook URL, or for PagerDuty the
	// integration's routing key. It is read with a get of that one Secret and never
	// appears in status, events or logs.
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`

	// url is PagerDuty's Events API v2 endpoint (a proxy or a test receiver). Default:
	// https://events.pagerduty.com/v2/enqueue. Only for type PagerDuty; the others
	// read their URL from the Secret.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url,omitempty"`

	// escalation marks an escalation target: it is silent until the incident first
	// escalates, then is told of every escalation and later transition. Notifiers
	// without it are told of every transition. Default: false.
	// +optional
	Escalation bool `json:"escalation,omitempty"`
}

// ResponseClock tunes the response deadline, escalation and acknowledgement expiry.
type ResponseClock struct {
	// timeZone is the IANA zone a P3's next business day is counted in, e.g.
	// `Europe/Berlin`. The API server refuses a name its zone database lacks; one the
	// manager's database lacks (an older one) is reported in a condition and UTC used.
	// Default: UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="timeZone Local is the manager's own zone, not an IANA name: write one such as Europe/Berlin or UTC"
	// +kubebuilder:validation:XValidation:rule="timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",message="timeZone is not in the API server's IANA time zone database: write a zone name such as Europe/Berlin, America/New_York or UTC"
	TimeZone string `json:"timeZone,omitempty"`

	// holidays are dates (YYYY-MM-DD, in timeZone) that are not business days for a
	// P3, besides Saturdays and Sundays.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Format=date
	// +kubebuilder:validation:items:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	Holidays []string `json:"holidays,omitempty"`

	// escalationInterval is how often an unacknowledged incident past its deadline
	// escalates again. Default: 30m.
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))",message="escalationInterval must be between 1m and 24h",optionalOldSelf=true
	EscalationInterval *Duration `json:"escalationInterval,omitempty"`

	// acknowledgementTimeout, when set, expires an acknowledgement after this long
	// (PagerDuty's acknowledgement_timeout): the incident is unacknowledged again and
	// escalates until acknowledgedBy is set to a new value. Default: never expires.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('168h'))",message="acknowledgementTimeout must be between 1m and 168h (7 days)",optionalOldSelf=true
	AcknowledgementTimeout *Duration `json:"acknowledgementTimeout,omitempty"`
}

// IncidentSpec describes an incident and the response it asks for.
// +kubebuilder:validation:XValidation:rule="has(self.releaseRef) || !has(self.response) || (!has(self.response.isolate) && !has(self.response.takeOffline) && (!has(self.response.rollback) || !self.response.rollback) && (!has(self.response.diagnostics) || size(self.response.diagnostics) == 0))",message="response.isolate, takeOffline, rollback and diagnostics need spec.releaseRef"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.resolution) || has(self.resolution)",message="resolution cannot be removed once the incident is resolved; open a new Incident instead"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || self.notify.all(n, n.type == 'PagerDuty' || !has(n.url))",message="notify[].url is PagerDuty's endpoint only; Slack and Webhook read their URL from secretRef"
type IncidentSpec struct {
	// severity: P0 (respond within 15 min), P1 (1 h), P2 (4 h), P3 (next business day
	// at 09:00 in responseClock.timeZone).
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

	// notify lists who is told of every transition (opened, escalated, acknowledged,
	// mitigated, resolved).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Notify []Notifier `json:"notify,omitempty"`

	// responseClock tunes the deadline, escalation and acknowledgement expiry.
	// +optional
	ResponseClock *ResponseClock `json:"responseClock,omitempty"`

	// acknowledgedBy names the person who took the incident; setting it acknowledges
	// and stops the clock. Setting a new value renews an acknowledgement.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`

	// resolution says how the incident was resolved; setting it resolves the incident.
	// It cannot be removed; editing it changes nothing already recorded.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10000
	Resolution string `json:"resolution,omitempty"`
}

// TimelineOutcome says how a timeline entry ended.
// +kubebuilder:validation:Enum=Info;Succeeded;Failed
type TimelineOutcome string

const (
	TimelineInfo      TimelineOutcome = "Info"
	TimelineSucceeded TimelineOutcome = "Succeeded"
	TimelineFailed    TimelineOutcome = "Failed"
)

// Timeline entry types.
const (
	TimelineOpened           = "Opened"
	TimelineAcknowledged     = "Acknowledged"
	TimelineAckExpired       = "AcknowledgementExpired"
	TimelineEscalated        = "Escalated"
	TimelineEvidenceCaptured = "EvidenceCaptured"
	TimelineDatabaseChecked  = "DatabaseChecked"
	TimelineIsolated         = "Isolated"
	TimelineIsolationLifted  = "IsolationLifted"
	TimelineTakenOffline     = "TakenOffline"
	TimelineBroughtBack      = "BroughtBack"
	TimelineRolledBack       = "RolledBack"
	TimelineSecretRotated    = "SecretRotated"
	TimelineDiagnostic       = "Diagnostic"
	TimelineNotified         = "Notified"
	TimelineNotifierFailed   = "NotifierFailed"
	TimelineMitigated        = "Mitigated"
	TimelineResolved         = "Resolved"
	TimelineInvalidConfig    = "InvalidConfiguration"
)

// LabelIncident is set on every object an Incident creates (NetworkPolicy, evidence
// ConfigMaps, diagnostic Jobs): the incident's name, hash-shortened to 63 characters.
const LabelIncident = "ops.runbook.dev/incident"

// Bounds of an incident's status, matching the CRD's MaxItems and MaxLength.
const (
	MaxTimelineEntries      = 100
	MaxTimelineMessageBytes = 1024
	MaxTimelineKeyBytes     = 128
	MaxEvidenceConfigMaps   = 16
)

// Condition types of an Incident besides the shared ones (Ready, Reconciling,
// Stalled, Acknowledged, Mitigated, Notified, EvidenceCaptured).
const (
	// ConditionEscalated is True while an unacknowledged incident is past its deadline.
	ConditionEscalated = "Escalated"
	// ConditionNotifierFailed is True while a notifier refuses deliveries for good
	// (e.g. 403 invalid_token, 410 channel_is_archived) or cannot be configured.
	ConditionNotifierFailed = "NotifierFailed"
	// ConditionIsolated reports the isolating NetworkPolicy.
	ConditionIsolated = "Isolated"
	// ConditionTakenOffline reports the release's components held at zero.
	ConditionTakenOffline = "TakenOffline"
	// ConditionSecretsRotated reports the emergency rotations.
	ConditionSecretsRotated = "SecretsRotated"
	// ConditionDiagnosed reports the diagnostic Jobs.
	ConditionDiagnosed = "Diagnosed"
	// ConditionDatabaseChecked reports the evidence's database check (agent check):
	// False when the check could not run or did not reach the database.
	ConditionDatabaseChecked = "DatabaseChecked"
)

// TimelineEntry is one thing that happened during an incident.
type TimelineEntry struct {
	// time it happened.
	// +required
	Time metav1.Time `json:"time"`

	// type of entry, e.g. Opened, Acknowledged, Escalated, Isolated, Notified,
	// NotifierFailed, Resolved.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type"`

	// outcome: Info, Succeeded or Failed.
	// +required
	Outcome TimelineOutcome `json:"outcome"`

	// message says what happened, what it changed and how to undo it.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`

	// key identifies the entry so that it is appended once, even when the manager
	// restarts between deciding and recording (e.g. `escalated/2`,
	// `notify/oncall/Resolved`).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Key string `json:"key,omitempty"`
}

// Evidence is where the captured state was stored.
type Evidence struct {
	// configMaps hold the redacted bundle, in order (pod states, events, workload
	// history, logs, database check, diagnostics' output), split to fit.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ConfigMaps []string `json:"configMaps,omitempty"`

	// sha256 of the whole bundle (the pieces concatenated in order), hex, so that it
	// can be shown unaltered later.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256,omitempty"`

	// sizeBytes of the whole bundle.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SizeBytes int64 `json:"sizeBytes,omitempty"`

	// truncated is true when parts were cut to keep the bundle within its bound; the
	// bundle says which.
	// +optional
	Truncated bool `json:"truncated,omitempty"`

	// capturedAt is when the evidence was captured.
	// +optional
	CapturedAt *metav1.Time `json:"capturedAt,omitempty"`

	// podsCapturedAt is when the release's pods, their logs (previous containers
	// too), events and workloads were read and stored: the bundle's first part, read
	// before the database check and before any action, because it disappears when
	// the pods are replaced. A Release's rollback waits for it.
	// +optional
	PodsCapturedAt *metav1.Time `json:"podsCapturedAt,omitempty"`
}

// IncidentActionState is where one response action is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Undone
type IncidentActionState string

const (
	ActionPending   IncidentActionState = "Pending"
	ActionRunning   IncidentActionState = "Running"
	ActionSucceeded IncidentActionState = "Succeeded"
	ActionFailed    IncidentActionState = "Failed"
	ActionUndone    IncidentActionState = "Undone"
)

// IncidentActionRecord is what one response action did: decided (named here) before
// it is performed, so it is performed once.
type IncidentActionRecord struct {
	// name of the action: `captureEvidence`, `isolate`, `takeOffline`, `rollback`,
	// `rotateSecrets/<SecretRotation>` or `diagnostics/<name>`.
	// +required
	// +kubebuilder:validation:MaxLength=300
	Name string `json:"name"`

	// state: Pending, Running, Succeeded, Failed, or Undone (lifted on resolution).
	// +required
	State IncidentActionState `json:"state"`

	// startTime is when the action was decided.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when it succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// message says what it changed and how to undo it, or why it failed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// object is what the action created or acted on (a NetworkPolicy, a Job, a
	// SecretRotation).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Object string `json:"object,omitempty"`

	// replicas are the counts takeOffline found, by Deployment, to put back.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Replicas map[string]int32 `json:"replicas,omitempty"`

	// revision is the Release revision rolled back from (rollback).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`

	// rotateRequest is the emergency request this action asked the SecretRotation for
	// (rotateSecrets: its annotation ops.runbook.dev/emergency-rotation; the spec is
	// not changed), recorded before it is set so that a restart asks once.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	RotateRequest string `json:"rotateRequest,omitempty"`

	// versionHash is the SecretRotation's version hash after the rotation.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	VersionHash string `json:"versionHash,omitempty"`
}

// Transition is a change of an incident that notifiers are told of.
// +kubebuilder:validation:Enum=Opened;Escalated;Acknowledged;Mitigated;Resolved
type Transition string

const (
	TransitionOpened       Transition = "Opened"
	TransitionEscalated    Transition = "Escalated"
	TransitionAcknowledged Transition = "Acknowledged"
	TransitionMitigated    Transition = "Mitigated"
	TransitionResolved     Transition = "Resolved"
)

// DeliveryState is where a notification is.
// +kubebuilder:validation:Enum=Pending;Delivered;Failed
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "Pending"
	DeliveryDelivered DeliveryState = "Delivered"
	DeliveryFailed    DeliveryState = "Failed"
)

// Delivery is the latest notification of one transition to one notifier.
type Delivery struct {
	// transition told: Opened, Escalated, Acknowledged, Mitigated or Resolved.
	// +required
	Transition Transition `json:"transition"`

	// sequence of the transition: the escalation or acknowledgement number (1 for
	// the others). A delivered sequence is not sent again.
	// +required
	// +kubebuilder:validation:Minimum=0
	Sequence int32 `json:"sequence"`

	// state: Pending (being sent or to retry), Delivered, or Failed (refused for good).
	// +required
	State DeliveryState `json:"state"`

	// attempts made for this sequence.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// lastAttemptTime is when it was last sent.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`

	// message is the receiver's answer when it failed (e.g. `403 invalid_token`); the
	// URL and key never appear in it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// NotifierStatus records the deliveries to one notifier.
type NotifierStatus struct {
	// name of the notifier in spec.notify.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// deliveries, one per transition.
	// +optional
	// +listType=map
	// +listMapKey=transition
	// +kubebuilder:validation:MaxItems=5
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Acknowledgement is the acknowledgement in force.
type Acknowledgement struct {
	// by is spec.acknowledgedBy as acknowledged.
	// +required
	// +kubebuilder:validation:MaxLength=128
	By string `json:"by"`

	// time the value was first seen.
	// +required
	Time metav1.Time `json:"time"`

	// sequence counts acknowledgements, renewals included.
	// +required
	// +kubebuilder:validation:Minimum=1
	Sequence int32 `json:"sequence"`
}

// IncidentStatus is what the controller observed and did.
type IncidentStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase: Open, Acknowledged, Mitigated or Resolved.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// openedAt, acknowledgedAt (the first acknowledgement), mitigatedAt and
	// resolvedAt are the phase transitions.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`
	// +optional
	AcknowledgedAt *metav1.Time `json:"acknowledgedAt,omitempty"`
	// +optional
	MitigatedAt *metav1.Time `json:"mitigatedAt,omitempty"`
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`

	// timeToAcknowledge is acknowledgedAt − openedAt; timeToResolve is resolvedAt −
	// openedAt.
	// +optional
	TimeToAcknowledge *Duration `json:"timeToAcknowledge,omitempty"`
	// +optional
	TimeToResolve *Duration `json:"timeToResolve,omitempty"`

	// acknowledgement in force, if any.
	// +optional
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`

	// responseDeadline is when the incident must be acknowledged, from its severity
	// (or from an expired acknowledgement).
	// +optional
	ResponseDeadline *metav1.Time `json:"responseDeadline,omitempty"`

	// escalations counts the escalations so far; lastEscalationTime is the latest.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Escalations int32 `json:"escalations,omitempty"`
	// +optional
	LastEscalationTime *metav1.Time `json:"lastEscalationTime,omitempty"`

	// dedupKey is the PagerDuty dedup_key of this incident, derived from its UID and
	// written before the first send, so trigger, acknowledge and resolve match.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	DedupKey string `json:"dedupKey,omitempty"`

	// timeline of what happened, oldest first. When full, the first entries and the
	// latest are kept and the ones between counted in timelineFolded.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Timeline []TimelineEntry `json:"timeline,omitempty"`

	// timelineFolded counts the entries dropped from the middle of the timeline.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TimelineFolded int32 `json:"timelineFolded,omitempty"`

	// evidence is where the captured state was stored.
	// +optional
	Evidence *Evidence `json:"evidence,omitempty"`

	// actions records each response action.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=34
	Actions []IncidentActionRecord `json:"actions,omitempty"`

	// notifiers records the deliveries per notifier.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Notifiers []NotifierStatus `json:"notifiers,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Acknowledged, Escalated, Mitigated,
	// Notified, NotifierFailed, EvidenceCaptured, Isolated, TakenOffline, RolledBack,
	// SecretsRotated, Diagnosed.
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
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`,priority=1
// +kubebuilder:printcolumn:name="Deadline",type=string,JSONPath=`.status.responseDeadline`,description="When a response is due (a date column would print a future time as <invalid>)"
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
//	  notify: [{name: oncall, type: PagerDuty, secretRef: {name: oncall, key: routing-key}}]
//	  # acknowledgedBy: alice        -> Acknowledged, the clock stops
//	  # resolution: rolled back      -> Resolved
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
