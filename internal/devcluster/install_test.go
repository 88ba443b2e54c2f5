package devcluster

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestEditManagerOfTheInstallBundle decodes the committed dist/install.yaml and sets
// the manager's image (AGENT_IMAGE with it) and extra args, touching nothing else.
func TestEditManagerOfTheInstallBundle(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "dist/install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
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
