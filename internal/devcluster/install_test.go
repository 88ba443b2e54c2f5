package devcluster

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// committedInstallYAML is the committed dist/install.yaml.
func committedInstallYAML(t *testing.T) []byte {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "dist/install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestEditManagerOfTheInstallBundle decodes the committed dist/install.yaml and sets
// the manager's image (AGENT_IMAGE with it) and extra args, touching nothing else.
func TestEditManagerOfTheInstallBundle(t *testing.T) {
	data := committedInstallYAML(t)
	deployment := func(t *testing.T, extra ...string) (*appsv1.Deployment, int) {
		t.Helper()
		objs, err := DecodeManifests(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(extra) > 0 {
			if err := EditManager(objs, "runbook-operator:dev", extra...); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range objs {
			if u.GetKind() == "Deployment" && u.GetName() == InstallDeployment {
				d := &appsv1.Deployment{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
					t.Fatal(err)
				}
				return d, len(objs)
			}
		}
		t.Fatalf("no Deployment %s", InstallDeployment)
		return nil, 0
	}
	before, n := deployment(t)
	after, m := deployment(t, "--metrics-secure=false", "--progress-interval=1s")
	if n < 10 || m != n {
		t.Errorf("%d objects, %d after the edit", n, m)
	}
	if before.Namespace != InstallNamespace {
		t.Errorf("namespace %q", before.Namespace)
	}
	c, b := after.Spec.Template.Spec.Containers[0], before.Spec.Template.Spec.Containers[0]
	if c.Name != ManagerContainer || c.Image != "runbook-operator:dev" || b.Image == c.Image {
		t.Errorf("container %s image %q (was %q)", c.Name, c.Image, b.Image)
	}
	if want := append(slices.Clone(b.Args), "--metrics-secure=false", "--progress-interval=1s"); !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	agent := ""
	for _, e := range c.Env {
		if e.Name == "AGENT_IMAGE" {
			agent = e.Value
		}
	}
	if agent != "runbook-operator:dev" {
		t.Errorf("AGENT_IMAGE %q", agent)
	}
	c.Image, c.Args, c.Env = b.Image, b.Args, b.Env
	after.Spec.Template.Spec.Containers[0] = c
	if !equalJSON(t, before, after) {
		t.Error("EditManager changed more than the image, AGENT_IMAGE and args")
	}

	if err := EditManager(nil, "x"); err == nil {
		t.Error("no error without the Deployment")
	}
	if _, err := DecodeManifests([]byte("kind: [")); err == nil {
		t.Error("bad YAML decoded")
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ua, err := runtime.DefaultUnstructuredConverter.ToUnstructured(a)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(ua, ub)
}

// TestManifestsYAMLRoundTrip writes the committed dist/install.yaml's objects as the
// file KubectlApply hands to kubectl and reads them back unchanged.
func TestManifestsYAMLRoundTrip(t *testing.T) {
	data := committedInstallYAML(t)
	objs, err := DecodeManifests(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ManifestsYAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeManifests(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(objs) || len(objs) < 5 {
		t.Fatalf("%d objects written, %d read back", len(objs), len(back))
	}
	for i := range objs {
		if !reflect.DeepEqual(objs[i].Object, back[i].Object) {
			t.Errorf("object %d (%s %s) changed", i, objs[i].GetKind(), objs[i].GetName())
		}
	}
}

func TestHelmInstallArgs(t *testing.T) {
	for _, tc := range []struct {
		img     string
		extra   []string
		want    []string
		wantErr bool
	}{
		{img: "example.test:5000/ops/runbook-operator:v1", want: []string{"install", "runbook-operator", "charts/runbook-operator",
			"--namespace", InstallNamespace, "--create-namespace",
			"--set", "image.repository=example.test:5000/ops/runbook-operator", "--set", "image.tag=v1", "--wait", "--timeout", "3m"}},
		{img: "runbook-operator:dev", extra: []string{"--alertmanager-url=http://127.0.0.1:9093", `--x="y"`}, want: []string{"install", "runbook-operator", "charts/runbook-operator",
			"--namespace", InstallNamespace, "--create-namespace",
			"--set", "image.repository=runbook-operator", "--set", "image.tag=dev",
			"--set-json", `extraArgs=["--alertmanager-url=http://127.0.0.1:9093","--x=\"y\""]`, "--wait", "--timeout", "3m"}},
		{img: "example.test:5000/runbook-operator", wantErr: true},
		{img: "runbook-operator", wantErr: true},
	} {
		got, err := HelmInstallArgs(tc.img, tc.extra...)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.img, err, tc.wantErr)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.img, got, tc.want)
		}
	}
}

func TestKubectlMissingSaysHowToGetIt(t *testing.T) {
	c := &Cluster{AssetsDir: t.TempDir()}
	if _, err := c.Kubectl(); err == nil || !strings.Contains(err.Error(), "hack/test-binaries.sh") {
		t.Errorf("Kubectl() error %v, want one naming hack/test-binaries.sh", err)
	}
}
