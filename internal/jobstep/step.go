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
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"runbook-operator/internal/progress"
	"runbook-operator/internal/reconcile"
)

// Reasons of the outcomes this package decides. They equal the api package's
// ReasonJobDeleted, ReasonJobConflict, ReasonJobRunning, ReasonJobFailed and
// ReasonDeadlineExceeded (kept here so that the package depends on no API group).
const (
	ReasonJobDeleted       = "JobDeleted"
	ReasonJobConflict      = "JobNameInUse"
	ReasonJobRunning       = "JobRunning"
	ReasonJobFailed        = "JobFailed"
	ReasonDeadlineExceeded = "DeadlineExceeded"
)

// ConflictRecheck is how often a Job name held by a foreign Job is looked at again.
const ConflictRecheck = 15 * time.Second

// Step is one Job of one owner. Title names it in messages, e.g. "Migration Job
// saas-migrate-1a2b3c4d5e".
type Step struct {
	// Client reads through the cache and creates; Reader reads the API server (a Job
	// created a moment ago may be missing from the cache).
	Client client.Client
	Reader client.Reader
	Owner  metav1.Object
	Title  string
	// Kind names the owner's kind in messages ("" reads "object").
	Kind string
	// Deleted is the message of the *reconcile.Stalling when the Job was deleted before
	// it finished ("": "<Title> was deleted before it finished; it is not run again").
	Deleted string

	// Container names the container whose termination state is the Job's result
	// ("": none is read).
	Container string
	// Report reads the command's own report from the container's termination state
	// (AgentReport for agent Jobs). nil: the termination message is a log tail, quoted
	// in failures, so only for containers whose output holds no secrets.
	Report func(term *corev1.ContainerStateTerminated) (Report, error)

	// How a failure reads (Failure). Limit names where the time limit is set, e.g.
	// "spec.timeout" (the limit is then written the short way: 1h, not 1h0m0s), and
	// Timeout is the limit named when the Job carries no deadline. OnTimeout is
	// appended after a timeout and OnFailure after a failure the command did not
	// explain itself: what is left, what to do.
	Limit                string
	Timeout              time.Duration
	OnTimeout, OnFailure string
}

// Ensure returns the Job desired names, creating it when absent. created says the
// owner's status records that the Job was created earlier. Errors:
//   - *reconcile.Stalling (ReasonJobDeleted) when the Job is gone or being deleted before it
//     finished: it is never created twice;
//   - *reconcile.Waiting (ReasonJobConflict) when a Job of that name belongs to another object;
//   - *reconcile.CreateFailed when the API server refused to create it (retry with backoff);
//   - the API server's errors otherwise.
func (s Step) Ensure(ctx context.Context, desired *batchv1.Job, created bool) (*batchv1.Job, error) {
	return s.EnsureBuilt(ctx, client.ObjectKeyFromObject(desired), func(context.Context) (*batchv1.Job, error) { return desired, nil }, created)
}

// EnsureBuilt is Ensure for a Job that is costly to build: build runs only when the
// Job named key does not exist yet, and its error (e.g. a *Stalling) is returned as is.
func (s Step) EnsureBuilt(ctx context.Context, key client.ObjectKey, build func(context.Context) (*batchv1.Job, error), created bool) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	err := s.Client.Get(ctx, key, job)
	if apierrors.IsNotFound(err) && created {
		if err = s.Reader.Get(ctx, key, job); apierrors.IsNotFound(err) {
			return nil, s.deleted()
		}
	}
	if apierrors.IsNotFound(err) {
		desired, berr := build(ctx)
		if berr != nil {
			return nil, berr
		}
		err = s.Client.Create(ctx, desired)
		switch {
		case err == nil:
			job = desired
		case apierrors.IsAlreadyExists(err):
			err = s.Reader.Get(ctx, key, job)
		default:
			return nil, &reconcile.CreateFailed{What: "Job " + desired.Name, Err: err}
		}
	}
	if err != nil {
		return nil, err
	}
	if st := StateOf(job); !st.Finished && !job.DeletionTimestamp.IsZero() {
		return nil, s.deleted()
	}
	if !metav1.IsControlledBy(job, s.Owner) {
		kind := s.Kind
		if kind == "" {
			kind = "object"
		}
		return nil, reconcile.Wait(ReasonJobConflict, ConflictRecheck,
			"A Job named %s that does not belong to this %s exists (left by an earlier object of the same name?); waiting for it to go", job.Name, kind)
	}
	return job, nil
}

func (s Step) deleted() error {
	if s.Deleted != "" {
		return &reconcile.Stalling{Reason: ReasonJobDeleted, Message: s.Deleted}
	}
	return reconcile.Stall(ReasonJobDeleted, "%s was deleted before it finished; it is not run again", s.Title)
}

// State is what a Job's status says.
type State struct {
	Finished, Succeeded bool
	// Condition is the Complete or Failed condition once finished.
	Condition *batchv1.JobCondition
}

// StateOf reads a Job's status.
func StateOf(job *batchv1.Job) State {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return State{Finished: true, Succeeded: true, Condition: c}
		case batchv1.JobFailed:
			return State{Finished: true, Condition: c}
		}
	}
	return State{}
}

// Terminated returns the terminated state of container in the Job's pods, read with
// reader (the API server, not the cache): for a succeeded Job the pod that exited 0,
// otherwise the pod that ended last. nil when no pod left one.
func Terminated(ctx context.Context, reader client.Reader, job *batchv1.Job, container string, succeeded bool) (*corev1.ContainerStateTerminated, error) {
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return nil, err
	}
	var best *corev1.ContainerStateTerminated
	for i := range pods.Items {
		if !ownedByJob(&pods.Items[i], job) {
			continue
		}
		for _, cs := range pods.Items[i].Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != container || t == nil || succeeded && t.ExitCode != 0 {
				continue
			}
			if best == nil || t.FinishedAt.After(best.FinishedAt.Time) {
				best = t
			}
		}
	}
	return best, nil
}

// OwnedByJob reports whether pod belongs to job (its controller, or no owner at all).
func OwnedByJob(pod *corev1.Pod, job *batchv1.Job) bool { return ownedByJob(pod, job) }

func ownedByJob(pod *corev1.Pod, job *batchv1.Job) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			return ref.UID == job.UID
		}
	}
	return len(pod.OwnerReferences) == 0 // tolerate orphaned pods carrying the label
}

// Failure explains a failed Job in a sentence, as a *reconcile.Stalling: a timeout
// (with OnTimeout); the command's own error when a Report hook reads one; without a
// Report hook the last lines of the container's termination message (e.g. Django's
// traceback tail) with its exit code; otherwise the Job's reason and where its logs
// are (with OnFailure).
func (s Step) Failure(job *batchv1.Job, st State, term *corev1.ContainerStateTerminated) *reconcile.Stalling {
	if st.Condition != nil && st.Condition.Reason == batchv1.JobReasonDeadlineExceeded {
		return &reconcile.Stalling{Reason: ReasonDeadlineExceeded, Message: s.Title + " timed out" + s.limit(job) + " and was stopped" + s.OnTimeout}
	}
	why := ""
	if st.Condition != nil && st.Condition.Reason != "" {
		why = " (" + st.Condition.Reason + ")"
	}
	if s.Report != nil {
		rep, err := s.report(term)
		if err == nil && rep.Error != "" {
			msg := fmt.Sprintf("%s failed: %s", s.Title, rep.Error)
			if rep.Permanent {
				msg += " (retrying will not help until this is fixed)"
			}
			return &reconcile.Stalling{Reason: ReasonJobFailed, Message: msg}
		}
		detail := ErrNoResult.Error()
		if err != nil {
			detail = err.Error()
		}
		return &reconcile.Stalling{Reason: ReasonJobFailed, Message: fmt.Sprintf(
			"Job %s failed%s: %s; see `kubectl logs job/%s -n %s`%s", job.Name, why, detail, job.Name, job.Namespace, s.OnFailure)}
	}
	if term != nil {
		msg := fmt.Sprintf("%s failed with exit code %d", s.Title, term.ExitCode)
		if tail := Tail(term.Message, 3, 600); tail != "" {
			msg += ": " + tail
		} else if term.Reason != "" && term.Reason != "Error" {
			msg += " (" + term.Reason + ")"
		}
		return &reconcile.Stalling{Reason: ReasonJobFailed, Message: msg}
	}
	return &reconcile.Stalling{Reason: ReasonJobFailed, Message: fmt.Sprintf("%s failed%s; see `kubectl logs job/%s -n %s`%s", s.Title, why, job.Name, job.Namespace, s.OnFailure)}
}

// limit says the time limit of a Job that timed out: " after 30m0s", or with Limit
// " after 30m (spec.timeout)"; "" when none is known.
func (s Step) limit(job *batchv1.Job) string {
	d := s.Timeout
	if job.Spec.ActiveDeadlineSeconds != nil {
		d = time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
	}
	switch {
	case d <= 0:
		return ""
	case s.Limit == "":
		return " after " + d.String()
	}
	return " after " + progress.Duration(d) + " (" + s.Limit + ")"
}

// report runs the Report hook on term (ErrNoResult when no pod left one).
func (s Step) report(term *corev1.ContainerStateTerminated) (Report, error) {
	if term == nil {
		return Report{}, ErrNoResult
	}
	return s.Report(term)
}

// Tail returns the last n non-empty lines of text joined by " | ", at most max bytes
// (cut at the front).
func Tail(text string, n, max int) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > max {
		out = "…" + out[len(out)-max:]
	}
	return out
}
