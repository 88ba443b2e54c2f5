/*
Copyright 2026.

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

package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// RootFS are the file systems hack/rootfs.sh builds with debootstrap: Image, the
// Dockerfile's runtime stage (hack/image-packages.txt), and Server17, Debian
// trixie with the postgresql-17 server.
type RootFS struct {
	Image, Server17 string
}

// FindRootFS returns the file systems hack/rootfs.sh built, or an error saying
// how to build them (make test does, before the tests).
func FindRootFS() (RootFS, error) {
	script, err := findRepoFile("hack/rootfs.sh")
	if err != nil {
		return RootFS{}, err
	}
	out, err := exec.Command("bash", script, "--print").Output()
	if err != nil {
		return RootFS{}, fmt.Errorf("hack/rootfs.sh --print: %w", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return RootFS{}, fmt.Errorf("hack/rootfs.sh --print printed %q", out)
	}
	r := RootFS{Image: lines[0], Server17: lines[1]}
	for _, p := range []string{filepath.Join(r.Image, "agent"), filepath.Join(r.Server17, "usr/lib/postgresql/17/bin/postgres")} {
		if _, err := os.Stat(p); err != nil {
			return RootFS{}, fmt.Errorf("the test file systems are not built (%v): run hack/rootfs.sh (make test does)", err)
		}
	}
	return r, nil
}

// ImageUID is the user (and group) the agent Jobs run as.
const ImageUID = 65532

// ImagePath is the PATH of the image (Debian's default, which the Dockerfile
// keeps).
const ImagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// jailScript runs in a new mount namespace (private, so nothing reaches the
// host's mounts): the file system bound read-only onto itself, the agent binary
// read-only at /agent, the termination log (writable) at /dev/termination-log,
// a fresh tmpfs at /tmp, then the program chrooted as ImageUID. Its environment
// is the caller's alone.
const jailScript = `set -e
r=$1 a=$2 tl=$3; shift 3
/usr/bin/mount --bind "$r" "$r"
if [ -n "$a" ]; then /usr/bin/mount --bind "$a" "$r/agent"; /usr/bin/mount -o remount,bind,ro "$r/agent"; fi
if [ -n "$tl" ]; then /usr/bin/mount --bind "$tl" "$r/dev/termination-log"; fi
/usr/bin/mount -o remount,bind,ro "$r"
/usr/bin/mount -t tmpfs -o mode=1777,size=4g tmpfs "$r/tmp"
unset PWD OLDPWD
exec /usr/sbin/chroot --userspec=65532:65532 "$r" "$@"
`

// Jail runs programs the way a Job runs the agent image: chrooted into Root, as
// uid and gid 65532, with a read-only root, a writable /tmp of its own, and only
// the environment given (a Job's: its env entries and the image's PATH, HOME
// and HOSTNAME). Needs root (mount namespaces).
type Jail struct {
	Root string
	// Agent, when set, is a binary bound read-only at /agent.
	Agent string
	// TerminationLog, when set, is a file bound writable at /dev/termination-log
	// (what the kubelet does).
	TerminationLog string
}

// Command returns a command running program (a path inside Root) with args.
func (j Jail) Command(ctx context.Context, env []string, program string, args ...string) *exec.Cmd {
	if j.TerminationLog != "" {
		// The termination log is written by uid 65532.
		_ = os.Chown(j.TerminationLog, ImageUID, ImageUID)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", jailScript, "jail", j.Root, j.Agent, j.TerminationLog, program}, args...)...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	return cmd
}
