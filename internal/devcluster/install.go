package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// ApplyManifests applies every object as `kubectl apply --server-side` does, without
// needing kubectl (make demo does not build it): server-side apply as kubectl's field
// manager, taking over fields another manager set.
func ApplyManifests(ctx context.Context, cl client.Client, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
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
