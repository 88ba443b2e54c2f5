package nodeagent

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Jail is how a container of an unpacked image runs: in a mount namespace of its
// own (the caller starts the script with CLONE_NEWNS, which Go makes private), an
// overlay with the image as its lower layer and a fresh upper layer per run, /proc,
// a small /dev, the termination log, a tmpfs at /tmp unless a volume is mounted
// there, the pod's volumes at their mount paths, the root remounted read-only when
// the container asks for it, and then the program, chrooted, as UID:GID in WorkDir.
type Jail struct {
	// Image is the unpacked image (never written: the overlay's lower layer).
	Image string
	// Upper, Work and Merged are empty folders of the container: the overlay's
	// writable layer, its work folder and the root the program sees.
	Upper, Work, Merged string
	// ReadOnly remounts the root read-only (readOnlyRootFilesystem).
	ReadOnly bool
	// TerminationLog is the host file bound at TerminationPath.
	TerminationLog, TerminationPath string
	// Mounts are the pod's volumes (host paths) at their paths in the container.
	Mounts []JailMount
	// Hostname, when set, is the container's host name (the caller starts the
	// script in a UTS namespace of its own too, CLONE_NEWUTS).
	Hostname string
	// UID and GID run the program; WorkDir is its working folder in the image.
	UID, GID int64
	WorkDir  string
	// NoNewPrivs sets the no_new_privs bit (allowPrivilegeEscalation: false): a
	// set-user-ID program or file capabilities in the image give the program nothing.
	NoNewPrivs bool
}

// JailMount is a host file or folder bound into the container.
type JailMount struct {
	Source, Target string
	Dir, ReadOnly  bool
}

// devices are the host's device nodes a container's /dev gets, as a runtime gives.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Script returns the shell script that sets the container up and executes argv,
// and an error for paths the overlay options cannot hold.
func (j Jail) Script(argv []string) (string, error) {
	for _, p := range []string{j.Image, j.Upper, j.Work} {
		if strings.ContainsAny(p, ",:") {
			return "", fmt.Errorf("overlay folder %q contains ',' or ':'", p)
		}
	}
	if len(argv) == 0 {
		return "", fmt.Errorf("no command to run")
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// Paths in the container are resolved in the image (its symbolic links are
	// the container's: /var/run -> /run), never through the host's.
	// /dev and /proc are the runtime's, mounted fresh: taken as named.
	in := func(p string) string {
		p = path.Clean("/" + p)
		if p != "/dev" && p != "/proc" && !strings.HasPrefix(p, "/dev/") && !strings.HasPrefix(p, "/proc/") {
			p = InRoot(j.Image, p)
		}
		return shellQuote(path.Join(j.Merged, p))
	}
	line("set -e")
	if j.Hostname != "" {
		line("/usr/bin/hostname %s", shellQuote(j.Hostname))
	}
	line("/usr/bin/mount -t overlay overlay -o %s %s", shellQuote(fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", j.Image, j.Upper, j.Work)), shellQuote(j.Merged))
	line("/usr/bin/mkdir -p %s %s %s", in("/proc"), in("/dev"), in("/tmp"))
	line("/usr/bin/mount -t proc -o nosuid,nodev,noexec proc %s", in("/proc"))
	line("/usr/bin/mount -t tmpfs -o mode=755,size=65536k,nosuid tmpfs %s", in("/dev"))
	for _, d := range devices {
		line("/usr/bin/touch %s && /usr/bin/mount --bind /dev/%s %s", in("/dev/"+d), d, in("/dev/"+d))
	}
	line("/usr/bin/ln -s /proc/self/fd %s", in("/dev/fd"))
	for i, s := range []string{"stdin", "stdout", "stderr"} {
		line("/usr/bin/ln -s /proc/self/fd/%d %s", i, in("/dev/"+s))
	}
	line("/usr/bin/mkdir %s && /usr/bin/mount -t tmpfs -o mode=1777,size=65536k,nosuid,nodev tmpfs %s", in("/dev/shm"), in("/dev/shm"))
	tmpVolume := false
	for _, m := range j.Mounts {
		if path.Clean(m.Target) == "/tmp" {
			tmpVolume = true
		}
	}
	if !tmpVolume {
		line("/usr/bin/mount -t tmpfs -o mode=1777,size=1g,nosuid,nodev tmpfs %s", in("/tmp"))
	}
	mounts := j.Mounts
	if j.TerminationLog != "" {
		mounts = append([]JailMount{{Source: j.TerminationLog, Target: j.TerminationPath}}, mounts...)
	}
	for _, m := range mounts {
		if m.Dir {
			line("/usr/bin/mkdir -p %s", in(m.Target))
		} else {
			line("/usr/bin/mkdir -p %s && /usr/bin/touch %s", in(path.Dir(path.Clean("/"+m.Target))), in(m.Target))
		}
		line("/usr/bin/mount --bind %s %s", shellQuote(m.Source), in(m.Target))
		if m.ReadOnly {
			line("/usr/bin/mount -o remount,bind,ro %s", in(m.Target))
		}
	}
	wd := j.WorkDir
	if wd == "" {
		wd = "/"
	}
	line("/usr/bin/mkdir -p %s", in(wd))
	if j.ReadOnly {
		line("/usr/bin/mount -o remount,bind,ro %s", shellQuote(j.Merged))
	}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	// unshare changes root, then to GID (dropping supplementary groups) and UID,
	// which clears the process's capabilities; setpriv's no_new_privs is kept across
	// both execs.
	nnp := ""
	if j.NoNewPrivs {
		nnp = "/usr/bin/setpriv --no-new-privs "
	}
	line("exec %s/usr/bin/unshare --root=%s --wd=%s --setgid=%d --setuid=%d -- %s",
		nnp, shellQuote(j.Merged), shellQuote(InRoot(j.Image, wd)), j.GID, j.UID, strings.Join(q, " "))
	return b.String(), nil
}

// InRoot resolves the path p of a container whose file system is root: symbolic
// links are followed as inside it (an absolute target is relative to root, ".."
// stops at root), and what does not exist is kept as it is (created empty, without
// links, in the container's own layer). The result is absolute and clean.
func InRoot(root, p string) string {
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return path.Join(append([]string{next}, rest...)...) // does not exist: created as named
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(next)))
		if hops++; err != nil || hops > 40 {
			return path.Join(append([]string{next}, rest...)...)
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return cur
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
