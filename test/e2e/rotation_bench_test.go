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
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

// The rotation benchmark (make bench-rotation-devcluster): a Release of the Django app
// with three components (web, worker, beat) whose keys a SecretRotation manages, rotated
// BENCH_ROTATIONS times through rotateRequest. It prints figures; it asserts only that
// each rotation finished.
//
// Method. A watch on the Release's Deployments records, per Deployment and Secret
// version, when the controller stamped the version on the pod template (first event
// carrying it) and when the rollout finished (first event with the template observed
// and every replica updated and available: every pod runs the new version and is
// Ready). A phase ends when the last Deployment finished rolling to the phase's version;
// the publish phase starts at the rotateRequest update, the promote phase where the
// publish phase ended. The rollouts' share is the sum of the Deployments' stamp-to-rolled
// times (the controller rolls them one at a time); the controller's share is the rest:
// noticing the request, writing the Secret, stamping each Deployment and noticing each
// rollout, and, after the last phase, setting status Idle (printed apart). The web
// component has a readiness probe on the app's health endpoint (period 5 s, the
// Release's default), so Ready there means gunicorn serves; worker and beat have no
// probe and are Ready once their process runs.
const (
	benchDB       = "bench_rotation"
	benchDBSecret = "bench-rotation-db"
	benchSecret   = "bench-rotation-app"
	benchRelease  = "bench-saas"
	benchRotation = "bench-rotation"
)

func benchReleaseYAML() string {
	return fmt.Sprintf(`
version: "1.1.0"
image: saas:1.1.0
database: {secretRef: {name: %[1]s}}
backup: {enabled: false}
envFrom: [{secretRef: {name: %[2]s}}, {secretRef: {name: %[3]s}}]
env:
- {name: PGHOST, valueFrom: {secretKeyRef: {name: %[1]s, key: host}}}
- {name: PGPORT, valueFrom: {secretKeyRef: {name: %[1]s, key: port}}}
- {name: PGDATABASE, valueFrom: {secretKeyRef: {name: %[1]s, key: dbname}}}
- {name: PGUSER, valueFrom: {secretKeyRef: {name: %[1]s, key: user}}}
- {name: PGPASSWORD, valueFrom: {secretKeyRef: {name: %[1]s, key: password}}}
migrations: {command: [python, manage.py, migrate, --noinput]}
components:
- {name: web, command: [gunicorn, saas.wsgi], ports: [{name: http, containerPort: 8000}], healthPath: /api/v1/health/}
- {name: worker, command: [celery, -A, saas, worker]}
- {name: beat, command: [celery, -A, saas, beat]}
verify: {path: /api/v1/health/, interval: 2s, window: 10s, failureThreshold: 2, progressDeadline: 2m}
`, benchDBSecret, benchSecret, devcluster.DemoRedisSecret)
}

// rolloutLog records, per Deployment and Secret version, when the version was first
// seen on the pod template and when its rollout was first seen finished.
type rolloutLog struct {
	mu      sync.Mutex
	stamped map[string]map[string]time.Time
	rolled  map[string]map[string]time.Time
}

func (l *rolloutLog) observe(dep *appsv1.Deployment, at time.Time) {
	v := dep.Spec.Template.Annotations[opsv1alpha1.SecretVersionAnnotation(benchSecret)]
	if v == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	set := func(m map[string]map[string]time.Time) {
		if m[dep.Name] == nil {
			m[dep.Name] = map[string]time.Time{}
		}
		if _, ok := m[dep.Name][v]; !ok {
			m[dep.Name][v] = at
		}
	}
	set(l.stamped)
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	if dep.Generation <= st.ObservedGeneration && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want {
		set(l.rolled)
	}
}

// phase returns, for version v, when the last Deployment finished rolling to it, the
// sum of the Deployments' stamp-to-rolled times and each of them ("web 1.2s, ...");
// ok is false until every Deployment did.
func (l *rolloutLog) phase(deps []string, v string) (end time.Time, rolling time.Duration, each string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range deps {
		s, ok1 := l.stamped[d][v]
		r, ok2 := l.rolled[d][v]
		if !ok1 || !ok2 {
			return time.Time{}, 0, "", false
		}
		rolling += r.Sub(s)
		if each != "" {
			each += ", "
		}
		each += strings.TrimPrefix(d, benchRelease+"-") + " " + r.Sub(s).Round(10*time.Millisecond).String()
		if r.After(end) {
			end = r
		}
	}
	return end, rolling, each, true
}

// versionsSince lists the versions first stamped on dep at or after t, oldest first.
func (l *rolloutLog) versionsSince(dep string, t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for v, at := range l.stamped[dep] {
		if !at.Before(t) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return l.stamped[dep][out[i]].Before(l.stamped[dep][out[j]]) })
	return out
}

func watchRollouts(ctx context.Context, log *rolloutLog) {
	GinkgoHelper()
	sel := opsv1alpha1.LabelRelease + "=" + benchRelease
	list, err := clientset.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	Expect(err).NotTo(HaveOccurred())
	for i := range list.Items {
		log.observe(&list.Items[i], time.Now())
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return clientset.AppsV1().Deployments(ns).Watch(ctx, o)
		},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				if dep, isDep := ev.Object.(*appsv1.Deployment); isDep {
					log.observe(dep, time.Now())
				}
			}
		}
	}()
}

func medianSpread(ds []time.Duration) string { return spread(ds, 10*time.Millisecond) }

// spread is "median M (min A, max B)" of ds, rounded to round.
func spread(ds []time.Duration, round time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) string { return d.Round(round).String() }
	return fmt.Sprintf("median %s (min %s, max %s)", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]))
}

var _ = Describe("Rotation benchmark: a Release of three components on the devcluster", Label("bench"), Ordered, func() {
	It("times rotateRequest to every pod of every component Ready on the new version, per phase", func(ctx SpecContext) {
		n := 3
		if v, err := strconv.Atoi(os.Getenv("BENCH_ROTATIONS")); err == nil && v > 0 {
			n = v
		}
		By("creating database " + benchDB + ", the SecretRotation of the app's keys and the Release web, worker, beat (saas:1.1.0)")
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+benchDB)
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: benchDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": benchDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		})).To(Succeed())
		sr := djangoKeysRotation(benchRotation, benchSecret, opsv1alpha1.RestartTarget{Kind: opsv1alpha1.RestartRelease, Name: benchRelease})
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: benchRelease, Namespace: ns}}
		Expect(yaml.Unmarshal([]byte(benchReleaseYAML()), &rel.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			_ = k8sClient.Delete(ctx, sr)
			_ = k8sClient.Delete(ctx, rel)
		})
		Eventually(func() string {
			r := &opsv1alpha1.Release{}
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), r)
			return string(r.Status.Phase)
		}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed"))
		deps := []string{}
		for _, c := range rel.Spec.Components {
			deps = append(deps, opsv1alpha1.ComponentDeploymentName(benchRelease, c.Name))
		}
		Eventually(func() opsv1alpha1.RotationPhase {
			got := &opsv1alpha1.SecretRotation{}
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), got)
			return got.Status.Phase
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Equal(opsv1alpha1.RotationPhaseIdle))

		wctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		log := &rolloutLog{stamped: map[string]map[string]time.Time{}, rolled: map[string]map[string]time.Time{}}
		watchRollouts(wctx, log)

		var totals, rollouts, shares [2][]time.Duration
		var whole, idle []time.Duration
		for i := 1; i <= n; i++ {
			before := &opsv1alpha1.SecretRotation{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), before)).To(Succeed())
			start := time.Now()
			Eventually(func() error {
				got := &opsv1alpha1.SecretRotation{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), got); err != nil {
					return err
				}
				got.Spec.RotateRequest = fmt.Sprintf("bench-%d-%d", start.Unix(), i)
				return k8sClient.Update(ctx, got)
			}).WithContext(ctx).Should(Succeed())
			Eventually(func(g Gomega) {
				got := &opsv1alpha1.SecretRotation{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), got)).To(Succeed())
				g.Expect(got.Status.Phase).NotTo(Equal(opsv1alpha1.RotationPhaseFailed), "the rotation failed: %v", got.Status.Conditions)
				g.Expect(got.Status.Rotations).To(Equal(before.Status.Rotations + 1))
				g.Expect(got.Status.Phase).To(Equal(opsv1alpha1.RotationPhaseIdle))
			}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
			idleAt := time.Now()

			versions := log.versionsSince(deps[0], start)
			Expect(versions).To(HaveLen(2), "a two-phase rotation stamps two versions on %s", deps[0])
			phaseStart := start
			line := fmt.Sprintf("rotation %d:", i)
			for p, v := range versions {
				var end time.Time
				var rolling time.Duration
				var each string
				Eventually(func() bool {
					var ok bool
					end, rolling, each, ok = log.phase(deps, v)
					return ok
				}).WithTimeout(10*time.Second).Should(BeTrue(), "every Deployment rolled to version %s", v)
				total := end.Sub(phaseStart)
				totals[p], rollouts[p], shares[p] = append(totals[p], total), append(rollouts[p], rolling), append(shares[p], total-rolling)
				line += fmt.Sprintf(" %s %s (rollouts %s: %s; controller %s);", []string{"publish", "promote"}[p],
					total.Round(10*time.Millisecond), rolling.Round(10*time.Millisecond), each, (total - rolling).Round(10*time.Millisecond))
				phaseStart = end
			}
			whole = append(whole, phaseStart.Sub(start))
			idle = append(idle, idleAt.Sub(phaseStart))
			fmt.Fprintf(GinkgoWriter, "%s all pods Ready on the new values %s after rotateRequest; status Idle seen %s later\n",
				line, phaseStart.Sub(start).Round(10*time.Millisecond), idleAt.Sub(phaseStart).Round(10*time.Millisecond))
		}
		report := fmt.Sprintf("\nSecretRotation of a Release of 3 components (web with a readiness probe, worker, beat; 1 pod each) on the devcluster, %d rotations:\n", n)
		for p, name := range []string{"publish", "promote"} {
			report += fmt.Sprintf("  %s phase: rotateRequest/phase start to every pod Ready: %s\n", name, medianSpread(totals[p]))
			report += fmt.Sprintf("    Deployments rolling (sum of 3): %s\n", medianSpread(rollouts[p]))
			report += fmt.Sprintf("    controller's own share:         %s\n", medianSpread(shares[p]))
		}
		report += fmt.Sprintf("  whole rotation, rotateRequest to every pod Ready on the promoted values: %s\n", medianSpread(whole))
		report += fmt.Sprintf("  then status Idle seen after: %s\n", medianSpread(idle))
		fmt.Fprint(GinkgoWriter, report)
		AddReportEntry("rotation benchmark", report)
	})
})
