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

package install_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"runbook-operator/internal/helmchart"
)

// The chart (charts/runbook-operator) and what it must render like: with the default
// values, release runbook-operator in namespace runbook-operator-system, the objects
// of dist/install.yaml but its Namespace (helm install --create-namespace makes it).
const (
	chartDir         = "charts/runbook-operator"
	releaseName      = "runbook-operator"
	releaseNamespace = "runbook-operator-system"
)

// helmBin is helm, as hack/test-binaries.sh builds it (make exports HELM_BIN).
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		out, err := exec.Command("bash", filepath.Join(repo, "hack/test-binaries.sh"), "--print-helm").Output()
		if err != nil {
			t.Fatalf("hack/test-binaries.sh --print-helm: %v", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm is not built (%v): run make test-binaries, which builds it from source", err)
	}
	return bin
}

// helm runs helm with its configuration, cache and data in a temporary folder, and
// returns its standard output; it fails the test when helm does unless wantErr.
func helm(t *testing.T, wantErr bool, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if (err != nil) != wantErr {
		t.Fatalf("helm %s: %v (want error: %v)\n%s%s", strings.Join(args, " "), err, wantErr, stdout.Bytes(), stderr.Bytes())
	}
	if wantErr {
		return stderr.Bytes()
	}
	return stdout.Bytes()
}

// render is helm template of the chart with a values file (none when values is "").
func render(t *testing.T, values string) []map[string]any {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--include-crds"}
	if values != "" {
		// helm splits --values at commas: t.TempDir holds the test's name.
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	objs, err := helmchart.Objects(helm(t, false, args...))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func key(o map[string]any) string {
	m, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%s %s/%s", o["kind"], m["namespace"], m["name"])
}

func byKey(t *testing.T, objs []map[string]any) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	for _, o := range objs {
		k := key(o)
		if _, dup := m[k]; dup {
			t.Errorf("%s twice", k)
		}
		m[k] = o
	}
	return m
}

// labelsOfTheTools are the labels kustomize's config/ and the chart's helpers set:
// they differ between the two by design. Selectors are checked apart (selectorsAgree).
var labelsOfTheTools = []string{"app.kubernetes.io/name", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
	"app.kubernetes.io/version", "helm.sh/chart", "control-plane"}

// normalize drops what may differ between the installer's and the chart's object:
// the tools' labels, the selectors (checked apart) and empty fields ("volumes: []").
func normalize(o map[string]any) any {
	o = runtime.DeepCopyJSON(o)
	dropLabels := func(m map[string]any) {
		if l, ok := m["labels"].(map[string]any); ok {
			for _, k := range labelsOfTheTools {
				delete(l, k)
			}
		}
	}
	meta, _ := o["metadata"].(map[string]any)
	dropLabels(meta)
	spec, _ := o["spec"].(map[string]any)
	switch o["kind"] {
	case "Deployment":
		delete(spec, "selector")
		tmpl, _ := spec["template"].(map[string]any)
		tmeta, _ := tmpl["metadata"].(map[string]any)
		delete(tmeta, "labels")
	case "Service":
		delete(spec, "selector")
	}
	return prune(o)
}

// prune removes empty maps and lists, recursively.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = prune(e)
			if e == nil {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		if len(v) == 0 {
			return nil
		}
	case []any:
		for i, e := range v {
			v[i] = prune(e)
		}
		if len(v) == 0 {
			return nil
		}
	}
	return v
}

// drift lists how the chart's objects differ from the installer's: a missing or
// extra object, or a field of one (rules, subjects, CRD schemas, the containers'
// args, env, probes, resources and securityContext, ...).
func drift(installer, chart []map[string]any) []string {
	want, got := map[string]any{}, map[string]any{}
	for _, o := range installer {
		if o["kind"] != "Namespace" {
			want[key(o)] = normalize(o)
		}
	}
	for _, o := range chart {
		got[key(o)] = normalize(o)
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, "missing from the chart: "+k)
		case !reflect.DeepEqual(want[k], g):
			out = append(out, k+" (-install.yaml +chart):\n"+cmp.Diff(want[k], g))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, "not in install.yaml: "+k)
		}
	}
	return out
}

func installObjects(t *testing.T) []map[string]any {
	t.Helper()
	objs, err := helmchart.Objects(installYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func typed[T any](t *testing.T, o map[string]any) T {
	t.Helper()
	var v T
	b, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", key(o), err)
	}
	return v
}

func find(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if m, _ := o["metadata"].(map[string]any); o["kind"] == kind && m["name"] == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, len(objs))
	return nil
}

func kinds(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestHelmLint: helm lint --strict passes on the chart with its defaults and with
// every value set.
func TestHelmLint(t *testing.T) {
	helm(t, false, "lint", "--strict", chartDir)
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(everyValue), 0o644); err != nil {
		t.Fatal(err)
	}
	helm(t, false, "lint", "--strict", chartDir, "--values", f)
}

// TestHelmChartIsGenerated: the chart's crds/ and templates/rbac.yaml are what make
// helm-chart writes from dist/install.yaml today (no stale CRD file either).
func TestHelmChartIsGenerated(t *testing.T) {
	files, err := helmchart.Generate(installYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(repo, chartDir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s is not what make helm-chart writes (%v): run make helm-chart and commit it", chartDir, rel, err)
		}
	}
	onDisk, _ := filepath.Glob(filepath.Join(repo, chartDir, helmchart.CRDDir, "*"))
	for _, f := range onDisk {
		if _, ok := files[helmchart.CRDDir+"/"+filepath.Base(f)]; !ok {
			t.Errorf("%s is not generated from install.yaml: remove it (make helm-chart does)", f)
		}
	}
}

// TestHelmChartMatchesInstaller: helm template with the default values gives the
// objects of dist/install.yaml: same kinds and names, CRDs, RBAC rules and subjects,
// the manager's command, args, env, probes, resources and security contexts.
func TestHelmChartMatchesInstaller(t *testing.T) {
	installer, chart := installObjects(t), render(t, "")
	byKey(t, chart)
	if d := drift(installer, chart); len(d) > 0 {
		t.Fatalf("the chart's defaults drifted from dist/install.yaml:\n%s", strings.Join(d, "\n"))
	}
	selectorsAgree(t, installer, chart)
}

// selectorsAgree: the chart's Deployment selects its pods, its Service selects them
// too, and both select at least by the installer's labels (which docs and tests use to
// find the manager pod).
func selectorsAgree(t *testing.T, installer, chart []map[string]any) {
	t.Helper()
	want := typed[appsv1.Deployment](t, kinds(installer, "Deployment")[0])
	d := typed[appsv1.Deployment](t, kinds(chart, "Deployment")[0])
	svc := typed[corev1.Service](t, kinds(chart, "Service")[0])
	sel := d.Spec.Selector.MatchLabels
	for k, v := range want.Spec.Selector.MatchLabels {
		if sel[k] != v {
			t.Errorf("the chart's selector %v lacks install.yaml's %s=%s", sel, k, v)
		}
	}
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the pod template's labels %v lack the selector's %s=%s", d.Spec.Template.Labels, k, v)
		}
	}
	if !maps.Equal(svc.Spec.Selector, sel) {
		t.Errorf("the metrics Service selects %v, the Deployment %v", svc.Spec.Selector, sel)
	}
}

// TestDriftIsFound: the comparison fails on a change to a rule, an arg, the security
// context or the set of objects (so that TestHelmChartMatchesInstaller can fail).
func TestDriftIsFound(t *testing.T) {
	installer := installObjects(t)
	for name, change := range map[string]func(objs []map[string]any) []map[string]any{
		"a verb of the manager's ClusterRole": func(objs []map[string]any) []map[string]any {
			r := find(t, objs, "ClusterRole", "runbook-operator-manager-role")
			rule := r["rules"].([]any)[0].(map[string]any)
			rule["verbs"] = rule["verbs"].([]any)[1:]
			return objs
		},
		"an arg of the manager": func(objs []map[string]any) []map[string]any {
			c := deploymentContainer(find(t, objs, "Deployment", "runbook-operator-controller-manager"))
			c["args"] = append(c["args"].([]any), "--watch-namespaces=x")
			return objs
		},
		"the read-only root": func(objs []map[string]any) []map[string]any {
			c := deploymentContainer(find(t, objs, "Deployment", "runbook-operator-controller-manager"))
			c["securityContext"].(map[string]any)["readOnlyRootFilesystem"] = false
			return objs
		},
		"an object less": func(objs []map[string]any) []map[string]any {
			return slices.DeleteFunc(objs, func(o map[string]any) bool { return o["kind"] == "Service" })
		},
		"a label that is not the tools'": func(objs []map[string]any) []map[string]any {
			r := find(t, objs, "ClusterRole", "runbook-operator-release-viewer-role")
			r["metadata"].(map[string]any)["labels"].(map[string]any)["rbac.authorization.k8s.io/aggregate-to-view"] = "true"
			return objs
		},
	} {
		t.Run(name, func(t *testing.T) {
			chart := make([]map[string]any, 0, len(installer))
			for _, o := range installer {
				if o["kind"] != "Namespace" { // helm install --create-namespace makes it
					chart = append(chart, runtime.DeepCopyJSON(o))
				}
			}
			if d := drift(installer, chart); len(d) > 0 {
				t.Fatalf("install.yaml differs from itself: %v", d)
			}
			if d := drift(installer, change(chart)); len(d) == 0 {
				t.Fatal("the change went unnoticed")
			}
		})
	}
}

func deploymentContainer(d map[string]any) map[string]any {
	return d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
}

// everyValue sets every value the chart has away from its default.
const everyValue = `
image:
  repository: registry.example/ops/runbook-operator
  tag: v9.9.9
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: IfNotPresent
imagePullSecrets: [{name: pull}]
fullnameOverride: rbo
replicaCount: 2
strategy: {type: Recreate}
watchNamespaces: [shop, billing]
leaderElection: {enabled: true, namespace: ops-leases}
metrics:
  enabled: true
  port: 9443
  secure: false
  serviceMonitor: {enabled: true, labels: {release: prom}, interval: 30s, insecureSkipVerify: true}
agent: {image: registry.example/ops/agent:v1, serviceAccount: backup-agent}
serviceAccount: {create: true, name: rbo-manager, annotations: {example.com/role: ops}}
extraArgs: [--incident-time-zone=Europe/Berlin]
extraEnv: [{name: TZ, value: UTC}]
resources: {requests: {cpu: 50m, memory: 128Mi}}
podSecurityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
podAnnotations: {example.com/a: b}
podLabels: {team: ops}
priorityClassName: system-cluster-critical
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]}}}
`

// TestHelmChartValues: each value reaches the manager's flags or the objects.
func TestHelmChartValues(t *testing.T) {
	t.Run("every value", testEveryValue)

	t.Run("secure metrics: the ServiceMonitor of config/prometheus", func(t *testing.T) {
		objs := render(t, "fullnameOverride: rbo\nmetrics: {serviceMonitor: {enabled: true, labels: {release: prom}, interval: 30s}}\n")
		svc := typed[corev1.Service](t, find(t, objs, "Service", "rbo-controller-manager-metrics-service"))
		if svc.Spec.Ports[0].Name != "https" {
			t.Errorf("metrics Service port named %q, want https", svc.Spec.Ports[0].Name)
		}
		checkServiceMonitor(t, objs, &svc, nil)
	})

	t.Run("metrics and leader election off", func(t *testing.T) {
		objs := render(t, "metrics: {enabled: false, serviceMonitor: {enabled: true}}\nleaderElection: {enabled: false}\n")
		c := typed[appsv1.Deployment](t, kinds(objs, "Deployment")[0]).Spec.Template.Spec.Containers[0]
		if want := []string{"--health-probe-bind-address=:8081"}; !slices.Equal(c.Args, want) {
			t.Errorf("args %q, want %q", c.Args, want)
		}
		if n := len(kinds(objs, "Service")) + len(kinds(objs, "ServiceMonitor")); n != 0 {
			t.Errorf("%d metrics Services or ServiceMonitors without metrics", n)
		}
	})

	t.Run("a tag and an existing ServiceAccount", func(t *testing.T) {
		objs := render(t, "image: {tag: v1.2.3}\nserviceAccount: {create: false, name: mine}\n")
		d := typed[appsv1.Deployment](t, kinds(objs, "Deployment")[0])
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "ghcr.io/runbook-operator/runbook-operator:v1.2.3" || c.Env[0].Value != c.Image || d.Spec.Template.Spec.ServiceAccountName != "mine" {
			t.Errorf("image %s, AGENT_IMAGE %s, ServiceAccount %s", c.Image, c.Env[0].Value, d.Spec.Template.Spec.ServiceAccountName)
		}
		if n := len(kinds(objs, "ServiceAccount")); n != 0 {
			t.Errorf("%d ServiceAccounts created with serviceAccount.create false", n)
		}
	})

	t.Run("no ServiceAccount to run as", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte("serviceAccount: {create: false}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		msg := helm(t, true, "template", releaseName, chartDir, "--values", f)
		if !bytes.Contains(msg, []byte("serviceAccount.name is required when serviceAccount.create is false")) {
			t.Errorf("helm template said %s", msg)
		}
	})
}

// testEveryValue renders the chart with every value set and checks each one arrives.
func testEveryValue(t *testing.T) {
	objs := render(t, everyValue)
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "rbo-controller-manager"))
	c := d.Spec.Template.Spec.Containers[0]
	const img = "registry.example/ops/runbook-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if c.Image != img || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s), want %s, the digest's, IfNotPresent", c.Image, c.ImagePullPolicy, img)
	}
	wantArgs := []string{"--metrics-bind-address=:9443", "--metrics-secure=false", "--leader-elect", "--leader-election-namespace=ops-leases",
		"--health-probe-bind-address=:8081", "--watch-namespaces=shop,billing", "--agent-service-account=backup-agent", "--incident-time-zone=Europe/Berlin"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args\n%q, want\n%q", c.Args, wantArgs)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %+v, want Recreate", d.Spec.Strategy)
	}
	wantEnv := []corev1.EnvVar{{Name: "AGENT_IMAGE", Value: "registry.example/ops/agent:v1"}, {Name: "TZ", Value: "UTC"}}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env %v, want %v", c.Env, wantEnv)
	}
	p := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || p.ServiceAccountName != "rbo-manager" || p.PriorityClassName != "system-cluster-critical" ||
		p.NodeSelector["kubernetes.io/os"] != "linux" || len(p.Tolerations) != 1 || p.Affinity == nil || p.Affinity.NodeAffinity == nil ||
		len(p.ImagePullSecrets) != 1 || *p.SecurityContext.RunAsUser != 65532 || c.Resources.Requests.Memory().String() != "128Mi" ||
		d.Spec.Template.Annotations["example.com/a"] != "b" || d.Spec.Template.Labels["team"] != "ops" {
		t.Errorf("the pod spec does not carry the values: %+v", p)
	}
	sa := typed[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", "rbo-manager"))
	if sa.Annotations["example.com/role"] != "ops" {
		t.Errorf("ServiceAccount annotations %v", sa.Annotations)
	}
	for _, b := range append(kinds(objs, "ClusterRoleBinding"), kinds(objs, "RoleBinding")...) {
		rb := typed[rbacv1.RoleBinding](t, b)
		if len(rb.Subjects) != 1 || rb.Subjects[0].Name != "rbo-manager" || rb.Subjects[0].Namespace != releaseNamespace || !strings.HasPrefix(rb.RoleRef.Name, "rbo-") {
			t.Errorf("%s binds %+v to %s", key(b), rb.Subjects, rb.RoleRef.Name)
		}
	}
	for _, kn := range [][2]string{{"Role", "rbo-leader-election-role"}, {"RoleBinding", "rbo-leader-election-rolebinding"}} {
		if r := find(t, objs, kn[0], kn[1]); r["metadata"].(map[string]any)["namespace"] != "ops-leases" {
			t.Errorf("%s is not in the Lease's namespace ops-leases", key(r))
		}
	}
	svc := typed[corev1.Service](t, find(t, objs, "Service", "rbo-controller-manager-metrics-service"))
	if svc.Spec.Ports[0].Port != 9443 || svc.Spec.Ports[0].TargetPort.IntValue() != 9443 {
		t.Errorf("metrics Service ports %+v, want 9443", svc.Spec.Ports)
	}
	if svc.Spec.Ports[0].Name != "http" {
		t.Errorf("metrics Service port named %q with metrics.secure false, want http", svc.Spec.Ports[0].Name)
	}
	// Plain HTTP: no TLS settings and no token for a server that asks for neither.
	checkServiceMonitor(t, objs, &svc, map[string]any{"path": "/metrics", "port": "http", "scheme": "http", "interval": "30s"})
}

// checkServiceMonitor: the chart's ServiceMonitor scrapes the pods the metrics
// Service selects, on its port, with the endpoint wantEP (nil: as
// config/prometheus/monitor.yaml does, with a 30s interval).
func checkServiceMonitor(t *testing.T, objs []map[string]any, svc *corev1.Service, wantEP map[string]any) {
	t.Helper()
	sm := find(t, objs, "ServiceMonitor", "rbo-controller-manager-metrics-monitor")
	if sm["metadata"].(map[string]any)["labels"].(map[string]any)["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v", sm["metadata"])
	}
	if wantEP == nil {
		monitor, err := os.ReadFile(filepath.Join(repo, "config/prometheus/monitor.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := yaml.Unmarshal(monitor, &cfg); err != nil {
			t.Fatal(err)
		}
		wantEP = cfg["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
		wantEP["interval"] = "30s"
	}
	gotEP := sm["spec"].(map[string]any)["endpoints"].([]any)[0]
	if diff := cmp.Diff(any(wantEP), gotEP); diff != "" {
		t.Errorf("the ServiceMonitor's endpoint differs (-want +chart):\n%s", diff)
	}
	if port := gotEP.(map[string]any)["port"]; port != svc.Spec.Ports[0].Name {
		t.Errorf("the ServiceMonitor scrapes port %v, the metrics Service's port is named %q", port, svc.Spec.Ports[0].Name)
	}
	if sel := sm["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"]; !reflect.DeepEqual(sel, toAny(svc.Spec.Selector)) {
		t.Errorf("the ServiceMonitor selects %v, the Service's pods are %v", sel, svc.Spec.Selector)
	}
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
