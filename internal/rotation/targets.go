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

package rotation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/truncate"
)

// RolloutState says whether every pod of dep runs its current template, as `kubectl
// rollout status` decides it.
func RolloutState(dep *appsv1.Deployment) opsv1alpha1.TargetRestartState {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return opsv1alpha1.TargetFailed
		}
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	if dep.Generation <= st.ObservedGeneration && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want {
		return opsv1alpha1.TargetRolledOut
	}
	return opsv1alpha1.TargetRollingOut
}

// Progress summarises the targets of a phase, e.g. "1 of 3 targets rolled out (now
// Deployment saas-web)".
func Progress(ts []opsv1alpha1.RestartTargetStatus) string {
	done := 0
	current := ""
	for _, t := range ts {
		if t.State == opsv1alpha1.TargetRolledOut {
			done++
		} else if current == "" {
			current = " (now Deployment " + t.Deployment + ")"
		}
	}
	return fmt.Sprintf("%d of %d targets rolled out%s", done, len(ts), current)
}

// PhaseReason is the Reconciling reason of the phase in progress.
func PhaseReason(rec Record) string {
	switch rec.Phase {
	case opsv1alpha1.RotationPhasePublishing:
		return opsv1alpha1.ReasonPublishing
	case opsv1alpha1.RotationPhasePromoting:
		return opsv1alpha1.ReasonPromoting
	case opsv1alpha1.RotationPhaseReencrypting:
		return opsv1alpha1.ReasonReencrypting
	case opsv1alpha1.RotationPhaseDropping:
		return opsv1alpha1.ReasonDroppingOldValues
	}
	if rec.Mode == opsv1alpha1.RotationImmediate {
		return opsv1alpha1.ReasonEmergencyRotation
	}
	return opsv1alpha1.ReasonReplacing
}

// PhaseSummary says in a sentence what the phase in progress means for the app.
func PhaseSummary(rec Record) string {
	kept := strings.Join(rec.DecryptOnly, ", ")
	switch {
	case rec.Phase == opsv1alpha1.RotationPhaseReencrypting:
		return fmt.Sprintf("Emergency rotation, step 2 of 3 (Reencrypting): every target encrypts with the new values; the reencrypt Job re-encrypts the data under the old values of %s, which still decrypt", kept)
	case rec.Phase == opsv1alpha1.RotationPhaseDropping:
		return fmt.Sprintf("Emergency rotation, step 3 of 3 (Dropping): the data is re-encrypted; the old values of %s are dropped", kept)
	case rec.Mode == opsv1alpha1.RotationImmediate && len(rec.DecryptOnly) > 0:
		return fmt.Sprintf("Emergency rotation, step 1 of 3 (Replacing): the new values are current and sessions and tokens signed with the old values are invalid; the old values of %s decrypt only, until the data is re-encrypted", kept)
	case rec.Mode == opsv1alpha1.RotationImmediate:
		return "Emergency rotation (Immediate): the new values are current and every previous value is dropped; sessions and tokens signed with the old values are invalid"
	case rec.Phase == opsv1alpha1.RotationPhasePublishing:
		return "Phase 1 of 2 (Publishing): the new values are accepted but not yet used"
	case rec.Phase == opsv1alpha1.RotationPhasePromoting:
		return "Phase 2 of 2 (Promoting): the new values are current, the previous ones still accepted"
	}
	return "One phase (Replacing): the new values replace the old ones"
}

// StallAfter is how long a restarted pod may run without becoming Ready before the
// rotation says it stalled (instead of waiting for the progress deadline).
const StallAfter = time.Minute

// StalledPods explains why a restart does not finish: the pods of the Deployment's
// new template (those whose annotation ann carries version) that have run for
// stallAfter or longer without becoming Ready, each with the newest answer of its
// readiness probe (a kubelet "Unhealthy" event) or why its container does not run.
// "" when no pod is stalled.
func StalledPods(pods []corev1.Pod, events []corev1.Event, ann, version string, now time.Time, stallAfter time.Duration) string {
	var out []string
	for i := range pods {
		p := &pods[i]
		if p.Annotations[ann] != version || !p.DeletionTimestamp.IsZero() || podReady(p) {
			continue
		}
		since := podStarted(p)
		if since.IsZero() || now.Sub(since) < stallAfter {
			continue
		}
		out = append(out, fmt.Sprintf("%s (for %s): %s", p.Name, now.Sub(since).Truncate(time.Second), podAnswer(p, events)))
	}
	if len(out) == 0 {
		return ""
	}
	slices.Sort(out)
	n := len(out)
	if n > 3 {
		out = append(out[:3], fmt.Sprintf("and %d more", n-3))
	}
	return fmt.Sprintf("%d new pod(s) run but are not Ready: %s", n, strings.Join(out, "; "))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podStarted is when the pod started (zero when it has not).
func podStarted(p *corev1.Pod) time.Time {
	if p.Status.StartTime == nil || p.Status.Phase != corev1.PodRunning {
		return time.Time{}
	}
	return p.Status.StartTime.Time
}

// podAnswer is why a running pod is not Ready: a container that does not run, or
// the newest readiness probe failure reported for it.
func podAnswer(p *corev1.Pod, events []corev1.Event) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			msg := fmt.Sprintf("container %s is waiting (%s)", cs.Name, w.Reason)
			if t := cs.LastTerminationState.Terminated; t != nil {
				msg += fmt.Sprintf(", last exit code %d", t.ExitCode)
				if m := strings.TrimSpace(t.Message); m != "" {
					msg += ": " + lastLine(m)
				}
			}
			return msg
		}
	}
	var newest *corev1.Event
	for i := range events {
		e := &events[i]
		if e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != p.Name || e.Reason != "Unhealthy" || !strings.HasPrefix(e.Message, "Readiness probe") {
			continue
		}
		if newest == nil || eventTime(e).After(eventTime(newest)) {
			newest = e
		}
	}
	if newest == nil {
		return "its readiness probe has not passed (no probe failure reported)"
	}
	return truncate.String(strings.Join(strings.Fields(newest.Message), " "), 300)
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Holds says what the Secret holds while a rotation is stopped, for messages.
func Holds(rec Record) string {
	if rec.Mode == opsv1alpha1.RotationImmediate && len(rec.DecryptOnly) > 0 && rec.Phase != opsv1alpha1.RotationPhaseDropping {
		return fmt.Sprintf("the Secret holds the new values, with the old values of %s still decrypting", strings.Join(rec.DecryptOnly, ", "))
	}
	if rec.Mode == opsv1alpha1.RotationImmediate {
		return "the Secret holds the new values only"
	}
	return "the Secret holds values every running pod accepts"
}

// EmergencyOutcome says what an emergency rotation did to old sessions and data.
func EmergencyOutcome(rec Record) string {
	if rec.ReencryptedBy != "" {
		return fmt.Sprintf("sessions and signed tokens made with the old values are invalid; Job %s re-encrypted the data with the new values before the old ones were dropped", rec.ReencryptedBy)
	}
	return "every previous value was dropped, so sessions, signed tokens and data encrypted with the old values are now invalid"
}
