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

// Package notify sends an Incident's transitions to Slack (incoming webhook),
// PagerDuty (Events API v2) and a generic JSON webhook, with one retry rule and one
// redaction rule for all three.
//
// It is hand-written HTTP rather than github.com/slack-go/slack and
// github.com/PagerDuty/go-pagerduty, because neither gives the rules the operator
// needs. slack-go's PostWebhook turns any non-200 into a StatusCodeError without the
// body, so Slack's reason (`invalid_token`, `channel_is_archived`, `no_service`) is
// lost, it does not check that a 200's body is `ok`, and its transport errors wrap a
// *url.Error that prints the whole webhook URL, which is the secret. go-pagerduty's
// ManageEvent returns the status and body as text without the Retry-After header,
// and follows the default client's redirects. Each client would need a wrapper that
// re-parses its errors and scrubs the URL and key; the three payloads are small
// documented JSON objects, so one sender with the rules in one place is less code and
// is tested against httptest receivers here.
//
// The rules:
//   - Only http and https URLs are used; anything else is refused before sending.
//   - 2xx is success (Slack: 200 with body `ok`). Redirects are not followed.
//   - 429 is retried after its Retry-After (seconds or an HTTP date), 5xx and network
//     errors with exponential backoff, up to Sender.MaxAttempts. A Retry-After longer
//     than Sender.MaxWait is not slept: the error carries it, for the caller to
//     requeue then.
//   - Every other status (400, 403, 404, 410, …) is permanent and not retried; the
//     receiver's reason is in the error for a NotifierFailed condition.
//   - No error, and nothing this package logs, holds the URL's path or query or the
//     routing key; the host may appear.
package notify

import (
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Event is what one notification says, whatever the format.
type Event struct {
	Transition opsv1alpha1.Transition
	// Sequence is the escalation or acknowledgement number (1 otherwise).
	Sequence int32
	Time     time.Time

	Namespace, Name string
	UID             string
	Title           string
	Description     string
	Severity        opsv1alpha1.IncidentSeverity
	Phase           opsv1alpha1.IncidentPhase
	Release         string
	// DedupKey is status.dedupKey (PagerDuty's dedup_key).
	DedupKey         string
	OpenedAt         time.Time
	ResponseDeadline time.Time
	AcknowledgedBy   string
	Resolution       string
	// Message says what happened, as in the timeline entry.
	Message string
	// Source names the affected system for PagerDuty's payload.source; default
	// "<namespace>/<release or name>".
	Source string
	// Details are extra facts (evidence hash, ConfigMaps, escalation count).
	Details map[string]string
	// Links point at the evidence or a console (PagerDuty links, Slack and webhook too).
	Links []Link
}

// Link is a URL with a label.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Target is where a notification goes. URL and RoutingKey come from the notifier's
// Secret and are never printed.
type Target struct {
	// Name of the notifier, for errors.
	Name string
	Type opsv1alpha1.NotifierType
	// URL of the Slack or generic webhook, or PagerDuty's Events API v2 endpoint.
	URL string
	// RoutingKey is PagerDuty's integration key.
	RoutingKey string
}

// PagerDutyEventsURL is the Events API v2 endpoint used when a PagerDuty notifier
// gives no url.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

func (e Event) source() string {
	if e.Source != "" {
		return e.Source
	}
	if e.Release != "" {
		return e.Namespace + "/" + e.Release
	}
	return e.Namespace + "/" + e.Name
}

func (e Event) headline() string {
	verb := map[opsv1alpha1.Transition]string{
		opsv1alpha1.TransitionOpened:       "Opened",
		opsv1alpha1.TransitionEscalated:    "Escalated",
		opsv1alpha1.TransitionAcknowledged: "Acknowledged",
		opsv1alpha1.TransitionMitigated:    "Mitigated",
		opsv1alpha1.TransitionResolved:     "Resolved",
	}[e.Transition]
	if verb == "" {
		verb = string(e.Transition)
	}
	return "[" + string(e.Severity) + "] " + verb + ": " + e.Title
}
