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

package reconcile

import (
	"errors"
	"fmt"
	"time"
)

// Stalling says the object cannot progress without a person (or a change elsewhere):
// Apply sets Stalled=True with Reason and Message (and observedGeneration) and
// requeues only after After (zero: only when a watch fires). After is for stops that
// clear when the cluster changes in a way no watch sees.
type Stalling struct {
	Reason  string
	Message string
	After   time.Duration
}

func (e *Stalling) Error() string { return e.Message }

// Waiting says the object waits for something outside the controller (a Job running,
// a foreign Job giving up its name, a deadline): Apply sets Reconciling=True with
// Reason and Message (none when Message is empty) and requeues after After (zero:
// only when a watch fires). Stalled is not set.
type Waiting struct {
	Reason  string
	Message string
	After   time.Duration
}

func (e *Waiting) Error() string { return e.Message }

// CreateFailed says the API server refused to create a child object (quota,
// admission, RBAC): a retry with backoff, and Apply says so in a condition (Reason
// CreateFailed), not only in the log.
type CreateFailed struct {
	// What names the object in the message: "Job backup-x", "DatabaseBackup y for the
	// run of …".
	What string
	Err  error
}

func (e *CreateFailed) Error() string {
	return fmt.Sprintf("Could not create %s: %v", e.What, e.Err)
}

func (e *CreateFailed) Unwrap() error { return e.Err }

// Stall returns a *Stalling with a formatted message.
func Stall(reason, format string, args ...any) error {
	return &Stalling{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wait returns a *Waiting with a formatted message.
func Wait(reason string, after time.Duration, format string, args ...any) error {
	return &Waiting{Reason: reason, Message: fmt.Sprintf(format, args...), After: after}
}

// Requeue returns a *Waiting that touches no condition: look again after d.
func Requeue(d time.Duration) error { return &Waiting{After: d} }

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

// AsCreateFailed reports whether err is (or wraps) a *CreateFailed.
func AsCreateFailed(err error) (*CreateFailed, bool) {
	var c *CreateFailed
	ok := errors.As(err, &c)
	return c, ok
}
