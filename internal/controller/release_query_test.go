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
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/promcheck/promtest"
)

// appMetrics is the application's /metrics as the test sets it: a counter of
// requests by revision and status code, advanced every 50 ms for each revision that
// serves, with errorShare of them answered 500.
type appMetrics struct {
	mu      sync.Mutex
	serving map[string]float64 // revision → share of 500s
	total   *prometheus.CounterVec
}

func newAppMetrics() (*appMetrics, string) {
	GinkgoHelper()
	m := &appMetrics{serving: map[string]float64{}, total: prometheus.NewCounterVec(
		prometheus.CounterOpts{Name: "app_http_requests_total", Help: "Requests by revision and status code."}, []string{"revision", "code"})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.total)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	DeferCleanup(srv.Close)
	stop := make(chan struct{})
	DeferCleanup(func() { close(stop) })
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				m.mu.Lock()
				for rev, share := range m.serving {
					m.total.WithLabelValues(rev, "500").Add(10 * share)
					m.total.WithLabelValues(rev, "200").Add(10 * (1 - share))
				}
				m.mu.Unlock()
			}
		}
	}()
	return m, srv.Listener.Addr().String()
}

// serve makes revision answer with errorShare of 500s from now on.
func (m *appMetrics) serve(revision string, errorShare float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serving[revision] = errorShare
}

var _ = Describe("Release verification by Prometheus query", func() {
	ctx := context.Background()

	It("deploys a revision whose 5xx ratio stays under the threshold, rolls back one above it naming the query, pauses on no data and on Prometheus down, never rolling back for either", func() {
		app, target := newAppMetrics()
		prom := promtest.Start(GinkgoT(), promtest.Options{Targets: []string{target}, Log: GinkgoWriter})
		ns := newNamespace(ctx)
		spec := func(version, extra string) string {
			return fmt.Sprintf(`
version: %q
image: saas:%s
components: [{name: web}]
verify:
  interval: 1s
  window: 3s
  failureThreshold: 2
  progressDeadline: 1m
  prometheus:
    address: %s
    errorThreshold: 2%s
    queries:
    - name: error-rate
      query: 'sum(rate(app_http_requests_total{revision="{{revision}}",code=~"5.."}[3s])) / sum(rate(app_http_requests_total{revision="{{revision}}"}[3s]))'
      condition: {op: LessThan, value: "0.05"}
`, version, version, prom.URL, extra)
		}
		phase := func(rel *opsv1alpha1.Release) func() string {
			return func() string { return string(getRelease(ctx, rel).Status.Phase) }
		}
		deploy := func(rel *opsv1alpha1.Release, version, extra string) string {
			GinkgoHelper()
			updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
				var s opsv1alpha1.ReleaseSpec
				Expect(yamlInto(spec(version, extra), &s)).To(Succeed())
				r.Spec = s
			})
			rev := revisionOf(getRelease(ctx, rel))
			rollOutRevision(ctx, ns, "saas-web", rev, 0)
			return rev
		}

		By("1.0.0 answers no 500s: its queries pass and it is Deployed")
		rel := createRelease(ctx, ns, spec("1.0.0", ""))
		rev1 := revisionOf(rel)
		app.serve(rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(phase(rel)).WithTimeout(30 * time.Second).Should(Equal("Deployed"))
		got := getRelease(ctx, rel)
		Expect(got.Status.Measurements).NotTo(BeEmpty())
		m := got.Status.Measurements[0]
		Expect(m.Revision).To(Equal(rev1))
		Expect(m.Verdict).To(Equal(opsv1alpha1.QueryPass))
		Expect(m.Query).To(ContainSubstring(`revision="` + rev1 + `"`))
		Expect(m.Threshold).To(Equal("< 0.05"))
		Expect(m.Value).To(Equal("0"))

		By("1.1.0 answers 30% 500s: rolled back, the query named with its value and threshold")
		rev2 := revisionOf(&opsv1alpha1.Release{Spec: mustSpec(spec("1.1.0", ""))})
		app.serve(rev2, 0.3)
		Expect(deploy(rel, "1.1.0", "")).To(Equal(rev2))
		Eventually(phase(rel)).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		got = getRelease(ctx, rel)
		msg := got.Status.History[0].Message
		Expect(msg).To(ContainSubstring("consecutive checks failed (verify.failureThreshold): query error-rate (sum(rate(app_http_requests_total{revision=\"" + rev2 + "\""))
		Expect(msg).To(MatchRegexp(`\) = 0\.[23]\d*, threshold < 0\.05`))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)()).To(HavePrefix("False QueryFailed: "))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(ContainSubstring("query error-rate"))
		Eventually(eventNotes(ctx, ns, "saas")).Should(ContainElement(ContainSubstring("query error-rate")))
		Expect(got.Status.Measurements[0].Verdict).To(Equal(opsv1alpha1.QueryFail))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(HavePrefix(rev1))
		GinkgoWriter.Println("rollback message:", msg)

		By("1.2.0 has no series yet: inconclusive, neither deployed nor rolled back; the window ends Paused and it deploys once data arrives")
		rev3 := deploy(rel, "1.2.0", "")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)).WithTimeout(30 * time.Second).Should(HavePrefix("Unknown QueryInconclusive: Verification paused: the window ended inconclusive: query error-rate"))
		Expect(phase(rel)()).To(Equal("Paused"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)()).To(ContainSubstring("no data"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)()).To(ContainSubstring("is not marked Deployed"))
		Consistently(phase(rel)).WithTimeout(3 * time.Second).Should(Equal("Paused"))
		got = getRelease(ctx, rel)
		Expect(got.Status.StableRevision).To(Equal(rev1))
		Expect(got.Status.Measurements[0].Verdict).To(Equal(opsv1alpha1.QueryInconclusive))
		Expect(eventReasons(ctx, ns, "saas")()).To(ContainElement(opsv1alpha1.ReasonQueryInconclusive))
		app.serve(rev3, 0)
		Eventually(phase(rel)).WithTimeout(30 * time.Second).Should(Equal("Deployed"))
		Expect(getRelease(ctx, rel).Status.StableRevision).To(Equal(rev3))

		By("Prometheus stops during 1.3.0's window: an error condition naming Prometheus, not a rollback and not a deploy")
		rev4 := revisionOf(&opsv1alpha1.Release{Spec: mustSpec(spec("1.3.0", ""))})
		app.serve(rev4, 0)
		prom.Stop()
		Expect(deploy(rel, "1.3.0", "")).To(Equal(rev4))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)).WithTimeout(30 * time.Second).Should(
			HavePrefix("Unknown PrometheusError: Verification paused: Prometheus at " + prom.URL + " could not be queried in 2 consecutive rounds"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)()).To(ContainSubstring("connection refused"))
		Consistently(phase(rel)).WithTimeout(4 * time.Second).Should(Equal("Paused"))
		got = getRelease(ctx, rel)
		Expect(got.Status.StableRevision).To(Equal(rev3))
		Expect(got.Status.Progress.QueryErrors).To(BeNumerically(">=", 2))
		Expect(got.Status.Measurements[0].Verdict).To(Equal(opsv1alpha1.QueryError))
		Expect(conditionReason(got, opsv1alpha1.ConditionRolledBack)).To(BeEmpty())

		By("Prometheus back: 1.3.0 is verified and Deployed")
		prom.Start()
		Eventually(phase(rel)).WithTimeout(30 * time.Second).Should(Equal("Deployed"))
		Expect(getRelease(ctx, rel).Status.StableRevision).To(Equal(rev4))

		By("onInconclusive: Rollback rolls a revision with no data back, naming the query")
		deploy(rel, "1.4.0", "\n    onInconclusive: Rollback")
		Eventually(phase(rel)).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		Expect(getRelease(ctx, rel).Status.History[0].Message).To(ContainSubstring("the verification window ended inconclusive (verify.prometheus.onInconclusive: Rollback): query error-rate"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionVerified)()).To(HavePrefix("False QueryInconclusive"))
	})
})

func conditionReason(rel *opsv1alpha1.Release, t string) string {
	for _, c := range rel.Status.Conditions {
		if c.Type == t {
			return c.Reason
		}
	}
	return ""
}

func mustSpec(y string) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	var s opsv1alpha1.ReleaseSpec
	Expect(yamlInto(y, &s)).To(Succeed())
	return s
}

func yamlInto(y string, into *opsv1alpha1.ReleaseSpec) error {
	return yaml.Unmarshal([]byte(strings.TrimSpace(y)), into)
}
