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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/promcheck"
	"runbook-operator/internal/reconcile"
	"runbook-operator/internal/release"
	"runbook-operator/internal/truncate"
)

// maxMeasurements bounds status.measurements (newest kept).
const maxMeasurements = 20

// queryRound evaluates every verify.prometheus query once and records each
// measurement (stamped checkedAt) in status.measurements (newest first). Without verify.prometheus
// the round passes. Prometheus unreachable, answering an error, or its token or CA
// not readable, is an Error measurement; only a failure to read from the API server
// other than NotFound is returned (the reconcile is retried).
func (r *ReleaseReconciler) queryRound(ctx context.Context, s *releaseScope, checkedAt time.Time) (promcheck.Round, error) {
	pv := s.rel.Spec.Verify.Prometheus
	if pv == nil {
		return promcheck.Round{Verdict: opsv1alpha1.QueryPass}, nil
	}
	vars := promcheck.Vars{Revision: s.revision, StableRevision: s.rel.Status.StableRevision, Namespace: s.rel.Namespace, Release: s.rel.Name}
	ms := make([]promcheck.Measurement, 0, len(pv.Queries))
	q, problem, err := r.querier(ctx, s.rel.Namespace, pv)
	if err != nil {
		return promcheck.Round{}, err
	}
	if q != nil {
		defer q.Close()
	}
	for _, pq := range pv.Queries {
		expr := promcheck.Expand(pq.Query, vars)
		if problem != "" {
			ms = append(ms, promcheck.Evaluate(pq, expr, nil, fmt.Errorf("%s", problem)))
			continue
		}
		// Evaluated at Prometheus's own time: the operator's clock may be skewed from
		// the one that stamped the samples.
		val, qerr := q.Query(ctx, expr, time.Time{})
		ms = append(ms, promcheck.Evaluate(pq, expr, val, qerr))
	}
	recordMeasurements(s, ms, checkedAt)
	return promcheck.Decide(ms), nil
}

// querier is a client of the verification's Prometheus, its token and CA read from
// their Secret or ConfigMap. problem says why none could be made (a missing Secret
// or key, a CA that is not PEM): it is the round's error, never naming the token.
func (r *ReleaseReconciler) querier(ctx context.Context, ns string, pv *opsv1alpha1.PrometheusVerify) (*promcheck.Querier, string, error) {
	t := promcheck.Target{Address: pv.Address, Timeout: promcheck.Timeout(pv)}
	if ref := pv.BearerTokenSecretRef; ref != nil {
		v, problem, err := r.keyOf(ctx, &corev1.Secret{}, ns, "Secret", ref.Name, ref.Key)
		if problem != "" || err != nil {
			return nil, "verify.prometheus.bearerTokenSecretRef: " + problem, err
		}
		t.BearerToken = strings.TrimSpace(v)
	}
	if ca := pv.CA; ca != nil {
		var v, problem string
		var err error
		if ref := ca.ConfigMapKeyRef; ref != nil {
			v, problem, err = r.keyOf(ctx, &corev1.ConfigMap{}, ns, "ConfigMap", ref.Name, ref.Key)
		} else if ref := ca.SecretKeyRef; ref != nil {
			v, problem, err = r.keyOf(ctx, &corev1.Secret{}, ns, "Secret", ref.Name, ref.Key)
		}
		if problem != "" || err != nil {
			return nil, "verify.prometheus.ca: " + problem, err
		}
		t.CAPEM = []byte(v)
	}
	q, qerr := promcheck.NewQuerier(t)
	if qerr != nil { // a CA that is not PEM: the round's problem, not the reconcile's
		return nil, "verify.prometheus: " + qerr.Error(), nil //nolint:nilerr // reported in the measurements
	}
	return q, "", nil
}

// keyOf reads one key of a Secret or ConfigMap (obj says which) through the API
// reader; problem names what is missing, never the value.
func (r *ReleaseReconciler) keyOf(ctx context.Context, obj client.Object, ns, kind, name, key string) (value, problem string, err error) {
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("%s %s does not exist", kind, name), nil
		}
		return "", "", err
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		value = string(o.Data[key])
	case *corev1.ConfigMap:
		value = o.Data[key]
	}
	if strings.TrimSpace(value) == "" {
		return "", fmt.Sprintf("%s %s has no key %s (or it is empty)", kind, name, key), nil
	}
	return value, "", nil
}

// recordMeasurements puts a round's measurements at the front of status.measurements,
// at most maxMeasurements kept.
func recordMeasurements(s *releaseScope, ms []promcheck.Measurement, at time.Time) {
	out := make([]opsv1alpha1.QueryMeasurement, 0, maxMeasurements)
	for _, m := range ms {
		out = append(out, opsv1alpha1.QueryMeasurement{
			Revision: s.revision, Name: m.Name, Query: truncate.String(m.Query, 2048), Value: m.Value,
			Threshold: m.Threshold, Verdict: m.Verdict, Detail: truncate.String(m.Detail, 512),
			Time: metav1.NewTime(at.UTC().Truncate(time.Second)),
		})
	}
	out = append(out, s.rel.Status.Measurements...)
	if len(out) > maxMeasurements {
		out = out[:maxMeasurements]
	}
	s.rel.Status.Measurements = out
}

// countQueries records in progress what a round's queries found, before anything acts
// on it: consecutive rounds without an answer from Prometheus (queryErrors) and
// consecutive inconclusive rounds (inconclusiveChecks). A round Prometheus did not
// answer says nothing about inconclusiveness and leaves that count as it was.
func countQueries(p *opsv1alpha1.ReleaseProgress, round promcheck.Round) {
	switch round.Verdict {
	case opsv1alpha1.QueryError:
		p.QueryErrors++
	case opsv1alpha1.QueryInconclusive:
		p.QueryErrors, p.InconclusiveChecks = 0, p.InconclusiveChecks+1
	default:
		p.QueryErrors, p.InconclusiveChecks = 0, 0
	}
}

// prometheusError reports a round in which Prometheus could not be queried: the
// window stands still (the caller moved it), nothing is rolled back and nothing
// passes. errorThreshold such rounds in a row pause the verification (phase Paused,
// Verified=Unknown PrometheusError naming Prometheus and its error) until Prometheus
// answers again.
func (r *ReleaseReconciler) prometheusError(s *releaseScope, m *promcheck.Measurement) {
	rel, p, pv := s.rel, s.rel.Status.Progress, s.rel.Spec.Verify.Prometheus
	limit := promcheck.ErrorThreshold(pv)
	detail := strings.TrimPrefix(m.Detail, "Prometheus: ")
	if p.QueryErrors < limit {
		msg := fmt.Sprintf("Prometheus at %s could not be queried (%d of %d, verify.prometheus.errorThreshold): %s; the window stands still, nothing is rolled back for it",
			pv.Address, p.QueryErrors, limit, detail)
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonPrometheusError, truncate.String(msg, 2048))
		markReleaseReconciling(rel, opsv1alpha1.ReasonVerifying, truncate.String(msg, 2048))
		return
	}
	msg := fmt.Sprintf("Verification paused: Prometheus at %s could not be queried in %d consecutive rounds (verify.prometheus.errorThreshold): %s; revision %s is neither rolled back nor deployed for it, and the queries go on every %s",
		pv.Address, p.QueryErrors, detail, s.revision, release.Interval(rel.Spec.Verify))
	msg = truncate.String(msg, 2048)
	if p.QueryErrors == limit {
		r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonPrometheusError, "Verify", msg)
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhasePaused
	conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonPrometheusError, msg)
	markReleaseReconciling(rel, opsv1alpha1.ReasonPrometheusError, msg)
}

// inconclusive reports a round in which a query was inconclusive (no data, NaN or Inf,
// several series): it neither passes nor fails the revision. Once the window has
// ended, verify.prometheus.onInconclusive decides: Rollback rolls the revision back
// naming the query; Pause holds it (phase Paused, Verified=Unknown QueryInconclusive,
// not Deployed) and goes on querying every interval, so that it is Deployed once the
// queries answer and pass, or rolled back once they fail.
func (r *ReleaseReconciler) inconclusive(s *releaseScope, m *promcheck.Measurement) (bool, error) {
	rel, p, v := s.rel, s.rel.Status.Progress, s.rel.Spec.Verify
	interval := release.Interval(v)
	end := p.VerifyStartTime.Add(release.Window(v))
	if s.now.Before(end) {
		rel.Status.Phase = opsv1alpha1.ReleasePhaseVerifying
		msg := fmt.Sprintf("Inconclusive (%d rounds in a row), neither passing nor failing revision %s: %s; %s of the verification window left",
			p.InconclusiveChecks, s.revision, m.Describe(), end.Sub(s.now).Round(time.Second))
		msg = truncate.String(msg, 2048)
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonQueryInconclusive, msg)
		markReleaseReconciling(rel, opsv1alpha1.ReasonVerifying, msg)
		return false, &reconcile.Waiting{After: interval}
	}
	if promcheck.OnInconclusive(v.Prometheus) == opsv1alpha1.InconclusiveRollback {
		why := truncate.String(fmt.Sprintf("the verification window ended inconclusive (verify.prometheus.onInconclusive: Rollback): %s", m.Describe()), 2048)
		conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionFalse, opsv1alpha1.ReasonQueryInconclusive, why)
		return r.decideRollback(s, opsv1alpha1.ReasonQueryInconclusive, why)
	}
	msg := fmt.Sprintf("Verification paused: the window ended inconclusive: %s; revision %s is not marked Deployed. The queries go on every %s: it is Deployed once they pass, rolled back if they fail, or now with the annotation %s=%s",
		m.Describe(), s.revision, interval, opsv1alpha1.AnnotationRollback, s.revision)
	msg = truncate.String(msg, 2048)
	if rel.Status.Phase != opsv1alpha1.ReleasePhasePaused {
		r.event(rel, corev1.EventTypeWarning, opsv1alpha1.ReasonQueryInconclusive, "Verify", msg)
	}
	rel.Status.Phase = opsv1alpha1.ReleasePhasePaused
	conditions.Set(rel, opsv1alpha1.ConditionVerified, metav1.ConditionUnknown, opsv1alpha1.ReasonQueryInconclusive, msg)
	markReleaseReconciling(rel, opsv1alpha1.ReasonQueryInconclusive, msg)
	return false, &reconcile.Waiting{After: interval}
}
