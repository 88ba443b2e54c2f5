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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/truncate"
)

// KeepFirst is how many of the first timeline entries a full timeline keeps (the
// opening and the first response); the rest of MaxTimelineEntries are the latest.
const KeepFirst = 20

// Entry builds a timeline entry, cutting type, message and key to the CRD's bounds so
// that a status write never fails because of an entry.
func Entry(now time.Time, typ string, outcome opsv1alpha1.TimelineOutcome, key, message string) opsv1alpha1.TimelineEntry {
	return opsv1alpha1.TimelineEntry{
		Time:    metav1.NewTime(now),
		Type:    truncate.String(typ, 64),
		Outcome: outcome,
		Message: truncate.String(message, opsv1alpha1.MaxTimelineMessageBytes),
		Key:     truncate.String(key, opsv1alpha1.MaxTimelineKeyBytes),
	}
}

// HasEntry reports whether the timeline still holds an entry with key.
func HasEntry(st *opsv1alpha1.IncidentStatus, key string) bool {
	if key == "" {
		return false
	}
	for i := range st.Timeline {
		if st.Timeline[i].Key == key {
			return true
		}
	}
	return false
}

// Append adds e to the timeline once: an entry with the same non-empty key already
// there is kept and e dropped (a reconcile that decided, recorded, crashed and runs
// again). A full timeline keeps its first KeepFirst entries and the latest ones,
// folding the oldest of the latest into status.timelineFolded, so appending never
// fails. Returns whether e was added.
//
// Keys of folded entries are gone, so append-once rests on the caller's own record
// (the action's or the delivery's state) for anything that might be decided twice;
// the key guards the window between deciding and recording.
func Append(st *opsv1alpha1.IncidentStatus, e opsv1alpha1.TimelineEntry) bool {
	if HasEntry(st, e.Key) {
		return false
	}
	max := opsv1alpha1.MaxTimelineEntries
	for len(st.Timeline) >= max {
		st.Timeline = append(st.Timeline[:KeepFirst], st.Timeline[KeepFirst+1:]...)
		st.TimelineFolded++
	}
	st.Timeline = append(st.Timeline, e)
	return true
}
