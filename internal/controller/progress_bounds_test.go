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
	"math"
	"testing"
	"time"

	"runbook-operator/internal/progress"
)

// A progress line's table counts come from the agent's log: out of int32's range
// they are bounded, not wrapped into a negative or small count.
func TestProgressTableCountsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		done, total         int
		wantDone, wantTotal int32
	}{
		{3, 10, 3, 10},
		{-1, 10, 0, 10},
		{math.MaxInt32 + 1, math.MaxInt32 + 5, math.MaxInt32, math.MaxInt32},
		{1 << 40, 1 << 40, math.MaxInt32, math.MaxInt32},
	} {
		p := nextProgress(nil, progress.Report{TablesDone: tc.done, TablesTotal: tc.total}, time.Unix(0, 0))
		if p.TablesDone != tc.wantDone || p.TablesTotal != tc.wantTotal {
			t.Errorf("tables %d of %d → %d of %d, want %d of %d", tc.done, tc.total, p.TablesDone, p.TablesTotal, tc.wantDone, tc.wantTotal)
		}
	}
}
