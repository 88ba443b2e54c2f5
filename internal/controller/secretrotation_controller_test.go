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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/secretgen"
)

// The specs play the Deployment controller: rollOut reports a stamped Deployment as
// rolled out (its status at the new generation, every replica updated and available),
// failRollout reports the progress deadline exceeded. The rotation's clock is
// rotationTestClock.

var rotationTestClock = clock.NewFake(time.Now())

func init() {
	copyFromPoll = time.Second
}

func newRotation(ns, name string, mutate ...func(*opsv1alpha1.SecretRotation)) *opsv1alpha1.SecretRotation {
	sr := &opsv1alpha1.SecretRotation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.SecretRotationSpec{
			SecretName: "saas-app",
			Keys: []opsv1alpha1.RotatedKey{
				{Key: "SECRET_KEY", Generator: opsv1alpha1.GeneratorDjangoSecretKey, PreviousKey: "SECRET_KEY_FALLBACKS", KeepPrevious: ptr.To[int32](1)},
				{Key: "FIELD_ENCRYPTION_KEYS", Generator: opsv1alpha1.GeneratorFernet, KeepPrevious: ptr.To[int32](1)},
			},
		},
	}
	for _, m := range mutate {
		m(sr)
	}
	return sr
}

func restarting(targets ...string) func(*opsv1alpha1.SecretRotation) {
	return func(sr *opsv1alpha1.SecretRotation) {
		for _, t := range targets {
			kind, name, _ := strings.Cut(t, "/")
			sr.Spec.RestartTargets = append(sr.Spec.RestartTargets, opsv1alpha1.RestartTarget{Kind: opsv1alpha1.RestartTargetKind(kind), Name: name})
		}
	}
}

func fetchRotation(ctx context.Context, sr *opsv1alpha1.SecretRotation) *opsv1alpha1.SecretRotation {
	out := &opsv1alpha1.SecretRotation{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), out)).To(Succeed())
	return out
}

func rotationPhase(ctx context.Context, sr *opsv1alpha1.SecretRotation) func() opsv1alpha1.RotationPhase {
	return func() opsv1alpha1.RotationPhase { return fetchRotation(ctx, sr).Status.Phase }
}

// rotationCondition returns "Status Reason: Message" of one condition, for Eventually.
func rotationCondition(ctx context.Context, sr *opsv1alpha1.SecretRotation, condType string) func() string {
	return func() string {
		c := meta.FindStatusCondition(fetchRotation(ctx, sr).Status.Conditions, condType)
		if c == nil {
			return "<none>"
		}
		return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
	}
}

// secretData returns the Secret's data as strings (nil when it does not exist).
func secretData(ctx context.Context, ns, name string) func() map[string]string {
	return func() map[string]string {
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return nil
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out
	}
}

func rotationAnnotations(ctx context.Context, ns, name string) map[string]string {
	s := &corev1.Secret{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
	return s.Annotations
}

// stamped returns the Secret version the Deployment's pod template carries.
func stamped(ctx context.Context, ns, name string) func() string {
	return func() string {
		dep := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
			return err.Error()
		}
		return dep.Spec.Template.Annotations[opsv1alpha1.SecretVersionAnnotation("saas-app")]
	}
}

// rollOut waits until the Deployment's template carries version, then reports its
// rollout finished as the Deployment controller would.
func rollOut(ctx context.Context, ns, name, version string) {
	GinkgoHelper()
	Eventually(stamped(ctx, ns, name)).Should(Equal(version))
	Eventually(func() error {
		dep := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
			return err
		}
		n := *dep.Spec.Replicas
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
		return k8sClient.Status().Update(ctx, dep)
	}).Should(Succeed())
}

// failRollout reports the Deployment's progress deadline exceeded.
func failRollout(ctx context.Context, ns, name string) {
	GinkgoHelper()
	Eventually(func() error {
		dep := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
			return err
		}
		n := *dep.Spec.Replicas
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n + 1, UpdatedReplicas: 1, ReadyReplicas: n, AvailableReplicas: n, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out progressing."}}}
		return k8sClient.Status().Update(ctx, dep)
	}).Should(Succeed())
}

func currentVersion(ctx context.Context, sr *opsv1alpha1.SecretRotation) string {
	return fetchRotation(ctx, sr).Status.CurrentVersionHash
}

// requestRotation changes spec.rotateRequest (and the mode).
func requestRotation(ctx context.Context, sr *opsv1alpha1.SecretRotation, request string, mode opsv1alpha1.RotationMode) {
	GinkgoHelper()
	Eventually(func() error {
		cur := fetchRotation(ctx, sr)
		cur.Spec.RotateRequest, cur.Spec.Mode = request, mode
		return k8sClient.Update(ctx, cur)
	}).Should(Succeed())
}

// phaseSeries lists the phase label of every phase-duration histogram of ns, one
// entry per observation. A curried vector still collects every namespace's series.
func phaseSeries(ns string) []string {
	GinkgoHelper()
	ch := make(chan prometheus.Metric, 256)
	go func() { metrics.SecretRotationPhaseDuration.Collect(ch); close(ch) }()
	var out []string
	for m := range ch {
		var d dto.Metric
		Expect(m.Write(&d)).To(Succeed())
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] == ns {
			for range d.GetHistogram().GetSampleCount() {
				out = append(out, labels["phase"])
			}
		}
	}
	return out
}

// noValueLeaks checks that no value of the managed Secret (current or previous) is in
// the manager's log, the events of the namespace or the SecretRotation's status.
func noValueLeaks(ctx context.Context, sr *opsv1alpha1.SecretRotation, seen []string) {
	GinkgoHelper()
	statusJSON, err := json.Marshal(fetchRotation(ctx, sr).Status)
	Expect(err).NotTo(HaveOccurred())
	var evs []string
	for _, e := range eventsFor(ctx, sr.Namespace, sr.Name) {
		evs = append(evs, e.Note)
	}
	logged := managerLog.String()
	Expect(logged).To(ContainSubstring(sr.Namespace), "the log capture holds this spec's reconciles")
	for _, v := range seen {
		for _, part := range strings.Split(v, ",") {
			if len(part) < 16 {
				continue
			}
			Expect(logged).NotTo(ContainSubstring(part), "a value in the manager's log")
			Expect(strings.Join(evs, "\n")).NotTo(ContainSubstring(part), "a value in an event")
			Expect(string(statusJSON)).NotTo(ContainSubstring(part), "a value in status")
		}
	}
}

var _ = Describe("SecretRotation", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("creates the Secret, then rotates in two phases restarting each target once per phase, in order, across manager restarts", func() {
		newDeployment(ctx, ns, "worker", 1)
		newDeployment(ctx, ns, "web", 2)
		sr := newRotation(ns, "app-keys", restarting("Deployment/worker", "Deployment/web"))
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())

		By("creating the Secret with generated keys and restarting nothing")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		first := secretData(ctx, ns, "saas-app")()
		k0, f0 := first["SECRET_KEY"], first["FIELD_ENCRYPTION_KEYS"]
		Expect(k0).To(HaveLen(50))
		Expect(secretgen.ValidFernetKey(f0)).To(BeTrue())
		Expect(first["SECRET_KEY_FALLBACKS"]).To(BeEmpty())
		got := fetchRotation(ctx, sr)
		Expect(got.Status.Rotations).To(BeZero())
		Expect(got.Status.NextRotationTime.Time).To(BeTemporally("~", rotationTestClock.Now().Add(90*24*time.Hour), time.Second))
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(stamped(ctx, ns, "web")()).To(BeEmpty())
		Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))

		By("never generating again on a manager restart")
		restartManager(nil)
		Consistently(secretData(ctx, ns, "saas-app"), 2*time.Second).Should(Equal(first))

		By("phase 1: publishing the new values accept-only and restarting worker first")
		requestRotation(ctx, sr, "2026-12-01", "")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePublishing))
		pub := secretData(ctx, ns, "saas-app")()
		k1 := pub["SECRET_KEY_FALLBACKS"]
		Expect(pub["SECRET_KEY"]).To(Equal(k0), "the current key stays during phase 1")
		Expect(k1).To(HaveLen(50))
		Expect(k1).NotTo(Equal(k0))
		fl := strings.Split(pub["FIELD_ENCRYPTION_KEYS"], ",")
		Expect(fl).To(HaveLen(2))
		Expect(fl[0]).To(Equal(f0), "MultiFernet still encrypts with the old key")
		f1 := fl[1]
		v1 := currentVersion(ctx, sr)
		Expect(rotationAnnotations(ctx, ns, "saas-app")).To(SatisfyAll(
			HaveKeyWithValue(opsv1alpha1.AnnotationRotationPhase, "Publishing"),
			HaveKeyWithValue(opsv1alpha1.AnnotationRotationVersion, v1)))
		Eventually(stamped(ctx, ns, "worker")).Should(Equal(v1))
		Consistently(stamped(ctx, ns, "web"), time.Second).Should(BeEmpty(), "one target at a time")

		By("finishing phase 1 after a manager restart, with the same new value")
		restartManager(nil)
		rollOut(ctx, ns, "worker", v1)
		restartManager(nil)
		rollOut(ctx, ns, "web", v1)
		Expect(secretData(ctx, ns, "saas-app")()["SECRET_KEY_FALLBACKS"]).To(SatisfyAny(Equal(k1), Equal(k0)))

		By("phase 2: promoting and restarting again, worker first")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePromoting))
		prom := secretData(ctx, ns, "saas-app")()
		Expect(prom["SECRET_KEY"]).To(Equal(k1), "phase 2 promotes the value phase 1 published, not a second one")
		Expect(prom["SECRET_KEY_FALLBACKS"]).To(Equal(k0))
		Expect(prom["FIELD_ENCRYPTION_KEYS"]).To(Equal(f1 + "," + f0))
		v2 := currentVersion(ctx, sr)
		Expect(v2).NotTo(Equal(v1))
		Eventually(stamped(ctx, ns, "worker")).Should(Equal(v2))
		Expect(stamped(ctx, ns, "web")()).To(Equal(v1))
		restartManager(nil)
		rollOut(ctx, ns, "worker", v2)
		restartManager(nil)
		rollOut(ctx, ns, "web", v2)

		By("finishing: Ready when every target runs the new version")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		// The phase and the conditions may reach the API server in different writes:
		// wait for the whole finished status, not one read after the phase.
		Eventually(func(g Gomega) {
			got = fetchRotation(ctx, sr)
			g.Expect(got.Status.Rotations).To(Equal(int64(1)))
			g.Expect(got.Status.LastRotateRequest).To(Equal("2026-12-01"))
			g.Expect(got.Status.Targets).To(HaveLen(2))
			for _, t := range got.Status.Targets {
				g.Expect(t.State).To(Equal(opsv1alpha1.TargetRolledOut))
				g.Expect(t.Version).To(Equal(v2))
			}
			g.Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionRotated)()).To(HavePrefix("True Rotated"))
			g.Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))
		}).Should(Succeed())
		Expect(rotationAnnotations(ctx, ns, "saas-app")).NotTo(HaveKey(opsv1alpha1.AnnotationRotationPhase))
		Expect(secretData(ctx, ns, "saas-app")()).To(Equal(prom))
		Eventually(eventReasons(ctx, ns, sr.Name)).Should(ContainElements(opsv1alpha1.ReasonCreated, "RotationStarted", "Restarting", opsv1alpha1.ReasonPromoting, opsv1alpha1.ReasonRotated))

		By("counting the rotation and each phase once in the metrics")
		Expect(testutil.ToFloat64(metrics.SecretRotations.WithLabelValues(ns, "saas-app", "TwoPhase"))).To(Equal(1.0))
		Expect(phaseSeries(ns)).To(ConsistOf("Publishing", "Promoting"), "one observation per phase, this namespace only (other specs observe theirs)")
		Expect(testutil.ToFloat64(metrics.SecretLastRotation.WithLabelValues(ns, "saas-app"))).To(BeNumerically("~", float64(rotationTestClock.Now().Unix()), 1))

		By("restarting nothing more on a later manager restart")
		restartManager(nil)
		Consistently(secretData(ctx, ns, "saas-app"), 2*time.Second).Should(Equal(prom))
		Expect(stamped(ctx, ns, "web")()).To(Equal(v2))

		By("never logging, recording or reporting a value")
		noValueLeaks(ctx, sr, []string{k0, k1, f0, f1})
	})

	It("rotates when the interval has passed, and not before", func() {
		sr := newRotation(ns, "scheduled", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Interval = opsv1alpha1.DurationOf(24 * time.Hour)
		})
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		first := secretData(ctx, ns, "saas-app")()
		rotationTestClock.Step(23 * time.Hour)
		restartManager(nil)
		Consistently(secretData(ctx, ns, "saas-app"), 2*time.Second).Should(Equal(first))

		rotationTestClock.Step(time.Hour + time.Second)
		restartManager(nil) // the manager's wake-up was set for the real clock
		Eventually(func() int64 { return fetchRotation(ctx, sr).Status.Rotations }).Should(Equal(int64(1)))
		now := secretData(ctx, ns, "saas-app")()
		Expect(now["SECRET_KEY_FALLBACKS"]).To(Equal(first["SECRET_KEY"]))
		Expect(now["SECRET_KEY"]).NotTo(Equal(first["SECRET_KEY"]))
		got := fetchRotation(ctx, sr)
		Expect(got.Status.LastRotationTime.Time).To(BeTemporally("~", rotationTestClock.Now(), time.Second))
		Expect(got.Status.NextRotationTime.Time).To(BeTemporally("~", rotationTestClock.Now().Add(24*time.Hour), time.Second))
	})

	It("after a breach (mode Immediate, loss acknowledged) replaces the values in one phase and drops every previous one", func() {
		newDeployment(ctx, ns, "web", 1)
		sr := newRotation(ns, "breach", restarting("Deployment/web"), func(sr *opsv1alpha1.SecretRotation) { sr.Spec.DropUnreadable = true })
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		before := secretData(ctx, ns, "saas-app")()

		requestRotation(ctx, sr, "incident-42", opsv1alpha1.RotationImmediate)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReplacing))
		after := secretData(ctx, ns, "saas-app")()
		Expect(after["SECRET_KEY"]).NotTo(Equal(before["SECRET_KEY"]))
		Expect(after["SECRET_KEY_FALLBACKS"]).To(BeEmpty(), "the leaked key must stop validating")
		Expect(after["FIELD_ENCRYPTION_KEYS"]).NotTo(ContainSubstring(","))
		Expect(after["FIELD_ENCRYPTION_KEYS"]).NotTo(Equal(before["FIELD_ENCRYPTION_KEYS"]))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionReady)()).To(ContainSubstring("invalid"))
		rollOut(ctx, ns, "web", currentVersion(ctx, sr))

		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Expect(fetchRotation(ctx, sr).Status.Mode).To(Equal(opsv1alpha1.RotationImmediate))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionRotated)()).To(SatisfyAll(
			HavePrefix("True EmergencyRotation"), ContainSubstring("sessions, signed tokens and data encrypted with the old values are now invalid")))
		Eventually(func() []eventsv1.Event { return eventsFor(ctx, ns, sr.Name) }).Should(ContainElement(SatisfyAll(
			HaveField("Type", corev1.EventTypeWarning), HaveField("Note", ContainSubstring("are now invalid")))))
		Expect(secretData(ctx, ns, "saas-app")()).To(Equal(after), "one phase: nothing promoted afterwards")
		Eventually(eventReasons(ctx, ns, sr.Name)).Should(ContainElement(opsv1alpha1.ReasonEmergencyRotation))
		noValueLeaks(ctx, sr, []string{before["SECRET_KEY"], before["FIELD_ENCRYPTION_KEYS"], after["SECRET_KEY"], after["FIELD_ENCRYPTION_KEYS"]})
	})

	It("adopts an existing Secret without rotating, keeps keepPrevious values and never touches other keys", func() {
		f0, _ := secretgen.Fernet()
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "saas-app", Namespace: ns},
			Data:       map[string][]byte{"FIELD_ENCRYPTION_KEYS": []byte(f0), "DATABASE_URL": []byte("postgres://app@db/saas")},
		})).To(Succeed())
		sr := newRotation(ns, "adopt", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Keys = []opsv1alpha1.RotatedKey{{Key: "FIELD_ENCRYPTION_KEYS", Generator: opsv1alpha1.GeneratorFernet, KeepPrevious: ptr.To[int32](2)}}
			sr.Spec.RotateRequest = "already-in-git"
		})
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Expect(secretData(ctx, ns, "saas-app")()).To(HaveKeyWithValue("FIELD_ENCRYPTION_KEYS", f0), "adopting is not rotating")

		history := []string{f0}
		for i := 1; i <= 4; i++ {
			requestRotation(ctx, sr, fmt.Sprintf("r%d", i), "")
			Eventually(func() int64 { return fetchRotation(ctx, sr).Status.Rotations }).Should(Equal(int64(i)))
			data := secretData(ctx, ns, "saas-app")()
			Expect(data).To(HaveKeyWithValue("DATABASE_URL", "postgres://app@db/saas"))
			list := strings.Split(data["FIELD_ENCRYPTION_KEYS"], ",")
			Expect(list[1:]).To(Equal(history[:min(len(history), 2)]), "newest first, at most keepPrevious")
			history = append([]string{list[0]}, history...)
		}
		Expect(secretData(ctx, ns, "saas-app")()).To(HaveLen(2))
	})

	It("copies a copyFrom value and rotates when its source changes; a missing source stops before anything is written", func() {
		sr := newRotation(ns, "stripe", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.SecretName = "saas-app"
			sr.Spec.Keys = []opsv1alpha1.RotatedKey{{Key: "STRIPE_WEBHOOK_SECRET", CopyFrom: &opsv1alpha1.SecretKeyReference{Name: "stripe", Key: "webhook"}, KeepPrevious: ptr.To[int32](0)}}
		})
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True SourceMissing"), ContainSubstring("Secret stripe named in copyFrom of key STRIPE_WEBHOOK_SECRET does not exist")))
		Expect(secretData(ctx, ns, "saas-app")()).To(BeNil())

		src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "stripe", Namespace: ns}, Data: map[string][]byte{"webhook": []byte("whsec_first0123456789abcdef")}}
		Expect(k8sClient.Create(ctx, src)).To(Succeed())
		Eventually(secretData(ctx, ns, "saas-app")).Should(HaveKeyWithValue("STRIPE_WEBHOOK_SECRET", "whsec_first0123456789abcdef"))
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(HavePrefix("False"))

		src.Data["webhook"] = []byte("whsec_second0123456789abcdef")
		Expect(k8sClient.Update(ctx, src)).To(Succeed())
		Eventually(secretData(ctx, ns, "saas-app")).Should(HaveKeyWithValue("STRIPE_WEBHOOK_SECRET", "whsec_second0123456789abcdef"))
		Eventually(func() int64 { return fetchRotation(ctx, sr).Status.Rotations }).Should(Equal(int64(1)))
		noValueLeaks(ctx, sr, []string{"whsec_first0123456789abcdef", "whsec_second0123456789abcdef"})
	})

	It("stops before writing anything when a restart target is missing, and says which", func() {
		sr := newRotation(ns, "missing-target", restarting("Deployment/web", "Release/saas"))
		newDeployment(ctx, ns, "web", 1)
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		before := secretData(ctx, ns, "saas-app")()
		requestRotation(ctx, sr, "now", "")
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True TargetMissing"), ContainSubstring("Release saas does not exist"), ContainSubstring("nothing was written")))
		Expect(secretData(ctx, ns, "saas-app")()).To(Equal(before))
		Expect(stamped(ctx, ns, "web")()).To(BeEmpty())
		Expect(kstatusOf(fetchRotation(ctx, sr))).To(Equal(status.FailedStatus))
		Expect(rotationPhase(ctx, sr)()).To(Equal(opsv1alpha1.RotationPhaseBlocked), "not Idle while the rotation asked for cannot start")
	})

	It("stops at a target whose rollout fails, naming it, with values every pod accepts, and goes on once it rolls out", func() {
		newDeployment(ctx, ns, "web", 2)
		newDeployment(ctx, ns, "worker", 1)
		sr := newRotation(ns, "failing", restarting("Deployment/web", "Deployment/worker"))
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		k0 := secretData(ctx, ns, "saas-app")()["SECRET_KEY"]
		requestRotation(ctx, sr, "now", "")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePublishing))
		v1 := currentVersion(ctx, sr)
		Eventually(stamped(ctx, ns, "web")).Should(Equal(v1))
		failRollout(ctx, ns, "web")

		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True RolloutFailed"), ContainSubstring("Deployment web did not roll out")))
		Expect(rotationPhase(ctx, sr)()).To(Equal(opsv1alpha1.RotationPhaseFailed))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionRestarted)()).To(HavePrefix("False RolloutFailed"))
		Consistently(stamped(ctx, ns, "worker"), 2*time.Second).Should(BeEmpty(), "the next target is not restarted")
		Expect(secretData(ctx, ns, "saas-app")()["SECRET_KEY"]).To(Equal(k0), "pods on either side of the failed rollout still sign with the old key")

		rollOut(ctx, ns, "web", v1)
		rollOut(ctx, ns, "worker", v1)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePromoting))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)()).To(HavePrefix("False"))
	})

	It("restarts every component Deployment of a Release target, in the Release's order", func() {
		Expect(k8sClient.Create(ctx, newRelease(ns, "saas", "worker", "web"))).To(Succeed())
		newDeployment(ctx, ns, "saas-worker", 1)
		newDeployment(ctx, ns, "saas-web", 2)
		sr := newRotation(ns, "release", restarting("Release/saas"), func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Keys = sr.Spec.Keys[1:] // Fernet only
		})
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		requestRotation(ctx, sr, "now", "")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePublishing))
		v1 := currentVersion(ctx, sr)
		Eventually(stamped(ctx, ns, "saas-worker")).Should(Equal(v1))
		Expect(stamped(ctx, ns, "saas-web")()).To(BeEmpty())
		rollOut(ctx, ns, "saas-worker", v1)
		rollOut(ctx, ns, "saas-web", v1)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhasePromoting))
		v2 := currentVersion(ctx, sr)
		rollOut(ctx, ns, "saas-worker", v2)
		rollOut(ctx, ns, "saas-web", v2)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		got := fetchRotation(ctx, sr)
		Expect(got.Status.Targets).To(ConsistOf(
			HaveField("Deployment", "saas-worker"), HaveField("Deployment", "saas-web")))
		Expect(got.Status.Targets[0].Name).To(Equal("saas"))
	})

	It("refuses a hand-edited key it cannot parse instead of overwriting it", func() {
		sr := newRotation(ns, "edited")
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		s := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "saas-app"}, s)).To(Succeed())
		s.Data["FIELD_ENCRYPTION_KEYS"] = []byte("not-a-fernet-key-but-a-note")
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		requestRotation(ctx, sr, "now", "")
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True UnparseableValue"), ContainSubstring("key FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key"),
			Not(ContainSubstring("not-a-fernet-key-but-a-note"))))
		Consistently(secretData(ctx, ns, "saas-app"), time.Second).Should(HaveKeyWithValue("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key-but-a-note"))
		Expect(ptr.Deref(&fetchRotation(ctx, sr).Status.Rotations, 0)).To(BeZero())
	})

	It("says so in a condition when the manager may not read the Secret", func() {
		By("running the reconciler as a user whose role has no secrets rule")
		user, err := testEnv.AddUser(envtest.User{Name: "rotation-without-secrets"}, nil)
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "no-secrets", Namespace: ns},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{opsv1alpha1.GroupVersion.Group}, Resources: []string{"secretrotations", "secretrotations/status", "releases"}, Verbs: []string{"get", "list", "watch", "patch", "update"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "patch"}},
			},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "no-secrets", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "no-secrets"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "rotation-without-secrets"}},
		})).To(Succeed())
		limited, err := client.New(user.Config(), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		// The suite's manager (which may read Secrets) is stopped, so only this
		// reconciler acts on the object.
		sr := newRotation(ns, "forbidden")
		stopManager()
		defer startManager()
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		r := &SecretRotationReconciler{Client: limited, APIReader: limited, Clock: rotationTestClock}
		_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sr)})
		Expect(err).NotTo(HaveOccurred())
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)()).To(SatisfyAll(
			HavePrefix("True Forbidden"), ContainSubstring("the manager may not get Secret saas-app")))
		Expect(secretData(ctx, ns, "saas-app")()).To(BeNil())
	})
})
