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
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/metrics"
)

func newSchedule(ns, name string, mutate ...func(*opsv1alpha1.BackupSchedule)) *opsv1alpha1.BackupSchedule {
	s := &opsv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.BackupScheduleSpec{
			Schedule: "0 3 * * *",
			TimeZone: "Europe/Berlin",
			Template: opsv1alpha1.BackupTemplate{
				Metadata: opsv1alpha1.TemplateMetadata{Labels: map[string]opsv1alpha1.LabelValue{"app.kubernetes.io/part-of": "saas"}},
				Spec:     newBackup(ns, "x", "saas-db").Spec,
			},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func getSchedule(ctx context.Context, s *opsv1alpha1.BackupSchedule) *opsv1alpha1.BackupSchedule {
	out := &opsv1alpha1.BackupSchedule{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(s), out)).To(Succeed())
	return out
}

// poke makes the reconciler look at s now (the fake clock does not wake it).
func poke(ctx context.Context, s *opsv1alpha1.BackupSchedule) {
	GinkgoHelper()
	Eventually(func() error {
		got := getSchedule(ctx, s)
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		got.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

func backupNames(ctx context.Context, ns string) func() []string {
	return func() []string {
		var list opsv1alpha1.DatabaseBackupList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var names []string
		for _, b := range list.Items {
			if b.DeletionTimestamp.IsZero() {
				names = append(names, b.Name)
			}
		}
		slices.Sort(names)
		return names
	}
}

func scheduledCondition(ctx context.Context, s *opsv1alpha1.BackupSchedule, condType string) func() *metav1.Condition {
	return func() *metav1.Condition {
		return meta.FindStatusCondition(getSchedule(ctx, s).Status.Conditions, condType)
	}
}

// finishBackup plays the backup's Job to success or failure.
func finishBackup(ctx context.Context, ns, name string, ok bool) {
	GinkgoHelper()
	b := &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	job := runningBackupJob(ctx, b)
	if ok {
		terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
		finishJob(ctx, job)
		Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
		return
	}
	terminatedPod(ctx, job, 1, `{"command":"backup","error":"connection refused","durationSeconds":1}`)
	failJob(ctx, job, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
	Eventually(phaseOf(ctx, b)).Should(Equal(opsv1alpha1.BackupPhaseFailed))
}

var _ = Describe("BackupSchedule", func() {
	var (
		ctx    context.Context
		ns     string
		berlin *time.Location
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		createSecrets(ctx, ns, "saas-db")
		var err error
		berlin, err = time.LoadLocation("Europe/Berlin")
		Expect(err).NotTo(HaveOccurred())
		testClock.Set(time.Now())
	})

	It("creates one backup per scheduled time with a deterministic name, skips a run while the previous backup runs, and follows the latest outcome", func() {
		s := newSchedule(ns, "nightly")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		created := getSchedule(ctx, s).CreationTimestamp.Time

		By("computing the next 03:00 Berlin time without running anything yet")
		Eventually(func() *metav1.Time { return getSchedule(ctx, s).Status.NextScheduleTime }).ShouldNot(BeNil())
		next := getSchedule(ctx, s).Status.NextScheduleTime.Time
		Expect(next.In(berlin).Hour()).To(Equal(3))
		Expect(next.In(berlin).Minute()).To(Equal(0))
		Expect(next.After(created)).To(BeTrue())
		Expect(next.Sub(created)).To(BeNumerically("<=", 25*time.Hour))
		Expect(meta.IsStatusConditionTrue(getSchedule(ctx, s).Status.Conditions, opsv1alpha1.ConditionReady)).To(BeTrue())
		Expect(getSchedule(ctx, s).Status.Phase).To(Equal(opsv1alpha1.SchedulePhaseActive))
		Expect(backupNames(ctx, ns)()).To(BeEmpty())
		db := s.Spec.Template.Spec.Database.SecretRef.Name
		Expect(testutil.ToFloat64(metrics.BackupScheduleInfo.WithLabelValues(ns, "nightly", db))).To(Equal(1.0),
			"the alerts expect a backup of the schedule's database (RunbookBackupAbsent)")

		By("reaching the scheduled time")
		testClock.Set(next.Add(20 * time.Second))
		poke(ctx, s)
		first := BackupName("nightly", next)
		Expect(first).To(MatchRegexp(`^nightly-\d{12}$`))
		Eventually(backupNames(ctx, ns)).Should(Equal([]string{first}))
		b := fetch(ctx, &opsv1alpha1.DatabaseBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: first}})
		Expect(b.Labels).To(HaveKeyWithValue("app.kubernetes.io/part-of", "saas"))
		Expect(b.Labels).To(HaveKeyWithValue(opsv1alpha1.LabelBackupSchedule, "nightly"))
		Expect(metav1.IsControlledBy(b, getSchedule(ctx, s))).To(BeTrue())
		Eventually(func() []string { return getSchedule(ctx, s).Status.Active }).Should(Equal([]string{first}))

		By("restarting the manager: nothing is created twice")
		restartManager(nil)
		poke(ctx, s)
		Consistently(backupNames(ctx, ns)).Should(Equal([]string{first}))
		Expect(getSchedule(ctx, s).Status.LastScheduleTime.Time).To(BeTemporally("==", next))

		By("skipping the next run while the first backup still runs")
		second := next.Add(24 * time.Hour)
		testClock.Set(second.Add(30 * time.Second))
		poke(ctx, s)
		Eventually(scheduledCondition(ctx, s, opsv1alpha1.ConditionScheduled)).Should(
			HaveField("Reason", opsv1alpha1.ReasonRunSkipped))
		Expect(getSchedule(ctx, s).Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring(first+" is still running"))))
		Eventually(eventReasons(ctx, ns, "nightly")).Should(ContainElement(opsv1alpha1.ReasonRunSkipped))
		Consistently(backupNames(ctx, ns)).Should(Equal([]string{first}))

		By("a failed backup turns the schedule not Ready")
		finishBackup(ctx, ns, first, false)
		poke(ctx, s)
		Eventually(scheduledCondition(ctx, s, opsv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", opsv1alpha1.ReasonBackupFailed)))
		Expect(getSchedule(ctx, s).Status.LastFailedBackup).To(Equal(first))
		Expect(getSchedule(ctx, s).Status.Phase).To(Equal(opsv1alpha1.SchedulePhaseFailing))

		By("the next successful backup turns it Ready again")
		third := second.Add(24 * time.Hour)
		testClock.Set(third.Add(10 * time.Second))
		poke(ctx, s)
		thirdName := BackupName("nightly", third)
		Eventually(backupNames(ctx, ns)).Should(ContainElement(thirdName))
		finishBackup(ctx, ns, thirdName, true)
		Eventually(scheduledCondition(ctx, s, opsv1alpha1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))
		got := getSchedule(ctx, s)
		Expect(got.Status.LastSuccessfulBackup).To(Equal(thirdName))
		Expect(got.Status.LastSuccessfulTime).NotTo(BeNil())
		Expect(got.Status.LastFailedBackup).To(Equal(first))
		Expect(got.Status.Active).To(BeEmpty())
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.SchedulePhaseActive))
		Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))

		By("a deleted schedule expects no more backups")
		Expect(k8sClient.Delete(ctx, got)).To(Succeed())
		Eventually(func() int { return seriesIn(metrics.BackupScheduleInfo, ns) }).Should(BeZero())
	})

	It("takes exactly one catch-up backup after a long outage with missedRunPolicy RunOnce, and none with Skip", func() {
		once := newSchedule(ns, "once", func(s *opsv1alpha1.BackupSchedule) { s.Spec.Schedule = "0 * * * *" })
		skip := newSchedule(ns, "skip", func(s *opsv1alpha1.BackupSchedule) {
			s.Spec.Schedule = "0 * * * *"
			s.Spec.MissedRunPolicy = opsv1alpha1.MissedRunSkip
			s.Spec.Template.Spec.Database.SecretRef.Name = "other-db"
		})
		Expect(k8sClient.Create(ctx, once)).To(Succeed())
		Expect(k8sClient.Create(ctx, skip)).To(Succeed())
		Eventually(func() *metav1.Time { return getSchedule(ctx, once).Status.NextScheduleTime }).ShouldNot(BeNil())
		Eventually(func() *metav1.Time { return getSchedule(ctx, skip).Status.NextScheduleTime }).ShouldNot(BeNil())

		var latest time.Time
		restartManager(func() {
			// A day and a half with the manager down: 36 hourly runs missed, and the
			// latest 25 minutes ago (from the hour, not the wall clock's minute: a
			// run only minutes late is on time, not missed).
			now := testClock.Now().Truncate(time.Hour).Add(36*time.Hour + 25*time.Minute)
			testClock.Set(now)
			latest = now.Truncate(time.Hour)
		})
		poke(ctx, once)
		poke(ctx, skip)
		Eventually(backupNames(ctx, ns)).Should(Equal([]string{BackupName("once", latest)}))
		Consistently(backupNames(ctx, ns)).Should(HaveLen(1))
		Eventually(eventReasons(ctx, ns, "once")).Should(ContainElement(opsv1alpha1.ReasonCatchUp))
		Eventually(scheduledCondition(ctx, skip, opsv1alpha1.ConditionScheduled)).Should(And(
			HaveField("Reason", opsv1alpha1.ReasonRunSkipped), HaveField("Message", ContainSubstring("missedRunPolicy is Skip"))))
		Expect(getSchedule(ctx, skip).Status.LastScheduleTime.Time).To(BeTemporally("==", latest))
	})

	It("prunes finished backups by retention, keeping the newest completed, failed ones up to keepFailed, and running ones", func() {
		s := newSchedule(ns, "gfs", func(s *opsv1alpha1.BackupSchedule) {
			s.Spec.Suspend = true
			s.Spec.Retention = opsv1alpha1.Retention{KeepLast: ptr.To[int32](2), KeepFailed: ptr.To[int32](1)}
		})
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		s = getSchedule(ctx, s)
		base := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
		fixtures := []struct {
			day   int
			phase opsv1alpha1.BackupPhase
		}{{1, "Completed"}, {2, "Completed"}, {3, "Failed"}, {4, "Completed"}, {5, "Failed"}, {6, "Completed"}, {7, "Failed"}}
		restartManager(func() {
			for _, f := range fixtures {
				t := base.Add(time.Duration(f.day) * 24 * time.Hour)
				b := backupFor(s, t)
				Expect(k8sClient.Create(ctx, b)).To(Succeed())
				b.Status.Phase = f.phase
				b.Status.StartTime = &metav1.Time{Time: t}
				b.Status.CompletionTime = &metav1.Time{Time: t.Add(time.Minute)}
				Expect(k8sClient.Status().Update(ctx, b)).To(Succeed())
			}
		})
		poke(ctx, s)
		name := func(day int) string { return BackupName("gfs", base.Add(time.Duration(day)*24*time.Hour)) }
		Eventually(backupNames(ctx, ns)).Should(ConsistOf(name(4), name(6), name(7)))
		Eventually(eventReasons(ctx, ns, "gfs")).Should(ContainElement(opsv1alpha1.ReasonPruned))
		// The event is sent before the reconcile's status patch: wait for the status.
		Eventually(func() opsv1alpha1.BackupScheduleStatus { return getSchedule(ctx, s).Status }).Should(And(
			HaveField("LastSuccessfulBackup", name(6)),
			HaveField("LastFailedBackup", name(7)),
			HaveField("Phase", opsv1alpha1.SchedulePhaseSuspended),
			HaveField("Conditions", ContainElement(And(HaveField("Type", opsv1alpha1.ConditionReady),
				HaveField("Status", metav1.ConditionFalse)))),
		), "the latest outcome is a failure")
		Expect(scheduledCondition(ctx, s, opsv1alpha1.ConditionScheduled)()).To(HaveField("Reason", opsv1alpha1.ReasonSuspended))
		Expect(countJobs(ctx, ns, jobs.ComponentBackup)()).To(Equal(0))
	})

	It("stalls naming spec.timeZone on a zone of IANA shape that the zone database lacks", func() {
		// The API server refuses the zone now (its zone database lacks it too); the
		// manager's own database can be older than the API server's, so the schedule
		// is stored as the CRD without that rule let it through (storedWithoutRule checks
		// that the API server refuses it again afterwards).
		s := newSchedule(ns, "badtz", func(s *opsv1alpha1.BackupSchedule) { s.Spec.TimeZone = "Mars/Olympus_Mons" })
		storedWithoutRule(ctx, "backupschedules.ops.runbook.dev", []string{"spec", "timeZone"},
			[]string{"x-kubernetes-validations"}, unstructuredOf(s, "BackupSchedule"))
		Eventually(scheduledCondition(ctx, s, opsv1alpha1.ConditionStalled)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring(`spec.timeZone: unknown time zone "Mars/Olympus_Mons"`))))
		Expect(kstatusOf(getSchedule(ctx, s))).To(Equal(status.FailedStatus))
		Expect(getSchedule(ctx, s).Status.Phase).To(Equal(opsv1alpha1.SchedulePhaseInvalid))
	})
})
