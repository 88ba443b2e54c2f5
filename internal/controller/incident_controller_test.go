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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/notify"
)

// incidentClock is the Incident reconciler's clock in this suite: the wall clock
// shifted by an offset the specs set, so it runs at real speed (a requeue computed
// from it fires when it says) while a spec puts it on a Friday evening or just
// before a deadline.
var incidentClock offsetClock

type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// offset is how far the clock is ahead of the wall clock.
func (c *offsetClock) offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

// SetNow makes the clock read t now.
func (c *offsetClock) SetNow(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = time.Until(t)
}

// setIncidentTestHooks gives the suite's Incident reconciler its clock, a sender with
// one short attempt (as in the manager; 2 s keeps the dead-receiver spec short) and
// canned logs.
func setIncidentTestHooks(r *IncidentReconciler) {
	r.Clock = &incidentClock
	r.Sender = &notify.Sender{MaxAttempts: 1, Client: &http.Client{Timeout: 2 * time.Second}}
	r.Logs = cannedLogs{}
	r.APIReader = eventLists.wrap(r.APIReader)
}

// cannedLogs stands in for pods/log, which envtest cannot serve (no kubelet): a
// container's current log, or its previous instance's, says which it is and carries
// a secret value and a password for the redaction to remove.
type cannedLogs struct{}

func (cannedLogs) Tail(_ context.Context, ns, pod, container string, previous bool, lines, bytes int64) (string, error) {
	if previous {
		return "PREVIOUS CONTAINER of " + pod + "/" + container + ": Traceback (most recent call last)\nconnecting with password=hunter2\nDATABASE_URL uses s3cr3t-db-value\n", nil
	}
	return strings.Repeat("GET /health 200\n", 2000) + "CURRENT CONTAINER of " + pod + "/" + container + " s3cr3t-db-value\n", nil
}

// hookReceiver is a local notification receiver answering from a script (the last
// answer repeats) and keeping every body it got.
type hookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []map[string]any
	answers []hookAnswer
}

type hookAnswer struct {
	status int
	body   string
}

func newHookReceiver(answers ...hookAnswer) *hookReceiver {
	if len(answers) == 0 {
		answers = []hookAnswer{{202, `{"status":"success"}`}}
	}
	h := &hookReceiver{answers: answers}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		h.mu.Lock()
		h.bodies = append(h.bodies, m)
		a := h.answers[min(len(h.bodies), len(h.answers))-1]
		h.mu.Unlock()
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	DeferCleanup(h.Close)
	return h
}

func (h *hookReceiver) got() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any{}, h.bodies...)
}

// pdActions lists the event_action and dedup_key of each PagerDuty event received.
func (h *hookReceiver) pdActions() []string {
	var out []string
	for _, b := range h.got() {
		out = append(out, b["event_action"].(string)+" "+b["dedup_key"].(string)+" "+b["routing_key"].(string))
	}
	return out
}

// transitions lists the transition/sequence of each generic webhook message received.
func (h *hookReceiver) transitions() []string {
	var out []string
	for _, b := range h.got() {
		seq, _ := b["sequence"].(float64)
		out = append(out, b["transition"].(string)+"/"+itoa(int(seq)))
	}
	return out
}

func getIncident(ctx context.Context, inc *opsv1alpha1.Incident) *opsv1alpha1.Incident {
	GinkgoHelper()
	got := &opsv1alpha1.Incident{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(inc), got)).To(Succeed())
	return got
}

func pokeIncident(ctx context.Context, inc *opsv1alpha1.Incident) {
	GinkgoHelper()
	Eventually(func() error {
		got := getIncident(ctx, inc)
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		got.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

func editIncident(ctx context.Context, inc *opsv1alpha1.Incident, f func(*opsv1alpha1.Incident)) {
	GinkgoHelper()
	Eventually(func() error {
		got := getIncident(ctx, inc)
		f(got)
		return k8sClient.Update(ctx, got)
	}).Should(Succeed())
}

func condStatus(ctx context.Context, inc *opsv1alpha1.Incident, t string) func() string {
	return func() string {
		for _, c := range getIncident(ctx, inc).Status.Conditions {
			if c.Type == t {
				return string(c.Status) + " " + c.Reason + ": " + c.Message
			}
		}
		return ""
	}
}

var _ = Describe("Incident", func() {
	var ctx context.Context
	var ns string

	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		incidentClock.SetNow(time.Now())
	})

	newIncident := func(name string, spec opsv1alpha1.IncidentSpec) *opsv1alpha1.Incident {
		GinkgoHelper()
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
		if inc.Spec.Title == "" {
			inc.Spec.Title = "Checkout returns 500"
		}
		Expect(k8sClient.Create(ctx, inc)).To(Succeed())
		return inc
	}
	secret := func(data map[string]string) {
		GinkgoHelper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "oncall", Namespace: ns}, StringData: data}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
	}

	It("sets the response deadline by severity: a P3 on a Friday evening is due Monday 09:00 in its zone, across holidays and a DST change", func() {
		berlin, err := time.LoadLocation("Europe/Berlin")
		Expect(err).NotTo(HaveOccurred())
		for i, tc := range []struct {
			opened   time.Time
			sev      opsv1alpha1.IncidentSeverity
			clock    *opsv1alpha1.ResponseClock
			deadline string
		}{
			{time.Date(2026, 12, 4, 18, 30, 0, 0, berlin), opsv1alpha1.SeverityP3, &opsv1alpha1.ResponseClock{TimeZone: "Europe/Berlin"}, "2026-12-07T08:00:00Z"},
			{time.Date(2026, 12, 23, 17, 0, 0, 0, berlin), opsv1alpha1.SeverityP3, &opsv1alpha1.ResponseClock{TimeZone: "Europe/Berlin", Holidays: []string{"2026-12-24", "2026-12-25"}}, "2026-12-28T08:00:00Z"},
			{time.Date(2027, 3, 26, 18, 0, 0, 0, berlin), opsv1alpha1.SeverityP3, &opsv1alpha1.ResponseClock{TimeZone: "Europe/Berlin"}, "2027-03-29T07:00:00Z"},
			{time.Date(2027, 3, 12, 23, 0, 0, 0, time.UTC), opsv1alpha1.SeverityP3, &opsv1alpha1.ResponseClock{TimeZone: "America/New_York"}, "2027-03-15T13:00:00Z"},
			{time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC), opsv1alpha1.SeverityP0, nil, "2026-12-04T18:45:00Z"},
			{time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC), opsv1alpha1.SeverityP2, nil, "2026-12-04T22:30:00Z"},
		} {
			incidentClock.SetNow(tc.opened)
			inc := newIncident("deadline-"+itoa(i), opsv1alpha1.IncidentSpec{Severity: tc.sev, ResponseClock: tc.clock})
			Eventually(func() string {
				st := getIncident(ctx, inc).Status
				if st.ResponseDeadline == nil {
					return ""
				}
				return st.ResponseDeadline.UTC().Format(time.RFC3339)
			}).Should(Equal(tc.deadline), "incident %d", i)
			got := getIncident(ctx, inc)
			Expect(got.Status.DedupKey).To(Equal("runbook-incident-" + string(got.UID)))
			Expect(got.Status.Phase).To(Equal(opsv1alpha1.IncidentPhaseOpen))
			Expect(got.Status.Timeline).NotTo(BeEmpty())
			Expect(got.Status.Timeline[0].Type).To(Equal(opsv1alpha1.TimelineOpened))
			Eventually(func() int64 { return getIncident(ctx, inc).Status.ObservedGeneration }).Should(Equal(got.Generation))
		}
	})

	It("escalates at the deadline and every interval, never more often, tells the escalation target, and stops on acknowledgement; resolution is recorded once", func() {
		hook := newHookReceiver(hookAnswer{204, ""})
		pd := newHookReceiver()
		secret(map[string]string{"hook": hook.URL + "/hooks/SECRETPATH", "pd": "PDROUTINGKEY000000000000000SECRET"})
		opened := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		incidentClock.SetNow(opened)
		inc := newIncident("escalate", opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP0,
			Notify: []opsv1alpha1.Notifier{
				{Name: "chat", Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "oncall", Key: "hook"}},
				{Name: "manager", Type: opsv1alpha1.NotifierPagerDuty, SecretRef: opsv1alpha1.SecretKeyReference{Name: "oncall", Key: "pd"}, URL: pd.URL + "/v2/enqueue", Escalation: true},
			},
			ResponseClock: &opsv1alpha1.ResponseClock{EscalationInterval: opsv1alpha1.DurationOf(time.Minute)},
		})
		Eventually(hook.transitions).Should(Equal([]string{"Opened/1"}))
		st := getIncident(ctx, inc).Status
		deadline := st.ResponseDeadline.Time
		Expect(deadline).To(Equal(st.OpenedAt.Add(15 * time.Minute)))
		Consistently(pd.got, "1s").Should(BeEmpty(), "the escalation target is silent before the first escalation")

		By("the deadline two seconds away: the requeue fires at it, with no poke after")
		incidentClock.SetNow(deadline.Add(-2 * time.Second))
		pokeIncident(ctx, inc)
		Eventually(func() int32 { return getIncident(ctx, inc).Status.Escalations }, "10s").Should(Equal(int32(1)))
		st = getIncident(ctx, inc).Status
		Expect(st.LastEscalationTime.Time).NotTo(BeTemporally("<", deadline.Truncate(time.Second)), "never before the deadline")
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEscalated)).Should(HavePrefix("True " + opsv1alpha1.ReasonDeadlineMissed))
		dedup := "runbook-incident-" + string(getIncident(ctx, inc).UID)
		Eventually(pd.pdActions).Should(Equal([]string{"trigger " + dedup + " PDROUTINGKEY000000000000000SECRET"}))
		Eventually(hook.transitions).Should(Equal([]string{"Opened/1", "Escalated/1"}))
		Expect(pd.got()[0]["payload"].(map[string]any)["severity"]).To(Equal("critical"))

		By("30 s later: no second escalation, whatever wakes the reconciler")
		incidentClock.SetNow(st.LastEscalationTime.Add(30 * time.Second))
		pokeIncident(ctx, inc)
		Consistently(func() int32 { return getIncident(ctx, inc).Status.Escalations }, "2s").Should(Equal(int32(1)))

		By("an interval after: escalation 2")
		incidentClock.SetNow(st.LastEscalationTime.Add(time.Minute - 2*time.Second))
		pokeIncident(ctx, inc)
		Eventually(func() int32 { return getIncident(ctx, inc).Status.Escalations }, "10s").Should(Equal(int32(2)))
		Eventually(hook.transitions).Should(Equal([]string{"Opened/1", "Escalated/1", "Escalated/2"}))

		By("acknowledged: the clock stops, PagerDuty gets acknowledge with the same dedup and routing key")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.AcknowledgedBy = "alice" })
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionAcknowledged)).Should(HavePrefix("True"))
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEscalated)).Should(HavePrefix("False"))
		Eventually(pd.pdActions).Should(Equal([]string{"trigger " + dedup + " PDROUTINGKEY000000000000000SECRET", "trigger " + dedup + " PDROUTINGKEY000000000000000SECRET", "acknowledge " + dedup + " PDROUTINGKEY000000000000000SECRET"}))
		Eventually(func() opsv1alpha1.IncidentPhase { return getIncident(ctx, inc).Status.Phase }).Should(Equal(opsv1alpha1.IncidentPhaseAcknowledged))
		st = getIncident(ctx, inc).Status
		Expect(st.AcknowledgedAt).NotTo(BeNil())
		Expect(st.TimeToAcknowledge.Duration).To(BeNumerically(">=", 16*time.Minute))
		incidentClock.SetNow(st.AcknowledgedAt.Add(time.Hour))
		pokeIncident(ctx, inc)
		Consistently(func() int32 { return getIncident(ctx, inc).Status.Escalations }, "1s").Should(Equal(int32(2)))

		By("resolved: recorded once, Ready, resolve sent with the same keys")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.Resolution = "rolled back to v2.3.9" })
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionReady)).Should(HavePrefix("True " + opsv1alpha1.ReasonResolved))
		Eventually(pd.pdActions).Should(HaveLen(4))
		Expect(pd.pdActions()[3]).To(Equal("resolve " + dedup + " PDROUTINGKEY000000000000000SECRET"))
		Eventually(hook.transitions).Should(Equal([]string{"Opened/1", "Escalated/1", "Escalated/2", "Acknowledged/1", "Resolved/1"}))
		resolved := getIncident(ctx, inc).Status
		Expect(resolved.Phase).To(Equal(opsv1alpha1.IncidentPhaseResolved))
		Expect(resolved.TimeToResolve.Duration).To(BeNumerically(">=", time.Hour))

		By("acknowledging again and editing the resolution change nothing recorded, and send nothing")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) {
			i.Spec.AcknowledgedBy = "alice"
			i.Spec.Resolution = "rolled back to v2.3.9 (edited)"
		})
		Eventually(func() int64 { return getIncident(ctx, inc).Status.ObservedGeneration }).Should(Equal(getIncident(ctx, inc).Generation))
		again := getIncident(ctx, inc).Status
		Expect(again.ResolvedAt.Equal(resolved.ResolvedAt)).To(BeTrue())
		Expect(again.AcknowledgedAt.Equal(resolved.AcknowledgedAt)).To(BeTrue())
		Consistently(func() int { return len(pd.got()) + len(hook.got()) }, "1s").Should(Equal(9))

		By("a restart sends nothing already delivered")
		restartManager(nil)
		pokeIncident(ctx, inc)
		Consistently(func() int { return len(pd.got()) + len(hook.got()) }, "2s").Should(Equal(9))

		By("the timeline has each transition once, and no secret anywhere")
		types := map[string]int{}
		for _, e := range again.Timeline {
			types[e.Key]++
			Expect(e.Key).NotTo(BeEmpty())
		}
		for k, n := range types {
			Expect(n).To(Equal(1), "timeline key %s", k)
		}
		Expect(types).To(HaveKey("escalated/2"))
		Expect(types).To(HaveKey("notify/manager/Escalated/1"))
		raw, _ := json.Marshal(again)
		var evs eventsv1.EventList
		Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		evRaw, _ := json.Marshal(evs)
		for _, secretText := range []string{"SECRETPATH", "PDROUTINGKEY"} {
			Expect(string(raw)).NotTo(ContainSubstring(secretText))
			Expect(string(evRaw)).NotTo(ContainSubstring(secretText))
			Expect(managerLog.String()).NotTo(ContainSubstring(secretText))
		}
		Expect(string(evRaw)).To(ContainSubstring("Escalated"))
	})

	It("re-arms the clock when an acknowledgement expires, until it is renewed with a new value", func() {
		opened := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		incidentClock.SetNow(opened)
		inc := newIncident("ack-expiry", opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP1, AcknowledgedBy: "alice",
			ResponseClock: &opsv1alpha1.ResponseClock{AcknowledgementTimeout: opsv1alpha1.DurationOf(time.Hour)}})
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionAcknowledged)).Should(HavePrefix("True"))
		ackAt := getIncident(ctx, inc).Status.Acknowledgement.Time.Time

		incidentClock.SetNow(ackAt.Add(time.Hour - 2*time.Second))
		pokeIncident(ctx, inc)
		Eventually(func() int32 { return getIncident(ctx, inc).Status.Escalations }, "10s").Should(Equal(int32(1)))
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionAcknowledged)).Should(ContainSubstring("expired"))
		Eventually(func() time.Time { return getIncident(ctx, inc).Status.ResponseDeadline.Time }).Should(BeTemporally("==", ackAt.Add(time.Hour)), "the deadline shows the re-armed clock")
		Eventually(func() opsv1alpha1.IncidentPhase { return getIncident(ctx, inc).Status.Phase }).Should(Equal(opsv1alpha1.IncidentPhaseOpen))

		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.AcknowledgedBy = "bob" })
		Eventually(func() int32 {
			a := getIncident(ctx, inc).Status.Acknowledgement
			if a == nil || a.By != "bob" {
				return 0
			}
			return a.Sequence
		}).Should(Equal(int32(2)))
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEscalated)).Should(HavePrefix("False"))
		Expect(getIncident(ctx, inc).Status.AcknowledgedAt.Time).To(Equal(ackAt.Truncate(time.Second)), "acknowledgedAt stays the first acknowledgement")
	})

	It("records a refused delivery with the receiver's reason and does not retry it, retries a 5xx, and waits for a missing Secret, without holding the others back", func() {
		archived := newHookReceiver(hookAnswer{410, "channel_is_archived"})
		flaky := newHookReceiver(hookAnswer{500, "rollup_error"}, hookAnswer{204, ""})
		good := newHookReceiver(hookAnswer{204, ""})
		secret(map[string]string{"archived": archived.URL + "/services/T0/B0/SLACKTOKEN", "flaky": flaky.URL + "/x", "good": good.URL + "/y", "ftp": "ftp://files.example/hook"})
		ref := func(key string) opsv1alpha1.SecretKeyReference {
			return opsv1alpha1.SecretKeyReference{Name: "oncall", Key: key}
		}
		inc := newIncident("notifiers", opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP2, Notify: []opsv1alpha1.Notifier{
			{Name: "archived", Type: opsv1alpha1.NotifierSlack, SecretRef: ref("archived")},
			{Name: "flaky", Type: opsv1alpha1.NotifierWebhook, SecretRef: ref("flaky")},
			{Name: "good", Type: opsv1alpha1.NotifierWebhook, SecretRef: ref("good")},
			{Name: "ftp", Type: opsv1alpha1.NotifierWebhook, SecretRef: ref("ftp")},
			{Name: "later", Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "created-later", Key: "url"}},
		}})
		Eventually(good.transitions).Should(Equal([]string{"Opened/1"}))
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionNotifierFailed)).Should(And(HavePrefix("True"), ContainSubstring("410 channel_is_archived"), ContainSubstring("not an http(s) URL")))
		Eventually(flaky.transitions, "20s").Should(Equal([]string{"Opened/1", "Opened/1"}), "a 500 is retried on a requeue")
		Eventually(func() *opsv1alpha1.Delivery {
			st := getIncident(ctx, inc).Status
			return incident.FindDelivery(&st, "flaky", opsv1alpha1.TransitionOpened)
		}).Should(And(HaveField("Attempts", int32(2)), HaveField("State", opsv1alpha1.DeliveryDelivered)))
		st := getIncident(ctx, inc).Status
		Expect(incident.FindDelivery(&st, "archived", opsv1alpha1.TransitionOpened)).To(HaveField("State", opsv1alpha1.DeliveryFailed))
		Expect(incident.FindDelivery(&st, "later", opsv1alpha1.TransitionOpened)).To(And(HaveField("State", opsv1alpha1.DeliveryPending), HaveField("Message", ContainSubstring("Secret created-later does not exist"))))
		pokeIncident(ctx, inc)
		Consistently(func() int { return len(archived.got()) }, "2s").Should(Equal(1), "a 410 is not retried")

		late := newHookReceiver(hookAnswer{204, ""})
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "created-later", Namespace: ns}, StringData: map[string]string{"url": late.URL}})).To(Succeed())
		pokeIncident(ctx, inc)
		Eventually(late.transitions).Should(Equal([]string{"Opened/1"}))
		raw, _ := json.Marshal(getIncident(ctx, inc).Status)
		Expect(string(raw)).NotTo(ContainSubstring("SLACKTOKEN"))
		Expect(managerLog.String()).NotTo(ContainSubstring("SLACKTOKEN"))
	})

	It("captures evidence before any other action: pod statuses, previous containers' logs and events, redacted, hashed, in ConfigMaps it owns", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "saas-db", Namespace: ns}, StringData: map[string]string{"password": "s3cr3t-db-value"}})).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.2.0", Image: "example.com/saas:1.2.0", Components: []opsv1alpha1.Component{{Name: "web"}}}}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		for _, name := range []string{"saas-web-1", "saas-web-2"} {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{opsv1alpha1.LabelRelease: "saas", opsv1alpha1.LabelComponent: "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/saas:1.2.0",
					Env: []corev1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "saas-db"}, Key: "password"}}}}}}}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "example.com/saas:1.2.0", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}
			Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		}
		inc := newIncident("breach", opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP1, ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true, Rollback: true}})
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured), "10s").Should(HavePrefix("True"))
		got := getIncident(ctx, inc)
		ev := got.Status.Evidence
		Expect(ev).NotTo(BeNil())
		Expect(ev.ConfigMaps).NotTo(BeEmpty())
		var pieces []string
		for _, name := range ev.ConfigMaps {
			var cm corev1.ConfigMap
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm)).To(Succeed())
			Expect(metav1.IsControlledBy(&cm, got)).To(BeTrue(), "owned by the incident")
			pieces = append(pieces, cm.Data[incident.EvidenceKey])
		}
		bundle := strings.Join(pieces, "")
		Expect(evidenceSum(bundle)).To(Equal(ev.SHA256))
		Expect(int64(len(bundle))).To(Equal(ev.SizeBytes))
		Expect(bundle).To(ContainSubstring("pod saas-web-1 phase=Running"))
		Expect(bundle).To(ContainSubstring("restarts=3 state=waiting(CrashLoopBackOff) last=terminated(Error, exit 1)"))
		Expect(bundle).To(ContainSubstring("=== logs/saas-web-2/app (previous) ==="))
		Expect(bundle).To(ContainSubstring("PREVIOUS CONTAINER of saas-web-2/app: Traceback"))
		Expect(bundle).To(ContainSubstring("CURRENT CONTAINER of saas-web-1/app"))
		Expect(bundle).NotTo(ContainSubstring("s3cr3t-db-value"))
		Expect(bundle).NotTo(ContainSubstring("hunter2"))
		Expect(bundle).To(ContainSubstring("password=[REDACTED]"))

		By("the evidence was captured before the rollback was decided")
		Eventually(func() []opsv1alpha1.IncidentActionRecord { return getIncident(ctx, inc).Status.Actions }).Should(HaveLen(2))
		got = getIncident(ctx, inc)
		acts := got.Status.Actions
		Expect(acts[0].Name).To(Equal(incident.ActionEvidence))
		Expect(acts[0].State).To(Equal(opsv1alpha1.ActionSucceeded))
		Expect(acts[1].Name).To(Equal(incident.ActionRollback))
		Expect(acts[1].StartTime.Time).NotTo(BeTemporally("<", acts[0].CompletionTime.Time))
		Expect(incident.HasEntry(&got.Status, "evidence")).To(BeTrue())

		By("a restart captures nothing again")
		restartManager(nil)
		pokeIncident(ctx, inc)
		Consistently(func() string { return getIncident(ctx, inc).Status.Evidence.SHA256 }, "2s").Should(Equal(ev.SHA256))
	})

	It("records a releaseRef to a Release that does not exist, and still notifies", func() {
		hook := newHookReceiver(hookAnswer{204, ""})
		secret(map[string]string{"hook": hook.URL})
		inc := newIncident("no-release", opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP2, ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "gone"},
			Notify: []opsv1alpha1.Notifier{{Name: "hook", Type: opsv1alpha1.NotifierWebhook, SecretRef: opsv1alpha1.SecretKeyReference{Name: "oncall", Key: "hook"}}}})
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured)).Should(And(HavePrefix("False"), ContainSubstring("Release gone does not exist")))
		Eventually(hook.transitions).Should(Equal([]string{"Opened/1"}))
		Expect(incident.HasEntry(&getIncident(ctx, inc).Status, "evidence/failed")).To(BeTrue())
	})

	It("isolates exactly the release's pods with an owned NetworkPolicy after the evidence, and lifts it on resolution unless keepIsolation", func() {
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.0.0", Image: "example.com/shop:1.0.0", Components: []opsv1alpha1.Component{{Name: "web"}, {Name: "worker"}}}}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		isolated := func(name string, keep bool) *opsv1alpha1.Incident {
			return newIncident(name, opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP0, ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "shop"},
				Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true, Isolate: &opsv1alpha1.IsolateAction{KeepIsolation: keep,
					AllowFrom: []opsv1alpha1.IsolationSource{{Name: "admin", PodLabels: map[string]opsv1alpha1.LabelValue{"app": "admin-shell"}}}}}})
		}
		inc := isolated("breach", false)
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionIsolated), "10s").Should(HavePrefix("True"))
		var np networkingv1.NetworkPolicy
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "breach-isolate"}, &np)).To(Succeed())
		got := getIncident(ctx, inc)
		Expect(metav1.IsControlledBy(&np, got)).To(BeTrue())
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{opsv1alpha1.LabelRelease: "shop"}))
		Expect(np.Spec.PodSelector.MatchExpressions[0].Values).To(Equal([]string{"web", "worker"}))
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(np.Spec.Ingress).To(HaveLen(1))
		Expect(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels).To(Equal(map[string]string{"app": "admin-shell"}))
		Expect(got.Status.Actions[0].Name).To(Equal(incident.ActionEvidence))
		Expect(got.Status.Actions[1].StartTime.Time).NotTo(BeTemporally("<", got.Status.Actions[0].CompletionTime.Time), "isolated only after the evidence")
		Eventually(func() opsv1alpha1.IncidentPhase { return getIncident(ctx, inc).Status.Phase }).Should(Equal(opsv1alpha1.IncidentPhaseOpen))

		By("acknowledged with every action done: Mitigated")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.AcknowledgedBy = "alice" })
		Eventually(func() opsv1alpha1.IncidentPhase { return getIncident(ctx, inc).Status.Phase }).Should(Equal(opsv1alpha1.IncidentPhaseMitigated))

		keep := isolated("kept", true)
		Eventually(condStatus(ctx, keep, opsv1alpha1.ConditionIsolated), "10s").Should(HavePrefix("True"))

		By("resolved: the policy goes, the kept one stays")
		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.Resolution = "attacker's session revoked" })
		editIncident(ctx, keep, func(i *opsv1alpha1.Incident) { i.Spec.Resolution = "kept isolated for forensics" })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "breach-isolate"}, &networkingv1.NetworkPolicy{}))
		}).Should(BeTrue())
		Eventually(func() opsv1alpha1.IncidentActionState {
			st := getIncident(ctx, inc).Status
			return incident.FindAction(&st, incident.ActionIsolate).State
		}).Should(Equal(opsv1alpha1.ActionUndone))
		Expect(incident.HasEntry(&getIncident(ctx, inc).Status, "isolation-lifted")).To(BeTrue())
		Eventually(condStatus(ctx, keep, opsv1alpha1.ConditionReady)).Should(HavePrefix("True"))
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kept-isolate"}, &networkingv1.NetworkPolicy{})
		}, "1s").Should(Succeed())
	})

	It("runs each diagnostic once as a Job in the release's image after the evidence, keeps its redacted output, and records a failing one without stopping the others", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-db", Namespace: ns}, StringData: map[string]string{"password": "s3cr3t-db-value"}})).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.2.0", Image: "example.com/app:1.2.0", Components: []opsv1alpha1.Component{{Name: "web"}},
			Env: []opsv1alpha1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app-db"}, Key: "password"}}}}}}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		inc := newIncident("slow", opsv1alpha1.IncidentSpec{Severity: opsv1alpha1.SeverityP2, ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "app"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true, Diagnostics: []opsv1alpha1.DiagnosticCommand{
				{Name: "sessions", Command: []string{"python", "manage.py", "shell", "-c", "print(Session.objects.count())"}},
				{Name: "broken", Command: []string{"python", "manage.py", "nope"}},
			}}})
		job := func(name string) *batchv1.Job {
			j := &batchv1.Job{}
			Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "slow-diag-" + name}, j) }, "10s").Should(Succeed())
			return j
		}
		sessions, broken := job("sessions"), job("broken")
		Expect(metav1.IsControlledBy(sessions, getIncident(ctx, inc))).To(BeTrue())
		c := sessions.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("example.com/app:1.2.0"))
		Expect(c.Command).To(ContainElements("python", "manage.py", "shell"))
		Expect(sessions.Spec.Template.Labels).NotTo(HaveKey(opsv1alpha1.LabelRelease), "an isolating NetworkPolicy must not select it")
		Expect(*sessions.Spec.BackoffLimit).To(BeZero())
		st := getIncident(ctx, inc).Status
		Expect(incident.FindAction(&st, incident.ActionEvidence).State).To(Equal(opsv1alpha1.ActionSucceeded), "evidence first")

		finishAppJob(ctx, sessions, 0, "active sessions: 3\nconnected with password=hunter2 s3cr3t-db-value\n")
		finishAppJob(ctx, broken, 1, "Unknown command: 'nope' (DB_PASSWORD=s3cr3t-db-value)")
		Eventually(func() string {
			st := getIncident(ctx, inc).Status
			return string(incident.FindAction(&st, "diagnostics/sessions").State) + " " + string(incident.FindAction(&st, "diagnostics/broken").State)
		}, "10s").Should(Equal("Succeeded Failed"))
		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "slow-diag-sessions"}, &cm)).To(Succeed())
		Expect(cm.Data["output"]).To(ContainSubstring("active sessions: 3"))
		Expect(cm.Data["output"]).NotTo(Or(ContainSubstring("hunter2"), ContainSubstring("s3cr3t-db-value")))
		got := getIncident(ctx, inc)
		raw, _ := json.Marshal(got.Status)
		Expect(string(raw)).NotTo(ContainSubstring("s3cr3t-db-value"))
		Expect(incident.HasEntry(&got.Status, "diagnostic/broken/failed")).To(BeTrue())
		Expect(incident.FindAction(&got.Status, "diagnostics/broken").Message).To(ContainSubstring("nope"))

		By("a restart runs nothing again")
		restartManager(nil)
		pokeIncident(ctx, inc)
		Consistently(func() int {
			var list batchv1.JobList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{opsv1alpha1.LabelIncident: "slow"})).To(Succeed())
			return len(list.Items)
		}, "2s").Should(Equal(2))
	})
})

func itoa(i int) string { return strconv.Itoa(i) }

func evidenceSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
