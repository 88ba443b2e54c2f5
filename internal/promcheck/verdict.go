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

// Package promcheck evaluates a Release's verify.prometheus queries: the pure verdict
// of one query's answer and of a round of queries, the placeholders of a query, and a
// thin client over client_golang's Prometheus API.
//
// The verdict rules, which Argo Rollouts and Flagger each get wrong one way:
//   - a value that meets the condition passes, one that breaks it fails;
//   - no data, NaN or ±Inf, several series, or a result that is not one instant value
//     is Inconclusive: it neither passes nor fails the revision;
//   - Prometheus unreachable or answering an error is an Error: it counts toward its
//     own threshold, never toward failures, and never passes.
package promcheck

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Measurement is what one query's evaluation found. Value is the value Prometheus
// answered as text ("" when none), Detail why it is inconclusive or an error, or for a
// pass or fail the comparison in words.
type Measurement struct {
	Name      string
	Query     string // as evaluated, placeholders replaced
	Value     string
	Threshold string // e.g. "< 0.05"
	Verdict   opsv1alpha1.QueryVerdict
	Detail    string
}

// Describe names the measurement for a person: the query's name and expression, the
// value seen and the threshold, e.g. `query error-rate (sum(...)) = 0.31, threshold <
// 0.05`, and the detail of an inconclusive or failed one.
func (m Measurement) Describe() string {
	s := fmt.Sprintf("query %s (%s)", m.Name, m.Query)
	if m.Value != "" {
		s += " = " + m.Value
	}
	s += ", threshold " + m.Threshold
	if m.Verdict != opsv1alpha1.QueryPass && m.Verdict != opsv1alpha1.QueryFail && m.Detail != "" {
		s += ": " + m.Detail
	}
	return s
}

// Threshold writes a condition as a person reads it, e.g. "< 0.05".
func Threshold(c opsv1alpha1.QueryCondition) string {
	ops := map[opsv1alpha1.QueryOperator]string{
		opsv1alpha1.QueryLessThan: "<", opsv1alpha1.QueryLessThanOrEqual: "<=",
		opsv1alpha1.QueryGreaterThan: ">", opsv1alpha1.QueryGreaterThanOrEqual: ">=",
	}
	op, ok := ops[c.Op]
	if !ok {
		op = string(c.Op)
	}
	return op + " " + c.Value
}

// meets reports whether v meets the condition; err when the condition cannot be read
// (the API server refuses such a value; an object written before the rule could hold one).
func meets(c opsv1alpha1.QueryCondition, v float64) (bool, error) {
	limit, err := strconv.ParseFloat(strings.TrimSpace(c.Value), 64)
	if err != nil {
		return false, fmt.Errorf("condition.value %q is not a number", c.Value)
	}
	switch c.Op {
	case opsv1alpha1.QueryLessThan:
		return v < limit, nil
	case opsv1alpha1.QueryLessThanOrEqual:
		return v <= limit, nil
	case opsv1alpha1.QueryGreaterThan:
		return v > limit, nil
	case opsv1alpha1.QueryGreaterThanOrEqual:
		return v >= limit, nil
	}
	return false, fmt.Errorf("condition.op %q is not one of LessThan, LessThanOrEqual, GreaterThan, GreaterThanOrEqual", c.Op)
}

// Evaluate is the verdict of one query's answer: result and err are what the
// Prometheus API returned for query (already expanded). It is pure.
func Evaluate(q opsv1alpha1.PrometheusQuery, query string, result model.Value, err error) Measurement {
	m := Measurement{Name: q.Name, Query: query, Threshold: Threshold(q.Condition)}
	if err != nil {
		m.Verdict, m.Detail = opsv1alpha1.QueryError, "Prometheus: "+err.Error()
		return m
	}
	v, why := single(result)
	if why != "" {
		m.Verdict, m.Detail = opsv1alpha1.QueryInconclusive, why
		return m
	}
	m.Value = formatValue(v)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// A ratio over no requests (0/0) is NaN: nothing was measured.
		m.Verdict, m.Detail = opsv1alpha1.QueryInconclusive, "the value is "+m.Value+" (e.g. a ratio over no requests): nothing was measured"
		return m
	}
	ok, cerr := meets(q.Condition, v)
	switch {
	case cerr != nil:
		m.Verdict, m.Detail = opsv1alpha1.QueryInconclusive, cerr.Error()
	case ok:
		m.Verdict, m.Detail = opsv1alpha1.QueryPass, m.Value+" "+m.Threshold
	default:
		m.Verdict, m.Detail = opsv1alpha1.QueryFail, m.Value+" is not "+m.Threshold
	}
	return m
}

// single is the one value of an instant query's result, or why there is not exactly one.
func single(result model.Value) (float64, string) {
	switch r := result.(type) {
	case *model.Scalar:
		return float64(r.Value), ""
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, "no data: the query returned no series (no requests to the revision yet, a label that does not match, or the target not scraped)"
		case 1:
			return float64(r[0].Value), ""
		}
		names := make([]string, 0, 3)
		for i := 0; i < len(r) && i < 3; i++ {
			names = append(names, r[i].Metric.String())
		}
		more := ""
		if len(r) > 3 {
			more = ", …"
		}
		return 0, fmt.Sprintf("%d series where one is expected (%s%s): aggregate the query, e.g. with sum()", len(r), strings.Join(names, ", "), more)
	case nil:
		return 0, "no data: Prometheus returned no result"
	}
	return 0, fmt.Sprintf("the result is a %s, not one instant value: write an instant query returning a scalar or one series", result.Type())
}

// formatValue writes a sample value as Prometheus does ("0.31", "NaN", "+Inf").
func formatValue(v float64) string {
	return model.SampleValue(v).String()
}

// Round is the verdict of one round of measurements.
type Round struct {
	// Verdict: Fail if any query failed, else Error if any could not be evaluated,
	// else Inconclusive if any was, else Pass (also for no measurements).
	Verdict opsv1alpha1.QueryVerdict
	// Deciding is the measurement that decided a round that did not pass: the first
	// failed, errored or inconclusive one, in that order.
	Deciding *Measurement
}

// Decide is the verdict of a round: a failure outweighs an error (the failing query
// did answer), an error outweighs an inconclusive query (that one's answer may be
// missing for the same reason). It is pure.
func Decide(ms []Measurement) Round {
	for _, v := range []opsv1alpha1.QueryVerdict{opsv1alpha1.QueryFail, opsv1alpha1.QueryError, opsv1alpha1.QueryInconclusive} {
		for i := range ms {
			if ms[i].Verdict == v {
				return Round{Verdict: v, Deciding: &ms[i]}
			}
		}
	}
	return Round{Verdict: opsv1alpha1.QueryPass}
}

// Placeholders a query may use, replaced by Expand.
const (
	PlaceholderRevision       = "{{revision}}"
	PlaceholderStableRevision = "{{stableRevision}}"
	PlaceholderNamespace      = "{{namespace}}"
	PlaceholderRelease        = "{{release}}"
)

// Vars are the values of the placeholders.
type Vars struct {
	Revision, StableRevision, Namespace, Release string
}

// Expand replaces the placeholders of query with vars, each escaped for use inside a
// double- or single-quoted PromQL string (backslash, both quotes, newlines), so that a
// value can never end the string it is put in. It is pure.
func Expand(query string, vars Vars) string {
	return strings.NewReplacer(
		PlaceholderRevision, escape(vars.Revision),
		PlaceholderStableRevision, escape(vars.StableRevision),
		PlaceholderNamespace, escape(vars.Namespace),
		PlaceholderRelease, escape(vars.Release),
	).Replace(query)
}

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `'`, `\'`, "\n", `\n`, "\r", `\r`)

func escape(s string) string { return escaper.Replace(s) }

// Timeout, ErrorThreshold and OnInconclusive read verify.prometheus with its defaults
// (10s, 3, Pause).
func Timeout(pv *opsv1alpha1.PrometheusVerify) time.Duration {
	if pv == nil || pv.Timeout == nil || pv.Timeout.Duration <= 0 {
		return 10 * time.Second
	}
	return pv.Timeout.Duration
}

// ErrorThreshold is how many consecutive rounds without an answer from Prometheus
// pause the verification.
func ErrorThreshold(pv *opsv1alpha1.PrometheusVerify) int32 {
	if pv == nil || pv.ErrorThreshold < 1 {
		return 3
	}
	return pv.ErrorThreshold
}

// OnInconclusive is what a window that ends inconclusive leads to.
func OnInconclusive(pv *opsv1alpha1.PrometheusVerify) opsv1alpha1.InconclusivePolicy {
	if pv == nil || pv.OnInconclusive == "" {
		return opsv1alpha1.InconclusivePause
	}
	return pv.OnInconclusive
}
