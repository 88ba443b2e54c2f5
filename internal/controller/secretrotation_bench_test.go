/*
Copyright 2026.

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
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
)

// BenchmarkRotationControllerShare measures the controller's own share of a two-phase
// rotation of three Deployments (the three components of a Release): against envtest,
// with every stamped Deployment reported rolled out at once by a fake Deployment
// controller, the time from rotateRequest to the end of each phase is what the
// operator adds to the rollouts themselves (reconciles, Secret and Deployment writes,
// watch latency). The devcluster's e2e spec gives the whole figure with real rollouts.
//
//	KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print) go test ./internal/controller \
//	    -run '^$' -bench RotationControllerShare -benchtime 5x
func BenchmarkRotationControllerShare(b *testing.B) {
	c, mgr, stop := benchManager(b)
	defer stop()
	r := &SecretRotationReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clock.Real{}}
	if err := r.SetupWithManager(mgr); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	deps := []string{"saas-worker", "saas-beat", "saas-web"}
	for _, name := range deps {
		labels := map[string]string{"app": name}
		if err := c.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "saas:1.0.0"}}}}},
		}); err != nil {
			b.Fatal(err)
		}
	}
	// The fake Deployment controller: whatever was stamped is rolled out at once.
	go func() {
		for ctx.Err() == nil {
			for _, name := range deps {
				d := &appsv1.Deployment{}
				if c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, d) == nil && d.Status.ObservedGeneration < d.Generation {
					d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
					_ = c.Status().Update(ctx, d)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	sr := &opsv1alpha1.SecretRotation{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns.Name},
		Spec: opsv1alpha1.SecretRotationSpec{SecretName: "saas-app", Keys: []opsv1alpha1.RotatedKey{
			{Key: "DJANGO_SECRET_KEY", Generator: opsv1alpha1.GeneratorDjangoSecretKey, PreviousKey: "DJANGO_SECRET_KEY_FALLBACKS"},
			{Key: "FIELD_ENCRYPTION_KEY", Generator: opsv1alpha1.GeneratorFernet},
		}},
	}
	for _, d := range deps {
		sr.Spec.RestartTargets = append(sr.Spec.RestartTargets, opsv1alpha1.RestartTarget{Kind: opsv1alpha1.RestartDeployment, Name: d})
	}
	if err := c.Create(ctx, sr); err != nil {
		b.Fatal(err)
	}
	waitFor := func(want func(*opsv1alpha1.SecretRotation) bool) {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			got := &opsv1alpha1.SecretRotation{}
			if c.Get(ctx, client.ObjectKeyFromObject(sr), got) == nil && want(got) {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.Fatal("timed out")
	}
	waitFor(func(got *opsv1alpha1.SecretRotation) bool { return got.Status.Phase == opsv1alpha1.RotationPhaseIdle })

	var phase1, phase2 time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		cur := &opsv1alpha1.SecretRotation{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(sr), cur); err != nil {
			b.Fatal(err)
		}
		cur.Spec.RotateRequest = fmt.Sprint("bench-", i)
		if err := c.Update(ctx, cur); err != nil {
			b.Fatal(err)
		}
		waitFor(func(got *opsv1alpha1.SecretRotation) bool {
			return got.Status.Phase == opsv1alpha1.RotationPhasePromoting
		})
		mid := time.Now()
		waitFor(func(got *opsv1alpha1.SecretRotation) bool {
			return got.Status.Phase == opsv1alpha1.RotationPhaseIdle && got.Status.Rotations == int64(i+1)
		})
		phase1 += mid.Sub(start)
		phase2 += time.Since(mid)
	}
	b.StopTimer() // not the envtest shutdown
	b.ReportMetric(float64(phase1.Milliseconds())/float64(b.N), "ms-publish/op")
	b.ReportMetric(float64(phase2.Milliseconds())/float64(b.N), "ms-promote/op")
}
