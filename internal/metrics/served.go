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

package metrics

import (
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder registers collectors and remembers them, so that what this package serves
// can be listed even before a vector has a series (Gather shows only those that do).
type recorder struct {
	prometheus.Registerer
	mu         sync.Mutex
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// fqName reads the name out of a Desc: client_golang has no accessor, and its String
// form, Desc{fqName: "…", …}, has not changed since 2015 (ServedNames' test fails if
// it does).
var fqName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)

// ServedNames lists the sample names of every metric this package registers with
// controller-runtime's registry, as a query names them: a histogram's _bucket, _sum
// and _count, a counter's name (which ends in _total). Sorted.
func ServedNames() []string {
	served.mu.Lock()
	cs := slices.Clone(served.collectors)
	served.mu.Unlock()
	var names []string
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 4)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				continue
			}
			name, err := strconv.Unquote(m[1])
			if err != nil {
				continue
			}
			switch c.(type) {
			case *prometheus.SummaryVec: // before Histogram: a Summary has Histogram's methods
				names = append(names, name, name+"_sum", name+"_count")
			case *prometheus.HistogramVec, prometheus.Histogram: // a plain Summary too: it has the same methods
				names = append(names, name+"_bucket", name+"_sum", name+"_count")
			default:
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
