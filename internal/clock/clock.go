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

// Package clock is the one clock type of every reconciler: Real in the manager, and
// in tests a Fake they set and move, or a Func (e.g. the wall clock shifted forward).
// Requeues that wait for a time compute it from the reconciler's clock (Until), so a
// test that moves the clock and wakes the object sees the deadline pass.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time; reconcilers take one so tests control it.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Func is a Clock from a function.
type Func func() time.Time

// Now returns f().
func (f Func) Now() time.Time { return f() }

// Or returns c, or the wall clock when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Until is how long after c's now t comes (0 once it passed): the requeue of a
// reconcile that waits for t.
func Until(c Clock, t time.Time) time.Duration {
	return max(t.Sub(c.Now()), 0)
}

// Fake is a clock tests set and move.
type Fake struct {
	mu sync.Mutex
	t  time.Time
}

// NewFake returns a clock stopped at t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Step moves the clock forward by d.
func (c *Fake) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
