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
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/incident"
)

// The canary on the real Django app (web: 2 gunicorn pods, and a Celery worker):
// 1.0.0 deploys (a first deploy: no canary), 1.1.0 passes its canary and rolls out,
// 1.2.0 (whose health endpoint answers 503) fails its canary: only the canary pod is
// removed, the two 1.1.0 web pods (same UIDs) and the worker never changed.
const (
	canaryDB       = "canary_e2e"
	canaryDBSecret = "e2e-canary-db"
	canaryName     = "e2e-canary"
)

// canarySpecYAML is the demo's Release at tag with 2 web pods, a canary of one web
// pod for canaryWindow, and a P3 Incident on failure.
func canarySpecYAML(tag, name string, canary bool) string {
	y := demo.ReleaseSpecYAML(tag, canaryDBSecret, 2, "{path: /api/v1/health/, interval: 2s, window: 6s, failureThreshold: 2, progressDeadline: 2m}")
	if canary {
		y += "canary: {component: web, replicas: 1, window: 10s}\n"
	}
	return y + "rollback: {openIncident: P3}\n"
}

func setCanaryTag(ctx context.Context, name, tag string, canary bool) {
	GinkgoHelper()
	Eventually(func() error {
		rel := getE2ERelease(ctx, name)
		var spec opsv1alpha1.ReleaseSpec
		if err := yaml.Unmarshal([]byte(canarySpecYAML(tag, name, canary)), &spec); err != nil {
			return err
		}
		rel.Spec = spec
		return k8sClient.Update(ctx, rel)
	}).Should(Succeed())
}

// createReleaseDB creates database db (kept if it exists) and its Secret for a
// Release's spec.database.
func createReleaseDB(ctx context.Context, db, secret string) {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
	Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+db)
	_ = conn.Close(ctx)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: ns},
		StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
			"dbname": db, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
	}))).To(Succeed())
}

// webPodsOf lists the web pods of Release name that are not being deleted, canary
// pods included.
func webPodsOf(ctx context.Context, name string) []corev1.Pod {
	GinkgoHelper()
	pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: opsv1alpha1.LabelRelease + "=" + name + "," + opsv1alpha1.LabelComponent + "=web"})
	Expect(err).NotTo(HaveOccurred())
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp.IsZero() && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func getDeploymentE2E(ctx context.Context, name string) *appsv1.Deployment {
	GinkgoHelper()
	d, err := clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	return d
}

func podUIDs(pods []corev1.Pod) []types.UID {
	var out []types.UID
	for _, p := range pods {
		out = append(out, p.UID)
	}
	slices.Sort(out)
	return out
}

var _ = Describe("Release canary on the devcluster", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		createReleaseDB(ctx, canaryDB, canaryDBSecret)
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: canaryName, Namespace: ns}}
		Expect(yaml.Unmarshal([]byte(canarySpecYAML("1.0.0", canaryName, true)), &rel.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, rel) })
	})

	It("deploys 1.0.0 without a canary (a first deploy has no stable pods to protect)", func(ctx SpecContext) {
		Eventually(releasePhaseOf(ctx, canaryName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.0.0"))
		Expect(meta.FindStatusCondition(getE2ERelease(ctx, canaryName).Status.Conditions, opsv1alpha1.ConditionCanaryVerified)).To(BeNil())
	})

	It("passes 1.1.0's canary (one pod beside the two 1.0.0 pods for 10 s), then removes it and rolls out", func(ctx SpecContext) {
		stable := podUIDs(webPodsOf(ctx, canaryName))
		Expect(stable).To(HaveLen(2))
		setCanaryTag(ctx, canaryName, "1.1.0", true)
		Eventually(releasePhaseOf(ctx, canaryName)).WithTimeout(3 * time.Minute).WithPolling(200 * time.Millisecond).Should(Equal("Canary 1.1.0"))
		var msg string
		Eventually(func() string {
			if c := meta.FindStatusCondition(getE2ERelease(ctx, canaryName).Status.Conditions, opsv1alpha1.ConditionReconciling); c != nil {
				msg = c.Message
			}
			return msg
		}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(ContainSubstring("canary 1 of 3 pods of component web (1 new beside 2 stable) healthy for"))
		By("during the canary the 1.0.0 pods serve unchanged beside the canary's 1.1.0 pod")
		pods := webPodsOf(ctx, canaryName)
		var canary, others []corev1.Pod
		for _, p := range pods {
			if p.Labels[opsv1alpha1.LabelCanary] == "true" {
				canary = append(canary, p)
			} else {
				others = append(others, p)
			}
		}
		Expect(canary).To(HaveLen(1))
		Expect(podUIDs(others)).To(Equal(stable))
		GinkgoWriter.Printf("Reconciling: %s\n", msg)

		Eventually(releasePhaseOf(ctx, canaryName)).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel := getE2ERelease(ctx, canaryName)
		cv := conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionCanaryVerified)
		Expect(string(cv.Status) + " " + cv.Reason).To(Equal("True CanaryPassed"))
		Eventually(func() []string { return servedVersionsOf(ctx, canaryName) }).WithTimeout(time.Minute).Should(Equal([]string{"200 1.1.0", "200 1.1.0"}))
		_, err := clientset.AppsV1().Deployments(ns).Get(ctx, canaryName+"-web-canary", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the canary Deployment is removed: %v", err)
		GinkgoWriter.Printf("CanaryVerified: %s\n", cv.Message)
	})

	It("fails 1.2.0's canary: only the canary pod is removed, the 1.1.0 pods keep their UIDs and serve", func(ctx SpecContext) {
		stable := podUIDs(webPodsOf(ctx, canaryName))
		Expect(stable).To(HaveLen(2))
		worker := getDeploymentE2E(ctx, canaryName+"-worker")
		web := getDeploymentE2E(ctx, canaryName+"-web")
		setCanaryTag(ctx, canaryName, "1.2.0", true)
		start := time.Now()
		Eventually(releasePhaseOf(ctx, canaryName)).WithTimeout(4 * time.Minute).WithPolling(500 * time.Millisecond).Should(Equal("RolledBack 1.2.0"))
		took := time.Since(start)
		rel := getE2ERelease(ctx, canaryName)
		msg := rel.Status.History[0].Message
		Expect(msg).To(And(ContainSubstring("the canary of component web failed"), ContainSubstring("503"),
			ContainSubstring("only the 1 canary pod (Deployment "+canaryName+"-web-canary) is removed; the 2 stable pods of component web never changed")))
		cv := conditionIn(rel.Status.Conditions, opsv1alpha1.ConditionCanaryVerified)
		Expect(string(cv.Status)).To(Equal("False"))

		By("the stable Deployments were never written and their pods are the same")
		Expect(getDeploymentE2E(ctx, canaryName+"-worker").Generation).To(Equal(worker.Generation))
		Expect(getDeploymentE2E(ctx, canaryName+"-web").Generation).To(Equal(web.Generation))
		Eventually(func() []types.UID { return podUIDs(webPodsOf(ctx, canaryName)) }).WithTimeout(time.Minute).Should(Equal(stable))
		Expect(servedVersionsOf(ctx, canaryName)).To(Equal([]string{"200 1.1.0", "200 1.1.0"}))

		By("the Incident's evidence holds the canary's pod")
		inc := &opsv1alpha1.Incident{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rel.Status.History[0].Incident.Name}, inc)).To(Succeed())
		Expect(inc.Status.Evidence).NotTo(BeNil())
		Expect(inc.Status.Evidence.PodsCapturedAt).NotTo(BeNil())
		var bundle strings.Builder
		for _, name := range inc.Status.Evidence.ConfigMaps {
			cm := &corev1.ConfigMap{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
			bundle.WriteString(cm.Data[incident.EvidenceKey])
		}
		Expect(bundle.String()).To(MatchRegexp(`pod ` + canaryName + `-web-canary-\S+ phase=Running revision=` + rel.Status.History[0].Revision))
		GinkgoWriter.Printf("1.2.0 rolled back %s after the spec change\nhistory[0].message: %s\nIncident %s\n", took.Round(time.Second), msg, inc.Name)
	})
})
