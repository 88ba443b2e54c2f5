package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"runbook-operator/internal/imagefs"
)

// pullError is an image the node cannot get: the kubelet's ErrImagePull, then
// ImagePullBackOff.
type pullError struct{ err error }

func (e *pullError) Error() string { return e.err.Error() }
func (e *pullError) Unwrap() error { return e.err }

// pullImage resolves the container's image in the mapping's layout and unpacks it
// (once per manifest digest; the Store checks a cached tree before its first use).
func (w *podWorker) pullImage(c corev1.Container, mapping ImageMapping) (*imagefs.Image, error) {
	img, err := imagefs.Resolve(mapping.Layout, c.Image)
	if err != nil {
		return nil, &pullError{err}
	}
	w.event(corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	un, err := w.a.images.Unpack(img)
	if err != nil {
		return nil, &pullError{fmt.Errorf("unpack %s: %w", c.Image, err)}
	}
	switch {
	case un.Reason != "":
		w.event(corev1.EventTypeWarning, "Pulled", "Image %q (%s): %s; unpacked it again in %s", c.Image, un.Digest, un.Reason, un.Took.Round(time.Millisecond))
	case un.Unpacked:
		w.event(corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q (%s): unpacked in %s", c.Image, un.Digest, un.Took.Round(time.Millisecond))
	default:
		w.event(corev1.EventTypeNormal, "Pulled", "Container image %q (%s) already present on machine", c.Image, un.Digest)
	}
	return un, nil
}

// prepareImage prepares a container of an unpacked image: its user, argv (the
// image's ENTRYPOINT and CMD as the container's command and args override them),
// environment (the image's, the cluster's, the container's), volumes and the jail
// it runs in.
func (w *podWorker) prepareImage(ctx context.Context, c corev1.Container, img *imagefs.Image, env []EnvVar, p *process, cdir string) error {
	pod := w.currentPod()
	uid, gid, err := RunAs(pod, &c, img.Config.User, img.Root)
	if err != nil {
		return err
	}
	if nonRoot(pod, &c) && uid == 0 {
		return errors.New("container has runAsNonRoot and image will run as root")
	}
	argv := ImageArgv(img.Config.Entrypoint, img.Config.Cmd, c.Command, c.Args)
	if len(argv) == 0 {
		return fmt.Errorf("image %s has no entrypoint and the container no command", c.Image)
	}
	argv = ExpandAll(argv, env)
	p.env = ImageEnv(pod, img.Config.Env, env, w.a.kubernetesEnv())

	mounts, err := w.volumeMounts(ctx, c)
	if err != nil {
		return err
	}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.RemoveAll(filepath.Join(cdir, d)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(cdir, d), 0o755); err != nil { //nolint:gosec // G301: the container's root
			return err
		}
	}
	// The termination log is written by the container's user.
	if err := os.Chown(p.termPath, int(uid), int(gid)); err != nil {
		return err
	}
	wd := c.WorkingDir
	if wd == "" {
		wd = img.Config.WorkingDir
	}
	j := Jail{
		Image: img.Root, Upper: filepath.Join(cdir, "upper"), Work: filepath.Join(cdir, "work"), Merged: filepath.Join(cdir, "root"),
		ReadOnly:       c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem,
		TerminationLog: p.termPath, TerminationPath: terminationMessagePath(&c),
		Mounts: mounts, UID: uid, GID: gid, WorkDir: wd, Hostname: podHostname(pod),
		NoNewPrivs: c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation,
	}
	script, err := j.Script(argv)
	if err != nil {
		return err
	}
	p.argv = argv
	p.jail = &jailed{uid: uid, gid: gid}
	p.cmd = exec.Command("/bin/sh", "-c", script, "container") //nolint:gosec // G204: running the pod's command is the node agent's job
	p.cmd.Env = p.env
	p.cmd.Dir = "/"
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	return nil
}

// podHostname is the host name the kubelet gives a pod's containers: spec.hostname,
// else the pod's name, at most 63 characters.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// jailed is what an exec probe needs to enter a running container of an image.
type jailed struct{ uid, gid int64 }

// nsenter returns command run inside the container of process pid: its mount
// namespace, root and working folder, as its user, with its environment.
func (j *jailed) nsenter(ctx context.Context, pid int, command, env []string) *exec.Cmd {
	args := append([]string{"--target", strconv.Itoa(pid), "--mount", "--root", "--wd",
		"--setuid", strconv.FormatInt(j.uid, 10), "--setgid", strconv.FormatInt(j.gid, 10), "--"}, command...)
	cmd := exec.CommandContext(ctx, "/usr/bin/nsenter", args...) //nolint:gosec // G204: running the pod's probe command is the node agent's job
	cmd.Env = env
	return cmd
}

// ImageArgv is the process a container of an image runs: the container's command
// replaces the ENTRYPOINT (and drops CMD); its args replace CMD.
func ImageArgv(entrypoint, cmd, command, args []string) []string {
	if len(command) > 0 {
		return append(append([]string{}, command...), args...)
	}
	if len(args) > 0 {
		return append(append([]string{}, entrypoint...), args...)
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// RunAs is the user and group a container runs as: the container's securityContext,
// else the pod's, else the image's USER ("uid", "uid:gid", or names from the
// image's /etc/passwd and /etc/group).
func RunAs(pod *corev1.Pod, c *corev1.Container, imageUser, root string) (uid, gid int64, err error) {
	user, group, _ := strings.Cut(imageUser, ":")
	uid, gid = 0, -1
	if user != "" {
		if uid, err = lookupID(filepath.Join(root, "etc/passwd"), user); err != nil {
			return 0, 0, fmt.Errorf("image user %q: %w", imageUser, err)
		}
	}
	if group != "" {
		if gid, err = lookupID(filepath.Join(root, "etc/group"), group); err != nil {
			return 0, 0, fmt.Errorf("image group %q: %w", imageUser, err)
		}
	}
	var psc *corev1.PodSecurityContext
	if pod.Spec.SecurityContext != nil {
		psc = pod.Spec.SecurityContext
	}
	csc := c.SecurityContext
	switch {
	case csc != nil && csc.RunAsUser != nil:
		uid = *csc.RunAsUser
	case psc != nil && psc.RunAsUser != nil:
		uid = *psc.RunAsUser
	}
	switch {
	case csc != nil && csc.RunAsGroup != nil:
		gid = *csc.RunAsGroup
	case psc != nil && psc.RunAsGroup != nil:
		gid = *psc.RunAsGroup
	}
	if gid < 0 { // the user's primary group in the image, else root's
		gid = primaryGroup(filepath.Join(root, "etc/passwd"), uid)
	}
	return uid, gid, nil
}

func nonRoot(pod *corev1.Pod, c *corev1.Container) bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return *c.SecurityContext.RunAsNonRoot
	}
	return pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot
}

// lookupID returns a numeric id as it is, or a name's id from a passwd/group file.
func lookupID(file, name string) (int64, error) {
	if n, err := strconv.ParseInt(name, 10, 64); err == nil {
		return n, nil
	}
	var found int64 = -1
	err := scanColonFile(file, func(fields []string) bool {
		if fields[0] == name {
			found, _ = strconv.ParseInt(fields[2], 10, 64)
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if found < 0 {
		return 0, fmt.Errorf("no %q in the image's %s", name, filepath.Base(file))
	}
	return found, nil
}

func primaryGroup(passwd string, uid int64) int64 {
	gid := int64(0)
	_ = scanColonFile(passwd, func(fields []string) bool {
		if len(fields) > 3 && fields[2] == strconv.FormatInt(uid, 10) {
			gid, _ = strconv.ParseInt(fields[3], 10, 64)
			return false
		}
		return true
	})
	return gid
}

func scanColonFile(file string, f func([]string) bool) error {
	fh, err := os.Open(file) //nolint:gosec // G304: a file of the unpacked image
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if !f(fields) {
			break
		}
	}
	return s.Err()
}

// KubernetesEnv are the variables through which a pod finds the API server
// (rest.InClusterConfig reads KUBERNETES_SERVICE_HOST and _PORT): with no
// kube-proxy, they point at the API server's own address.
func KubernetesEnv(host, port string) []EnvVar {
	if host == "" {
		return nil
	}
	hp := host + ":" + port
	if strings.Contains(host, ":") {
		hp = "[" + host + "]:" + port
	}
	return []EnvVar{
		{"KUBERNETES_SERVICE_HOST", host},
		{"KUBERNETES_SERVICE_PORT", port},
		{"KUBERNETES_SERVICE_PORT_HTTPS", port},
		{"KUBERNETES_PORT", "tcp://" + hp},
	}
}

// ImageEnv is the environment of a container of an image, as a runtime and the
// kubelet give it: the image's ENV, HOSTNAME, HOME (/ unless the image sets it), the
// API server's variables, then the container's resolved env, which wins.
func ImageEnv(pod *corev1.Pod, imageEnv []string, env []EnvVar, kube []EnvVar) []string {
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	var vars []EnvVar
	hasPath := false
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		vars = append(vars, EnvVar{k, v})
		hasPath = hasPath || k == "PATH"
	}
	if !hasPath {
		vars = append([]EnvVar{{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}, vars...)
	}
	vars = append(vars, EnvVar{"HOSTNAME", hostname})
	vars = append(vars, kube...)
	vars = append(vars, env...)
	seen := map[string]int{}
	out := []string{}
	for _, v := range vars {
		kv := v.Name + "=" + v.Value
		if i, ok := seen[v.Name]; ok {
			out[i] = kv
			continue
		}
		seen[v.Name] = len(out)
		out = append(out, kv)
	}
	if _, ok := seen["HOME"]; !ok {
		out = append(out, "HOME=/")
	}
	return out
}

// pullBackOff reports a failed pull: ErrImagePull now, ImagePullBackOff while it
// waits to try again.
func (w *podWorker) pullBackOff(init bool, idx int, c corev1.Container, err error, backoff time.Duration) {
	if w.setWaiting(init, idx, "ErrImagePull", err.Error()) {
		w.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, err.Error())
		w.event(corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
	}
	select {
	case <-w.ctx.Done():
		return
	case <-time.After(min(backoff, 2*time.Second)):
	}
	msg := fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.Image, err.Error())
	if w.setWaiting(init, idx, "ImagePullBackOff", msg) {
		w.event(corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
		w.event(corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
	}
}
