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
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAlertReceiver measures a notification's round trip over loopback, from the
// post to the answer, which comes only after the Incident (or its timeline entry) is
// stored in envtest's API server, as the manager's identity:
//
//   - new-group: each post opens an Incident (get, create, status update);
//
//   - repeat: each post repeats one group (a get, nothing written);
//
//   - new-alert: each post adds one alert to one group's Incident (get, status update);
//
//   - load-new-groups-c8 / load-repeat-c8: b.N posts, 8 at a time (bounded load that
//     stops by itself), reported as posts/s.
//
//     KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print) go test ./internal/alertreceiver \
//     -run '^$' -bench AlertReceiver -benchtime 300x
func BenchmarkAlertReceiver(b *testing.B) {
	_, srv := newReceiver(b, Options{})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	run := 0
	body := func(group string, startsAt int) []byte {
		return []byte(fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"Bench\", group=\"%s\"}","truncatedAlerts":0,"status":"firing",
"receiver":"runbook-operator","groupLabels":{"alertname":"Bench"},"commonLabels":{"alertname":"Bench","namespace":"bench","severity":"warning"},
"commonAnnotations":{"summary":"bench alert"},"externalURL":"http://127.0.0.1:9093","alerts":[{"status":"firing",
"labels":{"alertname":"Bench","namespace":"bench","severity":"warning"},"annotations":{"summary":"bench alert"},
"startsAt":"2026-12-07T10:00:%02d.%09dZ","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"0123456789abcdef"}]}`,
			group, startsAt%60, startsAt))
	}
	// once posts one body and checks the answer.
	once := func(b *testing.B, raw []byte) time.Duration {
		start := time.Now()
		code, answer := post(b, c, srv.URL, testToken, raw)
		d := time.Since(start)
		if code != http.StatusOK {
			b.Fatalf("%d %s", code, answer)
		}
		return d
	}
	latency := func(name string, mk func(i int) []byte) {
		b.Run(name, func(b *testing.B) {
			run++
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ds = append(ds, once(b, mk(i)))
			}
			b.StopTimer()
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "ms-p99")
		})
	}
	load := func(name string, mk func(i int) []byte) {
		b.Run(name, func(b *testing.B) {
			run++
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					once(b, mk(i))
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "posts/s")
		})
	}
	latency("new-group", func(i int) []byte { return body(fmt.Sprintf("new-%d-%d", run, i), 0) })
	repeat := body("repeat", 0)
	once(b, repeat)
	latency("repeat", func(int) []byte { return repeat })
	latency("new-alert", func(i int) []byte { return body(fmt.Sprintf("alerts-%d", run), i+1) })
	load("load-new-groups-c8", func(i int) []byte { return body(fmt.Sprintf("load-%d-%d", run, i), 0) })
	load("load-repeat-c8", func(int) []byte { return repeat })
}
