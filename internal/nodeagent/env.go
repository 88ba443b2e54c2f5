package nodeagent

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ObjectSource reads the Secrets and ConfigMaps that environment variables refer to.
// A missing object is reported with an error for which apierrors.IsNotFound is true.
type ObjectSource interface {
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}

// RuntimeInfo is what the node knows about a pod that the pod spec does not say.
type RuntimeInfo struct {
	PodIP    string
	HostIP   string
	NodeName string
	// Allocatable is used for resourceFieldRef when the container sets no limit.
	Allocatable corev1.ResourceList
}

// EnvVar is one resolved environment variable.
type EnvVar struct {
	Name, Value string
}

// ResolveEnv computes a container's environment as the kubelet does: envFrom sources
// in order, then env entries (overriding), with $(VAR) references in values expanded
// against the variables defined before them. Missing non-optional Secrets, ConfigMaps
// or keys are errors (the kubelet's CreateContainerConfigError).
func ResolveEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src ObjectSource, info RuntimeInfo) ([]EnvVar, error) {
	var out []EnvVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, EnvVar{Name: name, Value: value})
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}

	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.SecretRef != nil:
			s, err := src.Secret(ctx, pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
		case from.ConfigMapRef != nil:
			cm, err := src.ConfigMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		}
		for _, k := range sortedKeys(data) {
			name := from.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				continue // the kubelet skips invalid names (and records an event)
			}
			set(name, data[k])
		}
	}

	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, Expand(e.Value, lookup))
			continue
		}
		v, ok, err := resolveValueFrom(ctx, pod, c, e, src, info)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	return out, nil
}

func resolveValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, src ObjectSource, info RuntimeInfo) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s, err := src.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q: %w", ref.Name, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if v, ok := s.StringData[ref.Key]; ok {
			return v, true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q: %w", ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case vf.FieldRef != nil:
		v, err := fieldValue(pod, vf.FieldRef.FieldPath, info)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceValue(c, vf.ResourceFieldRef, info)
		return v, err == nil, err
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

func fieldValue(pod *corev1.Pod, path string, info RuntimeInfo) (string, error) {
	if strings.HasPrefix(path, "metadata.labels['") && strings.HasSuffix(path, "']") {
		return pod.Labels[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.labels['"), "']")], nil
	}
	if strings.HasPrefix(path, "metadata.annotations['") && strings.HasSuffix(path, "']") {
		return pod.Annotations[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.annotations['"), "']")], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		if info.NodeName != "" {
			return info.NodeName, nil
		}
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return info.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return info.HostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector, info RuntimeInfo) (string, error) {
	var q resource.Quantity
	var found bool
	parts := strings.SplitN(ref.Resource, ".", 2)
	if len(parts) != 2 {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	name := corev1.ResourceName(parts[1])
	switch parts[0] {
	case "limits":
		q, found = c.Resources.Limits[name]
	case "requests":
		q, found = c.Resources.Requests[name]
	default:
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	if !found {
		q, found = info.Allocatable[name]
	}
	if !found {
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == corev1.ResourceCPU {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// Expand replaces $(VAR) references with the values lookup knows, as the kubelet does
// for env values, commands and args: "$$" is an escaped "$", unknown references stay
// as they are.
func Expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// ExpandAll expands every string against env.
func ExpandAll(in []string, env []EnvVar) []string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Expand(s, lookup)
	}
	return out
}

func optional(b *bool) bool { return b != nil && *b }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EnvContext is what ContainerEnv adds to a container's own environment.
type EnvContext struct {
	PodIP          string
	PodDir         string
	TerminationLog string
	// Path are folders put before the host PATH (the image's own, ImageMapping.Path).
	Path []string
}

// ContainerEnv returns the full process environment: PATH (the image's folders, then
// the host's), the variables the node agent provides (HOSTNAME, POD_IP, POD_NAME,
// POD_NAMESPACE, HOME and TMPDIR in the pod folder, RUNBOOK_TERMINATION_LOG, RUNBOOK_IMAGE, RUNBOOK_IMAGE_TAG), then the
// container's resolved env, which wins. Values naming the terminationMessagePath are
// rewritten to the host file.
func ContainerEnv(pod *corev1.Pod, c *corev1.Container, env []EnvVar, ec EnvContext) []string {
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	path = strings.Join(append(slices.Clone(ec.Path), path), string(os.PathListSeparator))
	vars := []EnvVar{
		{"PATH", path},
		{"HOSTNAME", hostname},
		{"HOME", ec.PodDir},
		{"TMPDIR", ec.PodDir},
		{"POD_IP", ec.PodIP},
		{"POD_NAME", pod.Name},
		{"POD_NAMESPACE", pod.Namespace},
		{TerminationLogEnv, ec.TerminationLog},
		{"RUNBOOK_IMAGE", c.Image},
		{"RUNBOOK_IMAGE_TAG", Tag(c.Image)},
	}
	vars = append(vars, env...)
	seen := map[string]int{}
	var out []string
	tpath := terminationMessagePath(c)
	for _, v := range vars {
		val := v.Value
		if ec.TerminationLog != "" {
			val = strings.ReplaceAll(val, tpath, ec.TerminationLog)
		}
		kv := v.Name + "=" + val
		if i, ok := seen[v.Name]; ok {
			out[i] = kv
			continue
		}
		seen[v.Name] = len(out)
		out = append(out, kv)
	}
	return out
}

// RewritePath replaces every occurrence of from in args by to.
func RewritePath(args []string, from, to string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, from, to)
	}
	return out
}
