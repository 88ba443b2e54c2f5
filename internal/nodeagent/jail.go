package nodeagent

import (
	"fmt"
	"path"
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
	// UID and GID run the program; WorkDir is its working folder in the image.
	UID, GID int64
	WorkDir  string
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
	in := func(p string) string { return shellQuote(path.Join(j.Merged, path.Clean("/"+p))) }
	line("set -e")
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
	line("exec /usr/bin/unshare --root=%s --wd=%s --setgid=%d --setuid=%d -- %s",
		shellQuote(j.Merged), shellQuote(path.Clean("/"+wd)), j.GID, j.UID, strings.Join(q, " "))
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
