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

package incident

import (
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/truncate"
)

// Notice is one notification due: a transition (with its sequence) to a notifier.
type Notice struct {
	Notifier   opsv1alpha1.Notifier
	Transition opsv1alpha1.Transition
	Sequence   int32
}

// Key names the notice in the timeline, so its entry is appended once.
func (n Notice) Key() string {
	return "notify/" + n.Notifier.Name + "/" + string(n.Transition) + "/" + itoa(n.Sequence)
}

type happened struct {
	t   opsv1alpha1.Transition
	seq int32
	at  time.Time
}

// transitions lists what happened to the incident, in delivery order. Once resolved,
// only the resolution is told: an escalation or acknowledgement still undelivered
// then is noise.
func transitions(st *opsv1alpha1.IncidentStatus) []happened {
	if st.ResolvedAt != nil {
		return []happened{{opsv1alpha1.TransitionResolved, 1, st.ResolvedAt.Time}}
	}
	var out []happened
	if st.OpenedAt != nil {
		out = append(out, happened{opsv1alpha1.TransitionOpened, 1, st.OpenedAt.Time})
	}
	if st.Escalations > 0 && st.LastEscalationTime != nil {
		out = append(out, happened{opsv1alpha1.TransitionEscalated, st.Escalations, st.LastEscalationTime.Time})
	}
	if a := st.Acknowledgement; a != nil {
		out = append(out, happened{opsv1alpha1.TransitionAcknowledged, a.Sequence, a.Time.Time})
	}
	if st.MitigatedAt != nil {
		out = append(out, happened{opsv1alpha1.TransitionMitigated, 1, st.MitigatedAt.Time})
	}
	return out
}

// Due lists the notifications to send now, at most one per notifier: the first
// transition (in the order opened, escalated, acknowledged, mitigated, resolved) whose
// sequence it has not been told, so that PagerDuty gets a trigger before its
// acknowledge. A delivery Failed for good (400, 403, 404, 410) is not retried for
// that sequence; a Pending one is. A notifier marked escalation is silent until the
// first escalation, and then told only of what happened from the latest escalation
// on, and of the resolution.
func Due(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) []Notice {
	var out []Notice
	hs := transitions(st)
	for _, n := range spec.Notify {
		for _, h := range hs {
			if n.Escalation && !escalationTold(st, h) {
				continue
			}
			rec := FindDelivery(st, n.Name, h.t)
			if rec != nil && (rec.Sequence > h.seq || (rec.Sequence == h.seq && rec.State != opsv1alpha1.DeliveryPending)) {
				continue
			}
			out = append(out, Notice{Notifier: n, Transition: h.t, Sequence: h.seq})
			break
		}
	}
	return out
}

// escalationTold says whether an escalation target is told of h.
func escalationTold(st *opsv1alpha1.IncidentStatus, h happened) bool {
	if st.Escalations == 0 {
		return false
	}
	switch h.t {
	case opsv1alpha1.TransitionEscalated, opsv1alpha1.TransitionResolved:
		return true
	case opsv1alpha1.TransitionOpened:
		return false
	}
	return st.LastEscalationTime != nil && !h.at.Before(st.LastEscalationTime.Time)
}

// FindDelivery returns notifier's record of transition, or nil.
func FindDelivery(st *opsv1alpha1.IncidentStatus, notifier string, t opsv1alpha1.Transition) *opsv1alpha1.Delivery {
	for i := range st.Notifiers {
		if st.Notifiers[i].Name != notifier {
			continue
		}
		for j := range st.Notifiers[i].Deliveries {
			if st.Notifiers[i].Deliveries[j].Transition == t {
				return &st.Notifiers[i].Deliveries[j]
			}
		}
	}
	return nil
}

// RecordDelivery records an attempt of notice ending in state (Pending to retry,
// Delivered, Failed for good) with message (already free of URLs and keys), counting
// attempts per sequence.
func RecordDelivery(st *opsv1alpha1.IncidentStatus, n Notice, state opsv1alpha1.DeliveryState, message string, now time.Time) {
	var ns *opsv1alpha1.NotifierStatus
	for i := range st.Notifiers {
		if st.Notifiers[i].Name == n.Notifier.Name {
			ns = &st.Notifiers[i]
		}
	}
	if ns == nil {
		st.Notifiers = append(st.Notifiers, opsv1alpha1.NotifierStatus{Name: n.Notifier.Name})
		ns = &st.Notifiers[len(st.Notifiers)-1]
	}
	t := metav1.NewTime(now)
	d := opsv1alpha1.Delivery{Transition: n.Transition, Sequence: n.Sequence, State: state, Attempts: 1, LastAttemptTime: &t, Message: truncate.String(message, 1024)}
	for i := range ns.Deliveries {
		if ns.Deliveries[i].Transition == n.Transition {
			if ns.Deliveries[i].Sequence == n.Sequence {
				d.Attempts = ns.Deliveries[i].Attempts + 1
			}
			ns.Deliveries[i] = d
			return
		}
	}
	ns.Deliveries = append(ns.Deliveries, d)
}

// PruneNotifiers drops the records of notifiers no longer in the spec, keeping status
// within its bound of one record per notifier.
func PruneNotifiers(spec *opsv1alpha1.IncidentSpec, st *opsv1alpha1.IncidentStatus) {
	keep := st.Notifiers[:0]
	for _, ns := range st.Notifiers {
		for _, n := range spec.Notify {
			if n.Name == ns.Name {
				keep = append(keep, ns)
				break
			}
		}
	}
	st.Notifiers = keep
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
