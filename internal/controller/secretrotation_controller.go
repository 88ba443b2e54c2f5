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
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/keyring"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/names"
	"runbook-operator/internal/reconcile"
)

// copyFromPoll is how often a SecretRotation with copyFrom keys reads its sources
// again: they are not cached (the manager caches only the Secrets it manages).
var copyFromPoll = time.Minute

// rolloutPoll is how often a rotation waiting for a rollout looks again; Deployment
// changes wake it sooner.
const rolloutPoll = 10 * time.Second

// SecretRotationReconciler rotates the named keys of one Secret: on the first
// reconcile it writes missing keys; every interval, when rotateRequest changes or a
// copyFrom source changes it publishes new values accept-only and restarts every
// target, then promotes them and restarts again (TwoPhase), or replaces them and drops
// the previous ones (Immediate). The rotation in progress is recorded on the Secret
// itself (annotations: phase, version, keys) in the same write as the new values, so
// a restarted manager continues it and never generates a second value.
type SecretRotationReconciler struct {
	client.Client
	// APIReader reads the managed Secret and copyFrom sources from the API server:
	// only managed Secrets are cached, and a rotation acts on the latest data.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Clock     clock.Clock
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations,verbs=get;list;watch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// rotationStalled is an outcome that needs a person (or a change elsewhere): the
// rotation does not go on, a condition says why. Stops clear when the cluster changes
// (a target rolls out, a source appears); the watches wake most of them, the requeue
// catches the rest. Sources are not watched (not cached), so a missing one is looked
// for as often as sources are read.
func rotationStalled(reason, msg string) error {
	after := time.Minute
	if reason == opsv1alpha1.ReasonSourceMissing {
		after = copyFromPoll
	}
	return &reconcile.Stalling{Reason: reason, Message: msg, After: after}
}

// Reconcile moves a SecretRotation one step: write missing keys, start a due
// rotation, restart the next target, promote, or finish.
func (r *SecretRotationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	sr := &opsv1alpha1.SecretRotation{}
	if err := r.Get(ctx, req.NamespacedName, sr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	p := reconcile.NewStatusPatch(r.Client, sr)
	defer p.Finish(ctx, sr, &res, &retErr)
	res, err := r.reconcile(ctx, sr)
	if err == nil {
		sr.Status.ObservedGeneration = sr.Generation
	}
	return reconcile.Apply(sr, res, err, reconcile.OnStall(func(reason, msg string) { r.markStopped(sr, reason, msg) }),
		reconcile.OnRetry(func(error) {
			conditions.MarkReconciling(sr, opsv1alpha1.ReasonProgressing, "Retrying after an error talking to the API server")
		}))
}

func (r *SecretRotationReconciler) reconcile(ctx context.Context, sr *opsv1alpha1.SecretRotation) (ctrl.Result, error) {
	if err := opsv1alpha1.InvalidDurations("spec", &sr.Spec); err != nil {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonInvalidSpec, fmt.Sprintf("%v; nothing was rotated. Correct the field", err))
	}
	now := r.Clock.Now()
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: sr.Namespace, Name: sr.Spec.SecretName}
	exists := true
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			exists = false
			secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sr.Namespace, Name: sr.Spec.SecretName}}
		case apierrors.IsForbidden(err):
			return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonForbidden, fmt.Sprintf("the manager may not get Secret %s: its ClusterRole needs get, create, update and patch on secrets (config/rbac/role.yaml)", sr.Spec.SecretName))
		default:
			return ctrl.Result{}, err
		}
	}
	if owner := secret.Labels[opsv1alpha1.LabelSecretRotation]; owner != "" && owner != names.LabelValue(sr.Name) {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonManagedElsewhere, fmt.Sprintf("Secret %s is managed by SecretRotation %s; one SecretRotation manages a Secret", sr.Spec.SecretName, owner))
	}
	sources, err := r.readSources(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Hand-edited keys are never overwritten blindly.
	for _, k := range sr.Spec.Keys {
		if l := layoutOf(k); l.Present(secret.Data) {
			if _, err := l.Read(secret.Data, valueCheck(k)); err != nil {
				return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, fmt.Sprintf("Secret %s: %v; nothing was changed. Fix or delete the key (a deleted key is generated again)", sr.Spec.SecretName, err))
			}
		}
	}
	rec := readRecord(secret)
	if rec.phase != "" {
		return r.continueRotation(ctx, sr, secret, rec, now)
	}
	if !exists || missingKeys(sr, secret) != nil || secret.Labels[opsv1alpha1.LabelSecretRotation] != names.LabelValue(sr.Name) {
		return r.writeInitial(ctx, sr, secret, exists, sources, now)
	}
	var changed []string
	for _, k := range sr.Spec.Keys {
		if k.CopyFrom != nil {
			if v, _ := layoutOf(k).Read(secret.Data, nil); v.Current != sources[k.Key] {
				changed = append(changed, k.Key)
			}
		}
	}
	why, mode, keys := trigger(sr, rec, now, changed)
	if why == "" {
		return r.idle(ctx, sr, rec, now)
	}
	return r.start(ctx, sr, secret, rec, why, mode, keys, sources, now)
}

// readSources reads every copyFrom value (uncached): a missing Secret or key stops
// the rotation before anything is written.
func (r *SecretRotationReconciler) readSources(ctx context.Context, sr *opsv1alpha1.SecretRotation) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range sr.Spec.Keys {
		if k.CopyFrom == nil {
			continue
		}
		src := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: k.CopyFrom.Name}, src)
		switch {
		case apierrors.IsNotFound(err):
			return nil, rotationStalled(opsv1alpha1.ReasonSourceMissing, fmt.Sprintf("Secret %s named in copyFrom of key %s does not exist; nothing was written", k.CopyFrom.Name, k.Key))
		case apierrors.IsForbidden(err):
			return nil, rotationStalled(opsv1alpha1.ReasonForbidden, fmt.Sprintf("the manager may not get Secret %s named in copyFrom of key %s", k.CopyFrom.Name, k.Key))
		case err != nil:
			return nil, err
		}
		v, ok := src.Data[k.CopyFrom.Key]
		if !ok || len(v) == 0 {
			return nil, rotationStalled(opsv1alpha1.ReasonSourceMissing, fmt.Sprintf("Secret %s has no key %s (copyFrom of key %s); nothing was written", k.CopyFrom.Name, k.CopyFrom.Key, k.Key))
		}
		if strings.Contains(string(v), keyring.Separator) {
			return nil, rotationStalled(opsv1alpha1.ReasonUnparseable, fmt.Sprintf("key %s of Secret %s (copyFrom of key %s) holds a comma, the separator of previous values; nothing was written", k.CopyFrom.Key, k.CopyFrom.Name, k.Key))
		}
		out[k.Key] = string(v)
	}
	return out, nil
}

func missingKeys(sr *opsv1alpha1.SecretRotation, s *corev1.Secret) []string {
	var out []string
	for _, k := range sr.Spec.Keys {
		if !layoutOf(k).Present(s.Data) {
			out = append(out, k.Key)
		}
	}
	return out
}

// newValues makes the next value of each key: generated, or copied from its source.
func newValues(sr *opsv1alpha1.SecretRotation, keys []string, sources map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range sr.Spec.Keys {
		if !slices.Contains(keys, k.Key) {
			continue
		}
		if k.CopyFrom != nil {
			out[k.Key] = sources[k.Key]
			continue
		}
		v, err := generate(k)
		if err != nil {
			return nil, rotationStalled(opsv1alpha1.ReasonGeneratorFailed, fmt.Sprintf("generating key %s: %v", k.Key, err))
		}
		out[k.Key] = v
	}
	return out, nil
}

// writeInitial creates the Secret or writes its missing keys, and labels it. Nothing
// restarts: no running pod can have used a value that did not exist.
func (r *SecretRotationReconciler) writeInitial(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, exists bool, sources map[string]string, now time.Time) (ctrl.Result, error) {
	missing := missingKeys(sr, secret)
	values, err := newValues(sr, missing, sources)
	if err != nil {
		return ctrl.Result{}, err
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	for _, k := range sr.Spec.Keys {
		if v, ok := values[k.Key]; ok {
			for key, val := range layoutOf(k).Write(keyring.Initial(v)) {
				secret.Data[key] = val
			}
		}
	}
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	secret.Labels[opsv1alpha1.LabelSecretRotation] = names.LabelValue(sr.Name)
	rec := readRecord(secret)
	if _, ok := secret.Annotations[opsv1alpha1.AnnotationRotateRequest]; !ok {
		// Adopting a Secret (or creating one) is not a request to rotate.
		rec.request = sr.Spec.RotateRequest
	}
	if rec.rotatedAt.IsZero() {
		rec.rotatedAt = now
	}
	rec.version = keyring.Version(secret.Data, managedKeys(sr))
	rec.write(secret)
	if exists {
		err = r.Update(ctx, secret)
	} else {
		err = r.Create(ctx, secret)
	}
	if err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	var note string
	switch {
	case !exists:
		note = fmt.Sprintf("Created Secret %s with generated keys %s (version %s)", secret.Name, strings.Join(missing, ", "), rec.version)
	case len(missing) > 0:
		note = fmt.Sprintf("Wrote missing keys %s of Secret %s (version %s)", strings.Join(missing, ", "), secret.Name, rec.version)
	default:
		note = fmt.Sprintf("Adopted Secret %s; its next rotation is due %s", secret.Name, rec.rotatedAt.Add(interval(sr)).UTC().Format(time.RFC3339))
	}
	r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonCreated, "Create", note)
	conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonCreated, note)
	return r.idle(ctx, sr, rec, now)
}

func secretWriteError(err error, name string) error {
	if apierrors.IsForbidden(err) {
		return rotationStalled(opsv1alpha1.ReasonForbidden, fmt.Sprintf("the manager may not write Secret %s: its ClusterRole needs create, update and patch on secrets", name))
	}
	if apierrors.IsInvalid(err) {
		// Shown in the conditions, not only in the log. Secret validation names keys
		// and labels, never data values.
		return rotationStalled(opsv1alpha1.ReasonCreateFailed, fmt.Sprintf("the API server refused Secret %s: %v", name, err))
	}
	return err
}

// start begins a rotation: the targets must exist, then the new values and the record
// of the rotation are written to the Secret in one update.
func (r *SecretRotationReconciler) start(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotationRecord, why string, mode opsv1alpha1.RotationMode, keys []string, sources map[string]string, now time.Time) (ctrl.Result, error) {
	if _, missing, err := r.resolveTargets(ctx, sr); err != nil || missing != "" {
		if err == nil {
			err = rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target %s does not exist; the rotation (%s) did not start and nothing was written", missing, why))
		}
		return ctrl.Result{}, err
	}
	values, err := newValues(sr, keys, sources)
	if err != nil {
		return ctrl.Result{}, err
	}
	phase, err := startRotation(sr, secret.Data, mode, keys, values)
	if err != nil {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, err.Error())
	}
	rec.phase, rec.mode, rec.keys, rec.phaseStarted = phase, mode, keys, time.Now()
	rec.request = sr.Spec.RotateRequest
	rec.version = keyring.Version(secret.Data, managedKeys(sr))
	rec.write(secret)
	// An update with the resourceVersion read: if another writer got there first
	// nothing is written and the next reconcile starts from what it wrote.
	if err := r.Update(ctx, secret); err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	r.event(sr, corev1.EventTypeNormal, "RotationStarted", "Rotate", fmt.Sprintf("Rotating %s of Secret %s because %s: %s (version %s)", strings.Join(keys, ", "), secret.Name, why, phaseSummary(phase, mode), rec.version))
	log.FromContext(ctx).Info("rotation started", "secret", secret.Name, "keys", keys, "phase", phase, "mode", mode, "version", rec.version)
	return r.continueRotation(ctx, sr, secret, rec, now)
}

// continueRotation restarts the targets of the phase in progress; when all run its
// version it promotes (after Publishing) or finishes.
func (r *SecretRotationReconciler) continueRotation(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotationRecord, now time.Time) (ctrl.Result, error) {
	if v := keyring.Version(secret.Data, managedKeys(sr)); v != rec.version {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonChangedDuringRotation, fmt.Sprintf("the managed keys of Secret %s changed during the %s phase (version %s, expected %s); nothing more was written. Delete the annotation %s from the Secret to start over", secret.Name, rec.phase, v, rec.version, opsv1alpha1.AnnotationRotationPhase))
	}
	r.setRecordStatus(sr, rec)
	sr.Status.Phase = rec.phase
	targets, missing, err := r.resolveTargets(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	if missing != "" {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target %s does not exist; the %s phase stopped and the Secret holds values every running pod accepts", missing, rec.phase))
	}
	done, err := r.restartTargets(ctx, sr, targets, rec.version)
	sr.Status.Targets = targets
	if err != nil {
		return ctrl.Result{}, err
	}
	msg := phaseSummary(rec.phase, rec.mode)
	if !done {
		conditions.MarkReconciling(sr, phaseReason(rec), fmt.Sprintf("%s; restarting %s", msg, targetProgress(targets)))
		conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionFalse, opsv1alpha1.ReasonRollingOut, "Restarting "+targetProgress(targets))
		return ctrl.Result{RequeueAfter: rolloutPoll}, nil
	}
	finished := rec
	defer func() {
		// Once per phase: only the reconcile whose write ended it gets here with
		// the phase's start still recorded.
		if !finished.phaseStarted.IsZero() && readRecord(secret).phase != finished.phase {
			metrics.RecordRotationPhase(sr.Namespace, secret.Name, string(finished.phase), time.Since(finished.phaseStarted))
		}
	}()
	if rec.phase == opsv1alpha1.RotationPhasePublishing {
		if err := promote(sr, secret.Data, rec.keys); err != nil {
			return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, err.Error())
		}
		rec.phase, rec.phaseStarted = opsv1alpha1.RotationPhasePromoting, time.Now()
		rec.version = keyring.Version(secret.Data, managedKeys(sr))
		rec.write(secret)
		if err := r.Update(ctx, secret); err != nil {
			return ctrl.Result{}, secretWriteError(err, secret.Name)
		}
		r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonPromoting, "Promote", fmt.Sprintf("Every target accepts the new values of %s; promoted them to current (version %s), restarting the targets again", strings.Join(rec.keys, ", "), rec.version))
		return r.continueRotation(ctx, sr, secret, rec, now)
	}
	// Finished: the record goes idle on the Secret first, then status follows.
	mode, keys := rec.mode, rec.keys
	rec.phase, rec.keys = "", nil
	rec.rotatedAt = now
	rec.rotations++
	rec.write(secret)
	if err := r.Update(ctx, secret); err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	metrics.SecretRotations.WithLabelValues(sr.Namespace, secret.Name, string(mode)).Inc()
	note := fmt.Sprintf("Rotated %s of Secret %s (version %s); every target runs it", strings.Join(keys, ", "), secret.Name, rec.version)
	if mode == opsv1alpha1.RotationImmediate {
		note = fmt.Sprintf("Emergency rotation of %s of Secret %s done (version %s): every previous value was dropped, so sessions, signed tokens and data encrypted with the old values are now invalid", strings.Join(keys, ", "), secret.Name, rec.version)
		r.event(sr, corev1.EventTypeWarning, opsv1alpha1.ReasonEmergencyRotation, "Rotate", note)
	} else {
		r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonRotated, "Rotate", note)
	}
	return r.idle(ctx, sr, rec, now)
}

// idle reports a SecretRotation with no rotation in progress and wakes it when the
// next one is due.
func (r *SecretRotationReconciler) idle(ctx context.Context, sr *opsv1alpha1.SecretRotation, rec rotationRecord, now time.Time) (ctrl.Result, error) {
	r.setRecordStatus(sr, rec)
	sr.Status.Phase = opsv1alpha1.RotationPhaseIdle
	metrics.SecretLastRotation.WithLabelValues(sr.Namespace, sr.Spec.SecretName).Set(float64(rec.rotatedAt.Unix()))
	targets, _, err := r.resolveTargets(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	ann := opsv1alpha1.SecretVersionAnnotation(sr.Spec.SecretName)
	for i := range targets {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: targets[i].Deployment}, dep); err == nil {
			targets[i].Version = dep.Spec.Template.Annotations[ann]
			targets[i].State = rolloutState(dep)
		}
	}
	sr.Status.Targets = targets
	// Derived from the record on the Secret, so that a status write lost to a
	// conflict after the rotation finished is written again by the next reconcile.
	switch {
	case rec.rotations > 0 && rec.mode == opsv1alpha1.RotationImmediate:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonEmergencyRotation, fmt.Sprintf(
			"Emergency rotation %d of Secret %s done at %s (version %s): every previous value was dropped, so sessions, signed tokens and data encrypted with the old values are now invalid",
			rec.rotations, sr.Spec.SecretName, rec.rotatedAt.UTC().Format(time.RFC3339), rec.version))
	case rec.rotations > 0:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonRotated, fmt.Sprintf(
			"Rotation %d of Secret %s done at %s (version %s); every target runs it", rec.rotations, sr.Spec.SecretName, rec.rotatedAt.UTC().Format(time.RFC3339), rec.version))
	case conditions.Get(sr, opsv1alpha1.ConditionRotated) == nil:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, fmt.Sprintf("Secret %s holds every managed key", sr.Spec.SecretName))
	}
	conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionTrue, opsv1alpha1.ReasonRestarted, "No rotation in progress: no restart pending")
	next := "none scheduled (suspended)"
	var after time.Duration
	if sr.Spec.Suspend {
		sr.Status.NextRotationTime = nil
	} else {
		at := rec.rotatedAt.Add(interval(sr))
		sr.Status.NextRotationTime = &metav1.Time{Time: at}
		next = at.UTC().Format(time.RFC3339)
		after = max(at.Sub(now), time.Second)
	}
	conditions.MarkReady(sr, opsv1alpha1.ReasonRotated, fmt.Sprintf("Secret %s is at version %s; next rotation %s", sr.Spec.SecretName, rec.version, next))
	for _, k := range sr.Spec.Keys {
		if k.CopyFrom != nil && (after == 0 || after > copyFromPoll) {
			after = copyFromPoll
		}
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

func (r *SecretRotationReconciler) setRecordStatus(sr *opsv1alpha1.SecretRotation, rec rotationRecord) {
	st := &sr.Status
	st.CurrentVersionHash = rec.version
	st.Mode = rec.mode
	st.Rotations = rec.rotations
	st.LastRotateRequest = rec.request
	if !rec.rotatedAt.IsZero() {
		st.LastRotationTime = &metav1.Time{Time: rec.rotatedAt}
	}
}

// markStopped records a stop: Stalled with its reason, and the phase Failed while a
// rotation is in progress (Pending before the first write).
func (r *SecretRotationReconciler) markStopped(sr *opsv1alpha1.SecretRotation, reason, msg string) {
	switch sr.Status.Phase {
	case opsv1alpha1.RotationPhasePublishing, opsv1alpha1.RotationPhasePromoting, opsv1alpha1.RotationPhaseReplacing:
		sr.Status.Phase = opsv1alpha1.RotationPhaseFailed
	case "":
		sr.Status.Phase = opsv1alpha1.RotationPhasePending
	}
	if reason == opsv1alpha1.ReasonRolloutFailed || reason == opsv1alpha1.ReasonTargetMissing {
		conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionFalse, reason, msg)
	}
	if c := conditions.Get(sr, opsv1alpha1.ConditionStalled); c == nil || c.Message != msg {
		r.event(sr, corev1.EventTypeWarning, reason, "Rotate", msg)
	}
	conditions.MarkStalled(sr, reason, msg)
}

func phaseReason(rec rotationRecord) string {
	switch rec.phase {
	case opsv1alpha1.RotationPhasePublishing:
		return opsv1alpha1.ReasonPublishing
	case opsv1alpha1.RotationPhasePromoting:
		return opsv1alpha1.ReasonPromoting
	}
	if rec.mode == opsv1alpha1.RotationImmediate {
		return opsv1alpha1.ReasonEmergencyRotation
	}
	return opsv1alpha1.ReasonReplacing
}

func phaseSummary(phase opsv1alpha1.RotationPhase, mode opsv1alpha1.RotationMode) string {
	switch {
	case mode == opsv1alpha1.RotationImmediate:
		return "Emergency rotation (Immediate): the new values are current and every previous value is dropped; sessions and tokens signed with the old values are invalid"
	case phase == opsv1alpha1.RotationPhasePublishing:
		return "Phase 1 of 2 (Publishing): the new values are accepted but not yet used"
	case phase == opsv1alpha1.RotationPhasePromoting:
		return "Phase 2 of 2 (Promoting): the new values are current, the previous ones still accepted"
	}
	return "One phase (Replacing): the new values replace the old ones"
}

func targetProgress(ts []opsv1alpha1.RestartTargetStatus) string {
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

func (r *SecretRotationReconciler) event(sr *opsv1alpha1.SecretRotation, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sr, nil, eventType, reason, action, "%s", note)
	}
}

// SetupWithManager registers the reconciler: it wakes on its managed Secrets (the
// only Secrets cached), on Deployments and Releases its targets name.
func (r *SecretRotationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.SecretRotation{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.rotationsOfSecret)).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.rotationsOfTarget)).
		Watches(&opsv1alpha1.Release{}, handler.EnqueueRequestsFromMapFunc(r.rotationsOfTarget)).
		Named("secretrotation").
		Complete(r)
}

// rotationsOfSecret maps a managed Secret to the SecretRotations naming it (the label
// holds the name, hash-shortened when long, so it is matched rather than used).
func (r *SecretRotationReconciler) rotationsOfSecret(ctx context.Context, o client.Object) []ctrl.Request {
	return reconcile.RequestsFor(ctx, r, &opsv1alpha1.SecretRotationList{}, o.GetNamespace(), func(sr *opsv1alpha1.SecretRotation) bool {
		return sr.Spec.SecretName == o.GetName()
	})
}

// rotationsOfTarget maps a Deployment or Release to the SecretRotations of its
// namespace that restart it (a component Deployment `<release>-<component>` maps to
// those naming the Release).
func (r *SecretRotationReconciler) rotationsOfTarget(ctx context.Context, o client.Object) []ctrl.Request {
	return reconcile.RequestsFor(ctx, r, &opsv1alpha1.SecretRotationList{}, o.GetNamespace(), func(sr *opsv1alpha1.SecretRotation) bool {
		return slices.ContainsFunc(sr.Spec.RestartTargets, func(t opsv1alpha1.WorkloadReference) bool {
			return t.Name == o.GetName() || t.Kind == opsv1alpha1.WorkloadRelease && strings.HasPrefix(o.GetName(), t.Name+"-")
		})
	})
}

// ManagedSecretsCache limits the manager's Secret informer to the Secrets a
// SecretRotation manages (labelled ops.runbook.dev/secret-rotation): no other Secret
// of the cluster is held in memory. cmd/manager and the envtest suite pass it as
// cache.Options.ByObject.
func ManagedSecretsCache() map[client.Object]cache.ByObject {
	managed, _ := labels.NewRequirement(opsv1alpha1.LabelSecretRotation, selection.Exists, nil)
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: labels.NewSelector().Add(*managed)},
	}
}
