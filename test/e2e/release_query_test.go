//go:build e2e

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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/promcheck/promtest"
)

// The Release verified by PromQL on the devcluster: Debian's Prometheus 2.42 scrapes
// the web pods found through the API server (podDiscovery), labelled with the
// revision of their ops.runbook.dev/revision label, and scrapes django-prometheus's
// /metrics of the Django app every second; a bounded load lists subscriptions on
// every web pod. 1.5.0 answers 500 to every third listing while its health endpoint
// stays 200: the HTTP checks pass, the 5xx ratio rolls it back.
const (
	queryReleaseDB       = "release_query_e2e"
	queryReleaseDBSecret = "e2e-release-query-db"
	queryReleaseName     = "e2e-saas-query"
	// queryLoadRequests bounds the load of the whole spec.
	queryLoadRequests = 6000
)

const errorRateQuery = `(sum(rate(django_http_responses_total_by_status_view_method_total{revision="{{revision}}",status=~"5.."}[10s])) or vector(0)) / sum(rate(django_http_responses_total_by_status_view_method_total{revision="{{revision}}"}[10s]))`

func queryReleaseSpec(tag, promURL, note string) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	return queryReleaseSpecFor(queryReleaseDBSecret, tag, promURL, note)
}

// queryReleaseSpecFor is queryReleaseSpec with the database Secret dbSecret (the
// benchmark's, make bench-release).
func queryReleaseSpecFor(dbSecret, tag, promURL, note string) opsv1alpha1.ReleaseSpec {
	GinkgoHelper()
	verify := fmt.Sprintf(`{path: /api/v1/health/, interval: 2s, window: 16s, failureThreshold: 2, progressDeadline: 2m, prometheus: {address: '%s', errorThreshold: 2, queries: [{name: error-rate, query: '%s', condition: {op: LessThan, value: "0.05"}}]}}`,
		promURL, errorRateQuery)
	var spec opsv1alpha1.ReleaseSpec
	Expect(yaml.Unmarshal([]byte(demo.ReleaseSpecYAML(tag, dbSecret, 1, verify)), &spec)).To(Succeed())
	if note != "" { // another revision of the same code
		spec.Env = append(spec.Env, opsv1alpha1.EnvVar{Name: "RELEASE_NOTE", Value: note})
	}
	return spec
}

// podScrapeConfig scrapes the targets podDiscovery writes to file. Debian's
// Prometheus 2.42 is built without kubernetes_sd_configs ("field
// kubernetes_sd_configs not found"), so the test does the discovery it would: the
// web pods of the Release from the API server, each with its revision label.
func podScrapeConfig(file string) string {
	return fmt.Sprintf("- job_name: saas\n  file_sd_configs: [{files: [%q], refresh_interval: 1s}]\n", file)
}

// podDiscovery writes the running web pods of release to a file_sd file every 500 ms,
// labelled as a kubernetes_sd_configs relabelling would: revision from the
// ops.runbook.dev/revision label, pod from the name.
func podDiscovery(release string) string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	file := filepath.Join(dir, "pods.json")
	Expect(os.WriteFile(file, []byte("[]"), 0o600)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	go func() {
		defer GinkgoRecover()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			type group struct {
				Targets []string          `json:"targets"`
				Labels  map[string]string `json:"labels"`
			}
			groups := []group{}
			for _, p := range releaseWebPods(ctx, release) {
				groups = append(groups, group{Targets: []string{p.Status.PodIP + ":8000"},
					Labels: map[string]string{"revision": p.Labels[opsv1alpha1.LabelRevision], "pod": p.Name}})
			}
			b, _ := json.Marshal(groups)
			if os.WriteFile(file+".tmp", b, 0o600) == nil {
				_ = os.Rename(file+".tmp", file)
			}
		}
	}()
	return file
}

// listLoad GETs /api/v1/subscriptions/ on every running web pod of release every
// 100 ms until stopped or max requests were sent; it counts answers by status.
type listLoad struct {
	sent, ok, failed atomic.Int64
}

func startListLoad(release string, max int64) *listLoad {
	l := &listLoad{}
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	c := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer GinkgoRecover()
		var pods []string
		var listed time.Time
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for l.sent.Load() < max {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(listed) > time.Second {
				pods, listed = webPodIPs(ctx, release), time.Now()
			}
			for _, ip := range pods {
				l.sent.Add(1)
				res, err := c.Get("http://" + ip + ":8000/api/v1/subscriptions/")
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode >= 500 {
					l.failed.Add(1)
				} else {
					l.ok.Add(1)
				}
			}
		}
	}()
	return l
}

// releaseWebPods are the running web pods of release that have an address.
func releaseWebPods(ctx context.Context, release string) []corev1.Pod {
	pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: opsv1alpha1.LabelRelease + "=" + release + "," + opsv1alpha1.LabelComponent + "=web"})
	if err != nil {
		return nil
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp.IsZero() {
			out = append(out, p)
		}
	}
	return out
}

func webPodIPs(ctx context.Context, release string) []string {
	var out []string
	for _, p := range releaseWebPods(ctx, release) {
		out = append(out, p.Status.PodIP)
	}
	return out
}

var _ = Describe("Release verified by a PromQL query on the devcluster", Ordered, func() {
	var prom *promtest.Server
	var load *listLoad

	setSpec := func(ctx context.Context, spec opsv1alpha1.ReleaseSpec) {
		GinkgoHelper()
		Eventually(func() error {
			rel := getE2ERelease(ctx, queryReleaseName)
			rel.Spec = spec
			return k8sClient.Update(ctx, rel)
		}).Should(Succeed())
	}

	BeforeAll(func(ctx SpecContext) {
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+queryReleaseDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+queryReleaseDB)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, queryReleaseDB) })
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: queryReleaseDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": queryReleaseDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}))).To(Succeed())
		prom = promtest.Start(GinkgoT(), promtest.Options{ScrapeConfigs: podScrapeConfig(podDiscovery(queryReleaseName)), Log: GinkgoWriter})
		load = startListLoad(queryReleaseName, queryLoadRequests)
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: queryReleaseName, Namespace: ns}, Spec: queryReleaseSpec("1.1.0", prom.URL, "")}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
	})

	It("deploys 1.1.0, whose 5xx ratio is 0", func(ctx SpecContext) {
		Eventually(releasePhaseOf(ctx, queryReleaseName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel := getE2ERelease(ctx, queryReleaseName)
		Expect(rel.Status.Measurements).NotTo(BeEmpty())
		m := rel.Status.Measurements[0]
		Expect(m.Verdict).To(Equal(opsv1alpha1.QueryPass), "%+v", m)
		Expect(m.Value).To(Equal("0"))
		Expect(m.Query).To(ContainSubstring(`revision="` + rel.Status.StableRevision + `"`))
		GinkgoWriter.Printf("1.1.0 measurement: %s = %s (%s); load so far: %d sent, %d 5xx\n", m.Name, m.Value, m.Verdict, load.sent.Load(), load.failed.Load())
	})

	It("rolls 1.5.0 back on the 5xx ratio while its health checks pass, naming the query, its value and threshold", func(ctx SpecContext) {
		setSpec(ctx, queryReleaseSpec("1.5.0", prom.URL, ""))
		Eventually(releasePhaseOf(ctx, queryReleaseName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("RolledBack 1.5.0"))
		rel := getE2ERelease(ctx, queryReleaseName)
		rec := rel.Status.History[0]
		Expect(rec.Message).To(And(ContainSubstring("consecutive checks failed (verify.failureThreshold): query error-rate ("),
			ContainSubstring(`revision="`+rec.Revision+`"`), ContainSubstring("threshold < 0.05")))
		Expect(rec.Message).To(MatchRegexp(`\) = 0\.[1-5]\d*, threshold < 0\.05`))
		Expect(conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionVerified).Reason).To(Equal(opsv1alpha1.ReasonQueryFailed))
		Expect(load.failed.Load()).To(BeNumerically(">", 0), "the load saw no 500 from 1.5.0")
		GinkgoWriter.Printf("history[0].message: %s\nload: %d sent, %d answered 5xx\n", rec.Message, load.sent.Load(), load.failed.Load())
		Eventually(func() []string { return servedVersionsOf(ctx, queryReleaseName) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.1.0"}))
	})

	It("with Prometheus stopped during a healthy revision's window: PrometheusError and Paused, not a rollback; Deployed once it is back", func(ctx SpecContext) {
		prom.Stop()
		setSpec(ctx, queryReleaseSpec("1.1.0", prom.URL, "b"))
		Eventually(func() string {
			for _, c := range getE2ERelease(ctx, queryReleaseName).Status.Conditions {
				if c.Type == opsv1alpha1.ConditionVerified {
					return c.Reason + ": " + c.Message
				}
			}
			return ""
		}).WithTimeout(4*time.Minute).WithPolling(time.Second).Should(HavePrefix("PrometheusError: Verification paused: Prometheus at "+prom.URL), "the Verified condition")
		Consistently(func() string { return string(getE2ERelease(ctx, queryReleaseName).Status.Phase) }).WithTimeout(6 * time.Second).Should(Equal("Paused"))
		rel := getE2ERelease(ctx, queryReleaseName)
		GinkgoWriter.Printf("Verified: %s\n", conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionVerified).Message)
		Expect(strings.ToLower(rel.Status.History[0].Message)).NotTo(ContainSubstring("rolled back"))
		prom.Start()
		Eventually(releasePhaseOf(ctx, queryReleaseName)).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
	})
})
