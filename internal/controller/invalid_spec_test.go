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
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/names"
)

// Objects the API server refuses today may already be stored: written before the
// operator's CRD bounded the field (issue 10: `timeout: 3000000h` was accepted), or
// while an older CRD was installed. These specs store such objects for real: they
// install a copy of the CRD without the rule (as the previous release shipped it),
// write the object, and reinstall the CRD as generated before the manager sees any
// other object. The manager must report the bad object and keep working on the
// others: with metav1.Duration the informer failed to decode the object ("unable to
// decode watch event") and no object of the kind was processed anymore.

// storedWithoutRule writes obj while the CRD crdName lacks the validation at path
// (property names below the version's openAPIV3Schema, or additionalProperties; drop
// lists the keys removed from the last one's schema), then restores the CRD and waits until it refuses obj again.
func storedWithoutRule(ctx context.Context, crdName string, path []string, drop []string, obj *unstructured.Unstructured) {
	GinkgoHelper()
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: crdName}, crd)).To(Succeed())
	original := crd.DeepCopy()

	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	fields := []string{"schema", "openAPIV3Schema"}
	for _, p := range path {
		if p == "additionalProperties" {
			fields = append(fields, p)
			continue
		}
		fields = append(fields, "properties", p)
	}
	v := versions[0].(map[string]any)
	for _, k := range drop {
		_, found, err := unstructured.NestedFieldNoCopy(v, append(fields, k)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue(), "the generated CRD has %s at %v", k, path)
		unstructured.RemoveNestedField(v, append(fields, k)...)
	}
	Expect(unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions")).To(Succeed())
	Expect(k8sClient.Update(ctx, crd)).To(Succeed())
	DeferCleanup(func(ctx context.Context) { restoreCRD(ctx, original, obj) })

	// The API server serves the changed schema a moment after the update.
	Eventually(func() error { return k8sClient.Create(ctx, obj.DeepCopy()) }).Should(Succeed())
	restoreCRD(ctx, original, obj)
}

// restoreCRD puts the generated CRD back and waits until it refuses a copy of obj.
func restoreCRD(ctx context.Context, original, obj *unstructured.Unstructured) {
	GinkgoHelper()
	Eventually(func() error {
		crd := original.DeepCopy()
		current := &unstructured.Unstructured{}
		current.SetGroupVersionKind(original.GroupVersionKind())
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: original.GetName()}, current); err != nil {
			return err
		}
		crd.SetResourceVersion(current.GetResourceVersion())
		return k8sClient.Update(ctx, crd)
	}).Should(Succeed())
	probe := obj.DeepCopy()
	probe.SetName(obj.GetName() + "-probe")
	Eventually(func() bool {
		return apierrors.IsInvalid(k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll))
	}).Should(BeTrue(), "the reinstalled CRD refuses the object again")
}

func unstructuredOf(obj client.Object, kind string) *unstructured.Unstructured {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(opsv1alpha1.GroupVersion.String())
	u.SetKind(kind)
	return u
}

var _ = Describe("Bad input: objects stored before their field was bounded, long names, refused children", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
		testClock.Set(time.Now())
	})

	It("a backup and a restore with a timeout Go cannot hold are Stalled naming the field; backups and restores created after them run", func() {
		By("storing a DatabaseBackup and a DatabaseRestore with timeout 3000000h through CRDs without the duration rule")
		poison := unstructuredOf(newBackup(ns, "poison", "poison-db"), "DatabaseBackup")
		Expect(unstructured.SetNestedField(poison.Object, "3000000h", "spec", "timeout")).To(Succeed())
		storedWithoutRule(ctx, "databasebackups.ops.runbook.dev", []string{"spec", "timeout"},
			[]string{"x-kubernetes-validations", "maxLength"}, poison)
		poisonRestore := unstructuredOf(newRestore(ns, "poison-restore", "other-db"), "DatabaseRestore")
		Expect(unstructured.SetNestedField(poisonRestore.Object, "3000000h", "spec", "timeout")).To(Succeed())
		storedWithoutRule(ctx, "databaserestores.ops.runbook.dev", []string{"spec", "timeout"},
			[]string{"x-kubernetes-validations", "maxLength"}, poisonRestore)

		By("a valid backup created after the poison one gets its Job")
		ok := newBackup(ns, "after-poison", "saas-db")
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		Expect(runningBackupJob(ctx, ok)).NotTo(BeNil())

		By("the poison backup is Stalled, naming spec.timeout and the value, and runs nothing")
		pb := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "poison"}}
		Eventually(func() *metav1.Condition {
			return meta.FindStatusCondition(fetch(ctx, pb).Status.Conditions, opsv1alpha1.ConditionStalled)
		}).Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", opsv1alpha1.ReasonInvalidSpec),
			HaveField("Message", And(ContainSubstring("spec.timeout"), ContainSubstring("3000000h")))))
		Expect(fetch(ctx, pb).Status.JobName).To(BeEmpty())
		Expect(countJobs(ctx, ns, jobs.ComponentBackup)()).To(Equal(1), "only the valid backup's Job")

		By("the poison restore ends Failed naming spec.timeout, and a valid restore created after it is processed")
		pr := &opsv1alpha1.DatabaseRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "poison-restore"}}
		Eventually(restorePhase(ctx, pr)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		Expect(restoreCondition(ctx, pr, opsv1alpha1.ConditionStalled)()).To(And(ContainSubstring("spec.timeout"), ContainSubstring("3000000h")))
		valid := newRestore(ns, "after-poison", "other-db", fromBackup("not-yet"))
		Expect(k8sClient.Create(ctx, valid)).To(Succeed())
		Eventually(restoreCondition(ctx, valid, opsv1alpha1.ConditionReconciling)).Should(ContainSubstring("not-yet"))

		By("correcting the pending backup's timeout starts it")
		Eventually(func() error {
			got := fetch(ctx, pb)
			got.Spec.Timeout = opsv1alpha1.DurationOf(time.Hour)
			return k8sClient.Update(ctx, got)
		}).Should(Succeed())
		Expect(runningBackupJob(ctx, pb)).NotTo(BeNil())
	})

	It("a schedule whose template has an unusable timeout is Stalled naming the field; one with a bad label shows the refused backup in its conditions", func() {
		By("a template timeout Go cannot hold")
		bad := unstructuredOf(newSchedule(ns, "poison-template"), "BackupSchedule")
		Expect(unstructured.SetNestedField(bad.Object, "3000000h", "spec", "template", "spec", "timeout")).To(Succeed())
		storedWithoutRule(ctx, "backupschedules.ops.runbook.dev", []string{"spec", "template", "spec", "timeout"},
			[]string{"x-kubernetes-validations", "maxLength"}, bad)
		s := &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "poison-template"}}
		Eventually(scheduledCondition(ctx, s, opsv1alpha1.ConditionStalled)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", opsv1alpha1.ReasonInvalidSpec),
			HaveField("Message", ContainSubstring("spec.template.spec.timeout"))))

		By("a template label value of 64 characters: the backup cannot be created, and the schedule says so")
		labelled := unstructuredOf(newSchedule(ns, "bad-label"), "BackupSchedule")
		Expect(unstructured.SetNestedField(labelled.Object, strings.Repeat("x", 64), "spec", "template", "metadata", "labels", "team")).To(Succeed())
		storedWithoutRule(ctx, "backupschedules.ops.runbook.dev", []string{"spec", "template", "metadata", "labels", "additionalProperties"},
			[]string{"pattern", "maxLength"}, labelled)
		ls := &opsv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-label"}}
		Eventually(func() *metav1.Time { return getSchedule(ctx, ls).Status.NextScheduleTime }).ShouldNot(BeNil())
		testClock.Set(getSchedule(ctx, ls).Status.NextScheduleTime.Add(20 * time.Second))
		poke(ctx, ls)
		Eventually(scheduledCondition(ctx, ls, opsv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", opsv1alpha1.ReasonCreateFailed),
			HaveField("Message", ContainSubstring("Could not create DatabaseBackup"))))
		Expect(scheduledCondition(ctx, ls, opsv1alpha1.ConditionScheduled)()).To(HaveField("Status", metav1.ConditionFalse))
		Eventually(eventReasons(ctx, ns, "bad-label")).Should(ContainElement(opsv1alpha1.ReasonCreateFailed))
	})

	It("a schedule with a 70-character name creates backups whose name and label fit", func() {
		name := "nightly-" + strings.Repeat("a", 62)
		s := newSchedule(ns, name)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(func() *metav1.Time { return getSchedule(ctx, s).Status.NextScheduleTime }).ShouldNot(BeNil())
		next := getSchedule(ctx, s).Status.NextScheduleTime.Time
		testClock.Set(next.Add(20 * time.Second))
		poke(ctx, s)
		Eventually(backupNames(ctx, ns)).Should(Equal([]string{BackupName(name, next)}))
		b := fetch(ctx, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: BackupName(name, next)}})
		Expect(b.Labels[opsv1alpha1.LabelBackupSchedule]).To(And(Equal(names.LabelValue(name)), HaveLen(63)))
		Eventually(func() []string { return getSchedule(ctx, s).Status.Active }).Should(Equal([]string{b.Name}),
			"the schedule finds its backup by the shortened label")
		Expect(runningBackupJob(ctx, b)).NotTo(BeNil())
	})

	It("a SecretRotation with a 70-character name manages its Secret (the name is hash-shortened in the Secret's label)", func() {
		name := "saas-app-keys-" + strings.Repeat("k", 56)
		sr := newRotation(ns, name)
		Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		Eventually(rotationPhase(ctx, sr)).Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Expect(secretData(ctx, ns, "saas-app")()).To(HaveKey("SECRET_KEY"))
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "saas-app"}, secret)).To(Succeed())
		Expect(secret.Labels[opsv1alpha1.LabelSecretRotation]).To(And(Equal(names.LabelValue(name)), HaveLen(63)))
	})

	It("a backup and a restore whose Job the API server refuses say so in their conditions and start once it is allowed", func() {
		By("an admission policy of the API server refusing every Job in the namespace")
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "no-jobs-" + ns},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs"}},
					},
				}}},
				Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "Jobs are refused in this namespace"}},
			},
		}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        policy.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
				MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
			},
		}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			_ = k8sClient.Delete(ctx, binding)
			_ = k8sClient.Delete(ctx, policy)
		})
		probe := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}, Spec: *jobs.Backup(newBackup(ns, "probe", "saas-db"), "k", jobs.Agent{Image: testAgentImage}).Spec.DeepCopy()}
		Eventually(func() error { return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll) }).Should(MatchError(ContainSubstring("Jobs are refused")))

		b := newBackup(ns, "refused", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		Eventually(func() *metav1.Condition {
			return meta.FindStatusCondition(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionReconciling)
		}).Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", opsv1alpha1.ReasonCreateFailed),
			HaveField("Message", And(ContainSubstring("Could not create Job "+jobs.BackupJobName(b)), ContainSubstring("Jobs are refused")))))
		Expect(meta.IsStatusConditionFalse(fetch(ctx, b).Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		rs := newRestore(ns, "refused-restore", "other-db")
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Eventually(restoreCondition(ctx, rs, opsv1alpha1.ConditionReconciling)).Should(And(
			HavePrefix("True CreateFailed: "), ContainSubstring("Could not create restore Job"), ContainSubstring("Jobs are refused")))

		By("allowing Jobs again: both start (retried with backoff)")
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobs.BackupJobName(b)}, &batchv1.Job{})
		}, time.Minute).Should(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobs.RestoreJobName(rs)}, &batchv1.Job{})
		}, time.Minute).Should(Succeed())
	})
})
