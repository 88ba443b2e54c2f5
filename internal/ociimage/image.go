/*
Copyright 2026 The runbook-operator Authors.

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

package ociimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the Dockerfile says too (a test checks they agree).
const (
	User       = "65532:65532"
	WorkingDir = "/"
	// PATH is Debian's default, which the Dockerfile's base image sets.
	PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// ManagerPath and AgentPath are where the binaries are in the image.
	ManagerPath = "/manager"
	AgentPath   = "/agent"
	// PackageList is the one package list of the runtime file system, read by
	// the Dockerfile and by hack/rootfs.sh.
	PackageList = "hack/image-packages.txt"
)

// Entrypoint is the image's entrypoint: the manager. Agent Jobs set their command.
var Entrypoint = []string{ManagerPath}

// Platform is the one platform built: the binaries are static, the runtime file
// system is debootstrapped for the machine's architecture.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Labels are the image's org.opencontainers.image.* annotations.
type Labels struct {
	Source, Revision, Version string
}

// ConfigFile returns the image's config (without the layers' diff IDs, which
// mutate adds): user, entrypoint, working directory, PATH, labels, and the
// creation time epoch.
func ConfigFile(l Labels, epoch time.Time) *v1.ConfigFile {
	created := v1.Time{Time: epoch.UTC()}
	return &v1.ConfigFile{
		Architecture: Platform.Architecture,
		OS:           Platform.OS,
		Created:      created,
		Config: v1.Config{
			User:       User,
			Entrypoint: Entrypoint,
			WorkingDir: WorkingDir,
			Env:        []string{PATH},
			Labels: map[string]string{
				"org.opencontainers.image.source":   l.Source,
				"org.opencontainers.image.revision": l.Revision,
				"org.opencontainers.image.version":  l.Version,
				"org.opencontainers.image.created":  created.Format(time.RFC3339),
				"org.opencontainers.image.title":    "runbook-operator",
			},
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
}

// Spec is what an image is built from.
type Spec struct {
	// RootFS is the runtime file system hack/rootfs.sh built.
	RootFS string
	// Manager and Agent are the static binaries (see GoBuild).
	Manager, Agent string
	Labels         Labels
	// Epoch is SOURCE_DATE_EPOCH: the image's creation time and the latest
	// time of any file in it.
	Epoch time.Time
	// LayerCache is a directory of compressed layers by diff ID, so the runtime
	// file system's layer is compressed once per content (the file system
	// changes when hack/rootfs.sh's inputs do; the cache is pruned with
	// PruneCache).
	LayerCache string
}

// Image assembles the image: the runtime file system's layer (from LayerCache
// when its content is there), the binaries' layer, the config. OCI media types.
func (s Spec) Image() (v1.Image, error) {
	base, err := cachedLayer(s.LayerCache, func(w io.Writer) error {
		return WriteTree(w, s.RootFS, s.Epoch, func(rel string) bool { ex, _ := Excluded(rel); return ex })
	})
	if err != nil {
		return nil, fmt.Errorf("runtime file system layer: %w", err)
	}
	// The binaries change with every commit: compressed each time (a few
	// seconds), not cached.
	bins, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return pipe(func(w io.Writer) error {
			return WriteFiles(w, []File{{Path: ManagerPath, Source: s.Manager, Mode: 0o755}, {Path: AgentPath, Source: s.Agent, Mode: 0o755}}, s.Epoch)
		}), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("binaries layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: s.Epoch.UTC()}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "hack/rootfs.sh: debootstrap of " + PackageList, Comment: "runtime file system"}},
		mutate.Addendum{Layer: bins, History: v1.History{Created: created, CreatedBy: "go build -trimpath -ldflags=\"-s -w\" ./cmd/manager ./cmd/agent", Comment: "manager and agent"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	want := ConfigFile(s.Labels, s.Epoch)
	want.RootFS.DiffIDs = cf.RootFS.DiffIDs
	want.History = cf.History
	return mutate.ConfigFile(img, want)
}

// cachedLayer returns the layer write produces, compressed once per content:
// the uncompressed tar is hashed (its diff ID, cheap) and looked up in cache
// as <diffID>.tar.gz; a missing or corrupt entry (its diff ID differs) is
// compressed anew. Entries are written whole then renamed, so builds at once
// share the cache.
func cachedLayer(cache string, write func(io.Writer) error) (v1.Layer, error) {
	h := sha256.New()
	if err := write(h); err != nil {
		return nil, err
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	path := filepath.Join(cache, diffID.Algorithm+"-"+diffID.Hex+".tar.gz")
	if l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer)); err == nil {
		if got, err := l.DiffID(); err == nil && got == diffID {
			now := time.Now()
			_ = os.Chtimes(path, now, now) // used: kept by PruneCache
			return l, nil
		}
	}
	if err := os.MkdirAll(cache, 0o750); err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return pipe(write), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := writeFileAtomic(path, rc); err != nil {
		return nil, err
	}
	l, err = tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	if got, err := l.DiffID(); err != nil || got != diffID {
		return nil, fmt.Errorf("layer changed while it was built (diff ID %v, want %v, %v): is the file system being written?", got, diffID, err)
	}
	return l, nil
}

// pipe returns what write writes, as it writes it.
func pipe(write func(io.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	return pr
}

func writeFileAtomic(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := io.Copy(tmp, r); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// PruneCache removes from dir (a layer, output or unpacked-image cache) all but
// the keep entries most recently modified, the entries named in current always
// among them: each new file system or image adds one, of tens of megabytes (an
// unpacked image, hundreds). Entries whose names start with "." (temporaries being
// written, locks) are left alone, and so are entries modified within the last
// InUseGrace: another checkout's run on the same machine may be using them (two
// branches' e2e suites at once build two images; pruning the other's image made its
// agent pods fail with ErrImagePull).
func PruneCache(dir string, keep int, current ...string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type aged struct {
		name string
		mod  time.Time
	}
	var all []aged
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || slices.Contains(current, e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return b.mod.Compare(a.mod) })
	for _, a := range all[min(max(keep-len(current), 0), len(all)):] {
		if time.Since(a.mod) < InUseGrace {
			continue
		}
		if err := RemoveAll(filepath.Join(dir, a.name)); err != nil {
			return err
		}
	}
	return nil
}

// InUseGrace is how recently modified a cache entry PruneCache leaves alone.
const InUseGrace = time.Hour

// RemoveAll removes path, making read-only folders writable first (an unpacked
// image may have 0555 folders, which os.RemoveAll cannot empty as a non-root user).
func RemoveAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700) //nolint:gosec // G302: only to delete it
		}
		return nil
	})
	return os.RemoveAll(path)
}
