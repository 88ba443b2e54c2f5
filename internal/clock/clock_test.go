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

package clock

import (
	"testing"
	"time"
)

func TestFakeMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	c.Step(90 * time.Minute)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Minute)) {
		t.Errorf("Now = %v", got)
	}
	deadline := start.Add(2 * time.Hour)
	if got := Until(c, deadline); got != 30*time.Minute {
		t.Errorf("Until = %v, want 30m", got)
	}
	c.Set(deadline.Add(time.Second))
	if got := Until(c, deadline); got != 0 {
		t.Errorf("Until a passed deadline = %v, want 0", got)
	}
}

func TestOrDefaultsToTheWallClock(t *testing.T) {
	if _, ok := Or(nil).(Real); !ok {
		t.Fatal("nil is not the wall clock")
	}
	f := Func(func() time.Time { return time.Unix(42, 0) })
	if got := Or(f).Now(); got.Unix() != 42 {
		t.Fatalf("Or replaced a clock: %v", got)
	}
}
