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
	"math/rand/v2"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func ack(by string, at time.Time, seq int32) *opsv1alpha1.Acknowledgement {
	return &opsv1alpha1.Acknowledgement{By: by, Time: metav1.NewTime(at), Sequence: seq}
}

func TestAcknowledgeRecordsOnceAndRenewsOnANewValue(t *testing.T) {
	first := ack("alice", t0, 1)
	for _, tc := range []struct {
		what    string
		by      string
		cur     *opsv1alpha1.Acknowledgement
		changed bool
		want    *opsv1alpha1.Acknowledgement
	}{
		{"nobody yet", "", nil, false, nil},
		{"first acknowledgement", "alice", nil, true, ack("alice", t0.Add(time.Hour), 1)},
		{"the same value again changes nothing", "alice", first, false, first},
		{"emptying the field changes nothing recorded", "", first, false, first},
		{"a new value renews", "bob", first, true, ack("bob", t0.Add(time.Hour), 2)},
	} {
		t.Run(tc.what, func(t *testing.T) {
			got, changed := Acknowledge(tc.by, tc.cur, t0.Add(time.Hour))
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && (got.By != tc.want.By || !got.Time.Equal(&tc.want.Time) || got.Sequence != tc.want.Sequence)) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestClockEscalatesPastTheDeadlineAndRearmsOnAckExpiry(t *testing.T) {
	deadline := t0.Add(15 * time.Minute)
	for _, tc := range []struct {
		what     string
		clock    Clock
		now      time.Time
		escalate bool
		acked    bool
		expired  bool
		wake     time.Time
	}{
		{"before the deadline: wake at it", Clock{Deadline: deadline, Interval: 30 * time.Minute}, t0, false, false, false, deadline},
		{"at the deadline: escalate, wake an interval later", Clock{Deadline: deadline, Interval: 30 * time.Minute}, deadline, true, false, false, deadline.Add(30 * time.Minute)},
		{"10 min after an escalation: wait for the interval", Clock{Deadline: deadline, LastEscalation: deadline, Interval: 30 * time.Minute}, deadline.Add(10 * time.Minute), false, false, false, deadline.Add(30 * time.Minute)},
		{"an interval after the escalation: again", Clock{Deadline: deadline, LastEscalation: deadline, Interval: 30 * time.Minute}, deadline.Add(30 * time.Minute), true, false, false, deadline.Add(60 * time.Minute)},
		{"no interval given: 30 min", Clock{Deadline: deadline, LastEscalation: deadline}, deadline.Add(29 * time.Minute), false, false, false, deadline.Add(30 * time.Minute)},
		{"acknowledged: stopped for good", Clock{Deadline: deadline, Ack: ack("alice", t0, 1)}, deadline.Add(time.Hour), false, true, false, time.Time{}},
		{"acknowledged with a timeout: wake at its expiry", Clock{Deadline: deadline, Ack: ack("alice", t0, 1), AckTimeout: time.Hour}, t0.Add(30 * time.Minute), false, true, false, t0.Add(time.Hour)},
		{"acknowledgement expired: escalate at once", Clock{Deadline: deadline, Ack: ack("alice", t0, 1), AckTimeout: time.Hour, Interval: 30 * time.Minute}, t0.Add(time.Hour), true, false, true, t0.Add(90 * time.Minute)},
		{"expired soon after an escalation: never more often than the interval", Clock{Deadline: deadline, LastEscalation: deadline, Ack: ack("alice", deadline.Add(time.Minute), 1), AckTimeout: time.Minute, Interval: 30 * time.Minute}, deadline.Add(5 * time.Minute), false, false, true, deadline.Add(30 * time.Minute)},
		{"resolved: nothing", Clock{Deadline: deadline, Resolved: true}, deadline.Add(time.Hour), false, false, false, time.Time{}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			st := tc.clock.At(tc.now)
			if st.EscalateNow != tc.escalate || st.Acknowledged != tc.acked || st.AckExpired != tc.expired || !st.Wake.Equal(tc.wake) {
				t.Fatalf("got escalate=%v acked=%v expired=%v wake=%s; want %v %v %v %s", st.EscalateNow, st.Acknowledged, st.AckExpired, st.Wake, tc.escalate, tc.acked, tc.expired, tc.wake)
			}
		})
	}
}

// Whatever times the reconciler happens to run at (requeues, watch events, restarts),
// escalations are never closer than the interval, and one comes at most one wake
// after it is due.
func TestEscalationsNeverMoreOftenThanTheInterval(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	interval := 7 * time.Minute
	c := Clock{Deadline: t0, Interval: interval}
	now := t0.Add(-time.Hour)
	var times []time.Time
	for range 5000 {
		now = now.Add(time.Duration(r.IntN(180)) * time.Second)
		st := c.At(now)
		if st.EscalateNow {
			times = append(times, now)
			c.LastEscalation = now
		} else if !st.Wake.IsZero() && st.Wake.Before(now) {
			t.Fatalf("wake %s is in the past at %s", st.Wake, now)
		}
	}
	if len(times) < 10 {
		t.Fatalf("only %d escalations over %s", len(times), now.Sub(t0))
	}
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d < interval {
			t.Fatalf("escalations %d and %d only %s apart", i-1, i, d)
		}
	}
	if times[0].Before(t0) {
		t.Fatalf("escalated at %s, before the deadline %s", times[0], t0)
	}
}

func TestPhase(t *testing.T) {
	for _, tc := range []struct {
		resolved, acked, done bool
		want                  opsv1alpha1.IncidentPhase
	}{
		{false, false, false, opsv1alpha1.IncidentPhaseOpen},
		{false, false, true, opsv1alpha1.IncidentPhaseOpen},
		{false, true, false, opsv1alpha1.IncidentPhaseAcknowledged},
		{false, true, true, opsv1alpha1.IncidentPhaseMitigated},
		{true, false, false, opsv1alpha1.IncidentPhaseResolved},
		{true, true, true, opsv1alpha1.IncidentPhaseResolved},
	} {
		if got := Phase(tc.resolved, tc.acked, tc.done); got != tc.want {
			t.Errorf("Phase(resolved=%v, acked=%v, done=%v) = %s, want %s", tc.resolved, tc.acked, tc.done, got, tc.want)
		}
	}
}
