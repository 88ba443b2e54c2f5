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
	"unicode/utf8"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func TestTimelineAppendsAKeyOnce(t *testing.T) {
	st := &opsv1alpha1.IncidentStatus{}
	if !Append(st, Entry(t0, opsv1alpha1.TimelineEscalated, opsv1alpha1.TimelineInfo, "escalated/1", "paged")) {
		t.Fatal("first append refused")
	}
	// A restart that decided the same escalation again.
	if Append(st, Entry(t0.Add(time.Second), opsv1alpha1.TimelineEscalated, opsv1alpha1.TimelineInfo, "escalated/1", "paged")) {
		t.Fatal("the same key was appended twice")
	}
	if !Append(st, Entry(t0, opsv1alpha1.TimelineEscalated, opsv1alpha1.TimelineInfo, "escalated/2", "paged")) {
		t.Fatal("a new key was refused")
	}
	// Entries without a key are never deduplicated.
	Append(st, Entry(t0, "Note", opsv1alpha1.TimelineInfo, "", "x"))
	Append(st, Entry(t0, "Note", opsv1alpha1.TimelineInfo, "", "x"))
	if len(st.Timeline) != 4 {
		t.Fatalf("timeline has %d entries, want 4", len(st.Timeline))
	}
}

func TestTimelineFoldsTheMiddleAndNeverFails(t *testing.T) {
	st := &opsv1alpha1.IncidentStatus{}
	const n = 250
	for i := range n {
		if !Append(st, Entry(t0, "Note", opsv1alpha1.TimelineInfo, fmt.Sprintf("k/%d", i), fmt.Sprintf("entry %d", i))) {
			t.Fatalf("append %d refused", i)
		}
	}
	max := opsv1alpha1.MaxTimelineEntries
	if len(st.Timeline) != max || int(st.TimelineFolded) != n-max {
		t.Fatalf("len %d folded %d, want %d and %d", len(st.Timeline), st.TimelineFolded, max, n-max)
	}
	for i := range KeepFirst {
		if st.Timeline[i].Message != fmt.Sprintf("entry %d", i) {
			t.Fatalf("first entries not kept: [%d] = %q", i, st.Timeline[i].Message)
		}
	}
	latest := max - KeepFirst
	for i := range latest {
		if want := fmt.Sprintf("entry %d", n-latest+i); st.Timeline[KeepFirst+i].Message != want {
			t.Fatalf("latest entries not kept: [%d] = %q, want %q", KeepFirst+i, st.Timeline[KeepFirst+i].Message, want)
		}
	}
}

func TestEntryCutsToTheCRDBounds(t *testing.T) {
	e := Entry(t0, strings.Repeat("T", 100), opsv1alpha1.TimelineFailed, strings.Repeat("k", 200), strings.Repeat("ü", 1000))
	if len(e.Message) > opsv1alpha1.MaxTimelineMessageBytes || !utf8.ValidString(e.Message) || !strings.HasSuffix(e.Message, "…") {
		t.Fatalf("message of %d bytes, valid UTF-8 %v", len(e.Message), utf8.ValidString(e.Message))
	}
	if len(e.Type) > 64 || len(e.Key) > opsv1alpha1.MaxTimelineKeyBytes {
		t.Fatalf("type %d bytes, key %d bytes", len(e.Type), len(e.Key))
	}
	if short := Entry(t0, "Opened", opsv1alpha1.TimelineInfo, "opened", "P1 opened"); short.Message != "P1 opened" {
		t.Fatalf("a short message was changed: %q", short.Message)
	}
}
