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
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/notify"
	"runbook-operator/internal/reconcile"
)

// IncidentReconciler keeps an Incident's response clock (deadline, escalation,
// acknowledgement and its expiry, resolution), its phase and timeline, and tells the
// notifiers of every transition. internal/incident decides each step; this records
// it in status before anything is sent, so a restart neither skips nor repeats one.
type IncidentReconciler struct {
	client.Client
	// APIReader gets a notifier's Secret: a get of that one Secret, never a watch or a
	// list (the manager caches only the Secrets a SecretRotation manages).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Clock tells the time; deadlines and requeues follow it.
	Clock clock.Clock
	// Zone is the default zone of a P3's business day (nil: UTC).
	Zone *time.Location
	// Sender delivers notifications (nil: one attempt per reconcile, 5 s timeout; a
	// retry is a requeue, so a dead receiver never holds the reconcile long).
	Sender *notify.Sender
	// Logs reads pods' log tails for the evidence (nil: none readable, said so).
	Logs PodLogs
	// Agent runs the evidence's database check Job (agent check).
	Agent jobs.Agent
	// Concurrency is how many Incidents are reconciled at once (0:
	// DefaultIncidentConcurrency).
	Concurrency int
}

// DefaultIncidentConcurrency is how many Incidents are reconciled at once by default
// (--incident-concurrency). A reconcile mostly waits on the API server and the
// notifiers (each notifier's send is bounded by its timeout), so more at once
// notify a burst of Incidents sooner at the cost of more requests in flight.
const DefaultIncidentConcurrency = 4

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents,verbs=get;list;watch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// incidentMaxSteps bounds the steps one reconcile takes (open, acknowledge, escalate,
// mitigate, … each recorded before the next).
const incidentMaxSteps = 16

// Reconcile takes the steps internal/incident names, recording each, then sends what
// is due to the notifiers and requeues exactly when the clock next changes.
func (r *IncidentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	inc := &opsv1alpha1.Incident{}
	if err := r.Get(ctx, req.NamespacedName, inc); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.Incidents.Forget(req.Namespace, req.Name)
			metrics.ResponseDeadlines.Delete(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	// What is due to the notifiers is decided from status: a reconcile working from a
	// stale cache would send again what the previous one just recorded as delivered.
	// Incidents are few: one GET per reconcile.
	if err := r.APIReader.Get(ctx, req.NamespacedName, inc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := reconcile.NewStatusPatch(r.Client, inc)
	defer p.Finish(ctx, inc, &res, &retErr)
	res, err := r.reconcile(ctx, req, p, inc)
	return reconcile.Apply(inc, res, err)
}

// reconcile takes the steps, sends what is due and says when to look again.
func (r *IncidentReconciler) reconcile(ctx context.Context, req ctrl.Request, p *reconcile.StatusPatch, inc *opsv1alpha1.Incident) (ctrl.Result, error) {
	if err := opsv1alpha1.InvalidDurations("spec", &inc.Spec); err != nil {
		return ctrl.Result{}, reconcile.Stall(opsv1alpha1.ReasonInvalidSpec, "%v; the incident is recorded, nothing else was done. Correct the field", err)
	}
	now := r.Clock.Now()
	s := &incidentScope{inc: inc, now: now}
	s.cal, s.calErr = incident.NewCalendar(inc.Spec.ResponseClock, r.Zone)
	for range incidentMaxSteps {
		d := incident.Next(incident.Input{Spec: &inc.Spec, Status: &inc.Status, Now: now})
		if !r.step(ctx, s, d) {
			break
		}
		if err := p.Patch(ctx, inc); err != nil { // each step is recorded before the next, and before any send
			return reconcile.ConflictRequeue(err)
		}
	}
	incident.PruneNotifiers(&inc.Spec, &inc.Status)
	results := r.deliver(ctx, s)
	retryIn := r.recordDeliveries(ctx, s, results)
	if s.retryIn > 0 && (retryIn == 0 || s.retryIn < retryIn) {
		retryIn = s.retryIn
	}
	r.summarise(s)
	metrics.Incidents.Observe(inc.Namespace, inc.Name, string(inc.Spec.Severity), inc.Status.ResolvedAt == nil)
	observeIncidentMetrics(inc)
	wake := incident.ClockOf(&inc.Spec, &inc.Status).At(now).Wake
	if err := p.Patch(ctx, inc); err != nil {
		if !apierrors.IsConflict(err) || len(results) == 0 {
			return reconcile.ConflictRequeue(err)
		}
		// The incident changed while the notifiers were told (acknowledged, say): what
		// was delivered is recorded on the new version, so it is not sent again.
		if err := r.recordOnLatest(ctx, req, now, results); err != nil {
			return reconcile.ConflictRequeue(err)
		}
		p.Done = true
	}
	return requeueAt(r.Clock, wake, retryIn), nil
}

// recordOnLatest records delivery outcomes on the latest version of the incident.
func (r *IncidentReconciler) recordOnLatest(ctx context.Context, req ctrl.Request, now time.Time, results []sendResult) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest := &opsv1alpha1.Incident{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, latest); err != nil {
			return client.IgnoreNotFound(err)
		}
		lp := reconcile.NewStatusPatch(r.Client, latest)
		r.recordDeliveries(ctx, &incidentScope{inc: latest, now: now, quiet: true}, results)
		return lp.Patch(ctx, latest)
	})
}

// requeueAt is the requeue for the earliest of the clock's wake and a delivery retry
// (each zero when none), computed from the reconciler's clock.
func requeueAt(c clock.Clock, wake time.Time, retryIn time.Duration) ctrl.Result {
	var after time.Duration
	if !wake.IsZero() {
		after = max(clock.Until(c, wake), time.Millisecond) // exactly at the deadline, never 0 (no requeue)
	}
	if retryIn > 0 && (after == 0 || retryIn < after) {
		after = retryIn
	}
	return ctrl.Result{RequeueAfter: after}
}

// incidentScope is what one reconcile observed and decided.
type incidentScope struct {
	inc    *opsv1alpha1.Incident
	now    time.Time
	cal    incident.Calendar
	calErr error
	// notifierProblems names notifiers that could not be sent to (Secret, key, URL).
	notifierProblems []string
	// quiet: record without events (they were emitted for a version that conflicted).
	quiet bool
	// retryIn: a step that could not be done now (an undo) is tried again this soon.
	retryIn time.Duration
}

// step performs one decision on status, with its timeline entry and event; false
// when there is nothing more to do now.
func (r *IncidentReconciler) step(ctx context.Context, s *incidentScope, d incident.Decision) bool {
	inc, st, now := s.inc, &s.inc.Status, s.now
	switch d.Step {
	case incident.StepOpen:
		st.OpenedAt = ptrTime(now)
		deadline := incident.ResponseDeadline(inc.Spec.Severity, now, s.cal)
		st.ResponseDeadline = ptrTime(deadline)
		st.DedupKey = incident.DedupKey(inc.UID)
		st.Phase = opsv1alpha1.IncidentPhaseOpen
		msg := fmt.Sprintf("%s incident opened: %s; respond by %s", inc.Spec.Severity, inc.Spec.Title, deadline.UTC().Format(time.RFC3339))
		if s.calErr != nil {
			incident.Append(st, incident.Entry(now, opsv1alpha1.TimelineInvalidConfig, opsv1alpha1.TimelineFailed, "invalid/calendar", s.calErr.Error()))
		}
		r.record(s, opsv1alpha1.TimelineOpened, opsv1alpha1.TimelineInfo, "opened", corev1.EventTypeNormal, "Opened", msg)
	case incident.StepResolve:
		st.ResolvedAt = ptrTime(now)
		st.TimeToResolve = opsv1alpha1.DurationOf(now.Sub(st.OpenedAt.Time).Round(time.Second))
		st.Phase = opsv1alpha1.IncidentPhaseResolved
		metrics.RecordResolved(inc.Namespace, string(inc.Spec.Severity), st.TimeToResolve.Duration)
		r.record(s, opsv1alpha1.TimelineResolved, opsv1alpha1.TimelineSucceeded, "resolved", corev1.EventTypeNormal, "Resolved",
			fmt.Sprintf("resolved after %s: %s", st.TimeToResolve.Duration, inc.Spec.Resolution))
	case incident.StepAcknowledge:
		ack, _ := incident.Acknowledge(inc.Spec.AcknowledgedBy, st.Acknowledgement, now)
		st.Acknowledgement = ack
		if st.AcknowledgedAt == nil {
			st.AcknowledgedAt = ptrTime(now)
			st.TimeToAcknowledge = opsv1alpha1.DurationOf(now.Sub(st.OpenedAt.Time).Round(time.Second))
			metrics.RecordAcknowledged(inc.Namespace, string(inc.Spec.Severity), st.TimeToAcknowledge.Duration)
		}
		msg := fmt.Sprintf("acknowledged by %s", ack.By)
		if ack.Sequence > 1 {
			msg = fmt.Sprintf("acknowledgement renewed by %s (acknowledgement %d)", ack.By, ack.Sequence)
		}
		r.record(s, opsv1alpha1.TimelineAcknowledged, opsv1alpha1.TimelineInfo, fmt.Sprintf("acknowledged/%d", ack.Sequence), corev1.EventTypeNormal, "Acknowledged", msg)
	case incident.StepEscalate:
		st.Escalations++
		metrics.IncidentEscalations.WithLabelValues(inc.Namespace, string(inc.Spec.Severity)).Inc()
		st.LastEscalationTime = ptrTime(now)
		r.record(s, opsv1alpha1.TimelineEscalated, opsv1alpha1.TimelineFailed, fmt.Sprintf("escalated/%d", st.Escalations), corev1.EventTypeWarning, "Escalated",
			fmt.Sprintf("escalation %d: %s", st.Escalations, d.Why))
	case incident.StepMitigated:
		st.MitigatedAt = ptrTime(now)
		r.record(s, opsv1alpha1.TimelineMitigated, opsv1alpha1.TimelineSucceeded, "mitigated", corev1.EventTypeNormal, "Mitigated", "every asked-for action is done")
	case incident.StepAction:
		return r.action(ctx, s, d)
	case incident.StepUndo:
		return r.undo(ctx, s, d)
	default: // StepWait
		return false
	}
	return true
}

// action starts or continues an action: it is named in status.actions first (the
// patch after this step records it), then carried out on the next step. An action
// this version has no performer for is recorded Pending (decided, not started), so a
// later version picks it up.
func (r *IncidentReconciler) action(ctx context.Context, s *incidentScope, d incident.Decision) bool {
	st := &s.inc.Status
	rec := incident.FindAction(st, d.Action)
	if rec == nil {
		state, msg := opsv1alpha1.ActionPending, "decided; not carried out by this version of the operator yet"
		if r.performer(d.Action) != nil {
			state, msg = opsv1alpha1.ActionRunning, "started: "+d.Why
		}
		st.Actions = append(st.Actions, opsv1alpha1.IncidentActionRecord{Name: d.Action, State: state, StartTime: ptrTime(s.now), Message: msg})
		return true
	}
	// The first action in flight, then the others: Jobs (diagnostics) run side by side.
	// Each one is started only once Next named it, so after the evidence.
	if f := r.performer(d.Action); f != nil && rec.State == opsv1alpha1.ActionRunning && f(ctx, s, rec) {
		return true
	}
	for i := range st.Actions {
		o := &st.Actions[i]
		if o.Name == d.Action || o.State != opsv1alpha1.ActionRunning {
			continue
		}
		if f := r.performer(o.Name); f != nil && f(ctx, s, o) {
			return true
		}
	}
	return false // in flight: nothing more to decide now
}

// performer carries out action, reporting whether its record changed; nil for the
// actions this version does not carry out.
func (r *IncidentReconciler) performer(action string) func(context.Context, *incidentScope, *opsv1alpha1.IncidentActionRecord) bool {
	always := func(f func(context.Context, *incidentScope, *opsv1alpha1.IncidentActionRecord)) func(context.Context, *incidentScope, *opsv1alpha1.IncidentActionRecord) bool {
		return func(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
			f(ctx, s, rec)
			return true
		}
	}
	switch {
	case action == incident.ActionEvidence:
		return r.captureEvidence
	case action == incident.ActionIsolate:
		return always(r.isolate)
	case action == incident.ActionTakeOffline:
		return r.takeOffline
	case action == incident.ActionRollback:
		return r.rollback
	case strings.HasPrefix(action, incident.ActionRotatePrefix):
		return r.rotateSecret
	case strings.HasPrefix(action, incident.ActionDiagnosticPrefix):
		return r.diagnose
	}
	return nil
}

// undo performs a resolution's undo (StepUndo); false when it cannot be done now.
func (r *IncidentReconciler) undo(ctx context.Context, s *incidentScope, d incident.Decision) bool {
	rec := incident.FindAction(&s.inc.Status, d.Action)
	switch {
	case rec == nil:
		return false
	case d.Action == incident.ActionTakeOffline:
		return r.bringBack(ctx, s, rec)
	case d.Action != incident.ActionIsolate:
		return false
	}
	before := rec.State
	r.liftIsolation(ctx, s, rec)
	return rec.State != before
}

// record appends a timeline entry once and emits its event.
func (r *IncidentReconciler) record(s *incidentScope, typ string, outcome opsv1alpha1.TimelineOutcome, key, eventType, reason, msg string) {
	if incident.Append(&s.inc.Status, incident.Entry(s.now, typ, outcome, key, msg)) && r.Recorder != nil && !s.quiet {
		r.Recorder.Eventf(s.inc, nil, eventType, reason, reason, "%s", msg)
	}
}

func ptrTime(t time.Time) *metav1.Time { v := metav1.NewTime(t); return &v }

// SetupWithManager watches Incidents' specs (acknowledgement and resolution are spec
// changes) and annotations (a nudge), not their status; the clock requeues itself.
func (r *IncidentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.Incident{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}). // diagnostics
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(max(r.Concurrency, 0), DefaultIncidentConcurrency)}).
		Named("incident").
		Complete(r)
}

// incidentPodLogs reads logs through pods/log.
func incidentPodLogs(mgr ctrl.Manager) PodLogs {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil
	}
	return apiPodLogs{cs: cs}
}
