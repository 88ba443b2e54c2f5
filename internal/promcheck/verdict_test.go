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

package promcheck

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

func vec(vals ...float64) model.Vector {
	out := model.Vector{}
	for i, v := range vals {
		out = append(out, &model.Sample{Metric: model.Metric{"pod": model.LabelValue("web-" + string(rune('a'+i)))}, Value: model.SampleValue(v)})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	lt := opsv1alpha1.PrometheusQuery{Name: "error-rate", Query: "q", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryLessThan, Value: "0.05"}}
	ge := opsv1alpha1.PrometheusQuery{Name: "rps", Query: "q", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryGreaterThanOrEqual, Value: "1"}}
	le := opsv1alpha1.PrometheusQuery{Name: "p99", Query: "q", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryLessThanOrEqual, Value: "0.5"}}
	gt := opsv1alpha1.PrometheusQuery{Name: "up", Query: "q", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryGreaterThan, Value: "0"}}
	bad := opsv1alpha1.PrometheusQuery{Name: "bad", Query: "q", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryLessThan, Value: "five"}}
	cases := []struct {
		what    string
		q       opsv1alpha1.PrometheusQuery
		result  model.Value
		err     error
		verdict opsv1alpha1.QueryVerdict
		value   string
		detail  string
	}{
		{"one series under the threshold passes", lt, vec(0.01), nil, opsv1alpha1.QueryPass, "0.01", "0.01 < 0.05"},
		{"one series over the threshold fails", lt, vec(0.31), nil, opsv1alpha1.QueryFail, "0.31", "0.31 is not < 0.05"},
		{"equal to a strict threshold fails", lt, vec(0.05), nil, opsv1alpha1.QueryFail, "0.05", "is not < 0.05"},
		{"equal to a non-strict threshold passes", le, vec(0.5), nil, opsv1alpha1.QueryPass, "0.5", ""},
		{"GreaterThanOrEqual at the limit passes", ge, vec(1), nil, opsv1alpha1.QueryPass, "1", ""},
		{"GreaterThan at the limit fails", gt, vec(0), nil, opsv1alpha1.QueryFail, "0", ""},
		{"a scalar is one value", lt, &model.Scalar{Value: 0.2}, nil, opsv1alpha1.QueryFail, "0.2", ""},
		{"no series is inconclusive", lt, model.Vector{}, nil, opsv1alpha1.QueryInconclusive, "", "no data"},
		{"no result at all is inconclusive", lt, nil, nil, opsv1alpha1.QueryInconclusive, "", "no data"},
		{"NaN (0/0) is inconclusive, not a pass", lt, vec(math.NaN()), nil, opsv1alpha1.QueryInconclusive, "NaN", "nothing was measured"},
		{"NaN is inconclusive, not a fail, for GreaterThan", gt, vec(math.NaN()), nil, opsv1alpha1.QueryInconclusive, "NaN", "NaN"},
		{"+Inf is inconclusive", lt, vec(math.Inf(1)), nil, opsv1alpha1.QueryInconclusive, "+Inf", "+Inf"},
		{"a NaN scalar is inconclusive", lt, &model.Scalar{Value: model.SampleValue(math.NaN())}, nil, opsv1alpha1.QueryInconclusive, "NaN", ""},
		{"two series where one is expected are inconclusive", lt, vec(0.01, 0.9), nil, opsv1alpha1.QueryInconclusive, "", "2 series where one is expected"},
		{"many series are named, at most three", lt, vec(0, 0, 0, 0, 0), nil, opsv1alpha1.QueryInconclusive, "", `web-c"}, …)`},
		{"a range vector is inconclusive", lt, model.Matrix{}, nil, opsv1alpha1.QueryInconclusive, "", "not one instant value"},
		{"a string is inconclusive", lt, &model.String{Value: "x"}, nil, opsv1alpha1.QueryInconclusive, "", "not one instant value"},
		{"Prometheus unreachable is an error, neither pass nor fail", lt, nil, errors.New("dial tcp 127.0.0.1:9: connect: connection refused"), opsv1alpha1.QueryError, "", "Prometheus: dial tcp"},
		{"an error wins over a result", lt, vec(0.01), errors.New("bad_data: parse error"), opsv1alpha1.QueryError, "", "Prometheus: bad_data"},
		{"an unreadable threshold is inconclusive", bad, vec(0.01), nil, opsv1alpha1.QueryInconclusive, "0.01", `condition.value "five" is not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			m := Evaluate(tc.q, "expanded", tc.result, tc.err)
			if m.Verdict != tc.verdict || m.Value != tc.value || !strings.Contains(m.Detail, tc.detail) {
				t.Fatalf("got %s value %q detail %q; want %s value %q detail containing %q", m.Verdict, m.Value, m.Detail, tc.verdict, tc.value, tc.detail)
			}
			if m.Name != tc.q.Name || m.Query != "expanded" {
				t.Fatalf("measurement names %q %q, want the query's name and the expanded query", m.Name, m.Query)
			}
		})
	}
}

func TestDescribeNamesQueryValueAndThreshold(t *testing.T) {
	q := opsv1alpha1.PrometheusQuery{Name: "error-rate", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryLessThan, Value: "0.05"}}
	got := Evaluate(q, `sum(rate(x{revision="abc"}[1m]))`, vec(0.31), nil).Describe()
	want := `query error-rate (sum(rate(x{revision="abc"}[1m]))) = 0.31, threshold < 0.05`
	if got != want {
		t.Fatalf("Describe() = %q, want %q", got, want)
	}
	got = Evaluate(q, "q", model.Vector{}, nil).Describe()
	if !strings.HasPrefix(got, "query error-rate (q), threshold < 0.05: no data") {
		t.Fatalf("Describe() of no data = %q", got)
	}
}

func TestDecide(t *testing.T) {
	m := func(name string, v opsv1alpha1.QueryVerdict) Measurement { return Measurement{Name: name, Verdict: v} }
	pass, fail, errv, inc := opsv1alpha1.QueryPass, opsv1alpha1.QueryFail, opsv1alpha1.QueryError, opsv1alpha1.QueryInconclusive
	cases := []struct {
		what     string
		ms       []Measurement
		verdict  opsv1alpha1.QueryVerdict
		deciding string
	}{
		{"no queries pass", nil, pass, ""},
		{"all pass", []Measurement{m("a", pass), m("b", pass)}, pass, ""},
		{"one failing fails the round", []Measurement{m("a", pass), m("b", fail)}, fail, "b"},
		{"a failure outweighs an error", []Measurement{m("a", errv), m("b", fail)}, fail, "b"},
		{"a failure outweighs an inconclusive query", []Measurement{m("a", inc), m("b", fail)}, fail, "b"},
		{"an error outweighs inconclusive", []Measurement{m("a", inc), m("b", errv)}, errv, "b"},
		{"an error never passes", []Measurement{m("a", pass), m("b", errv)}, errv, "b"},
		{"inconclusive never passes", []Measurement{m("a", pass), m("b", inc)}, inc, "b"},
		{"the first failing query decides", []Measurement{m("a", fail), m("b", fail)}, fail, "a"},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			r := Decide(tc.ms)
			name := ""
			if r.Deciding != nil {
				name = r.Deciding.Name
			}
			if r.Verdict != tc.verdict || name != tc.deciding {
				t.Fatalf("Decide = %s deciding %q, want %s deciding %q", r.Verdict, name, tc.verdict, tc.deciding)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := Vars{Revision: "0a1b2c3d4e", StableRevision: "ffee001122", Namespace: "shop", Release: "saas"}
	cases := []struct{ query, want string }{
		{`sum(x{revision="{{revision}}"})`, `sum(x{revision="0a1b2c3d4e"})`},
		{`x{revision="{{revision}}"} / x{revision="{{stableRevision}}"}`, `x{revision="0a1b2c3d4e"} / x{revision="ffee001122"}`},
		{`x{namespace="{{namespace}}",release='{{release}}'}`, `x{namespace="shop",release='saas'}`},
		{`no placeholder {{other}}`, `no placeholder {{other}}`},
		{`{{revision}}{{revision}}`, `0a1b2c3d4e0a1b2c3d4e`},
	}
	for _, tc := range cases {
		if got := Expand(tc.query, vars); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
	// A value can never end the PromQL string it is put in.
	evil := Vars{Revision: `a"} or vector(0) or x{a="\`, Release: "it's\nme"}
	got := Expand(`x{revision="{{revision}}",release='{{release}}'}`, evil)
	want := `x{revision="a\"} or vector(0) or x{a=\"\\",release='it\'s\nme'}`
	if got != want {
		t.Fatalf("Expand of quotes = %q, want %q", got, want)
	}
}

func TestThreshold(t *testing.T) {
	for op, want := range map[opsv1alpha1.QueryOperator]string{
		opsv1alpha1.QueryLessThan: "< 1", opsv1alpha1.QueryLessThanOrEqual: "<= 1",
		opsv1alpha1.QueryGreaterThan: "> 1", opsv1alpha1.QueryGreaterThanOrEqual: ">= 1",
	} {
		if got := Threshold(opsv1alpha1.QueryCondition{Op: op, Value: "1"}); got != want {
			t.Errorf("Threshold(%s) = %q, want %q", op, got, want)
		}
	}
}
