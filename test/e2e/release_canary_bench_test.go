//go:build e2e && bench

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

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/release"
)

// How many requests reach a bad revision with and without spec.canary (make
// bench-release). The Django app's Release (worker, web ×2) is deployed at saas:1.1.0;
// then, BENCH_CANARY_RUNS times (default 3) for each mode, saas:1.2.0 (whose
// /api/v1/health/ answers 503) is deployed as a new revision (the spec's env carries
// the run number) and rolled back, and the spec goes back to 1.1.0 (the stable
// revision: nothing runs). Meanwhile a bounded load plays the component's Service as
// kube-proxy would without a mesh: 20 requests a second, each to the next Ready pod
// that carries the Service's selector labels (web pods and canary pods alike; the
// pod list refreshed every 100 ms), on the pod's own address. Each request is
// counted for the revision of the pod it went to. The figures: requests sent from
// the spec change until every Ready web pod is a 1.1.0 one again, how many reached a
// 1.2.0 pod, and how many of them were answered with an error. Same verification in
// both modes (interval 2s, failureThreshold 2); the canary is one pod beside the two
// stable ones, window 10s. The benchmark asserts only that each revision was rolled
// back and that the load reached the pods.

const (
	canaryBenchDB       = "canary_bench"
	canaryBenchDBSecret = "bench-canary-db"
	canaryBenchName     = "bench-canary"
	canaryBenchRate     = 20 // requests a second
)

func canaryBenchSpec(tag string, run int, canary bool) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	y := demo.ReleaseSpecYAML(tag, canaryBenchDBSecret, 2, "{path: /api/v1/health/, interval: 2s, window: 6s, failureThreshold: 2, progressDeadline: 2m}")
	if canary {
		y += "canary: {component: web, replicas: 1, window: 10s}\n"
	}
	var spec opsv1alpha1.ReleaseSpec
	Expect(yaml.Unmarshal([]byte(y), &spec)).To(Succeed())
	if run > 0 {
		spec.Env = append(spec.Env, opsv1alpha1.EnvVar{Name: "BENCH_RUN", Value: strconv.Itoa(run)})
	}
	return spec
}

// serviceLoad sends canaryBenchRate requests a second to the Ready pods with the
// web Service's selector, round robin, and counts them by the pods' revision.
type serviceLoad struct {
	mu      sync.Mutex
	pods    []corev1.Pod
	sent    map[string]int // revision → requests
	failed  map[string]int // revision → non-2xx or refused answers
	counted bool
}

func (l *serviceLoad) start(ctx context.Context) {
	sel := client.MatchingLabels(release.Selector(&opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: canaryBenchName}}, "web"))
	go func() { // the endpoints, as the EndpointSlice controller keeps them: Ready pods
		for ctx.Err() == nil {
			var list corev1.PodList
			if err := k8sClient.List(ctx, &list, client.InNamespace(ns), sel); err == nil {
				var ready []corev1.Pod
				for _, p := range list.Items {
					if p.DeletionTimestamp.IsZero() && p.Status.PodIP != "" && release.PodReady(&p) {
						ready = append(ready, p)
					}
				}
				l.mu.Lock()
				l.pods = ready
				l.mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	go func() {
		hc := &http.Client{Timeout: time.Second}
		tick := time.NewTicker(time.Second / canaryBenchRate)
		defer tick.Stop()
		next := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.mu.Lock()
			if len(l.pods) == 0 || !l.counted {
				l.mu.Unlock()
				continue
			}
			p := l.pods[next%len(l.pods)]
			next++
			l.mu.Unlock()
			rev := p.Labels[opsv1alpha1.LabelRevision]
			ok := false
			if resp, err := hc.Get("http://" + net.JoinHostPort(p.Status.PodIP, "8000") + "/api/v1/health/"); err == nil {
				ok = resp.StatusCode/100 == 2
				_ = resp.Body.Close()
			}
			l.mu.Lock()
			if l.counted {
				l.sent[rev]++
				if !ok {
					l.failed[rev]++
				}
			}
			l.mu.Unlock()
		}
	}()
}

// count starts (on) or stops counting; starting resets the counts.
func (l *serviceLoad) count(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		l.sent, l.failed = map[string]int{}, map[string]int{}
	}
	l.counted = on
}

// onlyRevision reports whether every Ready web pod runs revision.
func (l *serviceLoad) onlyRevision(revision string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pods) == 0 {
		return false
	}
	for _, p := range l.pods {
		if p.Labels[opsv1alpha1.LabelRevision] != revision {
			return false
		}
	}
	return true
}

var _ = Describe("Release canary benchmark: requests that reach a bad revision on the devcluster", Label("bench", "bench-release"), Ordered, func() {
	It("counts the requests a bounded load sends to saas:1.2.0 with and without a canary", func(ctx SpecContext) {
		runs := 3
		if v, err := strconv.Atoi(os.Getenv("BENCH_CANARY_RUNS")); err == nil && v > 0 {
			runs = v
		}
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+canaryBenchDB+" WITH (FORCE)")
		createReleaseDB(ctx, canaryBenchDB, canaryBenchDBSecret)
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: canaryBenchName, Namespace: ns}, Spec: canaryBenchSpec("1.1.0", 0, false)}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
		Eventually(releasePhaseOf(ctx, canaryBenchName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		stable := getE2ERelease(ctx, canaryBenchName).Status.StableRevision

		lctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		load := &serviceLoad{}
		load.start(lctx)
		Eventually(func() bool { return load.onlyRevision(stable) }).WithTimeout(time.Minute).Should(BeTrue())

		setSpec := func(spec opsv1alpha1.ReleaseSpec) {
			GinkgoHelper()
			Eventually(func() error {
				got := getE2ERelease(ctx, canaryBenchName)
				got.Spec = spec
				return k8sClient.Update(ctx, got)
			}).Should(Succeed())
		}
		type result struct{ sent, bad, badFailed int }
		results := map[bool][]result{}
		run := 0
		for _, canary := range []bool{false, true} {
			for range runs {
				run++
				load.count(true)
				setSpec(canaryBenchSpec("1.2.0", run, canary))
				Eventually(releasePhaseOf(ctx, canaryBenchName)).WithTimeout(4 * time.Minute).WithPolling(200 * time.Millisecond).Should(Equal("RolledBack 1.2.0"))
				Eventually(func() bool { return load.onlyRevision(stable) }).WithTimeout(2 * time.Minute).WithPolling(100 * time.Millisecond).Should(BeTrue())
				load.count(false)
				load.mu.Lock()
				r := result{}
				for rev, n := range load.sent {
					r.sent += n
					if rev != stable {
						r.bad += n
						r.badFailed += load.failed[rev]
					}
				}
				load.mu.Unlock()
				Expect(r.sent).To(BeNumerically(">", 0), "the load reached no pod")
				results[canary] = append(results[canary], r)
				GinkgoWriter.Printf("run %d canary=%v: %d requests, %d to 1.2.0 pods (%d answered with an error)\n", run, canary, r.sent, r.bad, r.badFailed)
				setSpec(canaryBenchSpec("1.1.0", 0, false)) // back to the stable revision: nothing runs
				Eventually(releasePhaseOf(ctx, canaryBenchName)).WithTimeout(time.Minute).Should(Equal("Deployed 1.1.0"))
			}
		}
		med := func(rs []result, f func(result) int) string {
			v := make([]int, 0, len(rs))
			for _, r := range rs {
				v = append(v, f(r))
			}
			slices.Sort(v)
			return fmt.Sprintf("median %d (%d–%d)", v[len(v)/2], v[0], v[len(v)-1])
		}
		report := fmt.Sprintf("Canary benchmark (%d runs each, load %d req/s over the Ready web pods, 2 stable web pods):\n", runs, canaryBenchRate)
		for _, canary := range []bool{false, true} {
			name := "without canary (rollout, then verification)"
			if canary {
				name = "with canary (1 pod, window 10s)          "
			}
			rs := results[canary]
			report += fmt.Sprintf("  %s: requests to 1.2.0 %s, of them errors %s, of all requests %s\n", name,
				med(rs, func(r result) int { return r.bad }), med(rs, func(r result) int { return r.badFailed }), med(rs, func(r result) int { return r.sent }))
		}
		AddReportEntry("canary", report)
		GinkgoWriter.Print(report)
		fmt.Fprint(os.Stderr, report)
	})
})
