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

package alerting

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardPath = "config/grafana/runbook-operator.json"

// dashboard is what is checked of a Grafana dashboard: its panels (rows hold theirs
// when collapsed) and the queries of its template variables.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// TestDashboardReadsOnlyServedMetrics: the dashboard parses, each panel has a title and
// a query, every query reads only metrics the manager serves, and each area has one.
func TestDashboardReadsOnlyServedMetrics(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(read(t, dashboardPath), &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("%s has no title or uid", dashboardPath)
	}
	names := served(t)
	var shown []string
	check := func(where, expr string) {
		if bad := Unserved(expr, names); len(bad) > 0 {
			t.Errorf("%s reads %v, which the manager does not serve: %s", where, bad, expr)
		}
		shown = append(shown, MetricNames(expr)...)
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Title == "" {
				t.Errorf("a %s panel has no title", p.Type)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				if len(MetricNames(q.Expr)) == 0 {
					t.Errorf("panel %q: a query reads no metric: %q", p.Title, q.Expr)
				}
				check("panel "+p.Title, q.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		// label_values(selector, label): the selector is PromQL, the label is not.
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		check("variable "+v.Name, q)
	}
	for _, area := range []string{"runbook_backup_", "runbook_restore", "runbook_release", "runbook_secret_", "runbook_incident", "controller_runtime_"} {
		if !slices.ContainsFunc(shown, func(n string) bool { return strings.HasPrefix(n, area) }) {
			t.Errorf("the dashboard shows no %s* metric", area)
		}
	}
}
