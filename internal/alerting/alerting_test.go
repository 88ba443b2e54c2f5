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

package alerting

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"runbook-operator/internal/metrics"
)

// root is the repository's root, from this package's directory.
const root = "../.."

const testFile = "testdata/alerts_test.yaml"

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// promtool is Debian's (package prometheus), which CI installs (.ci/run).
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: it checks and unit-tests the shipped alert rules. Install Debian's prometheus package (apt-get install --no-install-recommends prometheus), as .ci/run does")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := Files(Defaults)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		if got := read(t, path); !bytes.Equal(got, want) {
			t.Errorf("%s differs from internal/alerting: run make alert-rules and commit it", path)
		}
	}
}

// rulesOf reads the groups of a rules file and of the PrometheusRule's spec.
func rulesOf(t *testing.T) (file, pr []Group) {
	t.Helper()
	var f struct {
		Groups []Group `yaml:"groups"`
	}
	if err := yaml.Unmarshal(read(t, RulesPath), &f); err != nil {
		t.Fatal(err)
	}
	var p struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups []Group `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(read(t, PrometheusRulePath), &p); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != "monitoring.coreos.com/v1" || p.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", PrometheusRulePath, p.APIVersion, p.Kind)
	}
	return f.Groups, p.Spec.Groups
}

func TestPrometheusRuleHoldsTheSameRules(t *testing.T) {
	file, pr := rulesOf(t)
	if len(file) == 0 || !reflect.DeepEqual(file, pr) {
		t.Fatalf("the PrometheusRule's groups differ from the rules file's:\n%v\n%v", pr, file)
	}
}

// promtool checks both the rules file and the PrometheusRule's spec (what the
// prometheus-operator gives Prometheus).
func TestPromtoolCheckRules(t *testing.T) {
	out := promtool(t, "check", "rules", filepath.Join(root, RulesPath))
	n := 0
	for _, g := range Groups(Defaults) {
		n += len(g.Rules)
	}
	if !strings.Contains(out, "SUCCESS: "+strconv.Itoa(n)+" rules found") {
		t.Errorf("promtool found other than %d rules:\n%s", n, out)
	}
	var p struct {
		Spec any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(read(t, PrometheusRulePath), &p); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prometheusrule-spec.yaml")
	if err := os.WriteFile(path, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := promtool(t, "check", "rules", path); !strings.Contains(out, "SUCCESS: "+strconv.Itoa(n)+" rules found") {
		t.Errorf("promtool on the PrometheusRule's spec:\n%s", out)
	}
}

// The unit tests cover every alert, each both firing and not firing.
func TestPromtoolTestRules(t *testing.T) {
	start := time.Now()
	out := promtool(t, "test", "rules", testFile)
	t.Logf("promtool test rules: %s in %v", strings.Join(strings.Fields(out), " "), time.Since(start).Round(time.Millisecond))

	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	b, err := os.ReadFile(testFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]int{}, map[string]int{}
	for _, g := range tf.Tests {
		for _, c := range g.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				firing[c.Alertname]++
			} else {
				quiet[c.Alertname]++
			}
		}
	}
	for _, g := range Groups(Defaults) {
		for _, r := range g.Rules {
			if firing[r.Alert] == 0 || quiet[r.Alert] == 0 {
				t.Errorf("%s: %d firing and %d not-firing cases in %s, want at least one of each", r.Alert, firing[r.Alert], quiet[r.Alert], testFile)
			}
		}
	}
}

// Every alert says how bad it is, what happened and where the README says what to do.
func TestEveryAlertHasSeverityAnnotationsAndARunbookSection(t *testing.T) {
	readme := string(read(t, "README.md"))
	start := strings.Index(readme, "\n## Alerts\n")
	if start < 0 {
		t.Fatal("README.md has no ## Alerts section")
	}
	alerts := readme[start+1:]
	if i := strings.Index(alerts[1:], "\n## "); i >= 0 {
		alerts = alerts[:i+1]
	}
	for _, g := range Groups(Defaults) {
		for _, r := range g.Rules {
			if s := r.Labels["severity"]; s != critical && s != warning {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s has no %s", r.Alert, a)
				}
			}
			// GitHub's anchor of a heading "### RunbookX" is "runbookx".
			if want := "README.md#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			section := regexp.MustCompile(`(?m)^### ` + r.Alert + `\n\n(\S.*)`).FindStringSubmatch(alerts)
			if section == nil {
				t.Errorf("README's Alerts section has no paragraph under ### %s", r.Alert)
			}
		}
	}
}

// The reconcile-errors alert selects the manager's controllers by name.
func TestControllersAreTheManagers(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(root, "internal/controller/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`\bNamed\("([a-z0-9-]+)"\)`)
	var got []string
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(b), -1) {
			got = append(got, m[1])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, Controllers) {
		t.Fatalf("internal/controller names controllers %v, the alert selects %v", got, Controllers)
	}
}

// served is what the manager serves: internal/metrics' metrics and controller-runtime's
// own, gathered after a real (unmanaged, watchless) controller started, as the
// manager's do, and made its series.
func served(t *testing.T) []string {
	t.Helper()
	c, err := controller.NewUnmanaged("alerting-served-metrics", controller.Options{
		Reconciler: reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
			return reconcile.Result{}, nil
		}),
		SkipNameValidation: ptr.To(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	names := metrics.ServedNames()
	deadline := time.Now().Add(10 * time.Second)
	for {
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var cr []string
		for _, f := range families {
			n := f.GetName()
			if f.GetType() == dto.MetricType_HISTOGRAM {
				cr = append(cr, n+"_bucket", n+"_sum", n+"_count")
			} else {
				cr = append(cr, n)
			}
		}
		if slices.Contains(cr, "controller_runtime_reconcile_errors_total") {
			names = append(names, cr...)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("controller-runtime's reconcile metrics did not appear after starting a controller")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestRulesReadOnlyServedMetrics(t *testing.T) {
	names := served(t)
	for _, g := range Groups(Defaults) {
		for _, r := range g.Rules {
			if len(MetricNames(r.Expr)) == 0 {
				t.Errorf("%s reads no metric: %s", r.Alert, r.Expr)
			}
			if bad := Unserved(r.Expr, names); len(bad) > 0 {
				t.Errorf("%s reads %v, which the manager does not serve", r.Alert, bad)
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`max by (namespace, database) (runbook_backup_schedule_info) unless on (namespace, database) runbook_backup_last_success_timestamp_seconds`: {"runbook_backup_last_success_timestamp_seconds", "runbook_backup_schedule_info"},
		`label_replace(time() > max by (namespace, incident, severity) (x_ts), "a", "$1", "severity", "(.*)")`:                                      {"x_ts"},
		`histogram_quantile(0.9, sum by (le) (rate(h_bucket{namespace=~"$namespace", le!="+Inf"}[$__rate_interval])))`:                              {"h_bucket"},
		`sum without (instance) (c_total offset 1h) > bool 2e3 and ignoring (job) d or on() vector(1)`:                                              {"c_total", "d"},
		`{__name__="hidden"}`: nil,
	} {
		if got := MetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("MetricNames(%s) = %v, want %v", expr, got, want)
		}
	}
	// A misspelt name is caught.
	if bad := Unserved(`time() - runbook_backup_last_succes_timestamp_seconds`, metrics.ServedNames()); !slices.Equal(bad, []string{"runbook_backup_last_succes_timestamp_seconds"}) {
		t.Errorf("Unserved missed a misspelt name: %v", bad)
	}
}
