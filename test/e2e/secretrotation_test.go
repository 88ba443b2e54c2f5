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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

const (
	rotationDB     = "e2e_rotation"
	rotationSecret = "e2e-rotation-app"
	rotationWeb    = "e2e-rotation-web"
	rotationName   = "e2e-rotation"
)

// saasEnv is the environment of the runbook's Django app (test/saas) on its own
// database, with the rotated keys from rotationSecret.
func saasEnv() []corev1.EnvVar {
	ref := func(name, secret, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
	}
	return []corev1.EnvVar{
		ref("PGHOST", devcluster.DemoDBSecret, "host"), ref("PGPORT", devcluster.DemoDBSecret, "port"),
		ref("PGUSER", devcluster.DemoDBSecret, "user"), ref("PGPASSWORD", devcluster.DemoDBSecret, "password"),
		{Name: "PGDATABASE", Value: rotationDB},
		ref("REDIS_URL", devcluster.DemoRedisSecret, "REDIS_URL"),
		ref("DJANGO_SECRET_KEY", rotationSecret, "DJANGO_SECRET_KEY"),
		ref("DJANGO_SECRET_KEY_FALLBACKS", rotationSecret, "DJANGO_SECRET_KEY_FALLBACKS"),
		ref("FIELD_ENCRYPTION_KEY", rotationSecret, "FIELD_ENCRYPTION_KEY"),
	}
}

func saasContainer(command ...string) corev1.Container {
	return corev1.Container{Name: "app", Image: devcluster.SaaSImage + ":" + devcluster.SaaSBaseTag, Command: command, Env: saasEnv()}
}

// appCall sends one request to the app in pod, returning the status and decoded body.
func appCall(ctx context.Context, pod corev1.Pod, method, path string, body any, cookie *http.Cookie) (int, map[string]any, []*http.Cookie) {
	GinkgoHelper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("http://%s%s", net.JoinHostPort(pod.Status.PodIP, "8000"), path), in)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Cookies()
}

// webPods returns the app's running, ready pods once exactly want of them are, all on
// the pod template that carries the Secret version version.
func webPods(ctx context.Context, want int, version string) []corev1.Pod {
	GinkgoHelper()
	var pods []corev1.Pod
	Eventually(func(g Gomega) {
		list, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + rotationWeb})
		g.Expect(err).NotTo(HaveOccurred())
		pods = nil
		for _, p := range list.Items {
			g.Expect(p.DeletionTimestamp).To(BeNil(), "old pods are gone")
			g.Expect(p.Annotations[opsv1alpha1.SecretVersionAnnotation(rotationSecret)]).To(Equal(version))
			g.Expect(p.Status.Conditions).To(ContainElement(SatisfyAll(
				HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
			pods = append(pods, p)
		}
		g.Expect(pods).To(HaveLen(want))
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	return pods
}

func fetchRotation(ctx context.Context) *opsv1alpha1.SecretRotation {
	GinkgoHelper()
	sr := &opsv1alpha1.SecretRotation{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rotationName}, sr)).To(Succeed())
	return sr
}

// rotate changes rotateRequest and waits until the rotation finished, returning how
// long it took and the phases seen.
func rotate(ctx context.Context, request string, mode opsv1alpha1.RotationMode, rotations int64) (time.Duration, []opsv1alpha1.RotationPhase) {
	GinkgoHelper()
	start := time.Now()
	Eventually(func() error {
		sr := fetchRotation(ctx)
		sr.Spec.RotateRequest, sr.Spec.Mode = request, mode
		return k8sClient.Update(ctx, sr)
	}).WithContext(ctx).Should(Succeed())
	var phases []opsv1alpha1.RotationPhase
	Eventually(func(g Gomega) {
		sr := fetchRotation(ctx)
		if n := len(phases); n == 0 || phases[n-1] != sr.Status.Phase {
			phases = append(phases, sr.Status.Phase)
		}
		g.Expect(sr.Status.Phase).NotTo(Equal(opsv1alpha1.RotationPhaseFailed), "the rotation failed: %v", sr.Status.Conditions)
		g.Expect(sr.Status.Rotations).To(Equal(rotations))
		g.Expect(sr.Status.Phase).To(Equal(opsv1alpha1.RotationPhaseIdle))
	}).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	return time.Since(start), phases
}

// djangoKeysRotation is a SecretRotation (two-phase, the default) of the Django app's
// keys in Secret secret: DJANGO_SECRET_KEY with its fallbacks and FIELD_ENCRYPTION_KEY
// as a MultiFernet list, restarting targets.
func djangoKeysRotation(name, secret string, targets ...opsv1alpha1.RestartTarget) *opsv1alpha1.SecretRotation {
	return &opsv1alpha1.SecretRotation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.SecretRotationSpec{
			SecretName: secret,
			Keys: []opsv1alpha1.RotatedKey{
				{Key: "DJANGO_SECRET_KEY", Generator: opsv1alpha1.GeneratorDjangoSecretKey, PreviousKey: "DJANGO_SECRET_KEY_FALLBACKS"},
				{Key: "FIELD_ENCRYPTION_KEY", Generator: opsv1alpha1.GeneratorFernet},
			},
			RestartTargets: targets,
		},
	}
}

var _ = Describe("SecretRotation of the Django app on the devcluster", Ordered, func() {
	var (
		orgID   string
		session *http.Cookie
	)

	BeforeAll(func(ctx SpecContext) {
		By("creating database " + rotationDB + " and the SecretRotation that writes the app's keys")
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+rotationDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+rotationDB)
		sr := djangoKeysRotation(rotationName, rotationSecret, opsv1alpha1.RestartTarget{Kind: opsv1alpha1.RestartDeployment, Name: rotationWeb})
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			_ = k8sClient.Delete(ctx, sr)
			_ = k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: rotationSecret, Namespace: ns}})
		})
		Eventually(func() opsv1alpha1.RotationPhase { return fetchRotation(ctx).Status.Phase }).WithContext(ctx).
			WithTimeout(30 * time.Second).Should(Equal(opsv1alpha1.RotationPhaseIdle))

		By("migrating the database with the app's image")
		migrate := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-rotation-migrate", Namespace: ns},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{saasContainer("python", "manage.py", "migrate", "--no-input")},
			}}},
		}
		Expect(k8sClient.Create(ctx, migrate)).To(Succeed())
		deleteJob(migrate.Name)
		Eventually(jobCondition(ctx, migrate.Name)).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Equal(batchv1.JobComplete))

		By("deploying the app (gunicorn) with 2 replicas and its health endpoint as readiness probe, as a user would: it decrypts the oldest and newest encrypted field, so a pod that cannot read the data is never Ready")
		labels := map[string]string{"app": rotationWeb}
		web := saasContainer("gunicorn", "saas.wsgi")
		web.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}
		web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/api/v1/health/", Port: intstr.FromString("http")}}, PeriodSeconds: 1}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: rotationWeb, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{web}}},
			},
		}
		Expect(k8sClient.Create(ctx, dep)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, dep))).To(Succeed())
			Eventually(func() int {
				list, _ := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + rotationWeb})
				return len(list.Items)
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeZero())
			execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+rotationDB+" WITH (FORCE)")
		})
		pods := webPods(ctx, 2, "")

		By("storing an encrypted field and signing a session before any rotation")
		code, body, _ := appCall(ctx, pods[0], http.MethodPost, "/api/v1/organizations/", map[string]string{"name": "Acme", "tax_id": "DE123456789"}, nil)
		Expect(code).To(Equal(http.StatusCreated), "%v", body)
		orgID = fmt.Sprint(body["id"])
		code, _, cookies := appCall(ctx, pods[0], http.MethodPost, "/api/v1/session/", map[string]string{"user": "alice"}, nil)
		Expect(code).To(BeNumerically("<", 300))
		for _, c := range cookies {
			if c.Name == "sessionid" {
				session = c
			}
		}
		Expect(session).NotTo(BeNil())
		code, _, _ = appCall(ctx, pods[1], http.MethodGet, "/api/v1/session/", nil, session)
		Expect(code).To(Equal(http.StatusOK))
	}, NodeTimeout(5*time.Minute))

	It("rotates in two phases: the pods restart twice and serve, and the field encrypted before still reads back", func(ctx SpecContext) {
		took, phases := rotate(ctx, "e2e-1", "", 1)
		GinkgoWriter.Printf("two-phase rotation of 1 Deployment (2 replicas): %s, phases seen %v\n", took.Round(time.Millisecond), phases)
		Expect(phases).To(ContainElements(opsv1alpha1.RotationPhasePromoting))
		sr := fetchRotation(ctx)
		pods := webPods(ctx, 2, sr.Status.CurrentVersionHash)
		for _, p := range pods {
			code, body, _ := appCall(ctx, p, http.MethodGet, "/api/v1/health/", nil, nil)
			Expect(code).To(Equal(http.StatusOK), "%v", body)
			code, body, _ = appCall(ctx, p, http.MethodGet, "/api/v1/organizations/"+orgID+"/", nil, nil)
			Expect(code).To(Equal(http.StatusOK), "%v", body)
			Expect(body).To(HaveKeyWithValue("tax_id", "DE123456789"))
			Expect(body).To(HaveKeyWithValue("tax_id_key", BeNumerically("==", 1)), "decrypted by the previous key, now second in the list")
		}
		s := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rotationSecret}, s)).To(Succeed())
		Expect(strings.Split(string(s.Data["FIELD_ENCRYPTION_KEY"]), ",")).To(HaveLen(2))
		Expect(s.Data["DJANGO_SECRET_KEY_FALLBACKS"]).To(HaveLen(50))
	})

	It("after a breach (Immediate) re-encrypts with the app's reencrypt command: every row reads with the new key only, the old session and tokens are refused, the Service answers throughout", func(ctx SpecContext) {
		pods := webPods(ctx, 2, fetchRotation(ctx).Status.CurrentVersionHash)
		By("writing rows under the Fernet key about to leak (Acme is under the key before it)")
		ids := []string{orgID}
		for i := range 5 {
			code, body, _ := appCall(ctx, pods[i%2], http.MethodPost, "/api/v1/organizations/", map[string]string{"name": fmt.Sprintf("Leak %d", i), "tax_id": fmt.Sprintf("LEAK-%d", i)}, nil)
			Expect(code).To(Equal(http.StatusCreated), "%v", body)
			ids = append(ids, fmt.Sprint(body["id"]))
		}
		s := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rotationSecret}, s)).To(Succeed())
		oldKeys := strings.Split(string(s.Data["FIELD_ENCRYPTION_KEY"]), ",")
		leaked := oldKeys[0]

		By("serving the app through a Service, and asking its health (which decrypts the oldest and newest row) through its ready endpoints throughout")
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: rotationWeb, Namespace: ns}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": rotationWeb}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}}}}
		Expect(k8sClient.Create(ctx, svc)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, svc) })
		poll := serviceProbe(ctx, rotationWeb, "/api/v1/health/")
		Eventually(func() int64 { return poll.ok.Load() }).WithContext(ctx).WithTimeout(time.Minute).Should(BeNumerically(">", 3), "the Service has ready endpoints")
		okBefore, failedBefore := poll.ok.Load(), poll.failed.Load()

		By("asking for an emergency rotation with the app's reencrypt command")
		Eventually(func() error {
			sr := fetchRotation(ctx)
			sr.Spec.Reencrypt = &opsv1alpha1.Reencrypt{Command: reencryptCommand}
			return k8sClient.Update(ctx, sr)
		}).WithContext(ctx).Should(Succeed())
		took, phases := rotate(ctx, "breach", opsv1alpha1.RotationImmediate, 2)
		poll.stop()
		GinkgoWriter.Printf("emergency rotation with re-encryption of 1 Deployment (2 replicas): %s, phases seen %v; health through the Service: %d answers 200, %d not\n",
			took.Round(time.Millisecond), phases, poll.ok.Load()-okBefore, poll.failed.Load()-failedBefore)
		Expect(poll.failed.Load()-failedBefore).To(BeZero(), "the Service answered something other than 200 during the rotation: %s", poll.lastFailure())
		Expect(poll.ok.Load() - okBefore).To(BeNumerically(">", 10))
		Expect(phases).To(ContainElement(opsv1alpha1.RotationPhaseReplacing))

		sr := fetchRotation(ctx)
		Expect(sr.Status.Mode).To(Equal(opsv1alpha1.RotationImmediate))
		Expect(sr.Status.Reencryption).NotTo(BeNil())
		Expect(sr.Status.Reencryption.State).To(Equal(opsv1alpha1.ReencryptionSucceeded))
		Expect(sr.Status.Reencryption.Output).To(Equal("re-encrypted 6 values with the newest key"), "the app's own output")
		Expect(eventsAbout(ctx, "SecretRotation", rotationName)).To(ContainElement(ContainSubstring("re-encrypted 6 values with the newest key")))
		Expect(eventsAbout(ctx, "SecretRotation", rotationName)).To(ContainElement(ContainSubstring("re-encrypted the data with the new values before the old ones were dropped")))
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: rotationSecret}, s)).To(Succeed())
		newKeys := strings.Split(string(s.Data["FIELD_ENCRYPTION_KEY"]), ",")
		Expect(newKeys).To(HaveLen(1), "the leaked value is dropped")
		Expect(newKeys[0]).NotTo(BeElementOf(oldKeys))
		Expect(s.Data["DJANGO_SECRET_KEY_FALLBACKS"]).To(BeEmpty())

		By("reading every row through the app's new pods: decrypted by the new key, the only one")
		for _, p := range webPods(ctx, 2, sr.Status.CurrentVersionHash) {
			code, body, _ := appCall(ctx, p, http.MethodGet, "/api/v1/health/", nil, nil)
			Expect(code).To(Equal(http.StatusOK), "%v", body)
			for i, id := range ids {
				code, body, _ = appCall(ctx, p, http.MethodGet, "/api/v1/organizations/"+id+"/", nil, nil)
				Expect(code).To(Equal(http.StatusOK), "%v", body)
				Expect(body).To(HaveKeyWithValue("tax_id", map[bool]string{true: "DE123456789", false: fmt.Sprintf("LEAK-%d", i-1)}[i == 0]))
				Expect(body).To(HaveKeyWithValue("tax_id_key", BeNumerically("==", 0)))
			}
			code, _, _ = appCall(ctx, p, http.MethodGet, "/api/v1/session/", nil, session)
			Expect(code).To(Equal(http.StatusUnauthorized), "the session signed with the old Django key is refused")
		}

		By("checking the stored ciphertexts and the old tokens with Python's cryptography itself")
		conn := restoreConn(ctx, rotationDB)
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(ctx, "SELECT tax_id FROM organizations_organization WHERE tax_id <> '' ORDER BY id")
		Expect(err).NotTo(HaveOccurred())
		var tokens []string
		for rows.Next() {
			var t string
			Expect(rows.Scan(&t)).To(Succeed())
			tokens = append(tokens, t)
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
		Expect(tokens).To(HaveLen(6))
		res := fernetVerdicts(ctx, tokens, newKeys[0], leaked, oldKeys[len(oldKeys)-1])
		Expect(res.NewKey).To(HaveEach(BeTrue()), "every row decrypts with the new key alone")
		Expect(res.LeakedKey).To(HaveEach(BeFalse()), "no row is left under the leaked key")
		Expect(res.OldTokenWithNewList).To(BeFalse(), "a token made with the leaked key is refused after the drop")
	})

	It("an emergency that drops what the data needs (dropUnreadable) stalls naming the new pods and what their readiness probe answers, and is not Idle", func(ctx SpecContext) {
		Eventually(func() error {
			sr := fetchRotation(ctx)
			sr.Spec.Reencrypt, sr.Spec.DropUnreadable = nil, true
			sr.Spec.RotateRequest, sr.Spec.Mode = "breach-without-reencrypt", opsv1alpha1.RotationImmediate
			return k8sClient.Update(ctx, sr)
		}).WithContext(ctx).Should(Succeed())
		start := time.Now()
		var stalled metav1.Condition
		Eventually(func(g Gomega) {
			sr := fetchRotation(ctx)
			stalled = conditionIn(sr.Status.Conditions, opsv1alpha1.ConditionStalled)
			g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(stalled.Reason).To(Equal(opsv1alpha1.ReasonRolloutStalled))
			g.Expect(sr.Status.Phase).To(Equal(opsv1alpha1.RotationPhaseFailed))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
		GinkgoWriter.Printf("stalled after %s: %s\n", time.Since(start).Round(time.Second), stalled.Message)
		Expect(stalled.Message).To(SatisfyAll(
			ContainSubstring("Deployment "+rotationWeb+" does not finish its restart"),
			MatchRegexp(rotationWeb+`-[a-z0-9]+-[a-z0-9]+ \(for [0-9m]+s\): Readiness probe failed: .*503`),
			ContainSubstring("the Secret holds the new values only")))
		Expect(eventsAbout(ctx, "SecretRotation", rotationName)).To(ContainElement(ContainSubstring("RolloutStalled")))
	})
})

// reencryptCommand is the app's re-encryption command as a runbook writes it: through
// the Job's /bin/sh, `python` is the image's Python (the devcluster's saas image puts
// it first on PATH).
var reencryptCommand = []string{"python", "manage.py", "reencrypt"}

// fernetVerdict is what cryptography.fernet says of the stored ciphertexts.
type fernetVerdict struct {
	NewKey, LeakedKey   []bool
	OldTokenWithNewList bool
}

// fernetVerdicts decrypts tokens with the new key alone and with the leaked key alone,
// and a token the leaked key makes now with the new key list, in Debian's python3.
func fernetVerdicts(ctx context.Context, tokens []string, newKey, leaked, older string) fernetVerdict {
	GinkgoHelper()
	script := `
import json, sys
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
req = json.load(sys.stdin)
def ok(key, token):
    try:
        Fernet(key.encode()).decrypt(token.encode())
        return True
    except InvalidToken:
        return False
new, leaked = req["new"], req["leaked"]
old_token = MultiFernet([Fernet(leaked.encode()), Fernet(req["older"].encode())]).encrypt(b"made with the leaked key").decode()
json.dump({"NewKey": [ok(new, t) for t in req["tokens"]], "LeakedKey": [ok(leaked, t) for t in req["tokens"]],
           "OldTokenWithNewList": ok(new, old_token)}, sys.stdout)
`
	in, _ := json.Marshal(map[string]any{"tokens": tokens, "new": newKey, "leaked": leaked, "older": older})
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred())
	var v fernetVerdict
	Expect(json.Unmarshal(out, &v)).To(Succeed())
	return v
}

// serviceWatch asks one path of a Service through its ready endpoints (its
// EndpointSlices, what kube-proxy would route to), round robin, until stopped.
type serviceWatch struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	last       string
	cancel     context.CancelFunc
	done       chan struct{}
}

func (w *serviceWatch) stop() { w.cancel(); <-w.done }

func (w *serviceWatch) lastFailure() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func serviceProbe(parent context.Context, service, path string) *serviceWatch {
	ctx, cancel := context.WithCancel(parent)
	w := &serviceWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(w.done)
		c := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			slices, err := clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
			if err != nil {
				continue
			}
			var ready []string
			for _, sl := range slices.Items {
				for _, e := range sl.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 {
						ready = append(ready, e.Addresses[0])
					}
				}
			}
			if len(ready) == 0 {
				w.failed.Add(1)
				w.mu.Lock()
				w.last = "no ready endpoint"
				w.mu.Unlock()
				continue
			}
			addr := ready[i%len(ready)]
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(addr, "8000")+path, nil)
			resp, err := c.Do(req)
			if ctx.Err() != nil {
				return
			}
			// A connection refused by an endpoint that is no longer ready by now, or
			// reset by it (gunicorn closing its listening socket on SIGTERM resets the
			// connections still waiting in its accept queue), was a pod leaving between
			// our read of the EndpointSlices and the request (the same propagation lag
			// kube-proxy has, which a preStop sleep covers on a real cluster): no
			// request was served. One still listed ready that refuses or resets counts
			// as a failure.
			if err != nil && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)) && !stillReady(ctx, service, addr) {
				continue
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				w.ok.Add(1)
				_ = resp.Body.Close()
				continue
			}
			w.failed.Add(1)
			w.mu.Lock()
			if err != nil {
				w.last = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				w.last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// stillReady says whether addr is still a ready endpoint of the Service.
func stillReady(ctx context.Context, service, addr string) bool {
	slices, err := clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return true // cannot tell: count the refusal
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 && e.Addresses[0] == addr {
				return true
			}
		}
	}
	return false
}
