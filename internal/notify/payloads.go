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

package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Limits of the receivers (PagerDuty Events API v2 and Slack Block Kit).
const (
	PagerDutySummaryMax  = 1024
	PagerDutyDedupKeyMax = 255
	PagerDutyEventMax    = 512 * 1000
	SlackSectionTextMax  = 3000
	SlackHeaderMax       = 150
)

// PagerDutySeverity maps an incident's severity to PagerDuty's.
func PagerDutySeverity(s opsv1alpha1.IncidentSeverity) string {
	switch s {
	case opsv1alpha1.SeverityP0:
		return "critical"
	case opsv1alpha1.SeverityP1:
		return "error"
	case opsv1alpha1.SeverityP2:
		return "warning"
	}
	return "info"
}

// PagerDutyAction is the event_action of a transition: acknowledge and resolve for
// those, trigger for the others (an escalation or mitigation with the same dedup_key
// adds to the open alert).
func PagerDutyAction(t opsv1alpha1.Transition) string {
	switch t {
	case opsv1alpha1.TransitionAcknowledged:
		return "acknowledge"
	case opsv1alpha1.TransitionResolved:
		return "resolve"
	}
	return "trigger"
}

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Links       []Link            `json:"links,omitempty"`
	Client      string            `json:"client,omitempty"`
}

// PagerDutyPayload is an event's payload (trigger only).
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// PagerDutyBody builds the event for ev. Acknowledge and resolve carry only the
// routing key, dedup key and action, as PagerDuty needs; trigger adds the payload:
// summary cut to 1,024 characters, and custom_details replaced by a note when the
// event would pass 512 KB (as Alertmanager does).
func PagerDutyBody(ev Event, routingKey string) ([]byte, error) {
	if ev.DedupKey == "" || len(ev.DedupKey) > PagerDutyDedupKeyMax {
		return nil, fmt.Errorf("dedup key of %d characters: PagerDuty needs 1 to %d", len(ev.DedupKey), PagerDutyDedupKeyMax)
	}
	e := PagerDutyEvent{RoutingKey: routingKey, EventAction: PagerDutyAction(ev.Transition), DedupKey: ev.DedupKey}
	if e.EventAction == "trigger" {
		e.Client = "runbook-operator"
		e.Links = ev.Links
		summary := ev.headline()
		if ev.Message != "" {
			summary += " — " + ev.Message
		}
		e.Payload = &PagerDutyPayload{
			Summary:       cutRunes(summary, PagerDutySummaryMax),
			Source:        ev.source(),
			Severity:      PagerDutySeverity(ev.Severity),
			Timestamp:     ev.Time.UTC().Format(time.RFC3339),
			Component:     ev.Release,
			Group:         ev.Namespace,
			Class:         "incident",
			CustomDetails: details(ev),
		}
	}
	b, err := json.Marshal(e)
	if err == nil && len(b) > PagerDutyEventMax {
		e.Payload.CustomDetails = map[string]any{"truncated": fmt.Sprintf("custom_details dropped: the event was %d bytes, over PagerDuty's %d", len(b), PagerDutyEventMax)}
		b, err = json.Marshal(e)
	}
	return b, err
}

// details are the incident's facts for PagerDuty's custom_details.
func details(ev Event) map[string]any {
	d := map[string]any{
		"incident":   ev.Namespace + "/" + ev.Name,
		"severity":   string(ev.Severity),
		"transition": string(ev.Transition),
	}
	put := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	put("phase", string(ev.Phase))
	put("description", ev.Description)
	put("release", ev.Release)
	put("acknowledged_by", ev.AcknowledgedBy)
	put("resolution", ev.Resolution)
	if !ev.OpenedAt.IsZero() {
		d["opened_at"] = ev.OpenedAt.UTC().Format(time.RFC3339)
	}
	if !ev.ResponseDeadline.IsZero() {
		d["response_deadline"] = ev.ResponseDeadline.UTC().Format(time.RFC3339)
	}
	if ev.Transition == opsv1alpha1.TransitionEscalated {
		d["escalation"] = ev.Sequence
	}
	for k, v := range ev.Details {
		d[k] = v
	}
	return d
}

// SlackBody builds an incoming-webhook message: text (the notification fallback) and
// blocks (a header, a section of at most 3,000 characters, and the facts as context).
func SlackBody(ev Event) ([]byte, error) {
	head := cutRunes(ev.headline(), SlackHeaderMax)
	var sec strings.Builder
	if ev.Message != "" {
		sec.WriteString(slackEscape(ev.Message))
		sec.WriteString("\n")
	}
	if ev.Description != "" && ev.Transition == opsv1alpha1.TransitionOpened {
		sec.WriteString(slackEscape(ev.Description))
		sec.WriteString("\n")
	}
	if ev.Resolution != "" && ev.Transition == opsv1alpha1.TransitionResolved {
		sec.WriteString("Resolution: " + slackEscape(ev.Resolution) + "\n")
	}
	for _, l := range ev.Links {
		text := l.Text
		if text == "" {
			text = l.Href
		}
		sec.WriteString("<" + slackEscape(l.Href) + "|" + slackEscape(text) + ">\n")
	}
	section := strings.TrimSpace(sec.String())
	if section == "" {
		section = slackEscape(head)
	}
	facts := []string{"Incident " + ev.Namespace + "/" + ev.Name}
	if ev.Release != "" {
		facts = append(facts, "Release "+ev.Release)
	}
	if !ev.ResponseDeadline.IsZero() && ev.Transition != opsv1alpha1.TransitionResolved {
		facts = append(facts, "Deadline "+ev.ResponseDeadline.UTC().Format(time.RFC3339))
	}
	if ev.AcknowledgedBy != "" {
		facts = append(facts, "Acknowledged by "+ev.AcknowledgedBy)
	}
	msg := map[string]any{
		"text": cutRunes(ev.headline(), SlackSectionTextMax),
		"blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": head}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": cutMrkdwn(section, SlackSectionTextMax)}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": cutMrkdwn(slackEscape(strings.Join(facts, " · ")), SlackSectionTextMax)}}},
		},
	}
	return json.Marshal(msg)
}

// WebhookVersion names the generic webhook's JSON format; a change that is not
// backwards compatible gets a new version.
const WebhookVersion = "ops.runbook.dev/incident-notification/v1"

// WebhookMessage is the generic webhook's JSON (see docs/incident.md,
// Notifications). Receivers must ignore fields they do not know.
type WebhookMessage struct {
	Version    string            `json:"version"`
	Transition string            `json:"transition"`
	Sequence   int32             `json:"sequence"`
	Time       string            `json:"time"`
	Message    string            `json:"message,omitempty"`
	Incident   WebhookIncident   `json:"incident"`
	Details    map[string]string `json:"details,omitempty"`
	Links      []Link            `json:"links,omitempty"`
}

// WebhookIncident is the incident part of WebhookMessage.
type WebhookIncident struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	UID              string `json:"uid"`
	Title            string `json:"title"`
	Description      string `json:"description,omitempty"`
	Severity         string `json:"severity"`
	Phase            string `json:"phase,omitempty"`
	Release          string `json:"release,omitempty"`
	DedupKey         string `json:"dedupKey"`
	OpenedAt         string `json:"openedAt,omitempty"`
	ResponseDeadline string `json:"responseDeadline,omitempty"`
	AcknowledgedBy   string `json:"acknowledgedBy,omitempty"`
	Resolution       string `json:"resolution,omitempty"`
}

// WebhookBody builds the generic webhook's JSON.
func WebhookBody(ev Event) ([]byte, error) {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return json.Marshal(WebhookMessage{
		Version: WebhookVersion, Transition: string(ev.Transition), Sequence: ev.Sequence, Time: ts(ev.Time), Message: ev.Message,
		Incident: WebhookIncident{
			Namespace: ev.Namespace, Name: ev.Name, UID: ev.UID, Title: ev.Title, Description: ev.Description,
			Severity: string(ev.Severity), Phase: string(ev.Phase), Release: ev.Release, DedupKey: ev.DedupKey,
			OpenedAt: ts(ev.OpenedAt), ResponseDeadline: ts(ev.ResponseDeadline), AcknowledgedBy: ev.AcknowledgedBy, Resolution: ev.Resolution,
		},
		Details: ev.Details, Links: ev.Links,
	})
}

// Body builds the request body of ev for t's type.
func Body(t Target, ev Event) ([]byte, error) {
	switch t.Type {
	case opsv1alpha1.NotifierSlack:
		return SlackBody(ev)
	case opsv1alpha1.NotifierPagerDuty:
		return PagerDutyBody(ev, t.RoutingKey)
	case opsv1alpha1.NotifierWebhook:
		return WebhookBody(ev)
	}
	return nil, fmt.Errorf("notifier type %q is not Slack, PagerDuty or Webhook", t.Type)
}

// cutRunes shortens s to at most n characters, ending it with "…" when cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cutMrkdwn shortens escaped mrkdwn to n characters without leaving half an entity
// (`&am`) or half a link (`<https://…`) at the cut.
func cutMrkdwn(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	out := string(r)
	if amp := strings.LastIndexByte(out, '&'); amp >= 0 && !strings.Contains(out[amp:], ";") {
		out = out[:amp]
	}
	if lt := strings.LastIndexByte(out, '<'); lt >= 0 && !strings.Contains(out[lt:], ">") {
		out = out[:lt]
	}
	return out + "…"
}
