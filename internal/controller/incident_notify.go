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
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/notify"
	"runbook-operator/internal/truncate"
)

// Bounds of one delivery inside a reconcile: a dead receiver costs at most
// incidentSendTimeout, and is retried on a requeue with backoff.
const (
	incidentSendTimeout = 5 * time.Second
	incidentRetryFirst  = 5 * time.Second
	incidentRetryMax    = 5 * time.Minute
)

type sendResult struct {
	notice incident.Notice
	err    error
	// problem: the notifier could not be configured (Secret, key); no request made.
	problem bool
}

// deliver sends every due notification, the notifiers in parallel, and returns the
// outcomes for record: they are recorded after the sends, so delivery is at least once
// across restarts, and never repeated once recorded Delivered.
func (r *IncidentReconciler) deliver(ctx context.Context, s *incidentScope) []sendResult {
	inc := s.inc
	due := incident.Due(&inc.Spec, &inc.Status)
	results := make([]sendResult, len(due))
	var wg sync.WaitGroup
	for i, n := range due {
		wg.Go(func() {
			results[i] = r.send(ctx, inc, n)
		})
	}
	wg.Wait()
	return results
}

// recordDeliveries records the outcomes per notifier and transition, with their
// timeline entries and events, and returns when to retry the ones that failed for now
// (0: none). Recording twice (after a conflict) changes nothing the first did not.
func (r *IncidentReconciler) recordDeliveries(ctx context.Context, s *incidentScope, results []sendResult) time.Duration {
	inc := s.inc
	var retry time.Duration
	for _, res := range results {
		n := res.notice
		if !s.quiet {
			outcome := "retry"
			switch {
			case res.err == nil:
				outcome = "delivered"
			case notify.Permanent(res.err):
				outcome = "failed"
			}
			metrics.IncidentNotifications.WithLabelValues(inc.Namespace, string(n.Notifier.Type), outcome).Inc()
		}
		switch {
		case res.err == nil:
			incident.RecordDelivery(&inc.Status, n, opsv1alpha1.DeliveryDelivered, "", s.now)
			r.record(s, opsv1alpha1.TimelineNotified, opsv1alpha1.TimelineSucceeded, n.Key(), corev1.EventTypeNormal, "Notified",
				fmt.Sprintf("%s notifier %s told: %s", n.Notifier.Type, n.Notifier.Name, transitionWords(n)))
		case notify.Permanent(res.err):
			incident.RecordDelivery(&inc.Status, n, opsv1alpha1.DeliveryFailed, res.err.Error(), s.now)
			r.record(s, opsv1alpha1.TimelineNotifierFailed, opsv1alpha1.TimelineFailed, n.Key()+"/failed", corev1.EventTypeWarning, "NotifierFailed",
				fmt.Sprintf("%s not delivered, not retried: %v", transitionWords(n), res.err))
		default:
			incident.RecordDelivery(&inc.Status, n, opsv1alpha1.DeliveryPending, res.err.Error(), s.now)
			d := incident.FindDelivery(&inc.Status, n.Notifier.Name, n.Transition)
			wait := backoffFor(d.Attempts)
			var ne *notify.Error
			if asNotifyError(res.err, &ne) && ne.RetryAfter > wait {
				wait = ne.RetryAfter
			}
			if retry == 0 || wait < retry {
				retry = wait
			}
			if res.problem {
				s.notifierProblems = append(s.notifierProblems, res.err.Error())
			}
			log.FromContext(ctx).Info("notification not delivered; retrying", "notifier", n.Notifier.Name, "transition", n.Transition, "attempts", d.Attempts, "error", res.err.Error())
		}
	}
	return retry
}

func asNotifyError(err error, target **notify.Error) bool {
	e, ok := err.(*notify.Error)
	if ok {
		*target = e
	}
	return ok
}

// backoffFor is the requeue after attempts failed attempts: 5 s, 10 s, 20 s, … 5 min.
func backoffFor(attempts int32) time.Duration {
	d := incidentRetryFirst
	for i := int32(1); i < attempts && d < incidentRetryMax; i++ {
		d *= 2
	}
	return min(d, incidentRetryMax)
}

// send reads the notifier's Secret (one get of that Secret) and sends n.
func (r *IncidentReconciler) send(ctx context.Context, inc *opsv1alpha1.Incident, n incident.Notice) sendResult {
	res := sendResult{notice: n}
	ref := n.Notifier.SecretRef
	var sec corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: inc.Namespace, Name: ref.Name}, &sec); err != nil {
		why := fmt.Sprintf("cannot read Secret %s: %v", ref.Name, err)
		if apierrors.IsNotFound(err) {
			why = fmt.Sprintf("Secret %s does not exist", ref.Name)
		}
		res.err, res.problem = &notify.Error{Notifier: n.Notifier.Name, Type: n.Notifier.Type, Reason: why}, true
		return res
	}
	value := strings.TrimSpace(string(sec.Data[ref.Key]))
	if value == "" {
		res.err, res.problem = &notify.Error{Notifier: n.Notifier.Name, Type: n.Notifier.Type, Reason: fmt.Sprintf("Secret %s has no key %s (or it is empty)", ref.Name, ref.Key)}, true
		return res
	}
	t := notify.Target{Name: n.Notifier.Name, Type: n.Notifier.Type, URL: value}
	if n.Notifier.Type == opsv1alpha1.NotifierPagerDuty {
		t.URL, t.RoutingKey = n.Notifier.URL, value
	}
	ctx, cancel := context.WithTimeout(ctx, incidentSendTimeout+time.Second)
	defer cancel()
	res.err = r.sender().Send(ctx, t, notifyEvent(inc, n))
	return res
}

func (r *IncidentReconciler) sender() *notify.Sender {
	if r.Sender != nil {
		return r.Sender
	}
	return defaultIncidentSender
}

var defaultIncidentSender = &notify.Sender{MaxAttempts: 1, UserAgent: "runbook-operator/incident",
	Client: &http.Client{Timeout: incidentSendTimeout, Transport: incidentTransport()}}

// incidentTransport is the notifiers' transport: the default one's settings (proxy
// from the environment, timeouts, HTTP/2), keeping up to 16 idle connections per
// receiver instead of 2, so that Incidents reconciled side by side (a burst of alerts
// to one Slack or PagerDuty host) reuse their TLS connections rather than open new
// ones.
func incidentTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}

// notifyEvent is what notice n says about inc.
func notifyEvent(inc *opsv1alpha1.Incident, n incident.Notice) notify.Event {
	st := &inc.Status
	ev := notify.Event{
		Transition: n.Transition, Sequence: n.Sequence, Namespace: inc.Namespace, Name: inc.Name, UID: string(inc.UID),
		Title: inc.Spec.Title, Description: inc.Spec.Description, Severity: inc.Spec.Severity, Phase: st.Phase,
		DedupKey: st.DedupKey, Resolution: inc.Spec.Resolution, Message: transitionWords(n), Details: map[string]string{},
	}
	if inc.Spec.ReleaseRef != nil {
		ev.Release = inc.Spec.ReleaseRef.Name
	}
	at := func(t *metav1.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.Time
	}
	ev.OpenedAt, ev.ResponseDeadline = at(st.OpenedAt), at(st.ResponseDeadline)
	switch n.Transition {
	case opsv1alpha1.TransitionOpened:
		ev.Time = ev.OpenedAt
	case opsv1alpha1.TransitionEscalated:
		ev.Time = at(st.LastEscalationTime)
	case opsv1alpha1.TransitionAcknowledged:
		if st.Acknowledgement != nil {
			ev.Time = st.Acknowledgement.Time.Time
		}
	case opsv1alpha1.TransitionMitigated:
		ev.Time = at(st.MitigatedAt)
	case opsv1alpha1.TransitionResolved:
		ev.Time = at(st.ResolvedAt)
	}
	if st.Acknowledgement != nil {
		ev.AcknowledgedBy = st.Acknowledgement.By
	}
	if e := st.Evidence; e != nil && e.SHA256 != "" {
		ev.Details["evidence_sha256"] = e.SHA256
		ev.Details["evidence_configmaps"] = strings.Join(e.ConfigMaps, ",")
	}
	return ev
}

// transitionWords says what a notice tells, for people.
func transitionWords(n incident.Notice) string {
	switch n.Transition {
	case opsv1alpha1.TransitionEscalated:
		return fmt.Sprintf("escalation %d: unacknowledged past the response deadline", n.Sequence)
	case opsv1alpha1.TransitionAcknowledged:
		if n.Sequence > 1 {
			return fmt.Sprintf("acknowledgement %d (renewed)", n.Sequence)
		}
		return "acknowledged"
	case opsv1alpha1.TransitionOpened:
		return "opened"
	case opsv1alpha1.TransitionMitigated:
		return "mitigated"
	case opsv1alpha1.TransitionResolved:
		return "resolved"
	}
	return string(n.Transition)
}

// summarise sets the phase and conditions from status, as recorded.
func (r *IncidentReconciler) summarise(s *incidentScope) {
	inc, st := s.inc, &s.inc.Status
	inc.Status.ObservedGeneration = inc.Generation
	clk := incident.ClockOf(&inc.Spec, st).At(s.now)
	resolved := st.ResolvedAt != nil
	acked := clk.Acknowledged || (resolved && st.Acknowledgement != nil)
	st.Phase = incident.Phase(resolved, clk.Acknowledged, st.MitigatedAt != nil && incident.Done(&inc.Spec, st))
	if clk.AckExpired && (st.ResponseDeadline == nil || !st.ResponseDeadline.Time.Equal(clk.Deadline)) {
		st.ResponseDeadline = ptrTime(clk.Deadline) // re-armed: due when the acknowledgement expired
	}
	deadline := ""
	if st.ResponseDeadline != nil {
		deadline = st.ResponseDeadline.UTC().Format(time.RFC3339)
	}

	switch {
	case acked:
		conditions.Set(inc, opsv1alpha1.ConditionAcknowledged, metav1.ConditionTrue, opsv1alpha1.ReasonAcknowledged, "acknowledged by "+st.Acknowledgement.By)
	case clk.AckExpired:
		conditions.Set(inc, opsv1alpha1.ConditionAcknowledged, metav1.ConditionFalse, opsv1alpha1.ReasonAwaitingAck,
			fmt.Sprintf("the acknowledgement by %s expired at %s; set spec.acknowledgedBy to a new value to renew it", st.Acknowledgement.By, clk.Deadline.UTC().Format(time.RFC3339)))
	default:
		conditions.Set(inc, opsv1alpha1.ConditionAcknowledged, metav1.ConditionFalse, opsv1alpha1.ReasonAwaitingAck, "not acknowledged; respond by "+deadline)
	}
	if !resolved && !clk.Acknowledged && st.Escalations > 0 && !clk.Deadline.IsZero() && !s.now.Before(clk.Deadline) {
		conditions.Set(inc, opsv1alpha1.ConditionEscalated, metav1.ConditionTrue, opsv1alpha1.ReasonDeadlineMissed,
			fmt.Sprintf("unacknowledged past the response deadline %s; escalation %d at %s", clk.Deadline.UTC().Format(time.RFC3339), st.Escalations, st.LastEscalationTime.UTC().Format(time.RFC3339)))
	} else {
		reason, msg := opsv1alpha1.ReasonAwaitingAck, "within the response deadline "+deadline
		switch {
		case resolved:
			reason, msg = opsv1alpha1.ReasonResolved, "resolved"
		case clk.Acknowledged:
			reason, msg = opsv1alpha1.ReasonAcknowledged, "acknowledged"
		}
		conditions.Set(inc, opsv1alpha1.ConditionEscalated, metav1.ConditionFalse, reason, msg)
	}
	if st.MitigatedAt != nil {
		conditions.Set(inc, opsv1alpha1.ConditionMitigated, metav1.ConditionTrue, opsv1alpha1.ReasonMitigated, "every asked-for action is done")
	} else {
		conditions.Set(inc, opsv1alpha1.ConditionMitigated, metav1.ConditionFalse, opsv1alpha1.ReasonPending, pendingActions(inc))
	}
	r.summariseNotifiers(s)

	switch {
	case resolved:
		conditions.MarkReady(inc, opsv1alpha1.ReasonResolved, fmt.Sprintf("resolved after %s: %s", st.TimeToResolve.Duration, inc.Spec.Resolution))
	case s.calErr != nil:
		conditions.MarkNotReady(inc, opsv1alpha1.ReasonInvalidSpec, s.calErr.Error())
	default:
		msg := fmt.Sprintf("%s: not acknowledged; respond by %s", st.Phase, deadline)
		if clk.Acknowledged {
			msg = fmt.Sprintf("%s by %s; waiting for spec.resolution", st.Phase, st.Acknowledgement.By)
		}
		conditions.MarkNotReady(inc, string(st.Phase), msg)
	}
}

// pendingActions says which asked-for actions are not done.
func pendingActions(inc *opsv1alpha1.Incident) string {
	var left []string
	for _, a := range incident.Asked(&inc.Spec) {
		rec := incident.FindAction(&inc.Status, a)
		switch {
		case rec == nil:
			left = append(left, a+" (not started)")
		case rec.State != opsv1alpha1.ActionSucceeded:
			left = append(left, fmt.Sprintf("%s (%s)", a, rec.State))
		}
	}
	if len(left) == 0 {
		return "no action left"
	}
	return "waiting for " + strings.Join(left, ", ")
}

// summariseNotifiers sets Notified and NotifierFailed from the delivery records.
func (r *IncidentReconciler) summariseNotifiers(s *incidentScope) {
	inc := s.inc
	if len(inc.Spec.Notify) == 0 {
		conditions.Remove(inc, opsv1alpha1.ConditionNotified)
		conditions.Remove(inc, opsv1alpha1.ConditionNotifierFailed)
		return
	}
	var failed, pending []string
	for _, ns := range inc.Status.Notifiers {
		for _, d := range ns.Deliveries {
			switch d.State {
			case opsv1alpha1.DeliveryFailed:
				failed = append(failed, fmt.Sprintf("%s (%s): %s", ns.Name, d.Transition, d.Message))
			case opsv1alpha1.DeliveryPending:
				pending = append(pending, fmt.Sprintf("%s (%s, %d attempts): %s", ns.Name, d.Transition, d.Attempts, d.Message))
			}
		}
	}
	slices.Sort(failed)
	slices.Sort(pending)
	due := incident.Due(&inc.Spec, &inc.Status)
	switch {
	case len(due) == 0 && len(pending) == 0:
		conditions.Set(inc, opsv1alpha1.ConditionNotified, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, "every notifier was told of every transition it is due")
	default:
		conditions.Set(inc, opsv1alpha1.ConditionNotified, metav1.ConditionFalse, opsv1alpha1.ReasonPending, cutMessage("retrying: "+strings.Join(pending, "; ")))
	}
	if len(failed) > 0 {
		conditions.Set(inc, opsv1alpha1.ConditionNotifierFailed, metav1.ConditionTrue, opsv1alpha1.ReasonNotificationFailed, cutMessage(strings.Join(failed, "; ")))
	} else if len(s.notifierProblems) > 0 {
		conditions.Set(inc, opsv1alpha1.ConditionNotifierFailed, metav1.ConditionTrue, opsv1alpha1.ReasonSecretMissing, cutMessage(strings.Join(s.notifierProblems, "; ")))
	} else {
		conditions.Set(inc, opsv1alpha1.ConditionNotifierFailed, metav1.ConditionFalse, opsv1alpha1.ReasonSucceeded, "no notifier refused a delivery")
	}
}

func cutMessage(s string) string { return truncate.String(s, 2048) }
