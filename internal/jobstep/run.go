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

package jobstep

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"runbook-operator/internal/reconcile"
)

// Progress follows a running Job for its owner's status (e.g. the agent's progress
// lines read from its log).
type Progress interface {
	// Running is called on each reconcile that finds the Job unfinished; it returns
	// when to look again (0: when the Job's status changes).
	Running(ctx context.Context, job *batchv1.Job) time.Duration
	// Finished is called once, when the Job is found finished.
	Finished(succeeded bool)
}

// Report is what a command reported about itself in its termination message, as a
// Step's Report hook reads it.
type Report struct {
	// Error is the command's own error for people ("": none).
	Error string
	// Permanent says retrying the same command cannot help.
	Permanent bool
}

// Ended is a Job that finished, as Wait found it.
type Ended struct {
	Job   *batchv1.Job
	State State
	// Term is the termination state of the Step's Container (nil: no pod left one).
	Term *corev1.ContainerStateTerminated
	// ReportErr says why the command's report could not be read (with a Report hook).
	ReportErr error
}

// Run runs desired to its end: Ensure, then Wait. The owner becomes its controller
// when desired has none. done (nil error) means it succeeded.
func (s Step) Run(ctx context.Context, desired *batchv1.Job, created bool, progress Progress) (*Ended, error) {
	if metav1.GetControllerOf(desired) == nil {
		if err := controllerutil.SetControllerReference(s.Owner, desired, s.Client.Scheme()); err != nil {
			return nil, err
		}
	}
	job, err := s.Ensure(ctx, desired, created)
	if err != nil {
		return nil, err
	}
	return s.Wait(ctx, job, progress)
}

// Wait reads how job ended. While it runs: progress.Running (when progress is not
// nil) and a *reconcile.Waiting without a message, to look again when progress says.
// Once it finished: progress.Finished, the container's termination state and the
// command's report (Step.Container, Step.Report); a failed Job, or one that
// succeeded but reported an error, is a *reconcile.Stalling that Failure explains,
// returned with the Ended. An error reading the Job's pods is returned for a retry.
func (s Step) Wait(ctx context.Context, job *batchv1.Job, progress Progress) (*Ended, error) {
	st := StateOf(job)
	if !st.Finished {
		var after time.Duration
		if progress != nil {
			after = progress.Running(ctx, job)
		}
		return nil, reconcile.Requeue(after)
	}
	if progress != nil {
		progress.Finished(st.Succeeded)
	}
	end := &Ended{Job: job, State: st}
	if s.Container != "" {
		term, err := Terminated(ctx, s.Reader, job, s.Container, st.Succeeded)
		if err != nil {
			return nil, err
		}
		end.Term = term
	}
	var rep Report
	if s.Report != nil {
		rep, end.ReportErr = s.report(end.Term)
	}
	if !st.Succeeded || end.ReportErr == nil && rep.Error != "" {
		return end, s.Failure(job, st, end.Term)
	}
	return end, nil
}

// IsRunning reports whether err is Wait's (or Run's) "the Job is still running".
func IsRunning(err error) bool {
	w, ok := reconcile.AsWaiting(err)
	return ok && w.Reason == ""
}
