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

// Crash safety of the Release pipeline: the manager is stopped in each step, the
// cluster moves on while it is down (the step's Job or rollout finishes, or a status
// write it made is lost as when it crashed between creating a child and recording it),
// and a new manager must finish the revision without a second DatabaseBackup or Job
// and without starting the verification window over.

import (
	"context"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/release"
)

// restartRelease is fullRelease with a pre-deploy backup and a window long enough for
// a restart to fall inside it; the spec moves the reconciler's clock past it.
var restartRelease = strings.NewReplacer(
	"backup: {enabled: false}", "backup: {destination: {s3: {bucket: saas-backups, endpoint: 'http://s3.storage:9000', credentialsSecretRef: {name: s3-creds}}}}",
	"window: 2s", "window: 10m",
).Replace(fullRelease)

const restartWindow = 10 * time.Minute

// setReleaseStatus changes the Release's status as the API server has it.
func setReleaseStatus(ctx context.Context, rel *opsv1alpha1.Release, mutate func(*opsv1alpha1.ReleaseStatus)) {
	GinkgoHelper()
	Eventually(func() error {
		got := getRelease(ctx, rel)
		mutate(&got.Status)
		return k8sClient.Status().Update(ctx, got)
	}).Should(Succeed())
}

func releaseProgress(ctx context.Context, rel *opsv1alpha1.Release) func() opsv1alpha1.ReleaseProgress {
	return func() opsv1alpha1.ReleaseProgress {
		if p := getRelease(ctx, rel).Status.Progress; p != nil {
			return *p
		}
		return opsv1alpha1.ReleaseProgress{}
	}
}

var _ = Describe("Release crash safety", func() {
	ctx := context.Background()

	DescribeTable("a manager killed in a step and started again finishes the revision with no second backup or Job and the verification window resumed",
		func(crashIn string, lose func(*opsv1alpha1.ReleaseStatus)) {
			ns := newNamespace(ctx)
			createSecrets(ctx, ns, "db")
			healthServer(ns)
			rel := createRelease(ctx, ns, restartRelease)
			rev := revisionOf(rel)
			DeferCleanup(func() { releaseClockOffset.Store(0) })

			// Each step: wait until the pipeline is in it, then let it finish; in the
			// step crashIn the manager is down while it finishes (and loses a write).
			step := func(name string, finish func()) {
				if name != crashIn {
					finish()
					return
				}
				By("the manager stops in step " + name + " and the step finishes while it is down")
				restartManager(func() {
					if lose != nil {
						setReleaseStatus(ctx, rel, lose)
					}
					finish()
				})
			}

			b := &opsv1alpha1.DatabaseBackup{}
			Eventually(func() error {
				return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: release.BackupName(rel, rev)}, b)
			}).WithTimeout(10 * time.Second).Should(Succeed())
			backupJob := getJob(ctx, ns, jobs.BackupJobName(b))
			Eventually(func() string { return releaseProgress(ctx, rel)().Backup }).Should(Equal(b.Name))
			step("backup", func() {
				terminatedPod(ctx, backupJob, 0, backupResult(fetch(ctx, b).Status.Key))
				finishJob(ctx, backupJob)
			})

			plan := waitJob(ctx, rel, release.StepNamePlan, rev)
			step("plan", func() { finishAppJob(ctx, plan, 0, plan1) })

			migrate := waitJob(ctx, rel, release.StepNameMigrate, rev)
			Eventually(func() string { return releaseProgress(ctx, rel)().MigrationJob }).Should(Equal(migrate.Name))
			step("migrate", func() { finishAppJob(ctx, migrate, 0, "Applying orders.0002_add_status... OK") })

			collectstatic := waitJob(ctx, rel, "collectstatic", rev)
			Eventually(func() string { return releaseProgress(ctx, rel)().PreDeployJob }).Should(Equal(collectstatic.Name))
			step("pre-deploy", func() { finishAppJob(ctx, collectstatic, 0, "") })

			Eventually(templateRevision(ctx, ns, "saas-worker")).WithTimeout(20 * time.Second).Should(Equal(rev + " saas:1.0.0"))
			step("rollout", func() { rollOutRevision(ctx, ns, "saas-worker", rev, 0) })
			rollOutRevision(ctx, ns, "saas-web", rev, 0)

			Eventually(func() *metav1.Time { return releaseProgress(ctx, rel)().LastCheckTime }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
			started := releaseProgress(ctx, rel)().VerifyStartTime
			Expect(started).NotTo(BeNil())
			step("verify", func() {})
			if crashIn == "verify" {
				// Status times have second precision: a check after this one was made
				// by the new manager.
				after := time.Now().Truncate(time.Second).Add(time.Second)
				Eventually(func() time.Time { return releaseProgress(ctx, rel)().LastCheckTime.Time }).WithTimeout(20 * time.Second).
					Should(BeTemporally(">=", after))
			}
			Expect(releaseProgress(ctx, rel)().VerifyStartTime.Equal(started)).To(BeTrue(),
				"the verification window started over: %v, first %v", releaseProgress(ctx, rel)().VerifyStartTime, started)

			By("the window, counted from the recorded start, passes")
			releaseClockOffset.Store(int64(restartWindow))
			Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Deployed"))

			got := getRelease(ctx, rel)
			Expect(got.Status.History).To(HaveLen(1))
			Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionSucceeded))
			Expect(got.Status.History[0].Backup).To(Equal(b.Name))
			Expect(got.Status.History[0].AppliedMigrations).To(Equal([]string{"orders.0002_add_status"}))
			Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionBackupSucceeded)()).To(HavePrefix("True"))
			var backups opsv1alpha1.DatabaseBackupList
			Expect(k8sClient.List(ctx, &backups, client.InNamespace(ns))).To(Succeed())
			Expect(backups.Items).To(HaveLen(1), "one pre-deploy backup")
			var jobList batchv1.JobList
			Expect(k8sClient.List(ctx, &jobList, client.InNamespace(ns))).To(Succeed())
			var names []string
			for _, j := range jobList.Items {
				names = append(names, j.Name)
			}
			Expect(names).To(ConsistOf(backupJob.Name, plan.Name, migrate.Name, collectstatic.Name), "one Job per step")
		},
		Entry("backing up, the DatabaseBackup created but not yet recorded in status", "backup",
			func(st *opsv1alpha1.ReleaseStatus) { st.Progress.Backup, st.History[0].Backup = "", "" }),
		Entry("recording the migration plan", "plan", nil),
		Entry("migrating, the migration Job created but not yet recorded in status", "migrate",
			func(st *opsv1alpha1.ReleaseStatus) { st.Progress.MigrationJob = "" }),
		Entry("running a pre-deploy Job, the Job created but not yet recorded in status", "pre-deploy",
			func(st *opsv1alpha1.ReleaseStatus) { st.Progress.PreDeployJob = "" }),
		Entry("rolling out the first of two components", "rollout", nil),
		Entry("verifying", "verify", nil),
	)

	It("finishes a rollback whose template writes a crash cut off: the decision is in status, the next manager writes the stable templates", func() {
		ns := newNamespace(ctx)
		health := healthServer(ns)
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 10m, failureThreshold: 2}
`)
		rev1 := revisionOf(rel)
		DeferCleanup(func() { releaseClockOffset.Store(0) })
		rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() *metav1.Time { return releaseProgress(ctx, rel)().VerifyStartTime }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		releaseClockOffset.Store(int64(restartWindow))
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))
		releaseClockOffset.Store(0)

		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("Verifying"))

		By("the API server refuses every write of the stable template (a ValidatingAdmissionPolicy), as if the manager died before making them")
		refuseRev1 := "object.spec.template.metadata.labels['" + opsv1alpha1.LabelRevision + "'] != '" + rev1 + "'"
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "refuse-rollback-" + ns},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					}}},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: refuseRev1, Message: "stable template refused by the test"}},
			},
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
		}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		writeRev1 := func() error { // a dry run of the rollback's write to saas-web
			d := getDeployment(ctx, ns, "saas-web")()
			d.Spec.Template.Labels[opsv1alpha1.LabelRevision] = rev1
			return k8sClient.Update(ctx, d, client.DryRunAll)
		}
		Eventually(writeRev1).WithTimeout(20 * time.Second).Should(MatchError(ContainSubstring("stable template refused by the test")))

		By("1.1.0 fails its checks: the rollback is decided and recorded, its writes are refused")
		health.Store(http.StatusServiceUnavailable)
		Eventually(func() string {
			got := getRelease(ctx, rel)
			return string(got.Status.Phase) + " " + string(got.Status.History[0].Result)
		}).WithTimeout(20 * time.Second).Should(Equal("RollingBack RolledBack"))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev2 + " saas:1.1.0"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(HavePrefix("Unknown HealthCheckFailed"), "the decision is visible before its writes")

		By("a new manager, with the writes allowed again, finishes the rollback")
		restartManager(func() {
			Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
			Expect(k8sClient.Delete(ctx, policy)).To(Succeed())
			Eventually(writeRev1).WithTimeout(20 * time.Second).Should(Succeed())
		})
		for _, c := range []string{"saas-worker", "saas-web"} {
			Eventually(templateRevision(ctx, ns, c)).WithTimeout(20 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))
		}
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(20 * time.Second).Should(Equal("RolledBack"))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionRolledBack)()).To(And(HavePrefix("True HealthCheckFailed"), ContainSubstring("503")))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("True RolledBack"))
		got := getRelease(ctx, rel)
		Expect(got.Status.StableRevision).To(Equal(rev1))
		Expect(got.Status.History[0].Revision).To(Equal(rev2))
		Expect(got.Status.History[0].Result).To(Equal(opsv1alpha1.RevisionRolledBack))
	})
})
