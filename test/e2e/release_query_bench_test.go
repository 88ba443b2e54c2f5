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
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/promcheck/promtest"
)

// The PromQL verification's rollback latency (make bench-release, issue 24): the
// Release of release_query_test.go (web 1 pod; verify every 2 s, failureThreshold 2,
// the 5xx ratio of the revision's pods over 10 s < 0.05) with Debian's Prometheus
// scraping the pods every second and the same bounded listing load, taken
// BENCH_RELEASE_RUNS times through a good revision (1.1.0) and then 1.5.0, which
// answers 500 to every third listing and is rolled back by the query (its health
// checks pass). The suite's manager process (cmd/manager) does the verification.
//
// Per run: the first bad sample scraped is the earliest sample of the 5xx counter of
// 1.5.0's revision (the series appears with the first 500) as Prometheus stores it,
// its timestamp the scrape's on Prometheus's clock (this machine's); the rollback's
// first write is the first change this process's informer receives of the web
// Deployment back on the stable template. Against failureThreshold × interval + one
// scrape interval + 100 ms (5.1 s).
const (
	relQueryBenchName     = "bench-release-query"
	relQueryBenchDB       = "bench_release_query"
	relQueryBenchDBSecret = "bench-release-query-db"
	relQueryBenchBound    = 2*2*time.Second + time.Second + 100*time.Millisecond
)

var _ = Describe("Release benchmark: rollback by the PromQL verification on the devcluster", Label("bench", "bench-release"), Ordered, func() {
	It("times the first 5xx sample scraped to the rollback's first write", func(ctx SpecContext) {
		runs := 5
		if v, err := strconv.Atoi(os.Getenv("BENCH_RELEASE_RUNS")); err == nil && v > 0 {
			runs = v
		}
		By("creating database " + relQueryBenchDB + ", Prometheus scraping the Release's web pods, the listing load and Release " + relQueryBenchName)
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+relQueryBenchDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+relQueryBenchDB)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, relQueryBenchDB) })
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: relQueryBenchDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": relQueryBenchDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}))).To(Succeed())
		prom := promtest.Start(GinkgoT(), promtest.Options{ScrapeConfigs: podScrapeConfig(podDiscovery(relQueryBenchName)), Log: GinkgoWriter})
		pc, err := api.NewClient(api.Config{Address: prom.URL})
		Expect(err).NotTo(HaveOccurred())
		promAPI := promv1.NewAPI(pc)
		load := startListLoad(relQueryBenchName, int64(runs)*2000)

		wctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		tl := watchTimeline(wctx, cluster.RESTConfig)

		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: relQueryBenchName, Namespace: ns},
			Spec: queryReleaseSpecFor(relQueryBenchDBSecret, "1.1.0", prom.URL, "")}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })

		// deploy sets the spec (unless first) and waits for its revision to end in
		// phase; it returns the Release and when the informer saw the spec.
		deploy := func(tag, note string, phase opsv1alpha1.ReleasePhase, first bool) (*opsv1alpha1.Release, time.Time) {
			GinkgoHelper()
			gen := rel.Generation
			if !first {
				Eventually(func() error {
					got := getE2ERelease(ctx, relQueryBenchName)
					got.Spec = queryReleaseSpecFor(relQueryBenchDBSecret, tag, prom.URL, note)
					if err := k8sClient.Update(ctx, got); err != nil {
						return err
					}
					gen = got.Generation
					return nil
				}).WithContext(ctx).Should(Succeed())
			}
			var got *opsv1alpha1.Release
			Eventually(func(g Gomega) {
				got = getE2ERelease(ctx, relQueryBenchName)
				g.Expect(got.Status.ObservedGeneration).To(BeNumerically(">=", gen))
				g.Expect(got.Status.History).NotTo(BeEmpty())
				g.Expect(got.Status.History[0].Revision).To(Equal(got.Status.CurrentRevision))
				g.Expect(got.Status.History[0].Result).NotTo(Equal(opsv1alpha1.RevisionInProgress))
				g.Expect(got.Status.Phase).To(Equal(phase), "revision %s: %s", got.Status.CurrentRevision, got.Status.History[0].Message)
			}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
			seen := seenMoment("the spec of generation " + strconv.FormatInt(gen, 10))(firstEvent(tl, time.Time{}, func(r *opsv1alpha1.Release) bool {
				return r.Name == relQueryBenchName && r.Generation >= gen
			}))
			return got, seen
		}
		deploy("1.1.0", "", opsv1alpha1.ReleasePhaseDeployed, true)

		webDep := opsv1alpha1.ComponentDeploymentName(relQueryBenchName, "web")
		var toWrite, toRolledBack []time.Duration
		for i := 1; i <= runs; i++ {
			By(fmt.Sprintf("run %d: a good revision (saas:1.1.0), then saas:1.5.0 (500 on every third listing)", i))
			good, _ := deploy("1.1.0", fmt.Sprintf("run-%d", i), opsv1alpha1.ReleasePhaseDeployed, false)
			stable := good.Status.StableRevision
			bad, seen := deploy("1.5.0", fmt.Sprintf("run-%d", i), opsv1alpha1.ReleasePhaseRolledBack, false)
			badRev := bad.Status.CurrentRevision
			Expect(bad.Status.History[0].Message).To(ContainSubstring("query error-rate ("), "rolled back by the query")
			Expect(conditionIn(bad.Status.Conditions, opsv1alpha1.ConditionVerified).Reason).To(Equal(opsv1alpha1.ReasonQueryFailed))

			written := seenMoment("the web back on the stable template")(firstEvent(tl, seen, func(d *appsv1.Deployment) bool {
				return d.Name == webDep && d.Spec.Template.Labels[opsv1alpha1.LabelRevision] == stable
			}))
			rolledBack := seenMoment("status RolledBack")(firstEvent(tl, seen, func(r *opsv1alpha1.Release) bool {
				return r.Name == relQueryBenchName && r.Status.CurrentRevision == badRev && r.Status.Phase == opsv1alpha1.ReleasePhaseRolledBack
			}))
			// The raw samples of 1.5.0's 5xx counter, as scraped: the earliest is the
			// first scrape that carried a 500.
			q := `django_http_responses_total_by_status_view_method_total{revision="` + badRev + `",status=~"5.."}[15m]`
			v, _, err := promAPI.Query(ctx, q, time.Now())
			Expect(err).NotTo(HaveOccurred())
			m, ok := v.(model.Matrix)
			Expect(ok).To(BeTrue(), "%s: %s", q, v.Type())
			var firstBad time.Time
			for _, s := range m {
				for _, p := range s.Values {
					if t := p.Timestamp.Time(); p.Value > 0 && (firstBad.IsZero() || t.Before(firstBad)) {
						firstBad = t
					}
				}
			}
			Expect(firstBad.IsZero()).To(BeFalse(), "no 5xx sample of revision %s in Prometheus (%s)", badRev, q)
			toWrite = append(toWrite, written.Sub(firstBad))
			toRolledBack = append(toRolledBack, rolledBack.Sub(firstBad))
			fmt.Fprintf(GinkgoWriter, "run %d: first 5xx sample scraped %s → rollback written %s (bound %s), → RolledBack recorded %s: %s\n",
				i, firstBad.UTC().Format("15:04:05.000"), ms(written.Sub(firstBad)), ms(relQueryBenchBound), ms(rolledBack.Sub(firstBad)), bad.Status.History[0].Message)
		}
		Expect(load.failed.Load()).To(BeNumerically(">", 0), "the load saw no 500 from 1.5.0")

		report := fmt.Sprintf("\nRelease verified by PromQL on the devcluster (web 1 pod; Prometheus scraping every 1s; verify every 2s, failureThreshold 2; 5xx ratio over 10s < 0.05), %d runs, median (min, max):\n", runs)
		report += "  7. rollback of saas:1.5.0 (500 on every third listing, health 200), from the first 5xx sample scraped:\n"
		report += "     to the rollback's first write (web back on the stable template): " + spread(toWrite, time.Millisecond) +
			fmt.Sprintf("   (bound failureThreshold × interval + scrape interval + 100ms = %s)\n", ms(relQueryBenchBound))
		report += "     to status RolledBack recorded:                                   " + spread(toRolledBack, time.Millisecond) + "\n"
		report += fmt.Sprintf("     load: %d listings sent, %d answered 5xx\n", load.sent.Load(), load.failed.Load())
		fmt.Fprint(GinkgoWriter, report)
		AddReportEntry("release query benchmark", report)
	})
})
