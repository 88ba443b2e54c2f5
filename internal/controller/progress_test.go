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
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/progress"
)

// The suite's progress pace: fast enough for specs, slow enough to count.
const (
	testProgressInterval   = 500 * time.Millisecond
	testProgressStallAfter = 3 * time.Second
)

// fakeJobLogs stands in for pods/log in envtest, which runs no kubelet: nothing
// serves a pod's log there, so the API server's answer is an error. The specs
// set the log text a Job's agent would have printed; the real path (pods/log
// through the API server and the node agent) is exercised on the devcluster.
type fakeJobLogs struct {
	mu    sync.Mutex
	text  map[string]string
	calls map[string]int
}

var testLogs = &fakeJobLogs{text: map[string]string{}, calls: map[string]int{}}

func (f *fakeJobLogs) Tail(_ context.Context, job *batchv1.Job) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := job.Namespace + "/" + job.Name
	f.calls[k]++
	return []byte(f.text[k]), nil
}

// print appends an agent progress line (and its line for people) to job's log.
func (f *fakeJobLogs) print(job *batchv1.Job, r progress.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Time = time.Now().UTC()
	f.text[job.Namespace+"/"+job.Name] += "2026-12-01T10:00:00Z agent: backup progress: …\n" + r.Line() + "\n"
}

func (f *fakeJobLogs) reads(job *batchv1.Job) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[job.Namespace+"/"+job.Name]
}

var _ = Describe("Progress of running backups and restores", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
	})

	backupProgress := func(b *opsv1alpha1.DatabaseBackup) func() *opsv1alpha1.Progress {
		return func() *opsv1alpha1.Progress { return fetch(ctx, b).Status.Progress }
	}
	reconciling := func(obj func() []metav1.Condition) func() string {
		return func() string {
			c := meta.FindStatusCondition(obj(), opsv1alpha1.ConditionReconciling)
			if c == nil {
				return ""
			}
			return c.Message
		}
	}

	It("shows a backup's progress from the agent's log at a bounded rate, says when it stopped moving, and finalises it at 100%", func() {
		b := newBackup(ns, "big", "saas-db")
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		job := runningBackupJob(ctx, b)
		conds := func() []metav1.Condition { return fetch(ctx, b).Status.Conditions }

		testLogs.print(job, progress.Report{Command: "backup", Phase: "dump", BytesDone: 420 << 20, BytesExpected: 1000 << 20, BytesUploaded: 80 << 20, BytesPerSecond: 40 << 20, ETASeconds: 15})
		Eventually(func() string { p := backupProgress(b)(); return summaryOf(p) }).Should(Equal("42%"))
		p := backupProgress(b)()
		Expect(p.BytesDone).To(Equal(int64(420 << 20)))
		Expect(p.BytesExpected).To(Equal(int64(1000 << 20)))
		Expect(*p.Percent).To(Equal(int32(42)))
		Expect(p.EstimatedCompletionTime).NotTo(BeNil())
		Expect(p.LastUpdateTime).NotTo(BeNil())
		Expect(reconciling(conds)()).To(ContainSubstring("420.0 MiB done of about 1000.0 MiB (42%), step dump, expected done at "))

		// The log is read at the configured pace, not on every event.
		start, before := time.Now(), testLogs.reads(job)
		testLogs.print(job, progress.Report{Command: "backup", Phase: "dump", BytesDone: 610 << 20, BytesExpected: 1000 << 20, BytesPerSecond: 40 << 20, ETASeconds: 10})
		Eventually(func() string { return summaryOf(backupProgress(b)()) }).Should(Equal("61%"))
		reads, took := testLogs.reads(job)-before, time.Since(start)
		Expect(reads).To(BeNumerically("<=", int(took/testProgressInterval)+2), "%d log reads in %s", reads, took)

		// The same figures for longer than the stall time: said, not failed.
		Eventually(reconciling(conds)).Should(MatchRegexp(`\(61%\).*; no progress since 20\d\d-`))
		Expect(fetch(ctx, b).Status.Phase).To(Equal(opsv1alpha1.BackupPhaseRunning))

		// The agent's last line says it succeeded; the Job has not yet: 99% until it has.
		testLogs.print(job, progress.Report{Command: "backup", Phase: "dump", BytesDone: 980 << 20, BytesExpected: 1000 << 20, Final: true, Succeeded: true})
		Eventually(func() string { return summaryOf(backupProgress(b)()) }).Should(Equal("99%"))
		Expect(fetch(ctx, b).Status.Phase).To(Equal(opsv1alpha1.BackupPhaseRunning))

		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
		finishJob(ctx, job)
		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		p = backupProgress(b)()
		Expect(summaryOf(p)).To(Equal("100%"))
		Expect(*p.Percent).To(Equal(int32(100)))
		Expect(p.EstimatedCompletionTime).To(BeNil())
		// Finished: the log is not read any more.
		n := testLogs.reads(job)
		Consistently(func() int { return testLogs.reads(job) }, 4*testProgressInterval).Should(Equal(n))
	})

	It("shows a restore's bytes and tables, and keeps the last figures without an estimate when its Job fails", func() {
		completedBackup(ctx, ns, "nightly", "saas-db")
		r := newRestore(ns, "back", "saas-db", fromBackup("nightly"))
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		job := restoreJob(ctx, r)
		restoreProgress := func() *opsv1alpha1.Progress { return fetchRestore(ctx, r).Status.Progress }

		testLogs.print(job, progress.Report{Command: "restore", Phase: "data", BytesDone: 9 << 20, BytesExpected: 10 << 20, TablesDone: 3, TablesTotal: 5, BytesPerSecond: 3 << 20, ETASeconds: 1})
		Eventually(func() string { return summaryOf(restoreProgress()) }).Should(Equal("90%"))
		Expect(restoreProgress().EstimatedCompletionTime).NotTo(BeNil())
		Expect(restoreProgress().TablesDone).To(Equal(int32(3)))
		Expect(restoreCondition(ctx, r, opsv1alpha1.ConditionReconciling)()).To(ContainSubstring("3 of 5 tables loaded, step data"))

		terminatedPod(ctx, job, 1, `{"command":"restore","error":"pg_restore: error: out of disk","durationSeconds":3.1}`)
		failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		Eventually(restorePhase(ctx, r)).Should(Equal(opsv1alpha1.RestorePhaseFailed))
		p := restoreProgress()
		Expect(summaryOf(p)).To(Equal("90%"))
		Expect(p.TablesDone).To(Equal(int32(3)))
		Expect(p.EstimatedCompletionTime).To(BeNil())
	})
})

func summaryOf(p *opsv1alpha1.Progress) string {
	if p == nil {
		return "<none>"
	}
	return strings.TrimSpace(p.Summary)
}
