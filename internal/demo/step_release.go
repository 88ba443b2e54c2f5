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
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

// ReleaseName is the Release of the release step. Its Deployments are
// saas-next-web and saas-next-worker, apart from the restore step's saas-web etc.
const ReleaseName = "saas-next"

// ReleaseStep deploys the app with a Release at 1.0.0, upgrades it to 1.1.0 (a new
// migration) and then to 1.2.0, whose health check fails, and watches the automatic
// rollback to 1.1.0. It runs last: its migration changes the demo's database.
func ReleaseStep() Step {
	return Step{
		Name: "release", Title: "Deploy new versions, roll back a bad one: a Release", Needs: []string{"seed"},
		Timeout: 6 * time.Minute,
		Run:     deployReleases,
	}
}

// ReleaseSpecYAML is the spec of a Release of the app at tag: web (webReplicas pods of
// gunicorn) and the Celery worker on the database of Secret dbSecret, migrations with
// their plan, no pre-deploy backup, and verify (a flow mapping) as given. test/e2e's
// Release specs use it too.
func ReleaseSpecYAML(tag, dbSecret string, webReplicas int, verify string) string {
	return fmt.Sprintf(`
version: "%[1]s"
image: %[2]s
database: {secretRef: {name: %[3]s}}
backup: {enabled: false}
envFrom: [{secretRef: {name: %[4]s}}, {secretRef: {name: %[5]s}}]
env:
- {name: PGHOST, valueFrom: {secretKeyRef: {name: %[3]s, key: host}}}
- {name: PGPORT, valueFrom: {secretKeyRef: {name: %[3]s, key: port}}}
- {name: PGDATABASE, valueFrom: {secretKeyRef: {name: %[3]s, key: dbname}}}
- {name: PGUSER, valueFrom: {secretKeyRef: {name: %[3]s, key: user}}}
- {name: PGPASSWORD, valueFrom: {secretKeyRef: {name: %[3]s, key: password}}}
migrations: {command: [python, manage.py, migrate, --noinput], planCommand: [/usr/bin/python3, manage.py, showmigrations, --plan]}
components:
- {name: worker, command: [celery, -A, saas, worker]}
- {name: web, replicas: %[6]d, command: [gunicorn, saas.wsgi], ports: [{name: http, containerPort: 8000}]}
verify: %[7]s
`, tag, AppImage(tag), dbSecret, devcluster.DemoAppSecret, devcluster.DemoRedisSecret, webReplicas, verify)
}

// releaseVerify is the demo's short verification. Its checks start once every web pod
// is Ready (the web has no healthPath: its readiness probe is a TCP connect to its
// port, so gunicorn listens by then), and the window holds more checks than the
// threshold (a window that ends first deploys a failing revision); 1.2.0 rolls back
// within about 6 s.
const releaseVerify = "{path: /api/v1/health/, interval: 2s, window: 10s, failureThreshold: 3, progressDeadline: 2m}"

func releaseSpec(tag, dbSecret string) (opsv1alpha1.ReleaseSpec, error) {
	var spec opsv1alpha1.ReleaseSpec
	err := yaml.Unmarshal([]byte(ReleaseSpecYAML(tag, dbSecret, 2, releaseVerify)), &spec)
	return spec, err
}

func deployReleases(ctx context.Context, e *Env) error {
	e.Out.Say(`The runbook's "Deploy new version" was: back up, pull the image, run the migrations,
collectstatic, restart the web server and the workers, curl the health check, and roll
back by hand when it fails. A Release does it from its spec: a migration Job with the
new image (its plan recorded in status), then every component rolled out in turn, then
every web pod's %s checked for a window; a failed check rolls the components back to
the last good revision. Here Release %s deploys the app (web: 2 pods of gunicorn,
worker: celery) on database %s at 1.0.0; the pre-deploy backup is off (the backup step
showed one). A failed revision opens a P2 Incident that pages on-call (the next step).`, "/api/v1/health/", ReleaseName, e.Database)
	spec, err := releaseSpec("1.0.0", e.DBSecret)
	if err != nil {
		return err
	}
	// A failed revision opens a P2 Incident that pages PagerDuty (the incident step's
	// local receiver) before the rollback replaces its pods.
	pd, err := e.pagerDuty(ctx)
	if err != nil {
		return err
	}
	spec.Rollback.OpenIncident = opsv1alpha1.SeverityP2
	spec.Rollback.IncidentNotify = []opsv1alpha1.Notifier{{Name: "oncall", Type: opsv1alpha1.NotifierPagerDuty, URL: pd.URL(),
		SecretRef: opsv1alpha1.SecretKeyReference{Name: pagerDutySecret, Key: "routing-key"}}}
	rel := &opsv1alpha1.Release{
		TypeMeta:   metav1.TypeMeta{APIVersion: opsv1alpha1.GroupVersion.String(), Kind: "Release"},
		ObjectMeta: metav1.ObjectMeta{Name: ReleaseName, Namespace: e.Namespace},
		Spec:       spec,
	}
	if err := e.Apply(ctx, rel, rel.Spec); err != nil {
		return err
	}
	if _, err := e.watchRelease(ctx, "1.0.0", opsv1alpha1.ReleasePhaseDeployed); err != nil {
		return err
	}
	if err := e.checkServed(ctx, "1.0.0"); err != nil {
		return err
	}

	e.Out.Say("Version 1.1.0 adds a migration (subscriptions.0002_subscription_seats). Change the version and image in the spec (a GitOps commit does the same):")
	if err := e.setRelease(ctx, "1.1.0"); err != nil {
		return err
	}
	done, err := e.watchRelease(ctx, "1.1.0", opsv1alpha1.ReleasePhaseDeployed)
	if err != nil {
		return err
	}
	e.Out.Say("The migration plan the Release recorded before migrating (status.migrationPlan, last lines):")
	e.Out.Block(lastLines(done.Status.MigrationPlan, 3))
	if applied := done.Status.History[0].AppliedMigrations; !slices.Equal(applied, []string{"subscriptions.0002_subscription_seats"}) {
		return fmt.Errorf("revision 1.1.0 applied migrations %v, want subscriptions.0002_subscription_seats", applied)
	}
	e.Out.Check("1.1.0 applied migration subscriptions.0002_subscription_seats")
	if err := e.checkServed(ctx, "1.1.0"); err != nil {
		return err
	}

	e.Out.Say("Version 1.2.0 has a model field without its migration: its health check answers 503 (schema). Deploy it:")
	if err := e.setRelease(ctx, "1.2.0"); err != nil {
		return err
	}
	bad, err := e.watchRelease(ctx, "1.2.0", opsv1alpha1.ReleasePhaseRolledBack)
	if err != nil {
		return err
	}
	h := bad.Status.History[0]
	if h.Result != opsv1alpha1.RevisionRolledBack || bad.Status.StableVersion != "1.1.0" {
		return fmt.Errorf("1.2.0 ended %s with stable version %q, want RolledBack to 1.1.0", h.Result, bad.Status.StableVersion)
	}
	e.Out.Check("1.2.0 was rolled back to 1.1.0: %s", h.Message)
	if err := e.checkServed(ctx, "1.1.0"); err != nil {
		return err
	}
	if err := e.ShowTables(ctx, "releases"); err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s get release %s -o jsonpath='{.status.history}'", e.Namespace, ReleaseName)
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-10s %s\n", "VERSION", "RESULT", "MIGRATIONS")
	for _, r := range bad.Status.History {
		fmt.Fprintf(&b, "%-8s %-10s %s\n", r.Version, r.Result, strings.Join(r.AppliedMigrations, ","))
	}
	e.Out.Block(b.String())
	events, err := e.Events(ctx, "Release", ReleaseName)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl -n %s events --for release/%s", e.Namespace, ReleaseName)
	e.Out.Block(bulleted(events))
	return nil
}

// setRelease changes the Release to tag, printing the patch a person would run.
func (e *Env) setRelease(ctx context.Context, tag string) error {
	spec, err := releaseSpec(tag, e.DBSecret)
	if err != nil {
		return err
	}
	e.Out.Command(`kubectl -n %s patch release %s --type merge -p '{"spec":{"version":"%s","image":"%s"}}'`, e.Namespace, ReleaseName, tag, spec.Image)
	cur := &opsv1alpha1.Release{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: ReleaseName}, cur); err != nil {
		return err
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Version, cur.Spec.Image = spec.Version, spec.Image
	return e.Client.Patch(ctx, cur, patch)
}

// watchRelease prints each phase and message change until the Release has acted on
// its spec at version and ended in want; another end (Failed, or Deployed when a
// rollback was wanted) is an error.
func (e *Env) watchRelease(ctx context.Context, version string, want opsv1alpha1.ReleasePhase) (*opsv1alpha1.Release, error) {
	e.Out.Say("Watching it (kubectl -n %s get release %s -w):", e.Namespace, ReleaseName)
	var last string
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		rel := &opsv1alpha1.Release{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: ReleaseName}, rel); err == nil {
			h := rel.Status.History
			current := rel.Status.ObservedGeneration == rel.Generation && len(h) > 0 && h[0].Version == version
			msg := conditionMessage(rel.Status.Conditions, opsv1alpha1.ConditionReady)
			if c := meta.FindStatusCondition(rel.Status.Conditions, opsv1alpha1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue {
				msg = c.Message
			}
			phase := string(rel.Status.Phase)
			if phase == "" {
				phase, msg = "(new)", "created; the controller has not written a status yet"
			}
			if line := strings.TrimRight(fmt.Sprintf("%-11s %s", phase, msg), " "); line != last {
				e.Out.Observe("%s", line)
				last = line
			}
			if current {
				switch rel.Status.Phase {
				case want:
					return rel, nil
				case opsv1alpha1.ReleasePhaseDeployed, opsv1alpha1.ReleasePhaseRolledBack, opsv1alpha1.ReleasePhaseFailed:
					return rel, fmt.Errorf("release %s at %s ended %s, want %s: %s", ReleaseName, version, rel.Status.Phase, want, msg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for release %s at %s to be %s: %w", ReleaseName, version, want, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// checkServed waits until every running web pod of the Release answers version on its
// health check with 200 and no other pod is left, then prints what each one answered.
func (e *Env) checkServed(ctx context.Context, version string) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var got []string
	for {
		var err error
		got, err = e.servedVersions(ctx)
		if err == nil && len(got) > 0 && !slices.ContainsFunc(got, func(s string) bool { return !strings.HasSuffix(s, " 200 "+version) }) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the web pods of %s answer %v, want 200 %s from each: %w", ReleaseName, got, version, context.Cause(ctx))
		case <-t.C:
		}
	}
	e.Out.Command("curl http://<each pod of %s-web>:8000/api/v1/health/", ReleaseName)
	e.Out.Block(strings.Join(got, "\n"))
	e.Out.Check("every web pod of %s answers 200 with version %s", ReleaseName, version)
	return nil
}

// servedVersions asks every web pod of the Release that is not being deleted for its
// health: "POD-IP STATUS VERSION" each.
func (e *Env) servedVersions(ctx context.Context) ([]string, error) {
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(e.Namespace), client.MatchingLabels{
		opsv1alpha1.LabelRelease: ReleaseName, opsv1alpha1.LabelComponent: "web"}); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Status.PodIP == "" {
			out = append(out, p.Name+" no IP yet")
			continue
		}
		url := fmt.Sprintf("http://%s/api/v1/health/", net.JoinHostPort(p.Status.PodIP, "8000"))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out = append(out, p.Status.PodIP+" unreachable")
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		var h struct{ Version string }
		_ = json.Unmarshal(body, &h)
		out = append(out, fmt.Sprintf("%-15s %d %s", p.Status.PodIP, resp.StatusCode, h.Version))
	}
	slices.Sort(out)
	return out, nil
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
