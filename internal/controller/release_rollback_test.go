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

// Release rollback specs beyond the templates: the DatabaseRestore of the pre-deploy
// backup (rollback.restoreDatabase), the Incident (rollback.openIncident) and a
// component the stable revision does not have. As in release_controller_test.go the
// specs play the Job controller, the Deployment controller and the kubelet; the
// DatabaseBackup and DatabaseRestore controllers are the real ones of the manager.

import (
	"context"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/release"
)

const rollbackRelease = `
version: "1.0.0"
image: saas:1.0.0
database: {secretRef: {name: db}}
backup: {destination: {s3: {bucket: saas-backups, endpoint: 'http://s3.storage:9000', credentialsSecretRef: {name: s3-creds}}}}
migrations: {command: [python, manage.py, migrate, --noinput], planCommand: [python, manage.py, showmigrations, --plan]}
rollback: {restoreDatabase: true, openIncident: P1}
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, ports: [{name: http, containerPort: 8000}]}
verify: {path: /health, interval: 1s, window: 2s, failureThreshold: 2, progressDeadline: 1m}
`

// completeReleaseBackup plays the pre-deploy backup's Job to success (the
// DatabaseBackup controller does the rest) and returns the backup's name.
func completeReleaseBackup(ctx context.Context, rel *opsv1alpha1.Release, revision string) string {
	GinkgoHelper()
	b := &opsv1alpha1.DatabaseBackup{}
	key := client.ObjectKey{Namespace: rel.Namespace, Name: release.BackupName(rel, revision)}
	Eventually(func() error { return k8sClient.Get(ctx, key, b) }).WithTimeout(20 * time.Second).Should(Succeed())
	job := runningBackupJob(ctx, b)
	terminatedPod(ctx, job, 0, backupResult(fetch(ctx, b).Status.Key))
	finishJob(ctx, job)
	Eventually(phaseOf(ctx, b)).WithTimeout(20 * time.Second).Should(Equal(opsv1alpha1.BackupPhaseCompleted))
	return b.Name
}

// stopComponent plays the Deployment controller and the kubelet once a restore scaled
// the component to zero: its pods go and its status says zero replicas.
func stopComponent(ctx context.Context, ns, component string) {
	GinkgoHelper()
	name := opsv1alpha1.ComponentDeploymentName("saas", component)
	Eventually(replicasOf(ctx, ns, name)).WithTimeout(20 * time.Second).Should(BeZero())
	Expect(k8sClient.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0),
		client.MatchingLabels{opsv1alpha1.LabelRelease: "saas", opsv1alpha1.LabelComponent: component})).To(Succeed())
	reportReplicas(ctx, ns, name, 0)
}

func restoresOf(ctx context.Context, ns string) func() []opsv1alpha1.DatabaseRestore {
	return func() []opsv1alpha1.DatabaseRestore {
		var list opsv1alpha1.DatabaseRestoreList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		return list.Items
	}
}

func incidentsOf(ctx context.Context, ns string) func() []opsv1alpha1.Incident {
	return func() []opsv1alpha1.Incident {
		var list opsv1alpha1.IncidentList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		return list.Items
	}
}

var _ = Describe("Release rollback", func() {
	ctx := context.Background()

	It("restores the pre-deploy backup once after migrations, opens one Incident, and deletes a component the stable revision does not have", func() {
		ns := newNamespace(ctx)
		createSecrets(ctx, ns, "db")
		health := healthServer(ns)
		rel := createRelease(ctx, ns, rollbackRelease)
		rev1 := revisionOf(rel)
		completeReleaseBackup(ctx, rel, rev1)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNamePlan, rev1), 0, plan1)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev1), 0, "OK")
		rollOutRevision(ctx, ns, "saas-worker", rev1, 0)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }).WithTimeout(20 * time.Second).Should(Equal(rev1))

		By("1.1.0 adds a beat, migrates, and fails its health checks")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0"
			r.Spec.Components = append(r.Spec.Components, opsv1alpha1.Component{Name: "beat", Strategy: opsv1alpha1.StrategyRecreate, Command: []string{"celery", "-A", "saas", "beat"}})
		})
		rev2 := revisionOf(getRelease(ctx, rel))
		backup2 := completeReleaseBackup(ctx, rel, rev2)
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNamePlan, rev2), 0, "[X]  orders.0002_add_status\n[ ]  orders.0003_index\n")
		finishAppJob(ctx, waitJob(ctx, rel, release.StepNameMigrate, rev2), 0, "OK")
		rollOutRevision(ctx, ns, "saas-worker", rev2, 0)
		rollOutRevision(ctx, ns, "saas-web", rev2, 0)
		health.Store(http.StatusServiceUnavailable)
		rollOutRevision(ctx, ns, "saas-beat", rev2, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("RolledBack"))
		restoreName, incidentName := release.RestoreName(rel, rev2), release.IncidentName(rel, rev2)
		rec := getRelease(ctx, rel).Status.History[0]
		Expect(rec.Message).To(And(ContainSubstring("503"),
			ContainSubstring("the database goes back to pre-deploy backup "+backup2+" with DatabaseRestore "+restoreName),
			ContainSubstring("undoing migrations orders.0003_index")))
		Expect(rec.DatabaseRestore).To(HaveField("Name", restoreName))
		Expect(rec.Incident).To(HaveField("Name", incidentName))

		By("the component 1.0.0 does not have is deleted, the others are back on 1.0.0")
		Eventually(getDeployment(ctx, ns, "saas-beat")).Should(BeNil())
		Expect(templateRevision(ctx, ns, "saas-worker")()).To(Equal(rev1 + " saas:1.0.0"))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.0.0"))

		Eventually(eventReasons(ctx, ns, "saas")).Should(ContainElements(opsv1alpha1.ReasonRestoringDatabase, opsv1alpha1.ReasonIncidentOpened))

		By("a manager killed after the decision, whether or not the objects were created, leaves exactly one of each")
		var before []opsv1alpha1.DatabaseRestore
		restartManager(func() {
			before = restoresOf(ctx, ns)()
			got := getRelease(ctx, rel)
			got.Status.History[0].DatabaseRestore.Created = false // as if the write saying so was lost
			got.Status.History[0].Incident.Created = false
			Expect(k8sClient.Status().Update(ctx, got)).To(Succeed())
		})
		Eventually(func() bool {
			h := getRelease(ctx, rel).Status.History[0]
			return h.DatabaseRestore.Created && h.Incident.Created
		}).WithTimeout(20 * time.Second).Should(BeTrue())
		Eventually(restoresOf(ctx, ns)).Should(HaveLen(1))
		rs := &restoresOf(ctx, ns)()[0]
		if len(before) == 1 {
			Expect(rs.UID).To(Equal(before[0].UID))
		}
		Expect(rs.Name).To(Equal(restoreName))
		Expect(metav1.IsControlledBy(rs, getRelease(ctx, rel))).To(BeTrue())
		Expect(rs.Spec.Source.BackupRef.Name).To(Equal(backup2))
		Expect(rs.Spec.Mode).To(Equal(opsv1alpha1.RestoreModeSwap))
		Expect(rs.Spec.Quiesce.ReleaseRef.Name).To(Equal("saas"))
		Expect(rs.Spec.Database.SecretRef.Name).To(Equal("db"))

		By("the Incident names the release, the revision and the failing check")
		Expect(incidentsOf(ctx, ns)()).To(HaveLen(1))
		inc := incidentsOf(ctx, ns)()[0]
		Expect(inc.Name).To(Equal(incidentName))
		Expect(inc.Spec.Severity).To(Equal(opsv1alpha1.SeverityP1))
		Expect(inc.Spec.Title).To(Equal("Release saas: revision " + rev2 + " (1.1.0) rolled back to 1.0.0"))
		Expect(inc.Spec.Description).To(And(ContainSubstring("health checks failed"), ContainSubstring("503")))
		Expect(inc.Spec.ReleaseRef.Name).To(Equal("saas"))
		Expect(inc.Labels).To(HaveKeyWithValue(opsv1alpha1.LabelRevision, rev2))

		By("the restore quiesces the release (the deleted beat is nothing to stop) and the Release reports it")
		Eventually(releaseAnnotation(ctx, ns, "saas")).WithTimeout(20 * time.Second).Should(Equal(restoreName))
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDatabaseRestored)).Should(And(
			HavePrefix("Unknown RestoringDatabase"), ContainSubstring(backup2)))
		stopComponent(ctx, ns, "worker")
		stopComponent(ctx, ns, "web")
		job := restoreJob(ctx, rs)
		Expect(fetchRestore(ctx, rs).Status.QuiescedWorkloads).To(Equal([]opsv1alpha1.QuiescedWorkload{
			{Kind: opsv1alpha1.WorkloadDeployment, Name: "saas-worker", Replicas: 1},
			{Kind: opsv1alpha1.WorkloadDeployment, Name: "saas-web", Replicas: 1},
		}))
		Expect(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)()).To(HavePrefix("True RolledBack"))
		terminatedPod(ctx, job, 0, restoreResult("saas_pre_restore_20261201100000"))
		finishJob(ctx, job)

		By("after the restore the release runs 1.0.0 again, still Stalled on the rolled-back revision")
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionDatabaseRestored)).WithTimeout(20 * time.Second).Should(
			Equal("True Succeeded: DatabaseRestore " + restoreName + " restored pre-deploy backup " + backup2 + "; the replaced database is kept as saas_pre_restore_20261201100000"))
		Eventually(releaseAnnotation(ctx, ns, "saas")).Should(BeEmpty())
		Eventually(replicasOf(ctx, ns, "saas-web")).Should(Equal(int32(1)))
		Expect(templateRevision(ctx, ns, "saas-web")()).To(Equal(rev1 + " saas:1.0.0"))
		Consistently(getDeployment(ctx, ns, "saas-beat")).WithTimeout(2 * time.Second).Should(BeNil())
		got := getRelease(ctx, rel)
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.ReleasePhaseRolledBack))
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		Expect(restoresOf(ctx, ns)()).To(HaveLen(1))
		Expect(eventReasons(ctx, ns, "saas")()).NotTo(ContainElement(opsv1alpha1.ReasonRestoreFailed))

		By("the retry annotation does not run a revision whose migrations the restore undid")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Annotations = map[string]string{opsv1alpha1.AnnotationRetry: "1"}
		})
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionStalled)).Should(ContainSubstring("change the spec, e.g. the version"))
		Consistently(templateRevision(ctx, ns, "saas-web")).WithTimeout(2 * time.Second).Should(Equal(rev1 + " saas:1.0.0"))
		Expect(restoresOf(ctx, ns)()).To(HaveLen(1))
	})

	It("on a failed first deploy opens the Incident and says the database was not restored", func() {
		ns := newNamespace(ctx)
		createSecrets(ctx, ns, "db")
		health := healthServer(ns)
		health.Store(http.StatusInternalServerError)
		rel := createRelease(ctx, ns, strings.NewReplacer(
			"migrations: {command: [python, manage.py, migrate, --noinput], planCommand: [python, manage.py, showmigrations, --plan]}\n", "",
			"openIncident: P1", "openIncident: P3").Replace(rollbackRelease))
		rev := revisionOf(rel)
		completeReleaseBackup(ctx, rel, rev)
		rollOutRevision(ctx, ns, "saas-worker", rev, 0)
		rollOutRevision(ctx, ns, "saas-web", rev, 0)
		Eventually(func() string { return string(getRelease(ctx, rel).Status.Phase) }).WithTimeout(30 * time.Second).Should(Equal("Failed"))
		Expect(getRelease(ctx, rel).Status.History[0].Message).To(And(ContainSubstring("this is the first deploy"),
			ContainSubstring("the database was not restored either")))
		Eventually(incidentsOf(ctx, ns)).WithTimeout(10 * time.Second).Should(HaveLen(1))
		inc := incidentsOf(ctx, ns)()[0]
		Expect(inc.Spec.Severity).To(Equal(opsv1alpha1.SeverityP3))
		Expect(inc.Spec.Title).To(Equal("Release saas: revision " + rev + " (1.0.0) failed"))
		Expect(inc.Spec.Description).To(ContainSubstring("500"))
		Consistently(restoresOf(ctx, ns)).WithTimeout(2 * time.Second).Should(BeEmpty())
		Expect(ptr.Deref(getDeployment(ctx, ns, "saas-web")().Spec.Replicas, 0)).To(Equal(int32(1)))
	})
})
