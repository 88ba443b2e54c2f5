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
	"context"
	"fmt"
	"math"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/conditions"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/jobstep"
	"runbook-operator/internal/progress"
	"runbook-operator/internal/truncate"
)

// Defaults of Config.ProgressInterval and Config.ProgressStallAfter.
const (
	DefaultProgressInterval   = 12 * time.Second
	DefaultProgressStallAfter = 10 * time.Minute
)

// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// progressRefresher keeps status.progress of a running backup or restore.
type progressRefresher struct {
	Logs jobstep.JobLogs
	// Every is the refresh pace (default DefaultProgressInterval): the log is read
	// and status written at most this often per object.
	Every time.Duration
	// StallAfter: a progress that has not moved for longer is reported as such.
	StallAfter time.Duration
}

// agentProgressInterval is the agent's pace for a controller reading every
// every: twice as often, so each read finds a fresh line; 0 (the agent's 5 s
// default) unless that is too slow.
func agentProgressInterval(every time.Duration) time.Duration {
	if every <= 0 || every/2 >= 5*time.Second {
		return 0
	}
	return every / 2
}

func newProgressRefresher(mgr ctrl.Manager, cfg Config) (progressRefresher, error) {
	p := progressRefresher{Logs: cfg.ProgressLogs, Every: cfg.ProgressInterval, StallAfter: cfg.ProgressStallAfter}
	if p.Every <= 0 {
		p.Every = DefaultProgressInterval
	}
	if p.StallAfter <= 0 {
		p.StallAfter = DefaultProgressStallAfter
	}
	if p.Logs == nil {
		logs, err := jobstep.NewPodLogs(mgr.GetConfig(), mgr.GetAPIReader(), jobs.ContainerName)
		if err != nil {
			return p, err
		}
		p.Logs = logs
	}
	return p, nil
}

// follow is the progress hook (jobstep.Progress) of obj's running agent Job: it keeps
// *st from the Job's log and says it in obj's Reconciling message after running.
func (p progressRefresher) follow(obj conditions.Object, st **opsv1alpha1.Progress, now time.Time, running string) jobstep.Progress {
	return &progressHook{p: p, obj: obj, st: st, now: now, running: running}
}

type progressHook struct {
	p       progressRefresher
	obj     conditions.Object
	st      **opsv1alpha1.Progress
	now     time.Time
	running string
}

// Running refreshes the progress; the Job's status change wakes the owner when it
// ends, the returned pace meanwhile.
func (h *progressHook) Running(ctx context.Context, job *batchv1.Job) time.Duration {
	words, again := h.p.refresh(ctx, job, h.st, h.now)
	if words != "" {
		conditions.MarkReconciling(h.obj, opsv1alpha1.ReasonJobRunning, h.running+": "+words)
	}
	return again
}

func (h *progressHook) Finished(succeeded bool) { finishProgress(*h.st, succeeded) }

// refresh updates *st from the Job's log unless it was read less than Every ago,
// and returns the words for the Reconciling message ("" for none) and when to look
// again. A log that cannot be read leaves the last progress as it was.
func (p progressRefresher) refresh(ctx context.Context, job *batchv1.Job, st **opsv1alpha1.Progress, now time.Time) (words string, again time.Duration) {
	if p.Logs == nil {
		return "", 0
	}
	if cur := *st; cur != nil && cur.LastUpdateTime != nil {
		if since := now.Sub(cur.LastUpdateTime.Time); since >= 0 && since < p.Every {
			return progressWords(cur, now, p.StallAfter), p.Every - since
		}
	}
	text, err := p.Logs.Tail(ctx, job)
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("cannot read the agent's progress", "job", job.Name, "error", err.Error())
	}
	if r, ok := progress.Last(text); ok {
		*st = nextProgress(*st, r, now)
	}
	return progressWords(*st, now, p.StallAfter), p.Every
}

// nextProgress is prev updated with the report r read at now.
func nextProgress(prev *opsv1alpha1.Progress, r progress.Report, now time.Time) *opsv1alpha1.Progress {
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	n := &opsv1alpha1.Progress{
		BytesDone: r.BytesDone, BytesExpected: r.BytesExpected, Phase: truncate.String(r.Phase, 32),
		TablesDone: tableCount(r.TablesDone), TablesTotal: tableCount(r.TablesTotal), LastUpdateTime: &t, LastProgressTime: &t,
	}
	// 99 at most while the Job runs, even after the agent's final line: only
	// finishProgress, once the Job succeeded, says 100.
	if pc := min(r.Percent(), 99); pc >= 0 {
		v := int32(pc)
		n.Percent = &v
		n.Summary = fmt.Sprintf("%d%%", pc)
	} else {
		n.Summary = progress.Human(r.BytesDone)
	}
	if r.ETASeconds > 0 && !r.Final {
		eta := metav1.NewTime(now.Add(time.Duration(r.ETASeconds * float64(time.Second))).UTC().Truncate(time.Second))
		n.EstimatedCompletionTime = &eta
	}
	if prev != nil && prev.LastProgressTime != nil && prev.BytesDone == n.BytesDone && prev.TablesDone == n.TablesDone && prev.Phase == n.Phase {
		n.LastProgressTime = prev.LastProgressTime
	}
	return n
}

// tableCount bounds a table count read from the agent's log to what status holds:
// a line that says more than int32 tables (or fewer than none) is not trusted to wrap.
func tableCount(n int) int32 {
	if n < 0 {
		return 0
	}
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}

// finishProgress finalises the progress of a Job that ended: 100% when it
// succeeded, the last figures otherwise; no estimate either way.
func finishProgress(p *opsv1alpha1.Progress, succeeded bool) {
	if p == nil {
		return
	}
	p.EstimatedCompletionTime = nil
	if succeeded {
		v := int32(100)
		p.Percent, p.Summary = &v, "100%"
	}
}

// progressWords says p in words for the Reconciling message: "1.2 GiB done of
// about 2.9 GiB (42%), step dump, expected done at 2026-12-01T11:40:05Z"; a
// progress that has not moved for longer than stallAfter adds "no progress since
// <time>". Only absolute times: the words must not change from one reconcile to
// the next unless the progress did, or every status write would cause another.
func progressWords(p *opsv1alpha1.Progress, now time.Time, stallAfter time.Duration) string {
	if p == nil {
		return ""
	}
	s := progress.Human(p.BytesDone) + " done"
	if p.BytesExpected > 0 {
		s += " of about " + progress.Human(p.BytesExpected)
	}
	if p.Percent != nil {
		s += fmt.Sprintf(" (%d%%)", *p.Percent)
	}
	if p.TablesTotal > 0 {
		s += fmt.Sprintf(", %d of %d tables loaded", p.TablesDone, p.TablesTotal)
	}
	if p.Phase != "" {
		s += ", step " + p.Phase
	}
	if p.EstimatedCompletionTime != nil {
		s += ", expected done at " + p.EstimatedCompletionTime.UTC().Format(time.RFC3339)
	}
	if p.LastProgressTime != nil && now.Sub(p.LastProgressTime.Time) > stallAfter {
		s += "; no progress since " + p.LastProgressTime.UTC().Format(time.RFC3339)
	}
	return s
}
