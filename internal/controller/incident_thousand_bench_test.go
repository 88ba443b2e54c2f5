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
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// BenchmarkThousandIncidents opens 1,000 P1 Incidents at once against envtest, each
// with a Webhook notifier to a local receiver, with the real manager binary
// (cmd/manager) as a subprocess, and reports: the time until the receiver got every
// Opened notification; the manager's peak RSS (VmHWM), RSS and Go heap in use then;
// the manager's CPU and the incident controller's reconciles and reconcile time per
// incident; then, with every incident open and nothing due for an hour, a quiet
// period's reconciles and CPU (the clock requeues only at a deadline: no polling, so
// both should be about 0) and the memory after it (flat: nothing accumulates).
//
//	KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print) go test ./internal/controller \
//	    -run '^$' -bench ThousandIncidents -benchtime 1x
//
// BENCH_INCIDENTS overrides the count, BENCH_QUIET the quiet period (default 60s),
// BENCH_INCIDENT_CONCURRENCY the manager's --incident-concurrency.
func BenchmarkThousandIncidents(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("BENCH_INCIDENTS")); err == nil && v > 0 {
		n = v
	}
	quiet := time.Minute
	if v, err := time.ParseDuration(os.Getenv("BENCH_QUIET")); err == nil && v > 0 {
		quiet = v
	}
	c, runManager, stop := benchManagerBinary(b)
	defer stop()

	var mu sync.Mutex
	opened := map[string]bool{} // incident name → its Opened notification arrived
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m struct {
			Transition string `json:"transition"`
			Incident   struct {
				Name string `json:"name"`
			} `json:"incident"`
		}
		raw, _ := io.ReadAll(req.Body)
		_ = json.Unmarshal(raw, &m)
		if m.Transition == string(opsv1alpha1.TransitionOpened) {
			mu.Lock()
			opened[m.Incident.Name] = true
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	got := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for name := range opened {
			if strings.HasPrefix(name, prefix) {
				k++
			}
		}
		return k
	}

	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "bench"}, StringData: map[string]string{"url": rcv.URL}}); err != nil {
		b.Fatal(err)
	}

	for i := 0; i < b.N; i++ {
		addr := freeLoopbackAddr(b)
		args := []string{"--metrics-bind-address=" + addr, "--metrics-secure=false"}
		if v := os.Getenv("BENCH_INCIDENT_CONCURRENCY"); v != "" {
			args = append(args, "--incident-concurrency="+v)
		}
		mgr := runManager(args...)
		time.Sleep(2 * time.Second) // caches synced, as for a manager that was already running
		before := scrapeManager(b, addr)

		b.ResetTimer()
		start := time.Now()
		prefix := fmt.Sprintf("r%d-", i)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32) // like kubectl apply of many files in parallel
		errs := make(chan error, n)
		for j := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func(j int) {
				defer wg.Done()
				defer func() { <-sem }()
				inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%04d", prefix, j), Namespace: "bench"}, Spec: opsv1alpha1.IncidentSpec{
					Severity: opsv1alpha1.SeverityP1, Title: "bench", Response: &opsv1alpha1.IncidentResponse{},
					Notify: []opsv1alpha1.Notifier{{Name: "hook", Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "hook", Key: "url"}}}}}
				if err := c.Create(ctx, inc); err != nil {
					errs <- err
				}
			}(j)
		}
		wg.Wait()
		applied := time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		for got(prefix) < n && time.Since(start) < 5*time.Minute {
			time.Sleep(50 * time.Millisecond)
		}
		allNotified := time.Since(start)
		b.StopTimer()
		if k := got(prefix); k < n {
			b.Fatalf("only %d of %d Opened notifications after %s", k, n, allNotified)
		}
		time.Sleep(2 * time.Second) // the last deliveries' status writes
		open := scrapeManager(b, addr)
		hwm, rss := vmHWM(mgr.Process.Pid), vmRSS(mgr.Process.Pid)
		time.Sleep(quiet)
		after := scrapeManager(b, addr)
		rssAfter := vmRSS(mgr.Process.Pid)
		_ = mgr.Process.Signal(os.Interrupt)
		_ = mgr.Wait()

		work := open.minus(before)
		idle := after.minus(open)
		b.ReportMetric(allNotified.Seconds(), "s-to-all-notified")
		b.ReportMetric(float64(hwm)/1024, "MiB-peak-rss")
		b.ReportMetric(float64(rssAfter)/1024, "MiB-rss-after-quiet")
		b.ReportMetric(work.cpu*1000/float64(n), "cpu-ms/incident")
		b.ReportMetric(work.reconciles/float64(n), "reconciles/incident")
		b.ReportMetric(idle.reconciles, "quiet-reconciles")
		b.ReportMetric(idle.cpu*1000/quiet.Seconds(), "quiet-cpu-ms/s")
		b.Logf("%d incidents applied in %s; every Opened notification received after %s", n, applied.Round(time.Millisecond), allNotified.Round(time.Millisecond))
		b.Logf("open: manager peak RSS %.1f MiB, RSS %.1f MiB, Go heap in use %.1f MiB; per incident %.2f ms manager CPU, %.2f reconciles, %.2f ms in Reconcile",
			float64(hwm)/1024, float64(rss)/1024, open.heap/(1<<20), work.cpu*1000/float64(n), work.reconciles/float64(n), work.reconcileSeconds*1000/float64(n))
		b.Logf("quiet %s after: %.0f reconciles, %.0f ms manager CPU (%.2f ms/s); RSS %.1f MiB, Go heap in use %.1f MiB",
			quiet, idle.reconciles, idle.cpu*1000, idle.cpu*1000/quiet.Seconds(), float64(rssAfter)/1024, after.heap/(1<<20))
	}
}

// managerFigures are what the manager's metrics endpoint says of its work so far.
type managerFigures struct {
	cpu              float64 // process_cpu_seconds_total
	reconciles       float64 // of the incident controller, every result
	reconcileSeconds float64 // time the incident controller spent in Reconcile
	heap             float64 // go_memstats_heap_inuse_bytes
}

func (f managerFigures) minus(o managerFigures) managerFigures {
	return managerFigures{f.cpu - o.cpu, f.reconciles - o.reconciles, f.reconcileSeconds - o.reconcileSeconds, f.heap}
}

// scrapeManager reads the figures from the manager's metrics endpoint at addr.
func scrapeManager(b *testing.B, addr string) managerFigures {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatalf("reading the manager's metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var f managerFigures
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		switch {
		case series == "process_cpu_seconds_total":
			f.cpu = v
		case series == "go_memstats_heap_inuse_bytes":
			f.heap = v
		case strings.HasPrefix(series, "controller_runtime_reconcile_total{") && strings.Contains(series, `controller="incident"`):
			f.reconciles += v
		case strings.HasPrefix(series, "controller_runtime_reconcile_time_seconds_sum{") && strings.Contains(series, `controller="incident"`):
			f.reconcileSeconds += v
		}
	}
	if f.cpu == 0 {
		b.Fatal("the manager's metrics have no process_cpu_seconds_total")
	}
	return f
}

// freeLoopbackAddr is a loopback address with a port free now.
func freeLoopbackAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// vmRSS returns the resident set size of pid in KiB.
func vmRSS(pid int) int64 { return procStatus(pid, "VmRSS:") }
