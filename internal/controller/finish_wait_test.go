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
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
)

// waitReturns is kubectl wait --for=condition=Reconciling=False's test of one object
// version: the condition exists with that status, and its observedGeneration (when
// set) is not older than the object's generation.
func waitReturns(obj conditions.Object) bool {
	c := meta.FindStatusCondition(obj.GetConditions(), opsv1alpha1.ConditionReconciling)
	return c != nil && c.Status == metav1.ConditionFalse && (c.ObservedGeneration == 0 || c.ObservedGeneration >= obj.GetGeneration())
}

// storedVersion is what one write of a backup or restore looked like.
type storedVersion struct {
	Name     string
	Phase    string
	Returns  bool // kubectl wait --for=condition=Reconciling=False would return
	Finished bool
}

// watchVersions records every version of the namespace's backups and restores the API
// server stores from now on.
func watchVersions(ctx context.Context, ns string) func() []storedVersion {
	GinkgoHelper()
	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var seen []storedVersion
	for _, list := range []client.ObjectList{&opsv1alpha1.DatabaseBackupList{}, &opsv1alpha1.DatabaseRestoreList{}} {
		w, err := wc.Watch(ctx, list, client.InNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Stop)
		go func() {
			for ev := range w.ResultChan() {
				var v storedVersion
				switch o := ev.Object.(type) {
				case *opsv1alpha1.DatabaseBackup:
					v = storedVersion{Name: "backup/" + o.Name, Phase: string(o.Status.Phase), Returns: waitReturns(o),
						Finished: o.Status.Phase == opsv1alpha1.BackupPhaseCompleted || o.Status.Phase == opsv1alpha1.BackupPhaseFailed}
				case *opsv1alpha1.DatabaseRestore:
					v = storedVersion{Name: "restore/" + o.Name, Phase: string(o.Status.Phase), Returns: waitReturns(o), Finished: restoreFinished(o)}
				default:
					continue
				}
				mu.Lock()
				seen = append(seen, v)
				mu.Unlock()
			}
		}()
	}
	return func() []storedVersion {
		mu.Lock()
		defer mu.Unlock()
		return append([]storedVersion(nil), seen...)
	}
}

var _ = Describe("kubectl wait --for=condition=Reconciling=False", func() {
	It("returns once a backup or restore finishes, never before, succeeded or failed, waiting or not", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
		versions := watchVersions(ctx, ns)

		By("a backup that completes while a second one waits for the database lock, then fails")
		ok := newBackup(ns, "ok", "saas-db")
		bad := newBackup(ns, "bad", "saas-db")
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		job := runningBackupJob(ctx, ok)
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		Eventually(func() *metav1.Condition { return conditions.Get(fetch(ctx, bad), opsv1alpha1.ConditionReconciling) }).
			Should(HaveField("Reason", opsv1alpha1.ReasonWaitingForLock))
		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, ok).Status.Key))
		finishJob(ctx, job)
		job = runningBackupJob(ctx, bad)
		terminatedPod(ctx, job, 1, `{"command":"backup","error":"connection refused","durationSeconds":1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

		By("a restore of the completed backup that succeeds, and one from S3 that fails")
		rok := newRestore(ns, "rok", "saas-db", fromBackup("ok"))
		Expect(k8sClient.Create(ctx, rok)).To(Succeed())
		job = restoreJob(ctx, rok)
		terminatedPod(ctx, job, 0, restoreResult("saas_pre_restore_20261128141421"))
		finishJob(ctx, job)
		rbad := newRestore(ns, "rbad", "saas-db")
		Expect(k8sClient.Create(ctx, rbad)).To(Succeed())
		job = restoreJob(ctx, rbad)
		terminatedPod(ctx, job, 1, `{"command":"restore","error":"SHA-256 mismatch","permanent":true,"durationSeconds":1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

		By("a permitted spec change on the finished backups")
		for _, b := range []*opsv1alpha1.DatabaseBackup{ok, bad} {
			Eventually(func() error {
				got := fetch(ctx, b)
				got.Spec.DeletionPolicy = opsv1alpha1.DeletionPolicyDelete
				return k8sClient.Update(ctx, got)
			}).Should(Succeed())
		}

		last := func() map[string]storedVersion {
			out := map[string]storedVersion{}
			for _, v := range versions() {
				out[v.Name] = v
			}
			return out
		}
		Eventually(last).Should(And(
			HaveKeyWithValue("backup/ok", And(HaveField("Phase", "Completed"), HaveField("Returns", true))),
			HaveKeyWithValue("backup/bad", And(HaveField("Phase", "Failed"), HaveField("Returns", true))),
			HaveKeyWithValue("restore/rok", And(HaveField("Phase", "Completed"), HaveField("Returns", true))),
			HaveKeyWithValue("restore/rbad", And(HaveField("Phase", "Failed"), HaveField("Returns", true))),
		), "the wait returns for every finished object, also after a spec change")
		for _, v := range versions() {
			// Between a spec change and the controller's next write a finished object
			// is rightly waited on; an unfinished one must never end the wait.
			if v.Returns {
				Expect(v.Finished).To(BeTrue(), fmt.Sprintf("%s in phase %q: the wait returned before it finished", v.Name, v.Phase))
			}
		}
	})
})
