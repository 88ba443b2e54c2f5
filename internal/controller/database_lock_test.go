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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/dblock"
	"runbook-operator/internal/jobs"
)

// jobFinishedNow reports whether a Job has a Complete or Failed condition.
func jobFinishedNow(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// watchUnfinishedJobs records, from every Job event the API server sends, the largest
// number of unfinished backup/restore Jobs that existed at once in each namespace.
func watchUnfinishedJobs(ctx context.Context) func() map[string]int {
	GinkgoHelper()
	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &batchv1.JobList{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	live := map[string]map[string]bool{}
	most := map[string]int{}
	go func() {
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok {
				continue
			}
			mu.Lock()
			if live[j.Namespace] == nil {
				live[j.Namespace] = map[string]bool{}
			}
			if ev.Type == "DELETED" || jobFinishedNow(j) {
				delete(live[j.Namespace], j.Name)
			} else {
				live[j.Namespace][j.Name] = true
			}
			most[j.Namespace] = max(most[j.Namespace], len(live[j.Namespace]))
			mu.Unlock()
		}
	}()
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range most {
			out[k] = v
		}
		return out
	}
}

// finishOneJob waits for the one unfinished agent Job in ns and plays it to success.
func finishOneJob(ctx context.Context, ns string) {
	GinkgoHelper()
	var job *batchv1.Job
	Eventually(func() []string {
		var list batchv1.JobList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var names []string
		for i := range list.Items {
			if !jobFinishedNow(&list.Items[i]) {
				job = &list.Items[i]
				names = append(names, job.Name)
			}
		}
		return names
	}).Should(HaveLen(1))
	result := restoreResult("saas_pre_restore_20261128141421")
	if job.Labels[jobs.LabelComponent] == jobs.ComponentBackup {
		result = backupResult(job.Annotations[jobs.AnnotationKey])
	}
	terminatedPod(ctx, job, 0, result)
	finishJob(ctx, job)
}

var _ = Describe("database lock", func() {
	It("never lets a backup and a restore of one database, created at the same moment, run at once", func(ctx SpecContext) {
		most := watchUnfinishedJobs(ctx)
		const rounds = 20
		var namespaces []string
		for i := range rounds {
			ns := newNamespace(ctx)
			namespaces = append(namespaces, ns)
			createSecrets(ctx, ns, "saas-db")
			b := newBackup(ns, fmt.Sprintf("b%d", i), "saas-db")
			r := newRestore(ns, fmt.Sprintf("r%d", i), "saas-db")
			// The restore first, the backup while the restore's first reconcile runs:
			// the restore may not see the backup yet, and the backup may see the
			// restore still Pending.
			Expect(k8sClient.Create(ctx, r)).To(Succeed())
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			finishOneJob(ctx, ns)
			finishOneJob(ctx, ns)
			Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
			Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseCompleted))
		}
		got := most()
		for _, ns := range namespaces {
			Expect(got).To(HaveKeyWithValue(ns, 1), "at most one unfinished Job of the database at any moment")
		}
	})

	It("takes the Lease over from a holder that is gone, and releases it when the backup finishes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
		stale := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dblock.LeaseName("saas-db")},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(dblock.Identity("DatabaseRestore", "crashed", "0000"))},
		}
		Expect(k8sClient.Create(ctx, stale)).To(Succeed())
		b := newBackup(ns, "after-crash", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		lease := &coordinationv1.Lease{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(stale), lease)).To(Succeed())
		Expect(*lease.Spec.HolderIdentity).To(Equal(dblock.Identity("DatabaseBackup", b.Name, string(fetch(ctx, b).UID))))
		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
		finishJob(ctx, job)
		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(stale), &coordinationv1.Lease{}))
		}).Should(BeTrue(), "the finished backup released the Lease")
	})
})
