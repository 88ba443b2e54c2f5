package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// defaultVolumeMode is the mode of Secret, ConfigMap, downward API and projected
// files without one (the API's default, 0644).
const defaultVolumeMode = 0o644

// volumeMounts materialises the volumes the container mounts (once per pod: the
// containers of a pod share them) and returns them as binds into its root. Secret,
// ConfigMap, downward API and projected volumes are read-only, as the kubelet
// mounts them.
func (w *podWorker) volumeMounts(ctx context.Context, c corev1.Container) ([]JailMount, error) {
	pod := w.currentPod()
	var out []JailMount
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == vm.Name {
				vol = &pod.Spec.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("volumeMount %s: the pod has no volume of that name", vm.Name)
		}
		src, ro, err := w.volume(ctx, vol)
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", vol.Name, err)
		}
		if vm.SubPath != "" {
			rel := path.Clean("/" + vm.SubPath)
			src = filepath.Join(src, filepath.FromSlash(rel))
			if _, err := os.Lstat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil { //nolint:gosec // G301: an emptyDir's folder, written by the pod's user
					return nil, err
				}
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		out = append(out, JailMount{Source: src, Target: vm.MountPath, Dir: fi.IsDir(), ReadOnly: ro || vm.ReadOnly})
	}
	return out, nil
}

// volume returns the host folder of a pod volume, writing it the first time, and
// whether the kubelet would mount it read-only.
func (w *podWorker) volume(ctx context.Context, vol *corev1.Volume) (string, bool, error) {
	w.mu.Lock()
	dir, done := w.volumes[vol.Name]
	w.mu.Unlock()
	vs := vol.VolumeSource
	ro := vs.Secret != nil || vs.ConfigMap != nil || vs.DownwardAPI != nil || vs.Projected != nil
	if vs.HostPath != nil {
		return vs.HostPath.Path, false, nil
	}
	if done {
		return dir, ro, nil
	}
	dir = filepath.Join(w.dir, "volumes", vol.Name)
	if err := os.RemoveAll(dir); err != nil {
		return "", false, err
	}
	files, err := w.volumeFiles(ctx, vol)
	if err != nil {
		return "", false, err
	}
	mode := os.FileMode(0o755)
	if vs.EmptyDir != nil {
		mode = 0o777 // any user of the pod writes it
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return "", false, err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return "", false, err
	}
	if err := WriteVolumeFiles(dir, files); err != nil {
		return "", false, err
	}
	w.mu.Lock()
	if w.volumes == nil {
		w.volumes = map[string]string{}
	}
	w.volumes[vol.Name] = dir
	w.mu.Unlock()
	return dir, ro, nil
}

// VolumeFile is one file of a Secret, ConfigMap, downward API or projected volume.
type VolumeFile struct {
	Path string // relative, slash-separated
	Data []byte
	Mode os.FileMode
}

// WriteVolumeFiles writes files under dir, refusing paths that leave it.
func WriteVolumeFiles(dir string, files []VolumeFile) error {
	for _, f := range files {
		rel := path.Clean(f.Path)
		if rel == "." || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) {
			return fmt.Errorf("volume file path %q leaves the volume", f.Path)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil { //nolint:gosec // G301: readable as the files are
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // past the umask
			return err
		}
	}
	return nil
}

func (w *podWorker) volumeFiles(ctx context.Context, vol *corev1.Volume) ([]VolumeFile, error) {
	pod := w.currentPod()
	vs := vol.VolumeSource
	switch {
	case vs.EmptyDir != nil:
		return nil, nil
	case vs.Secret != nil:
		return w.secretFiles(ctx, vs.Secret.SecretName, vs.Secret.Items, vs.Secret.Optional, modeOr(vs.Secret.DefaultMode))
	case vs.ConfigMap != nil:
		return w.configMapFiles(ctx, vs.ConfigMap.Name, vs.ConfigMap.Items, vs.ConfigMap.Optional, modeOr(vs.ConfigMap.DefaultMode))
	case vs.DownwardAPI != nil:
		return w.downwardFiles(pod, vs.DownwardAPI.Items, modeOr(vs.DownwardAPI.DefaultMode))
	case vs.Projected != nil:
		def := modeOr(vs.Projected.DefaultMode)
		var out []VolumeFile
		for _, s := range vs.Projected.Sources {
			var files []VolumeFile
			var err error
			switch {
			case s.Secret != nil:
				files, err = w.secretFiles(ctx, s.Secret.Name, s.Secret.Items, s.Secret.Optional, def)
			case s.ConfigMap != nil:
				files, err = w.configMapFiles(ctx, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, def)
			case s.DownwardAPI != nil:
				files, err = w.downwardFiles(pod, s.DownwardAPI.Items, def)
			case s.ServiceAccountToken != nil:
				files, err = w.tokenFile(ctx, pod, s.ServiceAccountToken, def)
			default:
				err = fmt.Errorf("a projected source other than secret, configMap, downwardAPI and serviceAccountToken")
			}
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("the devcluster's node agent supports emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes")
}

func modeOr(m *int32) os.FileMode {
	if m == nil {
		return defaultVolumeMode
	}
	return os.FileMode(*m) & os.ModePerm //nolint:gosec // G115: a file mode fits
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, kind, name string, optional bool) ([]VolumeFile, error) {
	var out []VolumeFile
	if len(items) == 0 {
		for _, k := range sortedByteKeys(data) {
			out = append(out, VolumeFile{Path: k, Data: data[k], Mode: def})
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configuration of %s %q has no key %q", kind, name, it.Key)
		}
		out = append(out, VolumeFile{Path: it.Path, Data: v, Mode: modeOrDefault(it.Mode, def)})
	}
	return out, nil
}

func modeOrDefault(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return modeOr(m)
}

func (w *podWorker) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) ([]VolumeFile, error) {
	s, err := w.a.objects.Secret(ctx, w.currentPod().Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return keyFiles(data, items, def, "secret", name, ptr.Deref(optional, false))
}

func (w *podWorker) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) ([]VolumeFile, error) {
	cm, err := w.a.objects.ConfigMap(ctx, w.currentPod().Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(data, items, def, "configmap", name, ptr.Deref(optional, false))
}

func (w *podWorker) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) ([]VolumeFile, error) {
	info := RuntimeInfo{PodIP: w.ip, HostIP: w.a.opts.HostIP, NodeName: w.a.opts.NodeName, Allocatable: w.a.nodeCapacity()}
	var out []VolumeFile
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath, info)
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			v, err = resourceValue(c, it.ResourceFieldRef, info)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, VolumeFile{Path: it.Path, Data: []byte(v), Mode: modeOrDefault(it.Mode, def)})
	}
	return out, nil
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return &corev1.Container{}
}

// tokenFile asks the API server for the pod's ServiceAccount token, bound to the
// pod, as the kubelet does for a projected serviceAccountToken source.
func (w *podWorker) tokenFile(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, def os.FileMode) ([]VolumeFile, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := w.a.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token of ServiceAccount %q: %w", sa, err)
	}
	return []VolumeFile{{Path: src.Path, Data: []byte(tr.Status.Token), Mode: def}}, nil
}

func sortedByteKeys(m map[string][]byte) []string {
	s := make(map[string]string, len(m))
	for k := range m {
		s[k] = ""
	}
	return sortedKeys(s)
}
