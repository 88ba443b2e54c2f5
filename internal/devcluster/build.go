package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ResolveAssets finds the directory with etcd, kube-apiserver and
// kube-controller-manager: dir, else $KUBEBUILDER_ASSETS, else the directory
// hack/test-binaries.sh prints. It fails when a binary is missing there.
func ResolveAssets(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir == "" {
		if script, err := FindModuleFile("hack/test-binaries.sh"); err == nil {
			out, err := exec.Command("bash", script, "--print").Output()
			if err == nil {
				dir = strings.TrimSpace(string(out))
			}
		}
	}
	if dir == "" {
		return "", errors.New("devcluster: no assets directory: set KUBEBUILDER_ASSETS or run hack/test-binaries.sh")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("devcluster: %s missing in %s: build it with hack/test-binaries.sh", b, dir)
		}
	}
	return dir, nil
}

// deathSignalWrapper returns a script that runs the asset with a parent-death
// signal (setpriv --pdeathsig KILL), so etcd and kube-apiserver, which envtest starts
// without one, die with this process even when it is killed without a chance to
// clean up (SIGKILL, a `go test` timeout). Without setpriv it returns the asset itself.
func deathSignalWrapper(dir, assets, name string) string {
	bin := filepath.Join(assets, name)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return bin
	}
	wrapDir := filepath.Join(dir, "wrappers")
	if err := os.MkdirAll(wrapDir, 0o755); err != nil {
		return bin
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s --pdeathsig KILL -- %s \"$@\"\n", setpriv, bin)
	path := filepath.Join(wrapDir, name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return bin
	}
	return path
}

// FindModuleFile walks up from the working directory to find rel.
func FindModuleFile(rel string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s not found above %s", rel, wd)
		}
	}
}

// ModuleRoot is the directory of the go.mod above the working directory.
func ModuleRoot() (string, error) {
	p, err := FindModuleFile("go.mod")
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

// BuildBinaries builds the given main packages (name → import path relative to the
// module root, "./cmd/agent") into outDir with one `go build` and returns their paths.
func BuildBinaries(ctx context.Context, moduleRoot, outDir string, pkgs map[string]string, out io.Writer) (map[string]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for name, pkg := range pkgs {
		bin := filepath.Join(outDir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = moduleRoot
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
		paths[name] = bin
	}
	return paths, nil
}

// BuildImage builds the operator's image as `make image IMG=ref` does (no container
// engine; cached by content) and returns its OCI layout, which Options.OperatorImage
// takes. Builds of several processes (make test runs three devclusters at once) take
// turns under a lock beside the image cache: the first builds, the others find it
// cached, instead of all three compiling the same binaries at once.
func BuildImage(ctx context.Context, moduleRoot, ref string, out io.Writer) (string, error) {
	lockDir := filepath.Dir(ImageCache())
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "flock", filepath.Join(lockDir, "make-image.lock"),
		"make", "--no-print-directory", "image", "IMG="+ref)
	cmd.Dir = moduleRoot
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, out), out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("make image IMG=%s: %w", ref, err)
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if dir, ok := strings.CutPrefix(line, "oci:"); ok {
			return dir, nil
		}
	}
	return "", fmt.Errorf("make image IMG=%s printed no oci:DIR line", ref)
}

// ImageCache is where the node agent keeps unpacked images across devclusters:
// $XDG_CACHE_HOME/runbook-operator/unpacked (~/.cache/...), beside the test binaries.
func ImageCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "runbook-operator", "unpacked")
}
