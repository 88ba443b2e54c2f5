package nodeagent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"runbook-operator/test/harness"
)

func TestImageArgv(t *testing.T) {
	ep, cmd := []string{"/manager"}, []string{"--help"}
	for _, tt := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image's entrypoint and cmd", nil, nil, []string{"/manager", "--help"}},
		{"args replace cmd", nil, []string{"--leader-elect"}, []string{"/manager", "--leader-elect"}},
		{"command replaces both", []string{"/agent", "backup"}, nil, []string{"/agent", "backup"}},
		{"command and args", []string{"/agent"}, []string{"restore"}, []string{"/agent", "restore"}},
	} {
		if got := ImageArgv(ep, cmd, tt.command, tt.args); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRunAs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nnonroot:x:65532:65533::/home/nonroot:/sbin/nologin\n"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nnonroot:x:65533:\n"), 0o644)
	pod := func(psc *corev1.PodSecurityContext) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: psc}}
	}
	for _, tt := range []struct {
		name      string
		pod       *corev1.Pod
		csc       *corev1.SecurityContext
		imageUser string
		uid, gid  int64
		wantErr   bool
	}{
		{name: "image's numeric user and group", pod: pod(nil), imageUser: "65532:65532", uid: 65532, gid: 65532},
		{name: "image's user by name, its primary group", pod: pod(nil), imageUser: "nonroot", uid: 65532, gid: 65533},
		{name: "no USER is root", pod: pod(nil), uid: 0, gid: 0},
		{name: "pod's runAsUser and runAsGroup win", pod: pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000)}),
			imageUser: "65532:65532", uid: 1000, gid: 2000},
		{name: "container's win over the pod's", pod: pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}),
			csc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1001), RunAsGroup: ptr.To[int64](1002)}, imageUser: "65532", uid: 1001, gid: 1002},
		{name: "runAsUser only: the image's group stays", pod: pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](7)}), imageUser: "65532:65532", uid: 7, gid: 65532},
		{name: "unknown user name", pod: pod(nil), imageUser: "ghost", wantErr: true},
	} {
		uid, gid, err := RunAs(tt.pod, &corev1.Container{SecurityContext: tt.csc}, tt.imageUser, root)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tt.name)
			}
			continue
		}
		if err != nil || uid != tt.uid || gid != tt.gid {
			t.Errorf("%s: %d:%d (%v), want %d:%d", tt.name, uid, gid, err, tt.uid, tt.gid)
		}
	}
}

func TestImageEnvAndKubernetesEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	got := ImageEnv(pod, []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"},
		[]EnvVar{{"LANG", "de_DE.UTF-8"}, {"DB", "x"}}, KubernetesEnv("127.0.0.1", "36443"))
	want := []string{"PATH=/usr/bin:/bin", "LANG=de_DE.UTF-8", "HOSTNAME=p",
		"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=36443", "KUBERNETES_SERVICE_PORT_HTTPS=36443",
		"KUBERNETES_PORT=tcp://127.0.0.1:36443", "DB=x", "HOME=/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ImageEnv =\n%q\nwant\n%q", got, want)
	}
	if got := KubernetesEnv("::1", "6443")[3].Value; got != "tcp://[::1]:6443" {
		t.Errorf("KUBERNETES_PORT for IPv6 = %q", got)
	}
	if KubernetesEnv("", "") != nil {
		t.Error("no API server: no variables")
	}
}

func TestWriteVolumeFilesRefusesPathsLeavingTheVolume(t *testing.T) {
	dir := t.TempDir()
	if err := WriteVolumeFiles(dir, []VolumeFile{{Path: "a/b", Data: []byte("x"), Mode: 0o400}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/b")); err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("a/b: %v %v, want mode 0400", fi, err)
	}
	for _, p := range []string{"../x", "..", "/etc/x", "a/../../x"} {
		if err := WriteVolumeFiles(dir, []VolumeFile{{Path: p, Mode: 0o644}}); err == nil {
			t.Errorf("%q written", p)
		}
	}
}

func TestInRootFollowsLinksInsideTheImage(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run", "usr/lib", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"var/run": "/run", "lib": "usr/lib", "etc/up": "../../../..", "loop": "loop"}
	_ = os.MkdirAll(filepath.Join(root, "var"), 0o755)
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]string{
		"/var/run/secrets/kubernetes.io/serviceaccount": "/run/secrets/kubernetes.io/serviceaccount",
		"/lib/x":               "/usr/lib/x",
		"/etc/up/tmp":          "/tmp",
		"/tmp":                 "/tmp",
		"relative/../a":        "/a",
		"/loop/x":              "/loop/x",
		"/":                    "/",
		"/dev/termination-log": "/dev/termination-log",
	} {
		if got := InRoot(root, p); got != want {
			t.Errorf("InRoot(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestJailScriptQuotesAndOrders(t *testing.T) {
	j := Jail{Image: "/c/img", Upper: "/p/u", Work: "/p/w", Merged: "/p/root", ReadOnly: true,
		TerminationLog: "/p/term", TerminationPath: "/dev/termination-log",
		Mounts: []JailMount{{Source: "/p/vol/it's", Target: "/etc/conf", Dir: true, ReadOnly: true}}, UID: 65532, GID: 65532, WorkDir: "/work"}
	s, err := j.Script([]string{"/agent", "a b", "$(x)"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"lowerdir=/c/img,upperdir=/p/u,workdir=/p/w",
		`--bind '/p/vol/it'\''s' '/p/root/etc/conf'`,
		"tmpfs '/p/root/tmp'",
		"--bind '/p/term' '/p/root/dev/termination-log'",
		"exec /usr/bin/unshare --root='/p/root' --wd='/work' --setgid=65532 --setuid=65532 -- '/agent' 'a b' '$(x)'",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	// The root turns read-only after the volumes are bound, just before the program.
	if ro := strings.Index(s, "remount,bind,ro '/p/root'\n"); ro < strings.LastIndex(s, "--bind") || ro < 0 {
		t.Errorf("root remounted read-only at %d, before the last bind:\n%s", ro, s)
	}
	j.Mounts = append(j.Mounts, JailMount{Source: "/p/tmp", Target: "/tmp", Dir: true})
	if s, _ := j.Script([]string{"x"}); strings.Contains(s, "tmpfs '/p/root/tmp'") {
		t.Errorf("a tmpfs at /tmp over the pod's /tmp volume:\n%s", s)
	}
	if _, err := (Jail{Image: "/a,b"}).Script([]string{"x"}); err == nil {
		t.Error("an overlay folder with a comma accepted")
	}
}

// TestJailRunsInTheImage runs a program through the jail script for real, in the
// image's runtime file system (hack/rootfs.sh): as 65532, read-only root, the
// volume and /tmp writable or not as asked, /dev and /proc there, the environment
// given, and the image untouched.
func TestJailRunsInTheImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the node agent runs image containers as root (mount namespaces, overlay): run as root")
	}
	fs, err := harness.FindRootFS()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"u", "w", "root", "conf", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "conf/key"), []byte("value"), 0o644)
	_ = os.Chmod(filepath.Join(dir, "data"), 0o777)
	term := filepath.Join(dir, "term")
	_ = os.WriteFile(term, nil, 0o600)
	_ = os.Chown(term, 65532, 65532) // as prepareImage does: the container's user writes it
	j := Jail{Image: fs.Image, Upper: filepath.Join(dir, "u"), Work: filepath.Join(dir, "w"), Merged: filepath.Join(dir, "root"),
		ReadOnly: true, TerminationLog: term, TerminationPath: "/dev/termination-log", UID: 65532, GID: 65532, WorkDir: "/usr/lib/postgresql",
		Hostname: "backup-pod-x", NoNewPrivs: true,
		Mounts: []JailMount{
			{Source: filepath.Join(dir, "conf"), Target: "/var/run/secrets/runbook", Dir: true, ReadOnly: true},
			{Source: filepath.Join(dir, "data"), Target: "/data", Dir: true},
		}}
	script, err := j.Script([]string{"/bin/sh", "-c", `id -u; id -g; pwd; cat /var/run/secrets/runbook/key; echo
touch /etc/x 2>/dev/null && echo root-writable || echo root-read-only
touch /run/secrets/runbook/x 2>/dev/null && echo conf-writable || echo conf-read-only
echo d > /data/f && echo data-writable
echo t > /tmp/f && echo tmp-writable
echo done > /dev/termination-log
test -c /dev/null && test -r /proc/self/status && echo dev-proc
ls 17/bin/pg_dump
cat /proc/sys/kernel/hostname
grep -E '^(Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):' /proc/self/status | tr -s '\t ' ' '
echo "$GREETING"`})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script, "container")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GREETING=hello from the image"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	want := "65532\n65532\n/usr/lib/postgresql\nvalue\nroot-read-only\nconf-read-only\ndata-writable\ntmp-writable\ndev-proc\n17/bin/pg_dump\nbackup-pod-x\n" +
		"Groups: \nCapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\n" +
		"hello from the image\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if b, _ := os.ReadFile(term); string(b) != "done\n" {
		t.Errorf("termination log %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "data/f")); string(b) != "d\n" {
		t.Errorf("the volume's file %q", b)
	}
	if _, err := os.Stat(filepath.Join(fs.Image, "tmp/f")); err == nil {
		t.Error("the container wrote into the image")
	}
	if _, err := os.Lstat("/run/secrets/runbook"); err == nil {
		t.Error("the volume's mount point was made on the host's /run (the image's /var/run link followed on the host)")
		_ = os.Remove("/run/secrets/runbook")
	}
	// Nothing stays mounted on the host once the container's namespace is gone.
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if strings.Contains(string(mounts), j.Merged) {
		t.Errorf("%s is still mounted on the host", j.Merged)
	}
}
