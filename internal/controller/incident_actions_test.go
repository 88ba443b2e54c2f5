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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/release"
)

// evidenceBundle reads the incident's evidence ConfigMaps and joins their pieces.
func evidenceBundle(ctx context.Context, inc *opsv1alpha1.Incident) string {
	GinkgoHelper()
	got := getIncident(ctx, inc)
	Expect(got.Status.Evidence).NotTo(BeNil())
	var pieces []string
	for _, name := range got.Status.Evidence.ConfigMaps {
		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, &cm)).To(Succeed())
		pieces = append(pieces, cm.Data[incident.EvidenceKey])
	}
	bundle := strings.Join(pieces, "")
	Expect(evidenceSum(bundle)).To(Equal(got.Status.Evidence.SHA256))
	return bundle
}

// actionState is the state of the incident's action, "" before it is decided.
func actionState(ctx context.Context, inc *opsv1alpha1.Incident, action string) func() opsv1alpha1.IncidentActionState {
	return func() opsv1alpha1.IncidentActionState {
		st := getIncident(ctx, inc).Status
		if rec := incident.FindAction(&st, action); rec != nil {
			return rec.State
		}
		return ""
	}
}

// checkResult is `agent check`'s JSON result for a reachable database.
func checkResult() string {
	started := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	b, err := json.Marshal(agent.Result{Command: "check", Database: "shop", ServerVersion: "17.2", Check: &agent.DatabaseCheck{
		Server: "db:5432", Connected: true, ConnectMillis: 3.1, LatencyMillis: 0.4, ServerStartedAt: &started,
		Connections: &agent.ConnectionCounts{Total: 97, Database: 95, Max: 100, Reserved: 3, ByState: map[string]int{"active": 40, "idle in transaction": 55}},
	}})
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

var _ = Describe("Incident actions", func() {
	var ctx context.Context
	var ns string

	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		incidentClock.SetNow(time.Now())
	})

	newRelease := func(name string, db bool) *opsv1alpha1.Release {
		GinkgoHelper()
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.0.0", Image: "example.com/" + name + ":1.0.0", Components: []opsv1alpha1.Component{{Name: "web"}}}}
		if db {
			rel.Spec.Database = &opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: name + "-db"}}
			rel.Spec.Backup = &opsv1alpha1.ReleaseBackup{Enabled: ptr.To(false)}
		}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		return rel
	}
	newIncident := func(name string, response opsv1alpha1.IncidentResponse, rel string) *opsv1alpha1.Incident {
		GinkgoHelper()
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP1, Title: "Checkout returns 500", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: rel}, Response: &response}}
		Expect(k8sClient.Create(ctx, inc)).To(Succeed())
		return inc
	}

	It("runs the database check once as an agent Job before the evidence is stored, across a restart, puts its report in the bundle, and records a failed check while the other actions go on", func() {
		createSecrets(ctx, ns, "shop-db")
		newRelease("shop", true)
		inc := newIncident("dbcheck", opsv1alpha1.IncidentResponse{CaptureEvidence: true, Isolate: &opsv1alpha1.IsolateAction{}}, "shop")
		job := getJob(ctx, ns, jobs.CheckJobName(inc))
		got := getIncident(ctx, inc)
		Expect(metav1.IsControlledBy(job, got)).To(BeTrue())
		Expect(job.Spec.Template.Spec.Containers[0].Args[:3]).To(HaveExactElements("check", "--connect-timeout", agent.DefaultCheckConnectTimeout.String()))
		Eventually(func() string {
			st := getIncident(ctx, inc).Status
			return incident.FindAction(&st, incident.ActionEvidence).Object
		}).Should(Equal(job.Name), "the Job is recorded once created")
		Consistently(actionState(ctx, inc, incident.ActionIsolate), "1s").Should(BeEmpty(), "nothing changes the pods before the evidence is stored")

		By("the manager stops while the check runs, and the check ends meanwhile")
		uid := job.UID
		restartManager(func() {
			terminatedPod(ctx, job, 0, checkResult())
			finishJob(ctx, job)
		})
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured), "10s").Should(HavePrefix("True"))
		Expect(getJob(ctx, ns, job.Name).UID).To(Equal(uid), "the check ran once")
		bundle := evidenceBundle(ctx, inc)
		Expect(bundle).To(ContainSubstring("=== database check ==="))
		Expect(bundle).To(ContainSubstring(`database "shop" on db:5432: connected in 3.1 ms, SELECT 1 in 0.4 ms, PostgreSQL 17.2`))
		Expect(bundle).To(ContainSubstring("connections: 97 of 100 (3 reserved"))
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionDatabaseChecked)()).To(HavePrefix("True"))
		Expect(incident.HasEntry(&getIncident(ctx, inc).Status, "evidence/db-check")).To(BeTrue())
		Eventually(actionState(ctx, inc, incident.ActionIsolate), "10s").Should(Equal(opsv1alpha1.ActionSucceeded))

		By("a check Job that times out: a timeline entry and a condition, the evidence stored without it, the other actions run")
		failed := newIncident("dbfail", opsv1alpha1.IncidentResponse{CaptureEvidence: true, Isolate: &opsv1alpha1.IsolateAction{}}, "shop")
		fjob := getJob(ctx, ns, jobs.CheckJobName(failed))
		failJob(ctx, fjob, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		Eventually(condStatus(ctx, failed, opsv1alpha1.ConditionDatabaseChecked), "10s").Should(And(HavePrefix("False"), ContainSubstring("timed out")))
		Eventually(condStatus(ctx, failed, opsv1alpha1.ConditionEvidenceCaptured), "10s").Should(HavePrefix("True"))
		Expect(incident.HasEntry(&getIncident(ctx, failed).Status, "evidence/db-check/failed")).To(BeTrue())
		Expect(evidenceBundle(ctx, failed)).To(ContainSubstring("the database check did not run to its end: Database check Job " + fjob.Name + " timed out"))
		Eventually(actionState(ctx, failed, incident.ActionIsolate), "10s").Should(Equal(opsv1alpha1.ActionSucceeded))

		By("a manager stopped after deciding the evidence, before the check Job existed: the next one creates it")
		decided := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "decided", Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP1, Title: "Checkout returns 500", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "shop"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true}}}
		restartManager(func() {
			Expect(k8sClient.Create(ctx, decided)).To(Succeed())
			now := metav1.Now()
			decided.Status = opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseOpen, OpenedAt: &now, ResponseDeadline: &now, DedupKey: incident.DedupKey(decided.UID),
				Actions: []opsv1alpha1.IncidentActionRecord{{Name: incident.ActionEvidence, State: opsv1alpha1.ActionRunning, StartTime: &now}}}
			Expect(k8sClient.Status().Update(ctx, decided)).To(Succeed())
		})
		djob := getJob(ctx, ns, jobs.CheckJobName(decided))
		terminatedPod(ctx, djob, 0, checkResult())
		finishJob(ctx, djob)
		Eventually(condStatus(ctx, decided, opsv1alpha1.ConditionEvidenceCaptured), "10s").Should(HavePrefix("True"))
		Expect(evidenceBundle(ctx, decided)).To(ContainSubstring(`database "shop" on db:5432: connected`))

		By("a release without spec.database: no check Job")
		newRelease("plain", false)
		plain := newIncident("nodb", opsv1alpha1.IncidentResponse{CaptureEvidence: true}, "plain")
		Eventually(condStatus(ctx, plain, opsv1alpha1.ConditionEvidenceCaptured), "10s").Should(HavePrefix("True"))
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobs.CheckJobName(plain)}, &batchv1.Job{})).NotTo(Succeed())
	})

	It("takes the release offline through the quiesce contract: counts recorded first, a restart between deciding and scaling scales once from the recorded counts, the Release controller leaves them down, and resolution puts them back", func() {
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, replicas: 3}
- {name: worker, replicas: 1}
`)
		replicas := func(name string) func() int32 {
			return func() int32 {
				if d := getDeployment(ctx, ns, name)(); d != nil {
					return ptr.Deref(d.Spec.Replicas, -1)
				}
				return -1
			}
		}
		rollOutRevision(ctx, ns, "saas-web", revisionOf(rel), 0)
		rollOutRevision(ctx, ns, "saas-worker", revisionOf(rel), 0)
		Eventually(replicas("saas-web"), "20s").Should(Equal(int32(3)))
		Eventually(replicas("saas-worker"), "20s").Should(Equal(int32(1)))

		By("the manager decided (counts recorded) and scaled saas-web, then stopped before the rest")
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "offline", Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP0, Title: "Data breach", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: false, TakeOffline: &opsv1alpha1.TakeOfflineAction{RestoreOnResolve: true}}}}
		restartManager(func() {
			Expect(k8sClient.Create(ctx, inc)).To(Succeed())
			now := metav1.Now()
			inc.Status = opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseOpen, OpenedAt: &now, ResponseDeadline: &now, DedupKey: incident.DedupKey(inc.UID),
				Actions: []opsv1alpha1.IncidentActionRecord{{Name: incident.ActionTakeOffline, State: opsv1alpha1.ActionRunning, StartTime: &now,
					Replicas: map[string]int32{"saas-web": 3, "saas-worker": 1}, Object: "Release/saas"}}}
			Expect(k8sClient.Status().Update(ctx, inc)).To(Succeed())
			d := getDeployment(ctx, ns, "saas-web")()
			d.Spec.Replicas = ptr.To[int32](0)
			Expect(k8sClient.Update(ctx, d)).To(Succeed())
		})
		Eventually(actionState(ctx, inc, incident.ActionTakeOffline), "10s").Should(Equal(opsv1alpha1.ActionSucceeded))
		Expect(replicas("saas-web")()).To(BeZero())
		Expect(replicas("saas-worker")()).To(BeZero())
		got := getIncident(ctx, inc)
		rec := incident.FindAction(&got.Status, incident.ActionTakeOffline)
		Expect(rec.Replicas).To(Equal(map[string]int32{"saas-web": 3, "saas-worker": 1}), "the counts decided before, not the zeros found after")
		Expect(rec.Message).To(And(ContainSubstring("saas-web (3 replicas), saas-worker (1 replica)"), ContainSubstring("kubectl annotate release saas "+opsv1alpha1.AnnotationQuiescedBy+"-")))
		Expect(getRelease(ctx, rel).Annotations).To(HaveKeyWithValue(opsv1alpha1.AnnotationQuiescedBy, "Incident/offline"))
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionTakenOffline)()).To(HavePrefix("True"))
		Expect(incident.HasEntry(&got.Status, "taken-offline")).To(BeTrue())

		By("the Release controller says who holds it and leaves the replicas down")
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.0.1", "saas:1.0.1" })
		Eventually(releaseCondition(ctx, rel, opsv1alpha1.ConditionReconciling), "10s").Should(ContainSubstring("Incident offline holds the release's workloads"))
		Consistently(func() int32 { return replicas("saas-web")() + replicas("saas-worker")() }, "2s").Should(BeZero())

		By("resolved with restoreOnResolve: the recorded counts are put back and the annotation removed, once")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.Resolution = "credentials revoked" })
		Eventually(actionState(ctx, inc, incident.ActionTakeOffline), "10s").Should(Equal(opsv1alpha1.ActionUndone))
		Expect(getRelease(ctx, rel).Annotations).NotTo(HaveKey(opsv1alpha1.AnnotationQuiescedBy))
		Eventually(replicas("saas-worker")).Should(Equal(int32(1)))
		Expect(incident.HasEntry(&getIncident(ctx, inc).Status, "brought-back")).To(BeTrue())
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionTakenOffline)()).To(HavePrefix("False Resolved"))
	})

	It("does not take offline a release another object holds, and says which", func() {
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, replicas: 2}
`)
		Eventually(getDeployment(ctx, ns, "saas-web"), "20s").ShouldNot(BeNil())
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			r.Annotations = map[string]string{opsv1alpha1.AnnotationQuiescedBy: "restore-1"}
		})
		inc := newIncident("held", opsv1alpha1.IncidentResponse{TakeOffline: &opsv1alpha1.TakeOfflineAction{}}, "saas")
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionTakenOffline), "10s").Should(And(HavePrefix("False"), ContainSubstring("held at zero by DatabaseRestore restore-1")))
		Expect(incident.HasEntry(&getIncident(ctx, inc).Status, "taken-offline/failed")).To(BeTrue())
		Expect(ptr.Deref(getDeployment(ctx, ns, "saas-web")().Spec.Replicas, 0)).To(Equal(int32(2)))
	})

	It("rolls the release back through the Release's rollback annotation: the revision recorded first, a restart between deciding and asking asks once, and a release on its stable revision is left alone", func() {
		rel := createRelease(ctx, ns, `
version: "1.0.0"
image: saas:1.0.0
components:
- {name: web, replicas: 1}
`)
		rev1 := revisionOf(rel)
		rollOutRevision(ctx, ns, "saas-web", rev1, 0)
		Eventually(func() string { return getRelease(ctx, rel).Status.StableRevision }, "20s").Should(Equal(rev1))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) { r.Spec.Version, r.Spec.Image = "1.1.0", "saas:1.1.0" })
		rev2 := revisionOf(getRelease(ctx, rel))
		Eventually(templateRevision(ctx, ns, "saas-web"), "20s").Should(Equal(rev2 + " saas:1.1.0"))

		By("the manager decided to roll back revision " + rev2 + " and stopped before asking")
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP1, Title: "Payments failing after 1.1.0", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: false, Rollback: true}}}
		restartManager(func() {
			Expect(k8sClient.Create(ctx, inc)).To(Succeed())
			now := metav1.Now()
			inc.Status = opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseOpen, OpenedAt: &now, ResponseDeadline: &now, DedupKey: incident.DedupKey(inc.UID),
				Actions: []opsv1alpha1.IncidentActionRecord{{Name: incident.ActionRollback, State: opsv1alpha1.ActionRunning, StartTime: &now, Revision: rev2, Object: "Release/saas"}}}
			Expect(k8sClient.Status().Update(ctx, inc)).To(Succeed())
		})
		Eventually(actionState(ctx, inc, incident.ActionRollback), "20s").Should(Equal(opsv1alpha1.ActionSucceeded))
		got := getRelease(ctx, rel)
		Expect(release.Find(got.Status.History, rev2).Result).To(Equal(opsv1alpha1.RevisionRolledBack))
		Expect(release.Find(got.Status.History, rev2).Message).To(ContainSubstring("a rollback was requested"))
		Eventually(templateRevision(ctx, ns, "saas-web"), "20s").Should(Equal(rev1+" saas:1.0.0"), "the Release put the stable templates back")
		st := getIncident(ctx, inc).Status
		rec := incident.FindAction(&st, incident.ActionRollback)
		Expect(rec.Revision).To(Equal(rev2))
		Expect(rec.Message).To(And(ContainSubstring("rolled back from revision "+rev2), ContainSubstring(opsv1alpha1.AnnotationRetry)))
		Expect(incident.HasEntry(&st, "rolled-back")).To(BeTrue())
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionRolledBack)()).To(HavePrefix("True"))

		By("a second incident finds the release on its stable revision and changes nothing")
		again := newIncident("again", opsv1alpha1.IncidentResponse{Rollback: true}, "saas")
		Eventually(actionState(ctx, again, incident.ActionRollback), "10s").Should(Equal(opsv1alpha1.ActionSucceeded))
		st = getIncident(ctx, again).Status
		Expect(incident.FindAction(&st, incident.ActionRollback).Message).To(ContainSubstring("nothing to roll back"))
		Expect(incident.FindAction(&st, incident.ActionRollback).Revision).To(BeEmpty())

		By("the spent request is removed, so a retry of " + rev2 + " runs it again instead of rolling it back at once")
		Eventually(func() map[string]string { return getRelease(ctx, rel).Annotations }, "10s").ShouldNot(HaveKey(opsv1alpha1.AnnotationRollback))
		updateRelease(ctx, rel, func(r *opsv1alpha1.Release) {
			if r.Annotations == nil {
				r.Annotations = map[string]string{}
			}
			r.Annotations[opsv1alpha1.AnnotationRetry] = "after-the-incident"
		})
		Eventually(templateRevision(ctx, ns, "saas-web"), "20s").Should(Equal(rev2 + " saas:1.1.0"))
		Consistently(func() string {
			h := release.Find(getRelease(ctx, rel).Status.History, rev2)
			return string(h.Result) + ": " + h.Message
		}, "2s").Should(HavePrefix(string(opsv1alpha1.RevisionInProgress) + ": "))
	})

	It("rotates the named SecretRotations as an emergency rotation: the request recorded first and set once across a restart as an annotation (the spec unchanged), the version hash recorded, a refused rotation and a missing SecretRotation reported while the others go on", func() {
		newRelease("shop", false)
		session := newRotation(ns, "session-key", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Keys = sr.Spec.Keys[:1] // SECRET_KEY only: no Fernet key, no target
		})
		Expect(k8sClient.Create(ctx, session)).To(Succeed())
		fernet := newRotation(ns, "field-keys", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.SecretName = "saas-fields" // a Fernet key without reencrypt or dropUnreadable
		})
		Expect(k8sClient.Create(ctx, fernet)).To(Succeed())
		Eventually(rotationPhase(ctx, session), "10s").Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Eventually(rotationPhase(ctx, fernet), "10s").Should(Equal(opsv1alpha1.RotationPhaseIdle))
		before := fetchRotation(ctx, session).Status
		fetchedSpec := fetchRotation(ctx, session).Spec
		Expect(fetchedSpec.Mode).To(Equal(opsv1alpha1.RotationTwoPhase))

		By("the manager decided the rotation of session-key (request recorded) and stopped before setting it")
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "leak", Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP0, Title: "Secrets leaked in a log", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "shop"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: false, Isolate: &opsv1alpha1.IsolateAction{},
				RotateSecrets: []string{"session-key", "field-keys", "gone"}}}}
		var request string
		restartManager(func() {
			Expect(k8sClient.Create(ctx, inc)).To(Succeed())
			request = incident.RotateRequest(inc.UID)
			now := metav1.Now()
			inc.Status = opsv1alpha1.IncidentStatus{Phase: opsv1alpha1.IncidentPhaseOpen, OpenedAt: &now, ResponseDeadline: &now, DedupKey: incident.DedupKey(inc.UID),
				Actions: []opsv1alpha1.IncidentActionRecord{{Name: incident.ActionRotatePrefix + "session-key", State: opsv1alpha1.ActionRunning, StartTime: &now,
					RotateRequest: request, Object: "SecretRotation/session-key"}}}
			Expect(k8sClient.Status().Update(ctx, inc)).To(Succeed())
		})
		Eventually(actionState(ctx, inc, incident.ActionRotatePrefix+"session-key"), "20s").Should(Equal(opsv1alpha1.ActionSucceeded))
		sr := fetchRotation(ctx, session)
		Expect(sr.Spec).To(Equal(fetchedSpec), "the spec (perhaps kept in Git) is not changed")
		Expect(sr.Annotations).To(HaveKeyWithValue(opsv1alpha1.AnnotationEmergencyRotation, request))
		Expect(sr.Status.LastEmergencyRequest).To(Equal(request))
		Expect(sr.Status.Mode).To(Equal(opsv1alpha1.RotationImmediate), "rotated at once although spec.mode is TwoPhase")
		Expect(sr.Status.Rotations).To(Equal(before.Rotations+1), "rotated once")
		Expect(sr.Status.CurrentVersionHash).NotTo(Equal(before.CurrentVersionHash))
		st := getIncident(ctx, inc).Status
		rec := incident.FindAction(&st, incident.ActionRotatePrefix+"session-key")
		Expect(rec.VersionHash).To(Equal(sr.Status.CurrentVersionHash))
		Expect(rec.RotateRequest).To(Equal(request))
		Expect(rec.Message).To(And(ContainSubstring("to version "+sr.Status.CurrentVersionHash), ContainSubstring("spec was not changed (spec.mode TwoPhase still governs")))
		Expect(incident.HasEntry(&st, "secret-rotated/session-key")).To(BeTrue())

		By("an immediate rotation of Fernet keys without reencrypt would make data unreadable: not asked, the action fails with the SecretRotation's rule")
		Eventually(actionState(ctx, inc, incident.ActionRotatePrefix+"field-keys"), "10s").Should(Equal(opsv1alpha1.ActionFailed))
		st = getIncident(ctx, inc).Status
		Expect(incident.FindAction(&st, incident.ActionRotatePrefix+"field-keys").Message).To(And(
			ContainSubstring("SecretRotation field-keys cannot rotate at once"), ContainSubstring("set reencrypt.command")))
		Expect(incident.HasEntry(&st, "secret-rotated/field-keys/failed")).To(BeTrue())
		f := fetchRotation(ctx, fernet)
		Expect(f.Annotations).NotTo(HaveKey(opsv1alpha1.AnnotationEmergencyRotation))
		Expect(f.Spec.RotateRequest).To(BeEmpty())
		Expect(f.Spec.Mode).To(Equal(opsv1alpha1.RotationTwoPhase))

		By("a SecretRotation that does not exist is named in the timeline and the condition; the isolation still ran")
		Eventually(actionState(ctx, inc, incident.ActionRotatePrefix+"gone"), "10s").Should(Equal(opsv1alpha1.ActionFailed))
		st = getIncident(ctx, inc).Status
		Expect(incident.FindAction(&st, incident.ActionRotatePrefix+"gone").Message).To(ContainSubstring("SecretRotation gone does not exist in namespace " + ns))
		Expect(incident.HasEntry(&st, "secret-rotated/gone/failed")).To(BeTrue())
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionSecretsRotated)()).To(HavePrefix("False"))
		Eventually(actionState(ctx, inc, incident.ActionIsolate), "10s").Should(Equal(opsv1alpha1.ActionSucceeded))

		By("the request is not set again: the SecretRotation rotated once")
		Consistently(func() int64 { return fetchRotation(ctx, session).Status.Rotations }, "3s").Should(Equal(before.Rotations + 1))

		By("removing the annotation changes nothing; a person's new value is one more emergency rotation")
		annotateRotation := func(value *string) {
			GinkgoHelper()
			Eventually(func() error {
				cur := fetchRotation(ctx, session)
				if value == nil {
					delete(cur.Annotations, opsv1alpha1.AnnotationEmergencyRotation)
				} else {
					cur.Annotations = map[string]string{opsv1alpha1.AnnotationEmergencyRotation: *value}
				}
				return k8sClient.Update(ctx, cur)
			}).Should(Succeed())
		}
		annotateRotation(nil)
		Consistently(func() int64 { return fetchRotation(ctx, session).Status.Rotations }, "2s").Should(Equal(before.Rotations + 1))
		annotateRotation(ptr.To("leak-2"))
		Eventually(func() string { return fetchRotation(ctx, session).Status.LastEmergencyRequest }, "10s").Should(Equal("leak-2"))
		Eventually(rotationPhase(ctx, session), "10s").Should(Equal(opsv1alpha1.RotationPhaseIdle))
		Expect(fetchRotation(ctx, session).Status.Rotations).To(Equal(before.Rotations + 2))
		Expect(fetchRotation(ctx, session).Spec).To(Equal(fetchedSpec))
	})

	It("waits for a SecretRotation that cannot start the emergency rotation, saying why, and records it once the cause is fixed", func() {
		blocked := newRotation(ns, "blocked", func(sr *opsv1alpha1.SecretRotation) {
			sr.Spec.Keys = sr.Spec.Keys[:1]
			sr.Spec.RestartTargets = []opsv1alpha1.RestartTarget{{Kind: opsv1alpha1.RestartDeployment, Name: "not-there"}}
		})
		Expect(k8sClient.Create(ctx, blocked)).To(Succeed())
		Eventually(rotationPhase(ctx, blocked), "10s").Should(Equal(opsv1alpha1.RotationPhaseIdle))
		newRelease("shop", false)
		inc := newIncident("blocked", opsv1alpha1.IncidentResponse{RotateSecrets: []string{"blocked"}}, "shop")
		Eventually(func() string {
			st := getIncident(ctx, inc).Status
			if rec := incident.FindAction(&st, incident.ActionRotatePrefix+"blocked"); rec != nil {
				return rec.Message
			}
			return ""
		}, "10s").Should(And(HavePrefix("waiting: SecretRotation blocked is Blocked"), ContainSubstring("restart target Deployment not-there does not exist")))
		Expect(actionState(ctx, inc, incident.ActionRotatePrefix+"blocked")()).To(Equal(opsv1alpha1.ActionRunning))

		By("the target is taken out of the SecretRotation: it rotates, and the incident records it")
		Eventually(func() error {
			cur := fetchRotation(ctx, blocked)
			cur.Spec.RestartTargets = nil
			return k8sClient.Update(ctx, cur)
		}).Should(Succeed())
		Eventually(actionState(ctx, inc, incident.ActionRotatePrefix+"blocked"), "90s").Should(Equal(opsv1alpha1.ActionSucceeded))
		Expect(fetchRotation(ctx, blocked).Status.LastEmergencyRequest).To(Equal(incident.RotateRequest(inc.UID)))
	})
})
