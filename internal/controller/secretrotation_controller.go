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
	batchv1 "k8s.io/api/batch/v1"
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
	"runbook-operator/internal/rotation"
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
	// StallAfter is how long a restarted pod may run without becoming Ready before
	// the rotation stops with RolloutStalled (0: rotation.StallAfter).
	StallAfter time.Duration
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations,verbs=get;list;watch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=secretrotations/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=events,verbs=list

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
		forgetObjectMetrics(req, err, metrics.NextRotations)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	defer observeRotationMetrics(sr) // runs after the status is written
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
		if l := rotation.LayoutOf(k); l.Present(secret.Data) {
			if _, err := l.Read(secret.Data, rotation.ValueCheck(k)); err != nil {
				return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, fmt.Sprintf("Secret %s: %v; nothing was changed. Fix or delete the key (a deleted key is generated again)", sr.Spec.SecretName, err))
			}
		}
	}
	rec := rotation.ReadRecord(secret.Annotations)
	var changed []string
	for _, k := range sr.Spec.Keys {
		if k.CopyFrom != nil {
			if v, _ := rotation.LayoutOf(k).Read(secret.Data, nil); v.Current != sources[k.Key] {
				changed = append(changed, k.Key)
			}
		}
	}
	d := rotation.Next(rotation.Input{
		Spec: &sr.Spec, Record: rec, Now: now,
		Exists: exists, Labelled: secret.Labels[opsv1alpha1.LabelSecretRotation] == names.LabelValue(sr.Name),
		Missing: rotation.MissingKeys(&sr.Spec, secret.Data), SourceChanged: changed,
		Emergency: sr.Annotations[opsv1alpha1.AnnotationEmergencyRotation],
	})
	switch d.Step {
	case rotation.StepContinue:
		return r.continueRotation(ctx, sr, secret, rec, now)
	case rotation.StepWriteInitial:
		return r.writeInitial(ctx, sr, secret, exists, sources, now)
	case rotation.StepStart:
		return r.start(ctx, sr, secret, rec, d, sources, now)
	}
	return r.idle(ctx, sr, rec, now)
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

// newValues makes the next value of each key (rotation.NextValues); a generator that
// fails stops the rotation before anything is written.
func newValues(sr *opsv1alpha1.SecretRotation, keys []string, sources map[string]string) (map[string]string, error) {
	out, err := rotation.NextValues(&sr.Spec, keys, sources)
	if err != nil {
		return nil, rotationStalled(opsv1alpha1.ReasonGeneratorFailed, err.Error())
	}
	return out, nil
}

// writeInitial creates the Secret or writes its missing keys, and labels it. Nothing
// restarts: no running pod can have used a value that did not exist.
func (r *SecretRotationReconciler) writeInitial(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, exists bool, sources map[string]string, now time.Time) (ctrl.Result, error) {
	missing := rotation.MissingKeys(&sr.Spec, secret.Data)
	values, err := newValues(sr, missing, sources)
	if err != nil {
		return ctrl.Result{}, err
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	for _, k := range sr.Spec.Keys {
		if v, ok := values[k.Key]; ok {
			for key, val := range rotation.LayoutOf(k).Write(keyring.Initial(v)) {
				secret.Data[key] = val
			}
		}
	}
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	secret.Labels[opsv1alpha1.LabelSecretRotation] = names.LabelValue(sr.Name)
	rec := rotation.ReadRecord(secret.Annotations)
	if _, ok := secret.Annotations[opsv1alpha1.AnnotationRotateRequest]; !ok {
		// Adopting a Secret (or creating one) is not a request to rotate.
		rec.Request = sr.Spec.RotateRequest
	}
	if rec.RotatedAt.IsZero() {
		rec.RotatedAt = now
	}
	rec.Version = keyring.Version(secret.Data, rotation.ManagedKeys(&sr.Spec))
	secret.Annotations = rec.Write(secret.Annotations)
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
		note = fmt.Sprintf("Created Secret %s with generated keys %s (version %s)", secret.Name, strings.Join(missing, ", "), rec.Version)
	case len(missing) > 0:
		note = fmt.Sprintf("Wrote missing keys %s of Secret %s (version %s)", strings.Join(missing, ", "), secret.Name, rec.Version)
	default:
		note = fmt.Sprintf("Adopted Secret %s; its next rotation is due %s", secret.Name, rec.RotatedAt.Add(rotation.Interval(&sr.Spec)).UTC().Format(time.RFC3339))
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
func (r *SecretRotationReconciler) start(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotation.Record, d rotation.Decision, sources map[string]string, now time.Time) (ctrl.Result, error) {
	if _, missing, err := r.resolveTargets(ctx, sr); err != nil || missing != "" {
		if err == nil {
			err = rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target %s does not exist; the rotation (%s) did not start and nothing was written", missing, d.Why))
		}
		return ctrl.Result{}, err
	}
	if why := rotation.UnacknowledgedLoss(&sr.Spec, d.Mode, d.Keys); why != "" {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonInvalidSpec, why)
	}
	values, err := newValues(sr, d.Keys, sources)
	if err != nil {
		return ctrl.Result{}, err
	}
	phase, decryptOnly, err := rotation.Start(&sr.Spec, secret.Data, d.Mode, d.Keys, values)
	if err != nil {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, err.Error())
	}
	rec.Phase, rec.Mode, rec.Keys, rec.DecryptOnly, rec.PhaseStarted = phase, d.Mode, d.Keys, decryptOnly, time.Now()
	rec.ReencryptedBy = ""
	rec.Request = sr.Spec.RotateRequest
	if e := sr.Annotations[opsv1alpha1.AnnotationEmergencyRotation]; e != "" && d.Mode == opsv1alpha1.RotationImmediate {
		rec.Emergency = e // an emergency rotation answers the pending request, whatever started it
	}
	rec.Version = keyring.Version(secret.Data, rotation.ManagedKeys(&sr.Spec))
	secret.Annotations = rec.Write(secret.Annotations)
	// An update with the resourceVersion read: if another writer got there first
	// nothing is written and the next reconcile starts from what it wrote.
	if err := r.Update(ctx, secret); err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	sr.Status.Reencryption = nil
	r.event(sr, corev1.EventTypeNormal, "RotationStarted", "Rotate", fmt.Sprintf("Rotating %s of Secret %s because %s: %s (version %s)", strings.Join(d.Keys, ", "), secret.Name, d.Why, rotation.PhaseSummary(rec), rec.Version))
	log.FromContext(ctx).Info("rotation started", "secret", secret.Name, "keys", d.Keys, "phase", phase, "mode", d.Mode, "version", rec.Version, "decryptOnly", decryptOnly)
	return r.continueRotation(ctx, sr, secret, rec, now)
}

// continueRotation restarts the targets of the phase in progress; when all run its
// version it takes the next step (rotation.AfterRollout): promote, re-encrypt, or
// finish.
func (r *SecretRotationReconciler) continueRotation(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotation.Record, now time.Time) (ctrl.Result, error) {
	if v := keyring.Version(secret.Data, rotation.ManagedKeys(&sr.Spec)); v != rec.Version {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonChangedDuringRotation, fmt.Sprintf("the managed keys of Secret %s changed during the %s phase (version %s, expected %s); nothing more was written. Delete the annotation %s from the Secret to start over", secret.Name, rec.Phase, v, rec.Version, opsv1alpha1.AnnotationRotationPhase))
	}
	r.setRecordStatus(sr, rec)
	sr.Status.Phase = rec.Phase
	targets, missing, err := r.resolveTargets(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	if missing != "" {
		return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonTargetMissing, fmt.Sprintf("restart target %s does not exist; the %s phase stopped and %s", missing, rec.Phase, rotation.Holds(rec)))
	}
	done, err := r.restartTargets(ctx, sr, targets, rec, now)
	sr.Status.Targets = targets
	if err != nil {
		return ctrl.Result{}, err
	}
	msg := rotation.PhaseSummary(rec)
	if !done {
		conditions.MarkReconciling(sr, rotation.PhaseReason(rec), fmt.Sprintf("%s; restarting %s", msg, rotation.Progress(targets)))
		conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionFalse, opsv1alpha1.ReasonRollingOut, "Restarting "+rotation.Progress(targets))
		return ctrl.Result{RequeueAfter: rolloutPoll}, nil
	}
	finished := rec
	defer func() {
		// Once per phase: only the reconcile whose write ended it gets here with
		// the phase's start still recorded.
		if !finished.PhaseStarted.IsZero() && rotation.ReadRecord(secret.Annotations).Phase != finished.Phase {
			metrics.RecordRotationPhase(sr.Namespace, secret.Name, string(finished.Phase), time.Since(finished.PhaseStarted))
		}
	}()
	switch rotation.AfterRollout(rec).Step {
	case rotation.StepPromote:
		if err := rotation.Promote(&sr.Spec, secret.Data, rec.Keys); err != nil {
			return ctrl.Result{}, rotationStalled(opsv1alpha1.ReasonUnparseable, err.Error())
		}
		rec.Phase, rec.PhaseStarted = opsv1alpha1.RotationPhasePromoting, time.Now()
		rec.Version = keyring.Version(secret.Data, rotation.ManagedKeys(&sr.Spec))
		secret.Annotations = rec.Write(secret.Annotations)
		if err := r.Update(ctx, secret); err != nil {
			return ctrl.Result{}, secretWriteError(err, secret.Name)
		}
		r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonPromoting, "Promote", fmt.Sprintf("Every target accepts the new values of %s; promoted them to current (version %s), restarting the targets again", strings.Join(rec.Keys, ", "), rec.Version))
		return r.continueRotation(ctx, sr, secret, rec, now)
	case rotation.StepReencrypt:
		return r.reencrypt(ctx, sr, secret, rec, targets, now)
	}
	return r.finish(ctx, sr, secret, rec, now)
}

// finish records the rotation as done: the record goes idle on the Secret first, then
// status follows.
func (r *SecretRotationReconciler) finish(ctx context.Context, sr *opsv1alpha1.SecretRotation, secret *corev1.Secret, rec rotation.Record, now time.Time) (ctrl.Result, error) {
	mode, keys := rec.Mode, rec.Keys
	rec.Phase, rec.Keys, rec.DecryptOnly = "", nil, nil
	rec.RotatedAt = now
	rec.Rotations++
	secret.Annotations = rec.Write(secret.Annotations)
	if err := r.Update(ctx, secret); err != nil {
		return ctrl.Result{}, secretWriteError(err, secret.Name)
	}
	metrics.SecretRotations.WithLabelValues(sr.Namespace, secret.Name, string(mode)).Inc()
	if mode == opsv1alpha1.RotationImmediate {
		note := fmt.Sprintf("Emergency rotation of %s of Secret %s done (version %s): %s", strings.Join(keys, ", "), secret.Name, rec.Version, rotation.EmergencyOutcome(rec))
		r.event(sr, corev1.EventTypeWarning, opsv1alpha1.ReasonEmergencyRotation, "Rotate", note)
	} else {
		r.event(sr, corev1.EventTypeNormal, opsv1alpha1.ReasonRotated, "Rotate", fmt.Sprintf("Rotated %s of Secret %s (version %s); every target runs it", strings.Join(keys, ", "), secret.Name, rec.Version))
	}
	return r.idle(ctx, sr, rec, now)
}

// idle reports a SecretRotation with no rotation in progress and wakes it when the
// next one is due.
func (r *SecretRotationReconciler) idle(ctx context.Context, sr *opsv1alpha1.SecretRotation, rec rotation.Record, now time.Time) (ctrl.Result, error) {
	r.setRecordStatus(sr, rec)
	sr.Status.Phase = opsv1alpha1.RotationPhaseIdle
	metrics.SecretLastRotation.WithLabelValues(sr.Namespace, sr.Spec.SecretName).Set(float64(rec.RotatedAt.Unix()))
	targets, _, err := r.resolveTargets(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	ann := opsv1alpha1.SecretVersionAnnotation(sr.Spec.SecretName)
	for i := range targets {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: targets[i].Deployment}, dep); err == nil {
			targets[i].Version = dep.Spec.Template.Annotations[ann]
			targets[i].State = rotation.RolloutState(dep)
		}
	}
	sr.Status.Targets = targets
	// Derived from the record on the Secret, so that a status write lost to a
	// conflict after the rotation finished is written again by the next reconcile.
	switch {
	case rec.Rotations > 0 && rec.Mode == opsv1alpha1.RotationImmediate:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonEmergencyRotation, fmt.Sprintf(
			"Emergency rotation %d of Secret %s done at %s (version %s): %s",
			rec.Rotations, sr.Spec.SecretName, rec.RotatedAt.UTC().Format(time.RFC3339), rec.Version, rotation.EmergencyOutcome(rec)))
	case rec.Rotations > 0:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonRotated, fmt.Sprintf(
			"Rotation %d of Secret %s done at %s (version %s); every target runs it", rec.Rotations, sr.Spec.SecretName, rec.RotatedAt.UTC().Format(time.RFC3339), rec.Version))
	case conditions.Get(sr, opsv1alpha1.ConditionRotated) == nil:
		conditions.Set(sr, opsv1alpha1.ConditionRotated, metav1.ConditionTrue, opsv1alpha1.ReasonSucceeded, fmt.Sprintf("Secret %s holds every managed key", sr.Spec.SecretName))
	}
	conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionTrue, opsv1alpha1.ReasonRestarted, "No rotation in progress: no restart pending")
	next := "none scheduled (suspended)"
	var after time.Duration
	if sr.Spec.Suspend {
		sr.Status.NextRotationTime = nil
	} else {
		at := rec.RotatedAt.Add(rotation.Interval(&sr.Spec))
		sr.Status.NextRotationTime = &metav1.Time{Time: at}
		next = at.UTC().Format(time.RFC3339)
		after = max(at.Sub(now), time.Second)
	}
	conditions.MarkReady(sr, opsv1alpha1.ReasonRotated, fmt.Sprintf("Secret %s is at version %s; next rotation %s", sr.Spec.SecretName, rec.Version, next))
	for _, k := range sr.Spec.Keys {
		if k.CopyFrom != nil && (after == 0 || after > copyFromPoll) {
			after = copyFromPoll
		}
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

func (r *SecretRotationReconciler) setRecordStatus(sr *opsv1alpha1.SecretRotation, rec rotation.Record) {
	st := &sr.Status
	st.CurrentVersionHash = rec.Version
	st.Mode = rec.Mode
	st.Rotations = rec.Rotations
	st.LastRotateRequest = rec.Request
	st.LastEmergencyRequest = rec.Emergency
	if !rec.RotatedAt.IsZero() {
		st.LastRotationTime = &metav1.Time{Time: rec.RotatedAt}
	}
}

// markStopped records a stop: Stalled with its reason, and the phase Failed while a
// rotation is in progress, Blocked when none is (Pending before the first write).
func (r *SecretRotationReconciler) markStopped(sr *opsv1alpha1.SecretRotation, reason, msg string) {
	switch sr.Status.Phase {
	case opsv1alpha1.RotationPhasePublishing, opsv1alpha1.RotationPhasePromoting, opsv1alpha1.RotationPhaseReplacing,
		opsv1alpha1.RotationPhaseReencrypting, opsv1alpha1.RotationPhaseDropping:
		sr.Status.Phase = opsv1alpha1.RotationPhaseFailed
	case opsv1alpha1.RotationPhaseIdle:
		sr.Status.Phase = opsv1alpha1.RotationPhaseBlocked
	case "":
		sr.Status.Phase = opsv1alpha1.RotationPhasePending
	}
	switch reason {
	case opsv1alpha1.ReasonRolloutFailed, opsv1alpha1.ReasonTargetMissing, opsv1alpha1.ReasonRolloutStalled:
		conditions.Set(sr, opsv1alpha1.ConditionRestarted, metav1.ConditionFalse, reason, msg)
	}
	if c := conditions.Get(sr, opsv1alpha1.ConditionStalled); c == nil || c.Message != msg {
		r.event(sr, corev1.EventTypeWarning, reason, "Rotate", msg)
	}
	conditions.MarkStalled(sr, reason, msg)
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
		Owns(&batchv1.Job{}).
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
		return slices.ContainsFunc(sr.Spec.RestartTargets, func(t opsv1alpha1.RestartTarget) bool {
			return t.Name == o.GetName() || t.Kind == opsv1alpha1.RestartRelease && strings.HasPrefix(o.GetName(), t.Name+"-")
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
