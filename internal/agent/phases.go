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

package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// phases records how long each step of a command took, for the log line
// "timings: …" that tells an operator (and the benchmark) where the time went.
type phases struct {
	mu    sync.Mutex
	names []string
	took  map[string]time.Duration
}

// since adds the time elapsed since start to phase name.
func (p *phases) since(name string, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.took == nil {
		p.took = map[string]time.Duration{}
	}
	if _, ok := p.took[name]; !ok {
		p.names = append(p.names, name)
	}
	p.took[name] += time.Since(start)
}

func (p *phases) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]string, 0, len(p.names))
	for _, n := range p.names {
		parts = append(parts, fmt.Sprintf("%s %.1fs", n, p.took[n].Seconds()))
	}
	return strings.Join(parts, ", ")
}
