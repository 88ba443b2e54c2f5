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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/notify"
)

// BenchmarkIncidentEscalationLatency measures the time from an unacknowledged P0's
// response deadline to the escalation notification arriving at a local webhook
// receiver: the reconciler requeues exactly at the deadline (no polling), records the
// escalation, then sends. Against envtest with the real Incident reconciler; the
// clock is the wall clock shifted so the 15-minute deadline falls a second after the
// incident opened. The target is within 1 s of the deadline.
//
//	KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print) go test ./internal/controller \
//	    -run '^$' -bench IncidentEscalationLatency -benchtime 5x
func BenchmarkIncidentEscalationLatency(b *testing.B) {
	c, mgr, stop := benchManager(b)
	defer stop()
	var clk offsetClock
	r := &IncidentReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: &clk,
		Sender: &notify.Sender{MaxAttempts: 1, Client: &http.Client{Timeout: 2 * time.Second}}}
	if err := r.SetupWithManager(mgr); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()

	var mu sync.Mutex
	received := map[string]time.Time{} // incident name → escalation received
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		var m struct {
			Transition string `json:"transition"`
			Incident   struct {
				Name string `json:"name"`
			} `json:"incident"`
		}
		raw, _ := io.ReadAll(req.Body)
		_ = json.Unmarshal(raw, &m)
		if m.Transition == string(opsv1alpha1.TransitionEscalated) {
			mu.Lock()
			if _, ok := received[m.Incident.Name]; !ok {
				received[m.Incident.Name] = at
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns.Name}, StringData: map[string]string{"url": rcv.URL}}); err != nil {
		b.Fatal(err)
	}
	var lags []time.Duration
	b.ResetTimer()
	for i := range b.N {
		clk.SetNow(time.Now())
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p0-", i), Namespace: ns.Name}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP0, Title: "bench", Response: &opsv1alpha1.IncidentResponse{},
			Notify: []opsv1alpha1.Notifier{{Name: "hook", Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "hook", Key: "url"}}}}}
		if err := c.Create(ctx, inc); err != nil {
			b.Fatal(err)
		}
		// Once it is open, the clock jumps to a second before the deadline and a nudge
		// (an annotation) makes the reconciler requeue for that second.
		opened := &opsv1alpha1.Incident{}
		for c.Get(ctx, client.ObjectKeyFromObject(inc), opened) != nil || opened.Status.ResponseDeadline == nil {
			time.Sleep(2 * time.Millisecond)
		}
		clk.SetNow(opened.Status.ResponseDeadline.Add(-time.Second))
		nudge := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bench/nudge":"1"}}}`))
		if err := c.Patch(ctx, opened, nudge); err != nil {
			b.Fatal(err)
		}
		var deadline time.Time
		waitUntil := time.Now().Add(time.Minute)
		for time.Now().Before(waitUntil) {
			got := &opsv1alpha1.Incident{}
			mu.Lock()
			at, ok := received[inc.Name]
			mu.Unlock()
			if ok && c.Get(ctx, client.ObjectKeyFromObject(inc), got) == nil && got.Status.ResponseDeadline != nil {
				// The deadline in wall-clock time: the clock's offset taken back out.
				deadline = got.Status.ResponseDeadline.Add(-clk.offset())
				lags = append(lags, at.Sub(deadline))
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if deadline.IsZero() {
			b.Fatal("no escalation received within a minute")
		}
	}
	b.StopTimer()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "ms-median-after-deadline")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "ms-max-after-deadline")
	b.Logf("escalation received after the deadline: %v", lags)
}
