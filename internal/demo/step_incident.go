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

package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/incident"
	"runbook-operator/internal/notify"
)

// PagerDutyDelivery is one event a PagerDutyReceiver accepted.
type PagerDutyDelivery struct {
	At         time.Time
	RoutingKey string
	Action     string // trigger, acknowledge, resolve
	DedupKey   string
	Severity   string // trigger only
	Summary    string // trigger only
}

// PagerDutyReceiver is a local stand-in for PagerDuty's Events API v2 (an httptest
// server on the host loopback, which the manager, a host process, reaches): it
// accepts a well-formed event with 202 {"status":"success","dedup_key":…} as
// PagerDuty does, refuses one without routing key, action or dedup key with 400, and
// keeps what it accepted.
type PagerDutyReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []PagerDutyDelivery
}

// NewPagerDutyReceiver starts a receiver; Close stops it.
func NewPagerDutyReceiver() *PagerDutyReceiver {
	p := &PagerDutyReceiver{}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// URL is the receiver's Events API endpoint, for a notifier's url.
func (p *PagerDutyReceiver) URL() string { return p.srv.URL + "/v2/enqueue" }

// Close stops the receiver.
func (p *PagerDutyReceiver) Close() { p.srv.Close() }

// Events returns what the receiver accepted, oldest first.
func (p *PagerDutyReceiver) Events() []PagerDutyDelivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PagerDutyDelivery(nil), p.events...)
}

func (p *PagerDutyReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, notify.PagerDutyEventMax+1))
	var ev notify.PagerDutyEvent
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || json.Unmarshal(body, &ev) != nil ||
		ev.RoutingKey == "" || ev.DedupKey == "" || (ev.EventAction == "trigger" && ev.Payload == nil) ||
		(ev.EventAction != "trigger" && ev.EventAction != "acknowledge" && ev.EventAction != "resolve") {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["invalid event"]}`)
		return
	}
	d := PagerDutyDelivery{At: time.Now(), RoutingKey: ev.RoutingKey, Action: ev.EventAction, DedupKey: ev.DedupKey}
	if ev.Payload != nil {
		d.Severity, d.Summary = ev.Payload.Severity, ev.Payload.Summary
	}
	p.mu.Lock()
	p.events = append(p.events, d)
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	answer, _ := json.Marshal(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
	_, _ = w.Write(answer)
}

// Wait waits until the receiver accepted an event with action and dedup key.
func (p *PagerDutyReceiver) Wait(ctx context.Context, action, dedupKey string) (PagerDutyDelivery, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		for _, d := range p.Events() {
			if d.Action == action && d.DedupKey == dedupKey {
				return d, nil
			}
		}
		select {
		case <-ctx.Done():
			return PagerDutyDelivery{}, fmt.Errorf("waiting for a PagerDuty %s with dedup_key %s (got %d events): %w", action, dedupKey, len(p.Events()), context.Cause(ctx))
		case <-t.C:
		}
	}
}

// The demo's PagerDuty notifier: the Secret with its routing key and the receiver.
const (
	pagerDutySecret     = "demo-pagerduty"
	pagerDutyRoutingKey = "demo-routing-key-0123456789abcdef"
)

// pagerDuty starts the demo's receiver on first use and creates the Secret holding
// its routing key.
func (e *Env) pagerDuty(ctx context.Context) (*PagerDutyReceiver, error) {
	if e.PagerDuty != nil {
		return e.PagerDuty, nil
	}
	sec := &corev1.Secret{}
	sec.Name, sec.Namespace = pagerDutySecret, e.Namespace
	sec.StringData = map[string]string{"routing-key": pagerDutyRoutingKey}
	if err := client.IgnoreAlreadyExists(e.Client.Create(ctx, sec)); err != nil {
		return nil, err
	}
	e.PagerDuty = NewPagerDutyReceiver()
	return e.PagerDuty, nil
}

// IncidentStep shows the Incident the release step's rollback of 1.2.0 opened: its
// evidence, read before the rollback replaced the failing pods, and its PagerDuty
// notifications (trigger, then acknowledge and resolve as a person patches it).
func IncidentStep() Step {
	return Step{
		Name: "incident", Title: "Respond to the incident the bad release opened: an Incident", Needs: []string{"release"},
		Timeout: 2 * time.Minute,
		Run:     respondToIncident,
	}
}

func respondToIncident(ctx context.Context, e *Env) error {
	rel := &opsv1alpha1.Release{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: ReleaseName}, rel); err != nil {
		return err
	}
	if len(rel.Status.History) == 0 || rel.Status.History[0].Incident == nil {
		return fmt.Errorf("release %s's latest revision opened no Incident (rollback.openIncident)", ReleaseName)
	}
	name := rel.Status.History[0].Incident.Name
	pd, err := e.pagerDuty(ctx)
	if err != nil {
		return err
	}
	e.Out.Say(`The runbook's on-call procedure was: get paged, look at the logs before anyone
restarts anything, acknowledge, fix, resolve, write it up. The Release's
rollback.openIncident did the first part when 1.2.0 failed: it opened Incident %s
before writing 1.1.0's templates back, and waited until the Incident had read the
failing pods and their logs (at most 60 s). rollback.incidentNotify gave it a PagerDuty
notifier; here PagerDuty is a local receiver speaking its Events API v2.`, name)

	inc, err := e.waitIncident(ctx, name, func(i *opsv1alpha1.Incident) bool {
		return i.Status.Evidence != nil && i.Status.Evidence.SHA256 != ""
	})
	if err != nil {
		return err
	}
	if err := e.ShowTables(ctx, "incidents"); err != nil {
		return err
	}
	if err := e.showEvidence(ctx, inc); err != nil {
		return err
	}

	trigger, err := pd.Wait(ctx, "trigger", inc.Status.DedupKey)
	if err != nil {
		return err
	}
	if trigger.Severity != "warning" || trigger.RoutingKey != pagerDutyRoutingKey {
		return fmt.Errorf("the trigger had severity %q and another routing key, want warning (P2) and the Secret's key", trigger.Severity)
	}
	e.Out.Check("PagerDuty got the trigger: severity %s (P2), dedup_key %s, %q", trigger.Severity, trigger.DedupKey, trigger.Summary)

	e.Out.Say("A person takes it. Acknowledging is a patch (or a commit in Git): it stops the response clock.")
	if err := e.patchIncident(ctx, name, `{"spec":{"acknowledgedBy":"alice"}}`); err != nil {
		return err
	}
	if _, err := pd.Wait(ctx, "acknowledge", inc.Status.DedupKey); err != nil {
		return err
	}
	e.Out.Check("PagerDuty got acknowledge with the same dedup_key and routing key")

	e.Out.Say("1.1.0 serves again, so the incident is resolved with what was done:")
	if err := e.patchIncident(ctx, name, `{"spec":{"resolution":"1.2.0 rolled back to 1.1.0 by the Release; the missing migration goes into 1.2.1"}}`); err != nil {
		return err
	}
	if _, err := pd.Wait(ctx, "resolve", inc.Status.DedupKey); err != nil {
		return err
	}
	resolved, err := e.waitIncident(ctx, name, func(i *opsv1alpha1.Incident) bool { return i.Status.Phase == opsv1alpha1.IncidentPhaseResolved })
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-12s %s\n", "ACTION", "SEVERITY", "DEDUP_KEY")
	for _, d := range pd.Events() {
		if d.DedupKey == inc.Status.DedupKey {
			fmt.Fprintf(&b, "%-12s %-12s %s\n", d.Action, or(d.Severity, "-"), d.DedupKey)
		}
	}
	e.Out.Say("What the receiver got (one dedup_key, so PagerDuty keeps it one incident):")
	e.Out.Block(b.String())
	e.Out.Check("PagerDuty got resolve; the Incident is Resolved, acknowledged after %s, resolved after %s",
		durationOf(resolved.Status.TimeToAcknowledge), durationOf(resolved.Status.TimeToResolve))
	e.Out.Command("kubectl -n %s get incident %s -o jsonpath='{.status.timeline}'", e.Namespace, name)
	b.Reset()
	for _, t := range resolved.Status.Timeline {
		fmt.Fprintf(&b, "%s %-17s %-9s %s\n", t.Time.UTC().Format("15:04:05"), t.Type, t.Outcome, cut(t.Message, 110))
	}
	e.Out.Block(b.String())
	return nil
}

// showEvidence prints where the evidence is, checks its SHA-256, and shows the parts
// that matter: the pods (with their revision), a failing pod's log tail and the
// database check.
func (e *Env) showEvidence(ctx context.Context, inc *opsv1alpha1.Incident) error {
	ev := inc.Status.Evidence
	var b strings.Builder
	for _, name := range ev.ConfigMaps {
		cm := &corev1.ConfigMap{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, cm); err != nil {
			return err
		}
		b.WriteString(cm.Data[incident.EvidenceKey])
	}
	bundle := b.String()
	if evidence.Sum(bundle) != ev.SHA256 {
		return fmt.Errorf("the evidence ConfigMaps of %s do not hash to status.evidence.sha256", inc.Name)
	}
	e.Out.Say("Its evidence, redacted and hashed, in ConfigMaps it owns:")
	e.Out.Fields("configMaps", strings.Join(ev.ConfigMaps, ", "), "size", Bytes(ev.SizeBytes), "sha256", ev.SHA256,
		"podsCapturedAt", ev.PodsCapturedAt.UTC().Format(time.RFC3339), "capturedAt", ev.CapturedAt.UTC().Format(time.RFC3339))
	e.Out.Command("kubectl -n %s get configmap %s -o jsonpath='{.data.bundle}' | sha256sum", e.Namespace, strings.Join(ev.ConfigMaps, " "))
	e.Out.Check("the ConfigMaps concatenated hash to status.evidence.sha256")

	rev := inc.Labels[opsv1alpha1.LabelRevision]
	sections := evidenceSections(bundle)
	// The running pods (the Jobs' finished pods are in the bundle too) and, of the
	// failed revision, its web pods.
	var running []string
	var failing []string
	lines := strings.Split(sections["pods"], "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "pod ") || !strings.Contains(l, " phase=Running ") {
			continue
		}
		running = append(running, l)
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "  "); j++ {
			running = append(running, lines[j])
		}
		if name := strings.Fields(l)[1]; strings.Contains(l, " revision="+rev+" ") && strings.HasPrefix(name, ReleaseName+"-web-") {
			failing = append(failing, name)
		}
	}
	if len(failing) == 0 {
		return fmt.Errorf("the evidence lists no web pod of the failed revision %s", rev)
	}
	e.Out.Say("The running pods it read, and the Deployments' templates then (the failed revision %s still ran; the Jobs' finished pods are in the bundle too):", rev)
	e.Out.Block(strings.Join(running, "\n") + "\n" + grep(sections["workloads"], "deployment "))
	log := sections["logs/"+failing[0]+"/"+"app"]
	e.Out.Say("The end of failing pod %s's log, as read before the rollback replaced it:", failing[0])
	e.Out.Block(lastLines(or(log, "(empty)"), 6))
	e.Out.Say("The database check (agent check), run after the pods were read:")
	e.Out.Block(lastLines(sections["database check"], 8))
	e.Out.Check("the evidence holds the %d web pod(s) of the failed revision and their logs, read before the rollback", len(failing))
	return nil
}

// evidenceSections splits a bundle into its sections by their "=== name ===" headers
// (a header's notes in parentheses dropped, except "(previous)").
func evidenceSections(bundle string) map[string]string {
	out := map[string]string{}
	var name string
	for _, l := range strings.SplitAfter(bundle, "\n") {
		if h, ok := strings.CutPrefix(l, "=== "); ok && strings.HasSuffix(l, " ===\n") {
			name = strings.TrimSuffix(h, " ===\n")
			if i := strings.Index(name, " (the tail only)"); i >= 0 {
				name = name[:i]
			}
			if i := strings.Index(name, " (cut:"); i >= 0 {
				name = name[:i]
			}
			continue
		}
		out[name] += l
	}
	return out
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitIncident waits until Incident name satisfies ok.
func (e *Env) waitIncident(ctx context.Context, name string, ok func(*opsv1alpha1.Incident) bool) (*opsv1alpha1.Incident, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		inc := &opsv1alpha1.Incident{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, inc); err == nil && ok(inc) {
			return inc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for Incident %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// patchIncident merge-patches Incident name, printing the kubectl command.
func (e *Env) patchIncident(ctx context.Context, name, patch string) error {
	e.Out.Command("kubectl -n %s patch incident %s --type merge -p '%s'", e.Namespace, name, patch)
	inc := &opsv1alpha1.Incident{}
	inc.Name, inc.Namespace = name, e.Namespace
	return e.Client.Patch(ctx, inc, client.RawPatch(types.MergePatchType, []byte(patch)))
}

func durationOf(d *opsv1alpha1.Duration) string {
	if d == nil {
		return "-"
	}
	return d.Duration.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
