// Package demo is the walkthrough `make demo` prints (cmd/demo): a list of steps,
// each showing one runbook procedure done by the operator on the devcluster, and the
// helpers they share (apply an object and show it, watch a backup, run a Job, print
// kubectl tables).
//
// To add a procedure (restore, release, rotation, incident), write a Step in its own
// file and put it in DefaultSteps. A step prints what it does through Env.Out so a
// newcomer can follow, checks what it shows (an error fails the step and makes
// `--exit-when-done` exit non-zero), and may leave results for later steps in Env
// (Seeded, Backup).
package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Step is one part of the walkthrough.
type Step struct {
	// Name selects the step with --steps ("backup").
	Name string
	// Title is the heading a reader sees.
	Title string
	// Required steps stop the walkthrough when they fail: the later ones need them.
	Required bool
	// Needs names earlier steps this one builds on; it is skipped when one of them
	// failed or was left out.
	Needs []string
	// Timeout bounds Run (default DefaultStepTimeout).
	Timeout time.Duration
	// Run does the step, printing as it goes.
	Run func(ctx context.Context, e *Env) error
}

// DefaultStepTimeout bounds a step without its own Timeout.
const DefaultStepTimeout = 3 * time.Minute

// Result is how a step went.
type Result struct {
	Step     Step
	Err      error
	Skipped  string // why the step did not run
	Duration time.Duration
}

// OK reports whether the step ran and succeeded.
func (r Result) OK() bool { return r.Err == nil && r.Skipped == "" }

// Select keeps the steps named in names (comma-separated; empty keeps all) and the
// steps they need, in walkthrough order, and fails on an unknown name.
func Select(steps []Step, names string) ([]Step, error) {
	if strings.TrimSpace(names) == "" {
		return steps, nil
	}
	var out []Step
	known := make([]string, 0, len(steps))
	for _, s := range steps {
		known = append(known, s.Name)
	}
	want := map[string]bool{}
	for n := range strings.SplitSeq(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown step %q (steps: %s)", n, strings.Join(known, ", "))
		}
		want[n] = true
	}
	// The steps a wanted step needs come along: "backup" alone also seeds.
	for added := true; added; {
		added = false
		for _, s := range steps {
			if !want[s.Name] {
				continue
			}
			for _, n := range s.Needs {
				if !want[n] {
					want[n], added = true, true
				}
			}
		}
	}
	for _, s := range steps {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// Run runs the steps in order and returns one Result per step. A failed Required
// step skips the rest; a step whose Needs did not all succeed is skipped. A
// cancelled ctx (Ctrl-C) skips what has not started.
func Run(ctx context.Context, e *Env, steps []Step) []Result {
	results := make([]Result, 0, len(steps))
	ok := map[string]bool{}
	stop := ""
	for i, s := range steps {
		r := Result{Step: s}
		switch {
		case stop != "":
			r.Skipped = stop
		case ctx.Err() != nil:
			r.Skipped = "interrupted"
		default:
			for _, n := range s.Needs {
				if !ok[n] {
					r.Skipped = fmt.Sprintf("needs step %q, which did not succeed", n)
					break
				}
			}
		}
		if r.Skipped != "" {
			results = append(results, r)
			continue
		}
		e.Out.Heading(i+1, len(steps), s.Title)
		start := time.Now()
		r.Err = runStep(ctx, e, s)
		r.Duration = time.Since(start)
		results = append(results, r)
		if r.Err != nil {
			e.Out.Problem("%s: failed after %s: %v", s.Title, Round(r.Duration), r.Err)
			if s.Required {
				stop = fmt.Sprintf("step %q failed", s.Name)
			}
			continue
		}
		ok[s.Name] = true
	}
	return results
}

func runStep(ctx context.Context, e *Env, s Step) (err error) {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultStepTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the step took longer than %s", timeout))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		if err != nil && ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
				err = fmt.Errorf("%w (%v)", err, cause)
			}
		}
	}()
	if s.Run == nil {
		return errors.New("the step has nothing to run")
	}
	return s.Run(ctx, e)
}

// Failed reports whether any step failed or was skipped.
func Failed(results []Result) bool {
	return slices.ContainsFunc(results, func(r Result) bool { return !r.OK() })
}

// PrintSummary lists each step with its outcome and duration.
func PrintSummary(p *Printer, results []Result) {
	p.Section("Summary")
	w := 0
	for _, r := range results {
		w = max(w, len([]rune(r.Step.Title)))
	}
	for i, r := range results {
		title := r.Step.Title + strings.Repeat(" ", w-len([]rune(r.Step.Title)))
		switch {
		case r.Skipped != "":
			p.Line("  - %d. %s   skipped: %s", i+1, title, r.Skipped)
		case r.Err != nil:
			p.Line("  ✗ %d. %s   failed after %s", i+1, title, Round(r.Duration))
		default:
			p.Line("  ✓ %d. %s   %s", i+1, title, Round(r.Duration))
		}
	}
}

// Round shortens a duration for people: tenths of a second from one second up,
// milliseconds below.
func Round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
