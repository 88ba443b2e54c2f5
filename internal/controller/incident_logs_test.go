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

package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gatedLogs stands in for pods/log (no kubelet here): the first `gate` reads wait until
// that many are in flight at once, so the reads must overlap, and then finish in
// reverse order of arrival; it records the most in flight.
type gatedLogs struct {
	gate     int
	mu       sync.Mutex
	inFlight int
	most     int
	arrived  int
	open     chan struct{}
	finish   []chan struct{}
}

func (l *gatedLogs) Tail(_ context.Context, _, pod, container string, previous bool, _, _ int64) (string, error) {
	l.mu.Lock()
	l.inFlight++
	l.most = max(l.most, l.inFlight)
	l.arrived++
	n := l.arrived
	var mine chan struct{}
	if n <= l.gate {
		mine = l.finish[n-1]
	}
	if n == l.gate {
		close(l.open)
	}
	l.mu.Unlock()
	if mine != nil {
		select {
		case <-l.open:
		case <-time.After(10 * time.Second): // reads not overlapping: the test fails on most
		}
		if n < l.gate {
			<-mine // the later arrivals finish first
		}
		if n > 1 {
			close(l.finish[n-2])
		}
	}
	l.mu.Lock()
	l.inFlight--
	l.mu.Unlock()
	return fmt.Sprintf("%s/%s previous=%v\n", pod, container, previous), nil
}

func TestLogTailsReadsAtMostTheBoundAtOnceInThePodsOrder(t *testing.T) {
	var pods []corev1.Pod
	var want []string
	for i := range 12 {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("saas-web-%02d", i), Namespace: "shop"}}
		for _, c := range []string{"web", "sidecar"} {
			st := corev1.ContainerStatus{Name: c}
			want = append(want, fmt.Sprintf("logs/%s/%s", p.Name, c))
			if i%3 == 0 && c == "web" {
				st.RestartCount = 2
				want = append(want, fmt.Sprintf("logs/%s/%s (previous)", p.Name, c))
			}
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
		}
		pods = append(pods, p)
	}
	logs := &gatedLogs{gate: evidenceLogReaders, open: make(chan struct{})}
	for range evidenceLogReaders {
		logs.finish = append(logs.finish, make(chan struct{}))
	}
	r := &IncidentReconciler{Logs: logs}
	sections, n, previous := r.logTails(context.Background(), pods)
	if n != len(want) || previous != 4 || len(sections) != len(want) {
		t.Fatalf("%d tails (%d previous), %d sections; want %d (4 previous)", n, previous, len(sections), len(want))
	}
	for i, s := range sections {
		if s.Name != want[i] {
			t.Fatalf("section %d is %q, want %q: not in the pods' order", i, s.Name, want[i])
		}
		pc, prev := strings.CutSuffix(strings.TrimPrefix(s.Name, "logs/"), " (previous)")
		if wantContent := fmt.Sprintf("%s previous=%v\n", pc, prev); s.Content != wantContent || !s.Tail {
			t.Fatalf("section %s: content %q, tail %v; want %q: another read's log", s.Name, s.Content, s.Tail, wantContent)
		}
	}
	if logs.most != evidenceLogReaders {
		t.Fatalf("at most %d reads in flight, want %d (the bound, reached)", logs.most, evidenceLogReaders)
	}
}
