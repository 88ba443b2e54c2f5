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
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/argocd"
	"runbook-operator/internal/conditions"
)

// health is what kstatus and Argo CD (its Lua script) say about obj.
type health struct {
	Kstatus  status.Status
	ArgoCD   string
	Message  string
	Observed bool // status.observedGeneration and every condition's equal the generation
}

func healthOf(obj conditions.Object) health {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		gvks, _, err := scheme.ObjectKinds(obj)
		Expect(err).NotTo(HaveOccurred())
		kind = gvks[0].Kind
	}
	st, msg, err := argocd.HealthOf(filepath.Join("..", "..", "config", "argocd"), kind, m)
	Expect(err).NotTo(HaveOccurred())
	observed := true
	if og, _, _ := unstructured.NestedInt64(m, "status", "observedGeneration"); og != obj.GetGeneration() {
		observed = false
	}
	for _, c := range obj.GetConditions() {
		if c.ObservedGeneration != obj.GetGeneration() {
			observed = false
		}
	}
	return health{Kstatus: kstatusOf(obj), ArgoCD: st, Message: msg, Observed: observed}
}

// eventualHealth polls obj's health from the API server.
func eventualHealth(ctx context.Context, obj conditions.Object) func() health {
	return func() health {
		out := obj.DeepCopyObject().(conditions.Object)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
		return healthOf(out)
	}
}

var _ = Describe("observedGeneration of finished objects", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
	})

	// changePolicy makes the one spec change a finished backup allows.
	changePolicy := func(b *opsv1alpha1.DatabaseBackup, policy opsv1alpha1.DeletionPolicy) int64 {
		GinkgoHelper()
		var gen int64
		Eventually(func() error {
			got := fetch(ctx, b)
			got.Spec.DeletionPolicy = policy
			err := k8sClient.Update(ctx, got)
			gen = got.Generation
			return err
		}).Should(Succeed())
		Expect(gen).To(BeNumerically(">", 1), "the change bumped the generation")
		return gen
	}

	It("a Completed DatabaseBackup whose deletionPolicy changes stays Current and Healthy", func() {
		b := completedBackup(ctx, ns, "done", "saas-db")
		Expect(healthOf(b)).To(HaveField("Kstatus", status.CurrentStatus))
		gen := changePolicy(b, opsv1alpha1.DeletionPolicyDelete)
		Eventually(eventualHealth(ctx, b)).Should(Equal(health{Kstatus: status.CurrentStatus, ArgoCD: "Healthy",
			Message: healthOf(b).Message, Observed: true}))
		Expect(fetch(ctx, b).Status.ObservedGeneration).To(Equal(gen))
		changePolicy(b, opsv1alpha1.DeletionPolicyRetain)
		Eventually(eventualHealth(ctx, b)).Should(HaveField("Observed", true))
		Expect(fetch(ctx, b).Finalizers).To(BeEmpty())
	})

	It("a Failed DatabaseBackup whose deletionPolicy changes stays Failed and Degraded", func() {
		b := newBackup(ns, "broken", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		terminatedPod(ctx, job, 1, `{"command":"backup","error":"connection refused","durationSeconds":1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
		changePolicy(b, opsv1alpha1.DeletionPolicyDelete)
		Eventually(eventualHealth(ctx, b)).Should(And(
			HaveField("Kstatus", status.FailedStatus), HaveField("ArgoCD", "Degraded"),
			HaveField("Message", ContainSubstring("connection refused")), HaveField("Observed", true)))
	})

	It("a finished DatabaseRestore allows no spec change and reports its outcome", func() {
		ok := newRestore(ns, "ok", "saas-db")
		bad := newRestore(ns, "bad", "saas-db")
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		job := restoreJob(ctx, ok)
		terminatedPod(ctx, job, 0, restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, job)
		Eventually(restorePhase(ctx, ok)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		job = restoreJob(ctx, bad)
		terminatedPod(ctx, job, 1, `{"command":"restore","error":"SHA-256 mismatch","permanent":true,"durationSeconds":1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(restorePhase(ctx, bad)).Should(Equal(opsv1alpha1.RestorePhaseFailed))

		for _, r := range []*opsv1alpha1.DatabaseRestore{ok, bad} {
			Eventually(func() error { // retried past conflicts with the controller's own writes
				got := fetchRestore(ctx, r)
				got.Spec.KeepPrevious = ptr.To(false)
				return k8sClient.Update(ctx, got)
			}).Should(MatchError(ContainSubstring("spec is immutable")))
		}
		Eventually(eventualHealth(ctx, ok)).Should(And(HaveField("Kstatus", status.CurrentStatus),
			HaveField("ArgoCD", "Healthy"), HaveField("Observed", true)))
		Eventually(eventualHealth(ctx, bad)).Should(And(HaveField("Kstatus", status.FailedStatus),
			HaveField("ArgoCD", "Degraded"), HaveField("Message", ContainSubstring("SHA-256 mismatch")), HaveField("Observed", true)))
	})

	It("a BackupSchedule records every spec change, suspended or not, after its latest backup failed or completed", func() {
		s := newSchedule(ns, "nightly")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(eventualHealth(ctx, s)).Should(And(HaveField("Kstatus", status.CurrentStatus),
			HaveField("ArgoCD", "Healthy"), HaveField("Observed", true)))
		update := func(mutate func(*opsv1alpha1.BackupSchedule)) {
			GinkgoHelper()
			Eventually(func() error {
				got := getSchedule(ctx, s)
				mutate(got)
				return k8sClient.Update(ctx, got)
			}).Should(Succeed())
		}
		update(func(s *opsv1alpha1.BackupSchedule) { s.Spec.Suspend = true })
		Eventually(eventualHealth(ctx, s)).Should(And(HaveField("ArgoCD", "Suspended"), HaveField("Observed", true)))
		update(func(s *opsv1alpha1.BackupSchedule) { s.Spec.Retention.KeepLast = ptr.To(int32(3)) })
		Eventually(eventualHealth(ctx, s)).Should(And(HaveField("Kstatus", status.CurrentStatus), HaveField("Observed", true)))
		update(func(s *opsv1alpha1.BackupSchedule) { s.Spec.Suspend = false; s.Spec.Schedule = "30 2 * * *" })
		Eventually(eventualHealth(ctx, s)).Should(And(HaveField("Kstatus", status.CurrentStatus),
			HaveField("ArgoCD", "Healthy"), HaveField("Observed", true)))
	})
})
