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

package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func allShown(t *testing.T) []Shown {
	t.Helper()
	pages, err := Pages(".")
	if err != nil {
		t.Fatal(err)
	}
	var all []Shown
	for _, p := range pages {
		s, err := ShownCommands(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	return all
}

// ranBy says what runs a command shown in the docs: a test's file (or the file of
// the program a test runs) and a string in it that is the command being run, with
// how; or, with notRun, why no test here runs it.
type ranBy struct {
	file, needle, how string
	notRun            string
}

// e2eDocs is the e2e spec that runs every `kubectl runbook …` command of the docs as
// written, and the other commands it lists in docsLiteral.
const e2eDocs = "test/e2e/docs_test.go"

// demoRuns is how for a command make demo prints: it does the same through the API
// and prints the command a person would type; TestDemo (test/e2e/demo_test.go)
// runs make demo's program to its end.
const demoRuns = "make demo prints it and does the same through the API (TestDemo runs the demo)"

// shownElsewhere is the reviewed list of the docs' commands other than `kubectl
// runbook …`. A command added to the docs needs an entry here (or in docsLiteral of
// test/e2e/docs_test.go); an entry whose command left the docs must go.
var shownElsewhere = map[string]ranBy{
	// The Helm chart (docs/install.md#install-with-helm).
	"helm install runbook-operator charts/runbook-operator --namespace runbook-operator-system --create-namespace --set image.repository=<registry>/runbook-operator --set image.tag=<tag> --wait --timeout 3m": {file: "test/e2e/helm_test.go", needle: `"install", helmRelease, "charts/runbook-operator"`, how: "with the devcluster's image, as release runbook-operator-helm in its own namespace"},
	"helm install runbook-operator charts/runbook-operator --namespace runbook-operator-system --create-namespace --set image.repository=<registry>/runbook-operator --set image.tag=<tag> --wait":              {file: "test/e2e/helm_test.go", needle: `"install", helmRelease, "charts/runbook-operator"`, how: "with the devcluster's image, as release runbook-operator-helm in its own namespace"},
	"helm uninstall runbook-operator --namespace runbook-operator-system --wait":                       {file: "test/e2e/helm_test.go", needle: `"uninstall", helmRelease`, how: "the release runbook-operator-helm"},
	"kubectl -n runbook-operator-system rollout status deployment/runbook-operator-controller-manager": {notRun: "the helm e2e waits with helm install --wait and checks the Deployment Available instead"},
	"kubectl apply --server-side -f charts/runbook-operator/crds/":                                     {notRun: "the devcluster installs the same CRDs from config/crd/bases (TestHelmChartIsGenerated checks crds/ is them)"},
	"helm upgrade runbook-operator charts/runbook-operator --namespace runbook-operator-system --reuse-values --set image.tag=<new tag> --wait": {file: "test/e2e/helm_test.go", needle: `"upgrade", helmRelease, "charts/runbook-operator", "--namespace", helmNamespace, "--reuse-values"`,
		how: "with --reuse-values and a changed value (extraArgs; the devcluster has one image, so not image.tag), as release runbook-operator-helm: the manager rolls and the objects keep working"},

	// Run as written by the docs e2e spec.
	`kubectl -n saas wait databasebackup/before-v2-4-0 --for=condition=Reconciling=False --timeout=1h`:                                       {file: e2eDocs, how: "after the backup is created"},
	`kubectl -n saas get databasebackup/before-v2-4-0 -o jsonpath='{.status.phase}: {.status.conditions[?(@.type=="Ready")].message}{"\n"}'`: {file: e2eDocs, how: "prints Completed"},
	`kubectl patch secretrotation saas-app-secrets --type merge -p "{\"spec\":{\"rotateRequest\":\"$(date -u +%FT%TZ)\"}}"`:                  {file: e2eDocs, how: "in namespace saas"},
	`kubectl annotate secretrotation saas-app-secrets --overwrite ops.runbook.dev/emergency-rotation=breach-$(date -u +%FT%TZ)`:              {file: e2eDocs, how: "in namespace saas"},
	`kubectl -n demo get databasebackups`:                           {file: e2eDocs, how: "on the devcluster's demo namespace"},
	`kubectl -n demo get databaserestores`:                          {file: e2eDocs, how: "on the devcluster's demo namespace"},
	`kubectl -n demo get releases`:                                  {file: e2eDocs, how: "on the devcluster's demo namespace"},
	`kubectl -n demo get incidents`:                                 {file: e2eDocs, how: "on the devcluster's demo namespace"},
	`kubectl -n demo get databasebackups,backupschedules,jobs,pods`: {file: e2eDocs, how: "on the devcluster's demo namespace"},

	// What make demo prints (docs/demo.md, rotation.md, the README's alerts).
	`kubectl -n demo logs job/seed`:                               {file: "internal/demo/step_seed.go", needle: `"kubectl -n %s logs job/%s"`, how: demoRuns},
	`psql saas_production`:                                        {file: "internal/demo/step_seed.go", needle: `"psql %s", e.Database`, how: demoRuns},
	`curl http://198.19.212.7:8000/api/v1/health/`:                {file: "internal/demo/step_restore.go", needle: `"curl %s", url`, how: demoRuns},
	`curl http://198.19.111.15:8000/api/v1/health/`:               {file: "internal/demo/step_restore.go", needle: `"curl %s", url`, how: demoRuns},
	`curl http://<each pod of saas-next-web>:8000/api/v1/health/`: {file: "internal/demo/step_release.go", needle: `"curl http://<each pod of %s-web>:8000/api/v1/health/"`, how: demoRuns},
	`kubectl -n demo patch release saas-next --type merge -p '{"spec":{"version":"1.2.0","image":"saas:1.2.0"}}'`:        {file: "internal/demo/step_release.go", needle: `patch release %s --type merge`, how: demoRuns},
	`kubectl -n demo get release saas-next -o jsonpath='{.status.history}'`:                                              {file: "internal/demo/step_release.go", needle: `get release %s -o jsonpath='{.status.history}'`, how: demoRuns},
	`kubectl -n demo patch incident saas-next-incident-950d1a0104 --type merge -p '{"spec":{"acknowledgedBy":"alice"}}'`: {file: "internal/demo/step_incident.go", needle: `patch incident %s --type merge -p '%s'`, how: demoRuns},
	`kubectl -n demo patch incident saas-next-incident-950d1a0104 --type merge -p '{"spec":{"resolution":"1.2.0 rolled back to 1.1.0 by the Release; the missing migration goes into 1.2.1"}}'`: {
		file: "internal/demo/step_incident.go", needle: `patch incident %s --type merge -p '%s'`, how: demoRuns},
	`kubectl -n demo get configmap saas-next-incident-950d1a0104-evidence-f5c6e1cb-0 saas-next-incident-950d1a0104-evidence-24126120-0 -o jsonpath='{.data.bundle}' | sha256sum`: {
		file: "internal/demo/step_incident.go", needle: `-o jsonpath='{.data.bundle}' | sha256sum`, how: demoRuns},
	`kubectl -n demo patch secretrotation saas-app-keys --type merge -p '{"spec":{"rotateRequest":"2026-12-01T11:30:13Z"}}'`: {file: "internal/demo/step_rotate.go", needle: `patch secretrotation %s --type merge`, how: demoRuns},
	`kubectl -n demo events --for secretrotation/saas-app-keys`:                                                              {file: "internal/demo/step_rotate.go", needle: `events --for secretrotation/%s`, how: demoRuns},
	`curl -s $PROMETHEUS_URL/api/v1/alerts`:                                                                                  {file: "internal/demo/step_alerts.go", needle: "`curl -s $PROMETHEUS_URL/api/v1/alerts", how: demoRuns},
	`make demo`:                                                                                                              {file: "test/e2e/demo_test.go", needle: `"--exit-when-done"`, how: "TestDemo runs make demo's program (cmd/demo) with --exit-when-done"},

	// Run in another form by a test.
	`make build-installer IMG=<registry>/runbook-operator:<tag>`: {file: "internal/devcluster/install.go", needle: `exec.CommandContext(ctx, "hack/build-installer.sh", img)`,
		how: "the install spec (test/e2e/install_test.go, through devcluster.InstallManifests) runs the target's script for the devcluster's image; test/install checks dist/install.yaml is its output"},
	`kubectl apply --server-side -f dist/install.yaml`: {file: "internal/devcluster/install.go", needle: `"apply", "--server-side", "--force-conflicts", "-f", file`,
		how: "the install and upgrade specs and make demo --operator-image run the real kubectl ($KUBEBUILDER_ASSETS/kubectl) on install.yaml for the devcluster's image written to a file (devcluster.KubectlApply); --force-conflicts because the devcluster created the CRDs itself"},
	`make demo DEMO_ARGS=--operator-image`:                  {notRun: "TestDemo runs the demo with the host-process manager only (the image option adds about 3.5 min to CI); the option's install path is devcluster.InstallManifests and KubectlApply, which the install and upgrade specs run, and it was run by hand (10 of 10 steps, 205 s)"},
	`make demo DEMO_ARGS="--operator-image --install=helm"`: {notRun: "as --operator-image, with helm install of the chart (devcluster.HelmInstallArgs, table-tested; the helm e2e spec runs helm install and helm upgrade of the same chart); run by hand (10 of 10 steps, 284 s), see docs/demo.md"},
	`make image IMG=<registry>/runbook-operator:<tag>`: {file: "internal/devcluster/build.go", needle: `"image", "IMG="+ref`,
		how: "every e2e run builds the operator's image with make image (devcluster.BuildImage)"},

	// Not run here, and why.
	`make test`: {notRun: "it is the test run itself"},
	`make image-push IMG=<registry>/runbook-operator:<tag>`:                       {notRun: "pushes to a registry: no registry and no network here (make image, which it runs first, is run)"},
	`docker load -i ~/.cache/runbook-operator/image/out/<key>/docker-archive.tar`: {notRun: "needs docker or podman: there is no container engine here"},
	`make plugin`:                          {notRun: "writes bin/ of the checkout; the e2e specs build the same package (./cmd/kubectl-runbook) into a folder of their own"},
	`make plugin-dist`:                     {notRun: "builds the release archives for every platform (minutes); not run by a test"},
	`cp bin/kubectl-runbook ~/.local/bin/`: {notRun: "writes into the reader's home; the e2e specs put the built plugin's folder on PATH instead, which is what it does"},
	`kubectl krew install --manifest=dist/plugin/runbook.yaml --archive=dist/plugin/kubectl-runbook_linux_amd64.tar.gz`: {notRun: "krew is not installed here"},
	`export KUBECONFIG=$PWD/.devcluster/kubeconfig`:                                                                     {notRun: "sets up the reader's shell for make demo's cluster; the e2e specs set KUBECONFIG to their devcluster's kubeconfig"},
	`source .devcluster/env`:                         {notRun: "sets up the reader's shell for make demo's cluster (internal/devcluster writes the file)"},
	`kubectl apply -f - <<'YAML'`:                    {notRun: "docs/backup.md's backup goes to a real bucket in eu-central-1 (no endpoint); the docs e2e spec creates before-v2-4-0 with the devcluster's endpoint and runs the two commands after it as written"},
	`kubectl get secretrotation saas-app-secrets -w`: {notRun: "watches until interrupted"},
	`kubectl -n demo wait databasebackup/good --for=condition=Reconciling=False --timeout=5m`:                                         {notRun: "a transcript of a session by hand on the devcluster (good and broken backups); test/e2e/databasebackup_test.go checks the same outcomes"},
	`kubectl -n demo wait databasebackup/broken --for=condition=Reconciling=False --timeout=5m`:                                       {notRun: "a transcript of a session by hand, as above"},
	`kubectl -n demo wait databasebackup/broken --for=condition=Ready --timeout=15s`:                                                  {notRun: "a transcript of a session by hand, as above"},
	`kubectl -n demo get databasebackup/broken -o jsonpath='{.status.phase}: {.status.conditions[?(@.type=="Ready")].message}{"\n"}'`: {notRun: "a transcript of a session by hand, as above"},
	`kubectl -n demo get secret demo-db -o json | jq '.metadata={name:"missing-db",namespace:"demo"} | .data.dbname=("no_such_db"|@base64)' | kubectl apply -f -`: {
		notRun: "the README's by-hand version of test/e2e/alerts_test.go (which makes the same Secret and failing backup through the API) on make devcluster's cluster"},
	`kubectl apply -f - <<EOF`:                   {notRun: "the README's by-hand failing backup, as above"},
	`tail -2 .devcluster/logs/alert-posts.jsonl`: {notRun: "reads make devcluster's log folder; test/e2e/alerts_test.go checks what Alertmanager posted"},
}

// Every command the docs show is run by a test, or listed with why not: the plugin's
// by test/e2e/docs_test.go (as written; its docsNotRun says which it does not run and
// why), the others as shownElsewhere says. The named files must still hold the run.
func TestEveryShownCommandIsRun(t *testing.T) {
	shown := allShown(t)
	if len(shown) < 50 {
		t.Fatalf("only %d commands found in the docs: is the extraction broken?", len(shown))
	}
	seen := map[string]bool{}
	for _, s := range shown {
		seen[s.Command] = true
		if s.IsPlugin() {
			continue // test/e2e/docs_test.go runs each as written
		}
		if _, ok := shownElsewhere[s.Command]; !ok {
			t.Errorf("%s:%d: %s\n\tis run by no test: run it as written in test/e2e/docs_test.go (docsLiteral), or add it to shownElsewhere in docs/commands_test.go with what runs it or why nothing can", s.Page, s.Line, s.Command)
		}
	}
	for cmd, r := range shownElsewhere {
		if !seen[cmd] {
			t.Errorf("shownElsewhere lists %q, which no page shows any more", cmd)
		}
		if r.notRun != "" {
			if r.file != "" {
				t.Errorf("%q: both run and not run", cmd)
			}
			continue
		}
		if r.file == "" || r.how == "" {
			t.Errorf("%q: no file or no how", cmd)
			continue
		}
		b, err := os.ReadFile(filepath.Join("..", r.file))
		if err != nil {
			t.Errorf("%q: %v", cmd, err)
			continue
		}
		needle := r.needle
		if r.file == e2eDocs {
			needle = "`" + cmd + "`" // docsLiteral holds the command as written
		}
		if !strings.Contains(string(b), needle) {
			t.Errorf("%q: %s no longer holds %s", cmd, r.file, needle)
		}
	}
	// The plugin's commands are run by the e2e spec, which reads them from the pages.
	b, err := os.ReadFile(filepath.Join("..", e2eDocs))
	if err != nil || !strings.Contains(string(b), "docs.ShownCommands(") {
		t.Errorf("%s no longer runs the docs' commands: %v", e2eDocs, err)
	}
}

func TestShownCommandsOfABlock(t *testing.T) {
	page := filepath.Join(t.TempDir(), "p.md")
	text := "intro `kubectl get pods`\n" +
		"```\n" +
		"kubectl runbook status          # a tree\n" +
		"# a comment\n" +
		"kubectl -n demo get secret x -o json \\\n" +
		"  | jq '.a # not a comment' | kubectl apply -f -\n" +
		"kubectl apply -f - <<'YAML'\n" +
		"kind: X\n" +
		"YAML\n" +
		"make test\n" +
		"```\n" +
		"```yaml\n" +
		"kubectl: not a command\n" +
		"```\n" +
		"```\n" +
		"NAME   PHASE\n" +
		"x      Done\n" +
		"```\n" +
		"```\n" +
		"  11:00  Running\n" +
		"  $ kubectl -n demo get databasebackups\n" +
		"  NAME\n" +
		"```\n"
	if err := os.WriteFile(page, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ShownCommands(page)
	if err != nil {
		t.Fatal(err)
	}
	want := []Shown{
		{page, 3, "kubectl runbook status", ""},
		{page, 5, `kubectl -n demo get secret x -o json | jq '.a # not a comment' | kubectl apply -f -`, ""},
		{page, 7, "kubectl apply -f - <<'YAML'", "kind: X\n"},
		{page, 10, "make test", ""},
		{page, 21, "kubectl -n demo get databasebackups", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d commands: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[2].Script(); s != "kubectl apply -f - <<'YAML'\nkind: X\nYAML\n" {
		t.Errorf("script: %q", s)
	}
	if !got[0].IsPlugin() || got[3].IsPlugin() {
		t.Error("IsPlugin")
	}
}
