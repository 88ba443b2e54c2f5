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

package alertreceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/truncate"
)

// Labels and annotations of an alert-opened Incident.
const (
	// LabelAlertGroup is the short hash of the group key (also in the name).
	LabelAlertGroup = "ops.runbook.dev/alert-group"
	// AnnotationGroupKey is the group key, cut to 1024 bytes, for people.
	AnnotationGroupKey = "ops.runbook.dev/alert-group-key"
	// AnnotationGroupKeyHash is the SHA-256 of the whole group key: a name shared by
	// two group keys (a 64-bit hash collision) is refused, not merged.
	AnnotationGroupKeyHash = "ops.runbook.dev/alert-group-key-sha256"
	// AnnotationReceiver is the Alertmanager receiver that opened the incident.
	AnnotationReceiver = "ops.runbook.dev/alert-receiver"
)

// Timeline entry types the receiver adds.
const (
	TimelineAlertFiring    = "AlertFiring"
	TimelineAlertResolved  = "AlertResolved"
	TimelineAlertsResolved = "AlertsResolved"
	TimelineAlertsCut      = "AlertsTruncated"
)

// ConditionResolutionProposed is True when Alertmanager reports every alert of the
// group resolved: a person confirms by setting spec.resolution. False once an alert
// fires again.
const ConditionResolutionProposed = "ResolutionProposed"

// Reasons of ConditionResolutionProposed.
const (
	ReasonAlertsResolved = "AlertsResolved"
	ReasonAlertsFiring   = "AlertsFiring"
)

// Options are the receiver's mapping choices (manager flags).
type Options struct {
	// ReleaseLabel is the alert label naming the affected Release ("": none read).
	ReleaseLabel string
	// DefaultNamespace is used when the group has no common `namespace` label ("":
	// such a notification is refused with 400).
	DefaultNamespace string
	// DefaultSeverity is used when no alert has a known `severity` label ("": P2).
	DefaultSeverity opsv1alpha1.IncidentSeverity
	// Notifier, when set, is every opened Incident's notifier (ParseNotifier); its
	// Secret is read in the Incident's namespace.
	Notifier *opsv1alpha1.Notifier
}

// NamespaceLabel is the alert label naming the Incident's namespace.
const NamespaceLabel = "namespace"

// SeverityLabel is the alert label mapped to the Incident's severity.
const SeverityLabel = "severity"

// DefaultReleaseLabel is the default Options.ReleaseLabel.
const DefaultReleaseLabel = "release"

// GroupHash is the first 16 hex digits of the SHA-256 of the group key.
func GroupHash(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return hex.EncodeToString(sum[:8])
}

// fullHash is the SHA-256 of the group key, hex.
func fullHash(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return hex.EncodeToString(sum[:])
}

// MaxOpenings bounds how many Incidents one group opens: the first, and one more
// each time a group fires again after a person resolved the previous one.
const MaxOpenings = 100

// Name is the name of the n-th Incident (from 1) a group opens: `alert-<hash>`, then
// `alert-<hash>-2` for the one opened after the first was resolved, and so on. 28
// characters at most.
func Name(groupKey string, n int) string {
	name := "alert-" + GroupHash(groupKey)
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// Namespace is the Incident's namespace: the `namespace` label common to the group's
// alerts, else opts.DefaultNamespace. An error (400) when neither, or when the label
// is not a namespace name.
func Namespace(m *Message, opts Options) (string, error) {
	ns := m.CommonLabels[NamespaceLabel]
	if ns == "" {
		ns = commonAlertLabel(m, NamespaceLabel)
	}
	if ns == "" {
		if opts.DefaultNamespace == "" {
			return "", fmt.Errorf("%w: the alerts have no common %q label and the receiver has no default namespace: "+
				"add the label to the alert rules and %q to the route's group_by", ErrMalformed, NamespaceLabel, NamespaceLabel)
		}
		return opts.DefaultNamespace, nil
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", fmt.Errorf("%w: label %s=%q is not a namespace name: %s", ErrMalformed, NamespaceLabel, truncate.String(ns, 70), errs[0])
	}
	return ns, nil
}

// commonAlertLabel is the value of label when every alert has the same one.
func commonAlertLabel(m *Message, label string) string {
	v := ""
	for i, a := range m.Alerts {
		if i == 0 {
			v = a.Labels[label]
		} else if a.Labels[label] != v {
			return ""
		}
	}
	return v
}

// severities maps `severity` label values (lower-cased) to an Incident severity.
// P0 is kept for a rule that says so: a generic `critical` is P1 (respond within an
// hour), not a declared outage.
var severities = map[string]opsv1alpha1.IncidentSeverity{
	"p0": opsv1alpha1.SeverityP0, "p1": opsv1alpha1.SeverityP1, "p2": opsv1alpha1.SeverityP2, "p3": opsv1alpha1.SeverityP3,
	"critical": opsv1alpha1.SeverityP1, "page": opsv1alpha1.SeverityP1,
	"error": opsv1alpha1.SeverityP2, "high": opsv1alpha1.SeverityP2, "major": opsv1alpha1.SeverityP2,
	"warning": opsv1alpha1.SeverityP3, "warn": opsv1alpha1.SeverityP3, "minor": opsv1alpha1.SeverityP3,
	"info": opsv1alpha1.SeverityP3, "low": opsv1alpha1.SeverityP3, "none": opsv1alpha1.SeverityP3,
}

// Severity maps one `severity` label value; ok is false for an empty or unknown one.
func Severity(label string) (opsv1alpha1.IncidentSeverity, bool) {
	s, ok := severities[strings.ToLower(strings.TrimSpace(label))]
	return s, ok
}

// GroupSeverity is the most severe mapped `severity` among the firing alerts (all
// alerts when none fires), else opts.DefaultSeverity, else P2.
func GroupSeverity(m *Message, opts Options) opsv1alpha1.IncidentSeverity {
	best := opsv1alpha1.IncidentSeverity("")
	firing := len(m.Alerts.Firing()) > 0
	for _, a := range m.Alerts {
		if firing && a.Status != StatusFiring {
			continue
		}
		if s, ok := Severity(a.Labels[SeverityLabel]); ok && (best == "" || s < best) {
			best = s
		}
	}
	if best == "" {
		if s, ok := Severity(m.CommonLabels[SeverityLabel]); ok {
			best = s
		}
	}
	if best == "" {
		best = opts.DefaultSeverity
	}
	if best == "" {
		best = opsv1alpha1.SeverityP2
	}
	return best
}

// Bounds of the Incident's spec (the CRD's).
const (
	maxTitle       = 200
	maxDescription = 10000
	maxAnnotation  = 1024
)

// NewIncident is the n-th Incident a group opens, in namespace ns: severity from the
// `severity` labels, the Release from opts.ReleaseLabel, title and description from
// the annotations, the notifier from opts.Notifier. Its response is evidence capture only: an alert never isolates,
// takes offline, rolls back or rotates anything by itself.
func NewIncident(m *Message, ns string, n int, opts Options) *opsv1alpha1.Incident {
	inc := &opsv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name(m.GroupKey, n),
			Namespace: ns,
			Labels:    map[string]string{LabelAlertGroup: GroupHash(m.GroupKey)},
			Annotations: map[string]string{
				AnnotationGroupKey:     truncate.String(m.GroupKey, maxAnnotation),
				AnnotationGroupKeyHash: fullHash(m.GroupKey),
				AnnotationReceiver:     truncate.String(m.Receiver, 253),
			},
		},
		Spec: opsv1alpha1.IncidentSpec{
			Severity: GroupSeverity(m, opts),
			Title:    title(m),
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true},
		},
	}
	var notes []string
	if opts.ReleaseLabel != "" {
		rel := m.CommonLabels[opts.ReleaseLabel]
		if rel == "" {
			rel = commonAlertLabel(m, opts.ReleaseLabel)
		}
		if rel != "" {
			if errs := validation.IsDNS1123Subdomain(rel); len(errs) == 0 {
				inc.Spec.ReleaseRef = &opsv1alpha1.LocalObjectReference{Name: rel}
			} else {
				notes = append(notes, fmt.Sprintf("Label %s=%q is not a Release name; no releaseRef set.", opts.ReleaseLabel, truncate.String(rel, 70)))
			}
		}
	}
	if opts.Notifier != nil {
		inc.Spec.Notify = []opsv1alpha1.Notifier{*opts.Notifier}
	}
	inc.Spec.Description = description(m, notes)
	return inc
}

// firstAnnotation is the common annotation, else the first firing alert's, else the
// first alert's.
func firstAnnotation(m *Message, names ...string) string {
	for _, name := range names {
		if v := strings.TrimSpace(m.CommonAnnotations[name]); v != "" {
			return v
		}
	}
	alerts := append(m.Alerts.Firing(), m.Alerts...)
	for _, name := range names {
		for _, a := range alerts {
			if v := strings.TrimSpace(a.Annotations[name]); v != "" {
				return v
			}
		}
	}
	return ""
}

// alertName is the group's alertname.
func alertName(m *Message) string {
	for _, v := range []string{m.CommonLabels["alertname"], m.GroupLabels["alertname"], commonAlertLabel(m, "alertname")} {
		if v != "" {
			return v
		}
	}
	return ""
}

func title(m *Message) string {
	t := firstAnnotation(m, "summary", "title")
	if t == "" {
		if name := alertName(m); name != "" {
			t = name + " firing"
		} else {
			t = "Alertmanager alert group " + GroupHash(m.GroupKey)
		}
	}
	t = strings.Join(strings.Fields(t), " ") // one line
	if n := len(m.Alerts); n > 1 {
		t = fmt.Sprintf("%s (%d alerts)", t, n)
	}
	return truncate.String(t, maxTitle)
}

func description(m *Message, notes []string) string {
	var b strings.Builder
	if d := firstAnnotation(m, "description", "message"); d != "" {
		b.WriteString(truncate.String(d, maxDescription-3000)) // leaves room for what follows
		b.WriteString("\n\n")
	}
	if u := firstAnnotation(m, "runbook_url"); u != "" {
		fmt.Fprintf(&b, "Runbook: %s\n", truncate.String(u, 1024))
	}
	fmt.Fprintf(&b, "Opened by Alertmanager (receiver %q", truncate.String(m.Receiver, 253))
	if m.ExternalURL != "" {
		fmt.Fprintf(&b, ", %s", truncate.String(m.ExternalURL, 256))
	}
	b.WriteString(") for the alert group")
	if pairs := m.GroupLabels.SortedPairs(); len(pairs) > 0 {
		kv := make([]string, 0, len(pairs))
		for _, p := range pairs {
			kv = append(kv, fmt.Sprintf("%s=%q", p.Name, p.Value))
		}
		fmt.Fprintf(&b, " {%s}", truncate.String(strings.Join(kv, ", "), 512))
	}
	b.WriteString(". The timeline lists each alert; a resolved notification proposes resolution (condition ResolutionProposed), a person sets spec.resolution.\n")
	if m.TruncatedAlerts > 0 {
		fmt.Fprintf(&b, "Alertmanager left out %d alerts of the group (webhook max_alerts): the list is incomplete.\n", m.TruncatedAlerts)
	}
	for _, n := range notes {
		b.WriteString(n)
		b.WriteString("\n")
	}
	return truncate.String(strings.TrimSpace(b.String()), maxDescription)
}

// AlertKey is the timeline key of one alert in one status: receipt is idempotent on
// group (the Incident) + fingerprint + startsAt, per status.
func AlertKey(status, fingerprint string, startsAt time.Time) string {
	return "alert/" + status + "/" + fingerprint + "/" + startsAt.UTC().Format(time.RFC3339Nano)
}

// Entries are the timeline entries a notification adds (each with its key, so that
// a repeat adds nothing): one per alert and status, one for a resolved group, one
// per distinct truncatedAlerts count.
func Entries(m *Message, now time.Time) []opsv1alpha1.TimelineEntry {
	var out []opsv1alpha1.TimelineEntry
	keys := make([]string, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		key := AlertKey(a.Status, a.Fingerprint, a.StartsAt)
		keys = append(keys, key)
		name := a.Labels["alertname"]
		if name == "" {
			name = "alert"
		}
		var msg strings.Builder
		typ, outcome := TimelineAlertFiring, opsv1alpha1.TimelineFailed
		fmt.Fprintf(&msg, "%s firing since %s (fingerprint %s)", name, a.StartsAt.UTC().Format(time.RFC3339), a.Fingerprint)
		if a.Status == StatusResolved {
			typ, outcome = TimelineAlertResolved, opsv1alpha1.TimelineSucceeded
			msg.Reset()
			fmt.Fprintf(&msg, "%s resolved at %s, firing since %s (fingerprint %s)", name,
				a.EndsAt.UTC().Format(time.RFC3339), a.StartsAt.UTC().Format(time.RFC3339), a.Fingerprint)
		}
		if a.GeneratorURL != "" {
			fmt.Fprintf(&msg, "; generatorURL %s", a.GeneratorURL)
		}
		if s := strings.TrimSpace(a.Annotations["summary"]); s != "" {
			fmt.Fprintf(&msg, "; %s", strings.Join(strings.Fields(s), " "))
		}
		out = append(out, incident.Entry(now, typ, outcome, key, msg.String()))
	}
	if m.Status == StatusResolved {
		slices.Sort(keys)
		sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
		out = append(out, incident.Entry(now, TimelineAlertsResolved, opsv1alpha1.TimelineSucceeded,
			"alerts-resolved/"+hex.EncodeToString(sum[:8]),
			fmt.Sprintf("Alertmanager reports every alert of the group resolved (%d listed). Proposed resolution: a person confirms by setting spec.resolution.", len(m.Alerts))))
	}
	if m.TruncatedAlerts > 0 {
		out = append(out, incident.Entry(now, TimelineAlertsCut, opsv1alpha1.TimelineInfo,
			"alerts-truncated/"+strconv.FormatUint(m.TruncatedAlerts, 10),
			fmt.Sprintf("Alertmanager left out %d alerts of the group (webhook max_alerts): the alerts listed here are not the whole group.", m.TruncatedAlerts)))
	}
	return out
}

// Record adds the notification's entries to the incident's timeline (those not yet
// there) and sets ConditionResolutionProposed: True on a resolved notification,
// False when alerts fire again after it was proposed. It reports whether the status
// changed; a repeated notification changes nothing.
func Record(inc *opsv1alpha1.Incident, m *Message, now time.Time) bool {
	changed := false
	for _, e := range Entries(m, now) {
		if incident.Append(&inc.Status, e) {
			changed = true
		}
	}
	if inc.Spec.Resolution != "" {
		return changed
	}
	cond := metav1.Condition{Type: ConditionResolutionProposed, ObservedGeneration: inc.Generation}
	cur := meta.FindStatusCondition(inc.Status.Conditions, ConditionResolutionProposed)
	switch {
	case m.Status == StatusResolved:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonAlertsResolved
		cond.Message = fmt.Sprintf("Alertmanager reports every alert of the group resolved (%d listed); set spec.resolution to resolve the incident", len(m.Alerts))
	case cur != nil && cur.Status == metav1.ConditionTrue:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonAlertsFiring
		cond.Message = fmt.Sprintf("%d alerts of the group firing again", len(m.Alerts.Firing()))
	default:
		return changed
	}
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason && cur.Message == cond.Message {
		return changed
	}
	meta.SetStatusCondition(&inc.Status.Conditions, cond)
	return true
}

// NewFiring reports whether the notification has a firing alert not yet in the
// incident's timeline: after a person resolved the incident, such an alert opens the
// group's next Incident; a repeat of an alert already recorded does not.
func NewFiring(inc *opsv1alpha1.Incident, m *Message) bool {
	for _, a := range m.Alerts {
		if a.Status == StatusFiring && !incident.HasEntry(&inc.Status, AlertKey(a.Status, a.Fingerprint, a.StartsAt)) {
			return true
		}
	}
	return false
}

// SameGroup reports whether inc was opened for m's group (and not for another group
// key with the same 64-bit name hash).
func SameGroup(inc *opsv1alpha1.Incident, m *Message) bool {
	h, ok := inc.Annotations[AnnotationGroupKeyHash]
	return !ok || h == fullHash(m.GroupKey)
}
