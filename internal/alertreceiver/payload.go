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

// Package alertreceiver turns Alertmanager webhook notifications (payload version 4)
// into Incidents: one Incident per alert group, deduplicated by the group key, each
// alert recorded once in the Incident's timeline. The pure parts (decoding,
// validation, the Incident's name, spec and timeline entries) are here and in
// incident.go; server.go is the HTTP receiver that stores them.
package alertreceiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/prometheus/alertmanager/template"

	"runbook-operator/internal/truncate"
)

// Message is Alertmanager's webhook payload: upstream's notify/webhook.Message, whose
// package pulls in every notifier, so the struct is repeated here around upstream's
// own template.Data (from the small template package).
type Message struct {
	*template.Data

	// Version is the payload version; Alertmanager 0.25 to 0.34 send "4".
	Version string `json:"version"`
	// GroupKey identifies the alert group (route and group labels).
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts the alerts Alertmanager left out (webhook max_alerts).
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// PayloadVersion is the webhook payload version this receiver reads.
const PayloadVersion = "4"

// Bounds of what a notification may carry.
const (
	// DefaultMaxBodyBytes bounds a request body (413 beyond).
	DefaultMaxBodyBytes = 2 << 20
	// MaxGroupKeyBytes bounds the group key.
	MaxGroupKeyBytes = 8192
	// MaxAlerts bounds the alerts of one notification.
	MaxAlerts = 1000
)

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ErrMalformed wraps every reason a body is refused (400).
var ErrMalformed = errors.New("malformed Alertmanager notification")

var fingerprintRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

// Decode reads and validates one notification. Unknown fields are ignored (newer
// Alertmanagers add some, e.g. notification_reason in 0.32). Every error wraps
// ErrMalformed and says what is wrong.
func Decode(r io.Reader) (*Message, error) {
	var m Message
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: not JSON of a webhook payload: %w", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value in the body", ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks what the receiver relies on.
func (m *Message) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	switch {
	case m.Version != PayloadVersion:
		return bad("version %q, this receiver reads version %q (Alertmanager's webhook_configs)", truncate.String(m.Version, 16), PayloadVersion)
	case m.GroupKey == "":
		return bad("groupKey is empty")
	case len(m.GroupKey) > MaxGroupKeyBytes:
		return bad("groupKey is %d bytes, at most %d", len(m.GroupKey), MaxGroupKeyBytes)
	case m.Data == nil || len(m.Alerts) == 0:
		return bad("no alerts")
	case len(m.Alerts) > MaxAlerts:
		return bad("%d alerts, at most %d (set max_alerts in the webhook config)", len(m.Alerts), MaxAlerts)
	case m.Status != StatusFiring && m.Status != StatusResolved:
		return bad("status %q, want firing or resolved", truncate.String(m.Status, 16))
	}
	for i, a := range m.Alerts {
		switch {
		case a.Status != StatusFiring && a.Status != StatusResolved:
			return bad("alerts[%d].status %q, want firing or resolved", i, truncate.String(a.Status, 16))
		case !fingerprintRE.MatchString(a.Fingerprint):
			return bad("alerts[%d].fingerprint %q is not 1 to 64 letters and digits", i, truncate.String(a.Fingerprint, 70))
		case a.StartsAt.IsZero():
			return bad("alerts[%d].startsAt is missing", i)
		}
	}
	return nil
}
