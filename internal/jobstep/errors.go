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

// Package jobstep is the Job step every reconciler shares: create a Job under a
// deterministic name, adopt it after a restart, refuse one owned by someone else,
// notice it was deleted before it finished, read its container's termination result
// and explain a failure in one sentence. Outcomes are typed errors that decide the
// object's conditions (Flux's internal/error): a Stalling error needs a person, a
// Waiting error requeues quietly, any other error is retried with backoff.
package jobstep

import (
	"errors"
	"fmt"
	"time"
)

// Stalling says the object cannot progress without a person: the reconciler sets
// Stalled=True with Reason and Message and does not requeue.
type Stalling struct {
	Reason  string
	Message string
}

func (e *Stalling) Error() string { return e.Message }

// Waiting says the object waits for something outside the controller (a Job running,
// a foreign Job giving up its name): the reconciler sets Reconciling=True with Reason
// and Message and requeues after After (zero: only when a watch fires).
type Waiting struct {
	Reason  string
	Message string
	After   time.Duration
}

func (e *Waiting) Error() string { return e.Message }

// Stall returns a *Stalling with a formatted message.
func Stall(reason, format string, args ...any) error {
	return &Stalling{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wait returns a *Waiting with a formatted message.
func Wait(reason string, after time.Duration, format string, args ...any) error {
	return &Waiting{Reason: reason, Message: fmt.Sprintf(format, args...), After: after}
}

// AsStalling reports whether err is (or wraps) a *Stalling.
func AsStalling(err error) (*Stalling, bool) {
	var s *Stalling
	ok := errors.As(err, &s)
	return s, ok
}

// AsWaiting reports whether err is (or wraps) a *Waiting.
func AsWaiting(err error) (*Waiting, bool) {
	var w *Waiting
	ok := errors.As(err, &w)
	return w, ok
}
