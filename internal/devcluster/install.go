package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The install bundle's manager (config/default): its namespace, Deployment and the
// labels of its pods.
const (
	InstallNamespace  = "runbook-operator-system"
	InstallDeployment = "runbook-operator-controller-manager"
	ManagerContainer  = "manager"
)

// InstallManifests is dist/install.yaml for image img: make build-installer
// IMG=img (hack/build-installer.sh), decoded.
func InstallManifests(ctx context.Context, moduleRoot, img string, stderr io.Writer) ([]*unstructured.Unstructured, error) {
	cmd := exec.CommandContext(ctx, "hack/build-installer.sh", img)
	cmd.Dir = moduleRoot
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hack/build-installer.sh %s: %w", img, err)
	}
	return DecodeManifests(out.Bytes())
}

// DecodeManifests returns every object of a multi-document YAML.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(u.Object) != 0 {
			objs = append(objs, u)
		}
	}
}

// Kubectl is the real kubectl hack/test-binaries.sh builds beside kube-apiserver
// (the same Kubernetes release), or an error saying how to get it.
func (c *Cluster) Kubectl() (string, error) {
	bin := filepath.Join(c.AssetsDir, "kubectl")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("kubectl is missing in %s: hack/test-binaries.sh (make test-binaries) builds it: %w", c.AssetsDir, err)
	}
	return bin, nil
}

// ManifestsYAML is objs as one multi-document YAML, as dist/install.yaml is written.
func ManifestsYAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for _, u := range objs {
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// KubectlApply runs the install's command with the real kubectl, as docs/install.md
// shows it: objs written to an install.yaml in a temporary folder, then `kubectl apply
// --server-side -f install.yaml` against the devcluster. --force-conflicts is the one
// addition: the devcluster created the CRDs itself (envtest's CRD install, another
// field manager than kubectl), which a user's cluster never has; an older install's
// CRDs differ from them, and server-side apply would refuse to take those fields
// over. kubectl's output goes to out.
func (c *Cluster) KubectlApply(ctx context.Context, objs []*unstructured.Unstructured, out io.Writer) error {
	kubectl, err := c.Kubectl()
	if err != nil {
		return err
	}
	data, err := ManifestsYAML(objs)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "install-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	file := filepath.Join(dir, "install.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	args := []string{"--kubeconfig", c.Kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", file}
	cmd := exec.CommandContext(ctx, kubectl, args...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, &errOut)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// HelmBinary is the helm hack/test-binaries.sh builds from source: $HELM_BIN (the
// Makefile exports it) or what `hack/test-binaries.sh --print-helm` prints, or an
// error saying how to get it.
func HelmBinary(ctx context.Context, moduleRoot string) (string, error) {
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		cmd := exec.CommandContext(ctx, "hack/test-binaries.sh", "--print-helm")
		cmd.Dir = moduleRoot
		b, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("hack/test-binaries.sh --print-helm: %w", err)
		}
		bin = strings.TrimSpace(string(b))
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("helm is missing at %s: hack/test-binaries.sh (make test-binaries) builds it: %w", bin, err)
	}
	return bin, nil
}

// Helm runs helm against the devcluster from moduleRoot (where charts/ is), with
// configuration and cache folders of its own (the user's helm repositories and
// plugins never matter). Its output goes to out.
func (c *Cluster) Helm(ctx context.Context, helm, moduleRoot string, out io.Writer, args ...string) error {
	home, err := os.MkdirTemp("", "helm-home-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(home) }()
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig,
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, &errOut)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// HelmInstallArgs are the arguments of `helm install` of charts/runbook-operator as
// docs/install.md shows it, as release runbook-operator in InstallNamespace (so its
// Deployment is InstallDeployment, as with install.yaml), with image img and the
// manager's extra args.
func HelmInstallArgs(img string, extraArgs ...string) ([]string, error) {
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") {
		return nil, fmt.Errorf("image %q has no tag", img)
	}
	repo, tag := img[:i], img[i+1:]
	args := []string{"install", "runbook-operator", "charts/runbook-operator",
		"--namespace", InstallNamespace, "--create-namespace",
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag}
	if len(extraArgs) > 0 {
		b, err := json.Marshal(extraArgs)
		if err != nil {
			return nil, err
		}
		args = append(args, "--set-json", "extraArgs="+string(b))
	}
	return append(args, "--wait", "--timeout", "3m"), nil
}

// EditManager changes the manager container of the bundle's Deployment in objs:
// its image (and AGENT_IMAGE, as make build-installer IMG= does) when img is not
// empty, and args appended (a later flag wins over an earlier one).
func EditManager(objs []*unstructured.Unstructured, img string, args ...string) error {
	for _, u := range objs {
		if u.GetKind() != "Deployment" || u.GetName() != InstallDeployment {
			continue
		}
		containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if err != nil {
			return err
		}
		for _, c := range containers {
			c, ok := c.(map[string]any)
			if !ok || c["name"] != ManagerContainer {
				continue
			}
			if img != "" {
				c["image"] = img
				env, _ := c["env"].([]any)
				for _, e := range env {
					if e, ok := e.(map[string]any); ok && e["name"] == "AGENT_IMAGE" {
						e["value"] = img
					}
				}
			}
			old, _ := c["args"].([]any)
			for _, a := range args {
				old = append(old, a)
			}
			c["args"] = old
		}
		return unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers")
	}
	return fmt.Errorf("no Deployment %s in the manifests", InstallDeployment)
}

// InstallClient is a client for the bundle's objects (unstructured) and the apps
// types that WaitManagerAvailable reads.
func (c *Cluster) InstallClient() (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(c.RESTConfig, client.Options{Scheme: scheme})
}

// ManagerAvailable reports whether the bundle's manager Deployment has rolled out
// its current template with its one replica available, and nothing else running.
func ManagerAvailable(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 1 &&
		d.Status.AvailableReplicas == 1 && d.Status.Replicas == 1
}

// WaitManagerAvailable waits up to within until ManagerAvailable.
func WaitManagerAvailable(ctx context.Context, cl client.Client, within time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, within, true, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		getErr := cl.Get(ctx, client.ObjectKey{Namespace: InstallNamespace, Name: InstallDeployment}, d)
		if getErr == nil {
			last = fmt.Sprintf("%d replicas, %d updated, %d available", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
			return ManagerAvailable(d), nil
		}
		last = getErr.Error() // not created yet, or the API server busy: poll again
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the manager Deployment %s/%s is not available after %s (%s): %w", InstallNamespace, InstallDeployment, within, last, err)
	}
	return nil
}
