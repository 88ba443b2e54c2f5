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
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/healthcheck"
	"runbook-operator/internal/metrics"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
)

// ReleaseReconciler deploys a Release: its components' Deployments, Services and
// HPAs follow the spec directly for scaling, and a new revision (version, images,
// commands, env, migrations) goes through the pipeline that internal/release decides
// step by step: backup → migration plan → migrations → pre-deploy Jobs → rollout in
// order → verification → stable; a failed rollout or verification rolls every
// component back to the stable revision at once.
type ReleaseReconciler struct {
	client.Client
	// APIReader reads pods (not cached) and Jobs the cache has not seen yet.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Checker runs the verification's HTTP checks; PodAddress gives the host:port a
	// pod's port is reached at (default: the pod IP). Both are replaceable so that
	// tests point them at an httptest server.
	Checker    healthcheck.Checker
	PodAddress func(pod *corev1.Pod, port int32) (string, error)
	// Clock is the pipeline's clock (deadlines, verification windows).
	Clock clock.Clock
	// Logs reads the plan Job's log (the planned migrations' SQL) through pods/log;
	// envtest, which runs no kubelet, replaces it.
	Logs PodLogs

	// lastChecks keeps the exact time of each release's last verification round
	// ("namespace/name" → time.Time); status keeps it to the second. Only spacing
	// depends on it: after a restart status alone is used.
	lastChecks sync.Map
}

// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=releases/finalizers,verbs=update
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databasebackups,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=databaserestores,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=ops.runbook.dev,resources=incidents,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// maxStepsPerReconcile bounds the steps one reconcile takes (each recorded in status
// before the next): a whole pipeline whose Jobs and rollout are already done fits, and
// a step that keeps advancing without waiting cannot spin the reconcile forever.
const maxStepsPerReconcile = 16

// Reconcile takes as many pipeline steps as can be taken now, writing status after
// each, then brings the workloads to the templates the steps call for.
func (r *ReleaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	rel := &opsv1alpha1.Release{}
	if err := r.Get(ctx, req.NamespacedName, rel); err != nil {
		forgetObjectMetrics(req, err, metrics.ReleasePhases, metrics.ReleaseDeadlines)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rel.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references delete what it owns
	}
	// Which template each Deployment gets is decided from status: a reconcile working
	// from a stale cache could write a template the pipeline already moved past (put a
	// rolled-back component forward again). Releases are few: one GET per reconcile.
	if err := r.APIReader.Get(ctx, req.NamespacedName, rel); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	defer observeReleaseMetrics(rel) // runs after the status is written
	if err := r.dropSpentRollbackRequest(ctx, rel); err != nil {
		return ctrl.Result{}, err
	}
	p := reconcile.NewStatusPatch(r.Client, rel)
	defer p.Finish(ctx, rel, &res, &retErr)

	s := &releaseScope{rel: rel, snap: release.SnapshotOf(&rel.Spec), now: r.Clock.Now()}
	s.revision = s.snap.Revision()
	rel.Status.CurrentRevision = s.revision
	rel.Status.ObservedGeneration = rel.Generation

	if err := release.DurationError(&rel.Spec); err != nil {
		conditions.MarkStalled(rel, opsv1alpha1.ReasonInvalidSpec, err.Error()+"; nothing was changed")
		return ctrl.Result{}, nil
	}
	var err error
	for range maxStepsPerReconcile {
		d := release.Next(s.input())
		var advanced bool
		advanced, err = r.step(ctx, s, d)
		if err != nil || !advanced {
			break
		}
		if err = p.Patch(ctx, rel); err != nil { // each step is recorded before the next acts
			return reconcile.ConflictRequeue(err)
		}
	}
	// While a decided rollback waits for its Incident's evidence (phase RollingBack),
	// the workloads stay as they are: StepRollingBack alone writes the stable
	// templates, so the failing pods are still there to be read.
	if s.holdsWorkloads() && rel.Status.Phase != opsv1alpha1.ReleasePhaseRollingBack {
		if serr := r.syncWorkloads(ctx, s, false); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	r.observeComponents(ctx, s)
	return reconcile.Apply(rel, ctrl.Result{}, err)
}

// dropSpentRollbackRequest removes the ops.runbook.dev/rollback annotation when it
// names the revision the spec asks for but that revision is not in progress: either
// the rollback it asked for is done (the run ended), or it was set before the run
// began. Left in place, it would roll the revision back again the moment it runs
// again (a retry after a rollback, or the spec reverted to it). A request naming
// another revision is left alone: it does nothing. The annotation is removed before
// the status patch is taken, so the reconcile goes on with the object the API server
// returned.
func (r *ReleaseReconciler) dropSpentRollbackRequest(ctx context.Context, rel *opsv1alpha1.Release) error {
	asked, ok := rel.Annotations[opsv1alpha1.AnnotationRollback]
	if !ok || asked != release.SnapshotOf(&rel.Spec).Revision() {
		return nil
	}
	if p := rel.Status.Progress; p != nil && p.Revision == asked {
		return nil // the request is for this run: rollout and verify honour it
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:null}}}`, opsv1alpha1.AnnotationRollback)
	if err := r.Patch(ctx, rel, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("removing the spent rollback request %s=%s: %w", opsv1alpha1.AnnotationRollback, asked, err)
	}
	r.event(rel, corev1.EventTypeNormal, "RollbackRequestRemoved", "Remove",
		fmt.Sprintf("Removed annotation %s=%s: revision %s is not in progress (its rollback is done, or the request came before it started), so it could only roll the next run of it back at once", opsv1alpha1.AnnotationRollback, asked, asked))
	return nil
}

// defaultPodAddress reaches a pod at its IP.
func defaultPodAddress(pod *corev1.Pod, port int32) (string, error) {
	if pod.Status.PodIP == "" {
		return "", errors.New("pod " + pod.Name + " has no IP yet")
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))), nil
}

// releaseOfIncident maps an Incident a Release opened (labelled with the release and
// component "incident") to that Release.
func releaseOfIncident(_ context.Context, obj client.Object) []ctrlreconcile.Request {
	l := obj.GetLabels()
	if l[opsv1alpha1.LabelComponent] != "incident" || l[opsv1alpha1.LabelRelease] == "" {
		return nil
	}
	return []ctrlreconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: l[opsv1alpha1.LabelRelease]}}}
}

// SetupWithManager watches Releases and everything they own.
func (r *ReleaseReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1alpha1.Release{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&batchv1.Job{}).
		Owns(&opsv1alpha1.DatabaseBackup{}).
		Owns(&opsv1alpha1.DatabaseRestore{}).
		// The Incident a rollback opens is not owned (it outlives the Release): its
		// evidence being read wakes the rollback that waits for it.
		Watches(&opsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(releaseOfIncident)).
		Named("release").
		Complete(r)
}
