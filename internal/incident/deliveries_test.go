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
	"fmt"
	"strings"
	"testing"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestDueTellsEachTransitionOncePerNotifierInOrder(t *testing.T) {
	oncall := opsv1alpha1.Notifier{Name: "oncall", Type: opsv1alpha1.NotifierPagerDuty}
	boss := opsv1alpha1.Notifier{Name: "boss", Type: opsv1alpha1.NotifierPagerDuty, Escalation: true}
	spec := opsv1alpha1.IncidentSpec{Notify: []opsv1alpha1.Notifier{oncall, boss}}
	delivered := func(st *opsv1alpha1.IncidentStatus, n opsv1alpha1.Notifier, tr opsv1alpha1.Transition, seq int32) {
		RecordDelivery(st, Notice{Notifier: n, Transition: tr, Sequence: seq}, opsv1alpha1.DeliveryDelivered, "", t0)
	}
	show := func(ns []Notice) string {
		var s []string
		for _, n := range ns {
			s = append(s, fmt.Sprintf("%s:%s/%d", n.Notifier.Name, n.Transition, n.Sequence))
		}
		return strings.Join(s, " ")
	}

	st := &opsv1alpha1.IncidentStatus{OpenedAt: tp(t0)}
	steps := []struct {
		what   string
		change func()
		want   string
	}{
		{"opened: the on-call is told, the escalation target is not", func() {}, "oncall:Opened/1"},
		{"a retry (Pending) is due again", func() {
			RecordDelivery(st, Notice{oncall, opsv1alpha1.TransitionOpened, 1}, opsv1alpha1.DeliveryPending, "503", t0)
		}, "oncall:Opened/1"},
		{"delivered: nothing due", func() { delivered(st, oncall, opsv1alpha1.TransitionOpened, 1) }, ""},
		{"escalated: both told", func() { st.Escalations, st.LastEscalationTime = 1, tp(t0.Add(15*time.Minute)) }, "oncall:Escalated/1 boss:Escalated/1"},
		{"escalation 2 while 1 undelivered: only the latest is sent", func() { st.Escalations, st.LastEscalationTime = 2, tp(t0.Add(45*time.Minute)) }, "oncall:Escalated/2 boss:Escalated/2"},
		{"acknowledged while escalation is still pending: escalation first", func() { st.Acknowledgement = ack("alice", t0.Add(50*time.Minute), 1) }, "oncall:Escalated/2 boss:Escalated/2"},
		{"then the acknowledgement, to both (it came after the escalation)", func() {
			delivered(st, oncall, opsv1alpha1.TransitionEscalated, 2)
			delivered(st, boss, opsv1alpha1.TransitionEscalated, 2)
		}, "oncall:Acknowledged/1 boss:Acknowledged/1"},
		{"a delivery refused for good is not retried", func() {
			delivered(st, oncall, opsv1alpha1.TransitionAcknowledged, 1)
			RecordDelivery(st, Notice{boss, opsv1alpha1.TransitionAcknowledged, 1}, opsv1alpha1.DeliveryFailed, "400 invalid event", t0)
		}, ""},
		{"mitigated", func() { st.MitigatedAt = tp(t0.Add(55 * time.Minute)) }, "oncall:Mitigated/1 boss:Mitigated/1"},
		{"resolved: only the resolution is told, even with mitigation undelivered", func() { st.ResolvedAt = tp(t0.Add(2 * time.Hour)) }, "oncall:Resolved/1 boss:Resolved/1"},
		{"resolution delivered: done", func() {
			delivered(st, oncall, opsv1alpha1.TransitionResolved, 1)
			delivered(st, boss, opsv1alpha1.TransitionResolved, 1)
		}, ""},
	}
	for _, s := range steps {
		s.change()
		if got := show(Due(&spec, st)); got != s.want {
			t.Fatalf("%s: due %q, want %q", s.what, got, s.want)
		}
	}
	if d := FindDelivery(st, "oncall", opsv1alpha1.TransitionOpened); d == nil || d.Attempts != 2 || d.State != opsv1alpha1.DeliveryDelivered {
		t.Fatalf("opened delivery to oncall: %+v, want Delivered after 2 attempts", d)
	}
	if len(st.Notifiers) != 2 || len(st.Notifiers[0].Deliveries) > 5 {
		t.Fatalf("records: %+v", st.Notifiers)
	}
}

func TestEscalationTargetIsSilentWithoutEscalationAndSkipsAnEarlierAck(t *testing.T) {
	boss := opsv1alpha1.Notifier{Name: "boss", Escalation: true}
	spec := opsv1alpha1.IncidentSpec{Notify: []opsv1alpha1.Notifier{boss}}
	st := &opsv1alpha1.IncidentStatus{OpenedAt: tp(t0), Acknowledgement: ack("alice", t0.Add(time.Minute), 1), MitigatedAt: tp(t0.Add(2 * time.Minute))}
	if due := Due(&spec, st); len(due) != 0 {
		t.Fatalf("never escalated, yet due: %+v", due)
	}
	st.ResolvedAt = tp(t0.Add(time.Hour))
	if due := Due(&spec, st); len(due) != 0 {
		t.Fatalf("never escalated, yet told of the resolution: %+v", due)
	}
	// Acknowledged, expired, escalated: the old acknowledgement is not news to the target.
	st = &opsv1alpha1.IncidentStatus{OpenedAt: tp(t0), Acknowledgement: ack("alice", t0.Add(time.Minute), 1), Escalations: 1, LastEscalationTime: tp(t0.Add(2 * time.Hour))}
	RecordDelivery(st, Notice{boss, opsv1alpha1.TransitionEscalated, 1}, opsv1alpha1.DeliveryDelivered, "", t0)
	if due := Due(&spec, st); len(due) != 0 {
		t.Fatalf("an acknowledgement older than the escalation was due: %+v", due)
	}
}

func TestPruneNotifiersDropsRemovedOnes(t *testing.T) {
	spec := opsv1alpha1.IncidentSpec{Notify: []opsv1alpha1.Notifier{{Name: "a"}}}
	st := &opsv1alpha1.IncidentStatus{Notifiers: []opsv1alpha1.NotifierStatus{{Name: "a"}, {Name: "gone"}}}
	PruneNotifiers(&spec, st)
	if len(st.Notifiers) != 1 || st.Notifiers[0].Name != "a" {
		t.Fatalf("got %+v", st.Notifiers)
	}
}

func TestNoticeKeyIsStable(t *testing.T) {
	n := Notice{Notifier: opsv1alpha1.Notifier{Name: "oncall"}, Transition: opsv1alpha1.TransitionEscalated, Sequence: 12}
	if n.Key() != "notify/oncall/Escalated/12" {
		t.Fatal(n.Key())
	}
}
