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
	"regexp"
	"slices"
	"strings"
)

// The PromQL read here is this repository's own (the rules, the dashboard); names are
// found without a PromQL parser (the one upstream is in github.com/prometheus/
// prometheus, see the package comment): strings, label matchers, ranges, grouping
// clauses and offsets are removed, then every identifier not followed by "(" and not
// a keyword is a metric name.
var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promOffset   = regexp.MustCompile(`\boffset\s+-?[0-9a-zA-Z_$]+`)
	grafanaVar   = regexp.MustCompile(`\$\{?\w+(:\w+)?\}?`)
	promNumber   = regexp.MustCompile(`\b[0-9][0-9a-zA-Z_.]*`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN", "group_left", "group_right", "atan2"}
)

// MetricNames lists the metric names expr reads, sorted and once each.
func MetricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, "")
	s = promRange.ReplaceAllString(s, "")
	s = promGrouping.ReplaceAllString(s, "")
	s = promOffset.ReplaceAllString(s, "")
	s = grafanaVar.ReplaceAllString(s, "")
	s = promNumber.ReplaceAllString(s, "")
	var names []string
	for _, m := range promIdent.FindAllString(s, -1) {
		if strings.HasSuffix(m, "(") || slices.Contains(promKeywords, m) {
			continue
		}
		names = append(names, m)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Unserved lists the names expr reads that are not in served.
func Unserved(expr string, served []string) []string {
	var out []string
	for _, n := range MetricNames(expr) {
		if !slices.Contains(served, n) {
			out = append(out, n)
		}
	}
	return out
}
