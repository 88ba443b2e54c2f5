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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/rotation"
	"runbook-operator/internal/secretgen"
)

// The emergency sequence (mode Immediate with spec.reencrypt): the specs play the
// Deployment controller (rollOut), the Job controller and the Job's pod
// (finishReencryptJob), and the kubelet of a pod that does not become Ready.

func reencrypting(sr *opsv1alpha1.SecretRotation) {
	sr.Spec.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"python", "manage.py", "reencrypt"}}
}

func mustFernet() string {
	GinkgoHelper()
	k, err := secretgen.Fernet()
	Expect(err).NotTo(HaveOccurred())
	return k
}

// reencryptJobs lists the SecretRotation's reencrypt Jobs.
func reencryptJobs(ctx context.Context, ns string) func() []string {
	return func() []string {
		var list batchv1.JobList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, j := range list.Items {
			if strings.Contains(j.Name, "-reencrypt-") && j.DeletionTimestamp.IsZero() {
				out = append(out, j.Name)
			}
		}
		return out
	}
}

// finishReencryptJob plays the Job's pod (container "reencrypt" exiting with code and
// its output as termination message) and the Job controller.
func finishReencryptJob(ctx context.Context, job *batchv1.Job, exitCode int32, output string) {
	GinkgoHelper()
	finishJobContainer(ctx, job, rotation.ReencryptContainer, exitCode, output)
}

var _ = Describe("SecretRotation emergency with re-encryption", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("keeps the leaked Fernet value decrypt-only, re-encrypts with a Job in the app's image, then drops it, across manager restarts between every step", func() {
		newDeployment(ctx, ns, "web", 2)
		newDeployment(ctx, ns, "worker", 1)
		sr := newRotation(ns, "leak", restarting("Deployment/web", "Deployment/worker"), reencrypting)
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		before := secretData(ctx, ns, "saas-app")()
		leaked := before["FIELD_ENCRYPTION_KEYS"]

		By("step 1: the new values current at once, Django's old key dropped, the leaked Fernet value kept behind the new one")
		requestRotation(ctx, sr, "breach-1", opsv1alpha1.RotationImmediate)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReplacing))
		replaced := secretData(ctx, ns, "saas-app")()
		Expect(replaced["SECRET_KEY"]).NotTo(Equal(before["SECRET_KEY"]))
		Expect(replaced["SECRET_KEY_FALLBACKS"]).To(BeEmpty(), "a leaked signing key stops validating at once")
		fl := strings.Split(replaced["FIELD_ENCRYPTION_KEYS"], ",")
		Expect(fl).To(HaveLen(2))
		Expect(fl[1]).To(Equal(leaked), "the leaked value decrypts, after the new one that encrypts")
		fresh := fl[0]
		Expect(fresh).NotTo(Equal(leaked))
		Expect(rotationAnnotations(ctx, ns, "saas-app")).To(HaveKeyWithValue(opsv1alpha1.AnnotationRotationDecryptOnly, "FIELD_ENCRYPTION_KEYS"))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionReconciling)()).To(ContainSubstring("step 1 of 3"))
		v1 := currentVersion(ctx, sr)
		restartManager(nil)
		rollOut(ctx, ns, "web", v1)
		restartManager(nil)
		rollOut(ctx, ns, "worker", v1)

		By("step 2: recording Reencrypting, then one Job with the app's image running the spec's command")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReencrypting))
		Expect(rotationAnnotations(ctx, ns, "saas-app")).To(HaveKeyWithValue(opsv1alpha1.AnnotationRotationPhase, "Reencrypting"))
		Eventually(reencryptJobs(ctx, ns)).Should(Equal([]string{"leak-reencrypt-" + v1}))
		job := getJob(ctx, ns, "leak-reencrypt-"+v1)
		c := job.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("registry.example.com/saas/backend:v2.4.0"), "the image of the first restart target")
		Expect(c.Command).To(HaveExactElements(append(append([]string{}, rotation.ReencryptShell...), "python", "manage.py", "reencrypt")))
		restartManager(nil)
		Consistently(reencryptJobs(ctx, ns), 2*time.Second).Should(HaveLen(1), "a restarted manager adopts the Job, it does not run a second one")
		Expect(secretData(ctx, ns, "saas-app")()).To(Equal(replaced), "nothing dropped while the Job runs")
		Eventually(func() *opsv1alpha1.ReencryptionStatus { return fetchRotation(ctx, sr).Status.Reencryption }).Should(And(
			Not(BeNil()), HaveField("State", opsv1alpha1.ReencryptionRunning), HaveField("Job", job.Name)))

		By("step 3: once the Job succeeded, its output in status and events, the leaked value dropped, the targets restarted once more")
		finishReencryptJob(ctx, job, 0, "re-encrypted 53 values with the newest key\n")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseDropping))
		Expect(secretData(ctx, ns, "saas-app")()).To(SatisfyAll(
			HaveKeyWithValue("FIELD_ENCRYPTION_KEYS", fresh), HaveKeyWithValue("SECRET_KEY", replaced["SECRET_KEY"])), "the same new values, generated once")
		v2 := currentVersion(ctx, sr)
		Expect(v2).NotTo(Equal(v1))
		Eventually(eventNotes(ctx, ns, sr.Name)).Should(ContainElement(ContainSubstring("re-encrypted 53 values with the newest key")))
		restartManager(nil)
		rollOut(ctx, ns, "web", v2)
		restartManager(nil)
		rollOut(ctx, ns, "worker", v2)

		By("finishing: idle, the condition saying the data survived")
		Eventually(func(g Gomega) {
			got := fetchRotation(ctx, sr)
			g.Expect(got.Status.Phase).To(Equal(opsv1alpha1.RotationPhaseIdle))
			g.Expect(got.Status.Rotations).To(Equal(int64(1)))
			g.Expect(got.Status.Reencryption).To(And(Not(BeNil()), HaveField("State", opsv1alpha1.ReencryptionSucceeded),
				HaveField("Output", "re-encrypted 53 values with the newest key")))
			g.Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionRotated)()).To(SatisfyAll(
				HavePrefix("True EmergencyRotation"), ContainSubstring("Job leak-reencrypt-"+v1+" re-encrypted the data with the new values before the old ones were dropped")))
			g.Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))
		}).Should(Succeed())
		Expect(secretData(ctx, ns, "saas-app")()).To(HaveKeyWithValue("FIELD_ENCRYPTION_KEYS", fresh))
		Expect(rotationAnnotations(ctx, ns, "saas-app")).NotTo(HaveKey(opsv1alpha1.AnnotationRotationDecryptOnly))
		Expect(eventReasons(ctx, ns, sr.Name)()).To(ContainElements(opsv1alpha1.ReasonReencrypting, "Reencrypted", opsv1alpha1.ReasonDroppingOldValues, opsv1alpha1.ReasonEmergencyRotation))
		Expect(reencryptJobs(ctx, ns)()).To(HaveLen(1))
		noValueLeaks(ctx, sr, []string{before["SECRET_KEY"], leaked, replaced["SECRET_KEY"], fresh})
	})

	It("stops on a failed re-encryption with the leaked value still decrypting, says what to do, and goes on when the Job is deleted and succeeds", func() {
		newDeployment(ctx, ns, "web", 1)
		sr := newRotation(ns, "failing", restarting("Deployment/web"), reencrypting)
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		leaked := secretData(ctx, ns, "saas-app")()["FIELD_ENCRYPTION_KEYS"]
		requestRotation(ctx, sr, "breach", opsv1alpha1.RotationImmediate)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReplacing))
		v1 := currentVersion(ctx, sr)
		rollOut(ctx, ns, "web", v1)
		name := "failing-reencrypt-" + v1
		Eventually(reencryptJobs(ctx, ns)).Should(Equal([]string{name}))
		held := secretData(ctx, ns, "saas-app")()

		finishReencryptJob(ctx, getJob(ctx, ns, name), 1, "django.db.utils.OperationalError: connection to server at \"db\" failed: Connection refused\n")
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True ReencryptFailed"),
			ContainSubstring("Re-encryption Job "+name+" failed with exit code 1: django.db.utils.OperationalError"),
			ContainSubstring("The old values of FIELD_ENCRYPTION_KEYS still decrypt and nothing was dropped"),
			ContainSubstring("kubectl -n "+ns+" delete job "+name)))
		Expect(rotationPhase(ctx, sr)()).To(Equal(opsv1alpha1.RotationPhaseFailed))
		Expect(fetchRotation(ctx, sr).Status.Reencryption).To(And(Not(BeNil()), HaveField("State", opsv1alpha1.ReencryptionFailed), HaveField("Output", ContainSubstring("Connection refused"))))
		Expect(kstatusOf(fetchRotation(ctx, sr))).To(Equal(status.FailedStatus))
		restartManager(nil)
		Consistently(secretData(ctx, ns, "saas-app"), 2*time.Second).Should(Equal(held), "the leaked value is never dropped with data still under it")
		Expect(strings.Split(held["FIELD_ENCRYPTION_KEYS"], ",")).To(ContainElement(leaked))

		By("deleting the failed Job runs it again")
		Expect(k8sClient.Delete(ctx, getJob(ctx, ns, name), client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		var again *batchv1.Job
		Eventually(func() bool {
			again = &batchv1.Job{}
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, again) == nil && len(again.Status.Conditions) == 0
		}).Should(BeTrue())
		finishReencryptJob(ctx, again, 0, "re-encrypted 2 values with the newest key")
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseDropping))
		Expect(secretData(ctx, ns, "saas-app")()["FIELD_ENCRYPTION_KEYS"]).NotTo(ContainSubstring(leaked))
		rollOut(ctx, ns, "web", currentVersion(ctx, sr))
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)()).To(HavePrefix("False"))
	})

	It("stops, writing nothing, an Immediate rotation of a Fernet key stored before the API server refused it without reencrypt or dropUnreadable", func() {
		f0 := mustFernet()
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "saas-app", Namespace: ns,
				Labels:      map[string]string{opsv1alpha1.LabelSecretRotation: "old-rule"},
				Annotations: map[string]string{opsv1alpha1.AnnotationRotateRequest: "before", opsv1alpha1.AnnotationRotatedAt: time.Now().UTC().Format(time.RFC3339)}},
			Data: map[string][]byte{"FIELD_ENCRYPTION_KEYS": []byte(f0)},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		sr := newRotation(ns, "old-rule", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Keys = sr.Spec.Keys[1:] // Fernet only
			sr.Spec.Mode, sr.Spec.RotateRequest = opsv1alpha1.RotationImmediate, "breach"
		})
		storedWithoutRule(ctx, "secretrotations.ops.runbook.dev", []string{"spec"}, []string{"x-kubernetes-validations"}, unstructuredOf(sr, "SecretRotation"))
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True InvalidSpec"), ContainSubstring("mode Immediate would drop the old values of Fernet key FIELD_ENCRYPTION_KEYS"), ContainSubstring("nothing was written")))
		Consistently(secretData(ctx, ns, "saas-app"), time.Second).Should(Equal(map[string]string{"FIELD_ENCRYPTION_KEYS": f0}))
		Expect(rotationPhase(ctx, sr)()).NotTo(Equal(opsv1alpha1.RotationPhaseIdle))
	})

	It("says which new pods do not become Ready and what their probe answers, instead of waiting for the progress deadline", func() {
		newDeployment(ctx, ns, "web", 1)
		sr := newRotation(ns, "stuck", restarting("Deployment/web"), reencrypting)
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		requestRotation(ctx, sr, "breach", opsv1alpha1.RotationImmediate)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReplacing))
		v1 := currentVersion(ctx, sr)
		Eventually(stamped(ctx, ns, "web")).Should(Equal(v1))

		By("a new pod that runs but answers its readiness probe with 503, for longer than a minute")
		started := metav1.NewTime(rotationTestClock.Now().Add(-90 * time.Second))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-new", Namespace: ns, Labels: map[string]string{"app": "web"},
				Annotations: map[string]string{opsv1alpha1.SecretVersionAnnotation("saas-app"): v1}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/saas/backend:v2.4.0"}}},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: started}}}
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web-new.probe", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-new", Namespace: ns},
			Reason:         "Unhealthy", Type: corev1.EventTypeWarning, Count: 9,
			Message:        `Readiness probe failed: HTTP probe failed with statuscode: 503`,
			FirstTimestamp: started, LastTimestamp: metav1.NewTime(rotationTestClock.Now()),
		})).To(Succeed())
		Eventually(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)).Should(SatisfyAll(
			HavePrefix("True RolloutStalled"),
			ContainSubstring("Deployment web does not finish its restart"),
			ContainSubstring("web-new (for 1m30s): Readiness probe failed: HTTP probe failed with statuscode: 503"),
			ContainSubstring("the old values of FIELD_ENCRYPTION_KEYS still decrypting")))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionRestarted)()).To(HavePrefix("False RolloutStalled"))
		Expect(rotationPhase(ctx, sr)()).NotTo(Equal(opsv1alpha1.RotationPhaseIdle))

		By("going on once the pods are Ready")
		pod.Status.Conditions[0].Status = corev1.ConditionTrue
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		rollOut(ctx, ns, "web", v1)
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseReencrypting))
		Expect(rotationCondition(ctx, sr, opsv1alpha1.ConditionStalled)()).To(HavePrefix("False"))
	})
})
