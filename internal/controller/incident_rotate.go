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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/rotation"
)

// incidentRotationPoll is how often a requested emergency rotation is looked at until
// the SecretRotation finished it (the incident does not watch SecretRotations).
const incidentRotationPoll = 2 * time.Second

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations,verbs=get;patch

// rotateSecret asks one SecretRotation (rotateSecrets/<name>) for an emergency
// rotation through its annotation opsv1alpha1.AnnotationEmergencyRotation, set to a
// value derived from the incident's UID: the SecretRotation rotates at once (mode
// Immediate) whatever its spec.mode says, and its spec, perhaps kept in Git, is not
// changed. The value is recorded in the action first (rec.RotateRequest), so that a
// restart sets the same one and the SecretRotation, which rotates once per value,
// rotates once. A SecretRotation whose Fernet keys an immediate rotation would make
// unreadable (no reencrypt, no dropUnreadable) is not asked: the action fails with
// the reason. The action ends when the SecretRotation's status shows the request done
// (Idle) or stopped (Failed), with its version hash (never a value). It reports
// whether rec changed.
func (r *IncidentReconciler) rotateSecret(ctx context.Context, s *incidentScope, rec *opsv1alpha1.IncidentActionRecord) bool {
	inc := s.inc
	name := strings.TrimPrefix(rec.Name, incident.ActionRotatePrefix)
	fail := func(why string) bool {
		r.actionFailed(s, rec, opsv1alpha1.ConditionSecretsRotated, opsv1alpha1.TimelineSecretRotated, "secret-rotated/"+name+"/failed", why)
		return true
	}
	sr := &opsv1alpha1.SecretRotation{}
	if why := r.readAsked(ctx, inc, "spec.response.rotateSecrets", "SecretRotation", name, sr, "nothing was rotated"); why != "" {
		return fail(why)
	}
	if rec.RotateRequest == "" { // decide: the request, recorded before it is set
		var keys []string
		for _, k := range sr.Spec.Keys {
			keys = append(keys, k.Key)
		}
		if why := rotation.UnacknowledgedLoss(&sr.Spec, opsv1alpha1.RotationImmediate, keys); why != "" {
			return fail(fmt.Sprintf("SecretRotation %s cannot rotate at once: %s", name, why))
		}
		rec.RotateRequest, rec.Object = incident.RotateRequest(inc.UID), "SecretRotation/"+name
		rec.Message = cutMessage(fmt.Sprintf("asking SecretRotation %s for an emergency rotation of Secret %s (annotation %s=%s; its spec is not changed)", name, sr.Spec.SecretName, opsv1alpha1.AnnotationEmergencyRotation, rec.RotateRequest))
		return true
	}
	st := &sr.Status
	// LastRotateRequest: a request an earlier version of the operator made through
	// spec.rotateRequest (the value is the incident's own).
	if st.LastEmergencyRequest == rec.RotateRequest || st.LastRotateRequest == rec.RotateRequest {
		switch st.Phase {
		case opsv1alpha1.RotationPhaseIdle:
			return r.rotated(s, rec, sr)
		case opsv1alpha1.RotationPhaseFailed, opsv1alpha1.RotationPhaseBlocked:
			return fail(fmt.Sprintf("the emergency rotation of SecretRotation %s stopped (%s): %s", name, st.Phase, stalledWhy(sr)))
		}
	} else if err := r.ask(ctx, sr, opsv1alpha1.AnnotationEmergencyRotation, rec.RotateRequest); err != nil {
		return fail(fmt.Sprintf("annotating SecretRotation %s with %s=%s: %v; nothing was rotated", name, opsv1alpha1.AnnotationEmergencyRotation, rec.RotateRequest, err))
	} else if st.Phase == opsv1alpha1.RotationPhaseBlocked {
		// It cannot start (a restart target missing, say): said while waiting, since it
		// starts by itself once a person fixed the cause.
		msg := cutMessage(fmt.Sprintf("waiting: SecretRotation %s is Blocked and has not started the emergency rotation: %s. It starts once that is fixed (annotation %s=%s stays set)",
			name, stalledWhy(sr), opsv1alpha1.AnnotationEmergencyRotation, rec.RotateRequest))
		if rec.Message != msg {
			rec.Message = msg
			s.lookAgainIn(incidentRotationPoll)
			return true
		}
	}
	s.lookAgainIn(incidentRotationPoll)
	return false // the SecretRotation rotates; looked at again shortly
}

// rotated records a finished emergency rotation: the version hash, the condition
// (True only while no other rotation of this incident failed) and the timeline entry.
func (r *IncidentReconciler) rotated(s *incidentScope, rec *opsv1alpha1.IncidentActionRecord, sr *opsv1alpha1.SecretRotation) bool {
	msg := fmt.Sprintf("SecretRotation %s rotated Secret %s at once (emergency rotation, annotation %s=%s) to version %s: sessions and tokens signed with the old values no longer validate. A rotation cannot be undone; the SecretRotation's spec was not changed (spec.mode %s still governs its planned rotations), and the annotation stays as the record of the request: removing it changes nothing",
		sr.Name, sr.Spec.SecretName, opsv1alpha1.AnnotationEmergencyRotation, rec.RotateRequest, sr.Status.CurrentVersionHash, cmp.Or(sr.Spec.Mode, opsv1alpha1.RotationTwoPhase))
	rec.State, rec.CompletionTime, rec.VersionHash, rec.Message = opsv1alpha1.ActionSucceeded, ptrTime(s.now), sr.Status.CurrentVersionHash, cutMessage(msg)
	failed := false
	for _, o := range s.inc.Status.Actions {
		failed = failed || (strings.HasPrefix(o.Name, incident.ActionRotatePrefix) && o.State == opsv1alpha1.ActionFailed)
	}
	if !failed {
		conditions.Set(s.inc, opsv1alpha1.ConditionSecretsRotated, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, cutMessage(msg))
	}
	r.record(s, opsv1alpha1.TimelineSecretRotated, opsv1alpha1.TimelineSucceeded, "secret-rotated/"+sr.Name, corev1.EventTypeWarning, "SecretRotated", msg)
	return true
}

// stalledWhy is what the SecretRotation's Stalled condition says.
func stalledWhy(sr *opsv1alpha1.SecretRotation) string {
	if c := conditions.Get(sr, opsv1alpha1.ConditionStalled); c != nil && c.Message != "" {
		return c.Message
	}
	return "see its Stalled condition"
}
