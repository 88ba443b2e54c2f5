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

package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

const (
	// RotationName is the SecretRotation of the rotate step, and KeysSecret the
	// Secret it manages: the app's own (DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY).
	RotationName = "saas-app-keys"
	KeysSecret   = devcluster.DemoAppSecret
)

// RotateStep adopts the app's Secret with a SecretRotation and rotates its keys in two
// phases, restarting the app's Deployments one at a time, once per phase.
func RotateStep() Step {
	return Step{
		Name: "rotate", Title: "Rotate the app's secrets without downtime: a SecretRotation", Needs: []string{"seed"},
		Run: rotateSecrets,
	}
}

func rotateSecrets(ctx context.Context, e *Env) error {
	e.Out.Say(`The runbook's "Rotate Secrets" was: generate a new Django secret key and Fernet key,
edit the env file, restart everything at once, and sign every user out. A SecretRotation
generates the values itself (crypto/rand), keeps the previous ones (Django's
SECRET_KEY_FALLBACKS, a MultiFernet list) and rotates in two phases: first the new values
are published accept-only and every target restarts, then they are promoted and every
target restarts again, so no pod ever meets a signature or ciphertext it cannot read.
Here it adopts the app's Secret %s as it is (no rotation on adoption) and restarts the
web server, the worker and beat in turn.`, KeysSecret)
	if err := e.startApp(ctx); err != nil {
		return err
	}
	sr := &opsv1alpha1.SecretRotation{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "SecretRotation"},
		ObjectMeta: metav1.ObjectMeta{Name: RotationName, Namespace: e.Namespace},
		Spec: opsv1alpha1.SecretRotationSpec{
			SecretName: KeysSecret,
			Keys: []opsv1alpha1.RotatedKey{
				{Key: "DJANGO_SECRET_KEY", Generator: opsv1alpha1.GeneratorDjangoSecretKey, PreviousKey: "DJANGO_SECRET_KEY_FALLBACKS"},
				{Key: "FIELD_ENCRYPTION_KEY", Generator: opsv1alpha1.GeneratorFernet},
			},
			RestartTargets: []opsv1alpha1.RestartTarget{
				{Kind: opsv1alpha1.RestartDeployment, Name: WorkerName},
				{Kind: opsv1alpha1.RestartDeployment, Name: BeatName},
				{Kind: opsv1alpha1.RestartDeployment, Name: AppName},
			},
		},
	}
	if err := e.Apply(ctx, sr, sr.Spec); err != nil {
		return err
	}
	if _, err := e.watchRotation(ctx, 0); err != nil {
		return err
	}
	if err := e.showKeys(ctx); err != nil {
		return err
	}
	before, err := e.appPods(ctx)
	if err != nil {
		return err
	}

	request := time.Now().UTC().Format(time.RFC3339)
	e.Out.Say("Rotate now: change spec.rotateRequest to any new value (a GitOps commit does the same).")
	e.Out.Command(`kubectl -n %s patch secretrotation %s --type merge -p '{"spec":{"rotateRequest":"%s"}}'`, e.Namespace, RotationName, request)
	cur := &opsv1alpha1.SecretRotation{}
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(sr), cur); err != nil {
		return err
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.RotateRequest = request
	if err := e.Client.Patch(ctx, cur, patch); err != nil {
		return err
	}
	start := time.Now()
	done, err := e.watchRotation(ctx, 1)
	if err != nil {
		return err
	}
	e.Out.Check("rotated in %s; %s is at version %s", time.Since(start).Round(100*time.Millisecond), KeysSecret, done.Status.CurrentVersionHash)
	if err := e.showKeys(ctx); err != nil {
		return err
	}
	// A rollout is complete when the new pods are available; the old ones may still be
	// shutting down. Show the app once they are gone.
	after, err := e.podsSettled(ctx)
	if err != nil {
		return err
	}
	for _, p := range after {
		if slices.ContainsFunc(before, func(b corev1.Pod) bool { return b.Name == p.Name }) {
			return fmt.Errorf("pod %s was not restarted", p.Name)
		}
	}
	e.Out.Check("every pod of %s, %s and %s is new (each restarted once per phase)", WorkerName, BeatName, AppName)
	events, err := e.Events(ctx, "SecretRotation", RotationName)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s events --for secretrotation/%s", e.Namespace, RotationName)
	e.Out.Block(bulleted(events))
	return e.showApp(ctx)
}

// watchRotation prints each phase change until the rotation is Idle with rotations
// completed, and returns it then; a Failed phase is an error.
func (e *Env) watchRotation(ctx context.Context, rotations int64) (*opsv1alpha1.SecretRotation, error) {
	e.Out.Say("Watching it (kubectl -n %s get secretrotation %s -w):", e.Namespace, RotationName)
	var last string
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		sr := &opsv1alpha1.SecretRotation{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: RotationName}, sr); err == nil {
			msg := ""
			if c := meta.FindStatusCondition(sr.Status.Conditions, opsv1alpha1.ConditionReady); c != nil {
				msg = c.Message
			}
			phase := string(sr.Status.Phase)
			if phase == "" {
				phase, msg = "(new)", "created; the controller has not written a status yet"
			}
			if line := fmt.Sprintf("%-11s %s", phase, msg); line != last {
				e.Out.Observe("%s", strings.TrimRight(line, " "))
				last = line
			}
			switch {
			case sr.Status.Phase == opsv1alpha1.RotationPhaseFailed:
				return sr, fmt.Errorf("rotation %s failed: %s", RotationName, msg)
			case sr.Status.Phase == opsv1alpha1.RotationPhaseIdle && sr.Status.Rotations == rotations && sr.Status.ObservedGeneration == sr.Generation:
				return sr, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for rotation %s: %w", RotationName, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// showKeys prints the managed Secret's keys with their lengths, never their values.
func (e *Env) showKeys(ctx context.Context) error {
	s := &corev1.Secret{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: KeysSecret}, s); err != nil {
		return err
	}
	e.Out.Say("Secret %s (lengths only; the operator never prints a value, and neither does this demo):", KeysSecret)
	var kv []string
	for _, k := range []string{"DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FALLBACKS", "FIELD_ENCRYPTION_KEY"} {
		v := string(s.Data[k])
		desc := fmt.Sprintf("%d characters", len(v))
		if n := strings.Count(v, ",") + 1; v != "" && n > 1 {
			desc += fmt.Sprintf(", %d keys newest first", n)
		}
		kv = append(kv, k, desc)
	}
	e.Out.Fields(kv...)
	return nil
}

// podsSettled waits until no pod of the app is terminating and returns them.
func (e *Env) podsSettled(ctx context.Context) ([]corev1.Pod, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		pods, err := e.appPods(ctx)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil }) {
			return pods, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the app's old pods to go: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}
