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

package ociimage_test

// The image as make image builds it, from the runtime file system hack/rootfs.sh
// built (make test builds it first) and freshly built binaries: built twice to
// the same digest, read by Debian's skopeo, and unpacked to exactly the file
// system the agent's image tests run in.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"runbook-operator/internal/ociimage"
	"runbook-operator/test/harness"
)

const (
	repo = "../.."
	ref  = "example.invalid/runbook-operator:test"
)

var labels = ociimage.Labels{Source: "https://example.invalid/runbook-operator", Revision: "0123abc", Version: "v0.0.0-test"}

// built is the image the tests share: built once per test binary.
var built struct {
	once           sync.Once
	err            error
	rootfs         string
	manager, agent string
	epoch          time.Time
	cache          string
	img            v1.Image
}

func spec() ociimage.Spec {
	return ociimage.Spec{RootFS: built.rootfs, Manager: built.manager, Agent: built.agent,
		Labels: labels, Epoch: built.epoch, LayerCache: built.cache}
}

func image(t *testing.T) v1.Image {
	t.Helper()
	built.once.Do(func() {
		fs, err := harness.FindRootFS()
		if err != nil {
			built.err = err
			return
		}
		built.rootfs = fs.Image
		dir, err := os.MkdirTemp("", "ociimage-test-")
		if err != nil {
			built.err = err
			return
		}
		built.manager, built.agent, built.err = ociimage.GoBuild(context.Background(), repo, dir)
		if built.err != nil {
			return
		}
		// The runtime file system's layer is cached with make image's
		// (hack/rootfs.sh's cache), keyed by its content.
		built.cache = filepath.Join(filepath.Dir(filepath.Dir(fs.Image)), "image", "layers")
		// The epoch is later than any file of the tree, as a commit's time is.
		built.epoch = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
		built.img, built.err = spec().Image()
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.img
}

func TestImageIsReproducible(t *testing.T) {
	one := image(t)
	// A second build from the same inputs, with binaries built again: the
	// layers are written and hashed anew (only their compression is cached,
	// by diff ID: a different tar would miss the cache and change the digest).
	dir := t.TempDir()
	manager, agent, err := ociimage.GoBuild(context.Background(), repo, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := spec()
	s.Manager, s.Agent = manager, agent
	two, err := s.Image()
	if err != nil {
		t.Fatal(err)
	}
	d1, err := one.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := two.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two builds of the same inputs: %s and %s", d1, d2)
	}
}

// skopeoInspect runs Debian's skopeo inspect on transport:path and decodes its JSON.
func skopeoInspect(t *testing.T, target string, config bool, v any) {
	t.Helper()
	args := []string{"inspect"}
	if config {
		args = append(args, "--config")
	}
	out, err := exec.Command("skopeo", append(args, target)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("skopeo inspect %s: %v\n%s", target, err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("skopeo inspect %s: %v\n%s", target, err, out)
	}
}

func TestSkopeoReadsTheImage(t *testing.T) {
	img := image(t)
	dir := t.TempDir()
	out := ociimage.Outputs{Layout: filepath.Join(dir, "oci"), DockerArchive: filepath.Join(dir, "image.tar")}
	if err := ociimage.Write(img, ref, out); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// docker load tags the image with the archive's RepoTags.
	if tags := dockerArchiveTags(t, out.DockerArchive); !slices.Equal(tags, []string{ref}) {
		t.Errorf("docker archive tagged %q, want %q", tags, ref)
	}
	for _, target := range []string{"oci:" + out.Layout, "docker-archive:" + out.DockerArchive} {
		t.Run(strings.SplitN(target, ":", 2)[0], func(t *testing.T) {
			var info struct {
				Digest       string
				Architecture string
				Os           string
				Labels       map[string]string
				Layers       []string
				Created      time.Time
			}
			skopeoInspect(t, target, false, &info)
			if info.Os != "linux" || info.Architecture != "amd64" || len(info.Layers) != 2 {
				t.Errorf("%s/%s with %d layers, want linux/amd64 with 2", info.Os, info.Architecture, len(info.Layers))
			}
			if strings.HasPrefix(target, "oci:") && info.Digest != digest.String() {
				t.Errorf("digest %s, want %s", info.Digest, digest)
			}
			if !info.Created.Equal(built.epoch) {
				t.Errorf("created %v, want SOURCE_DATE_EPOCH %v", info.Created, built.epoch)
			}
			for k, v := range map[string]string{
				"org.opencontainers.image.source":   labels.Source,
				"org.opencontainers.image.revision": labels.Revision,
				"org.opencontainers.image.version":  labels.Version,
				"org.opencontainers.image.created":  "2100-01-01T00:00:00Z",
			} {
				if info.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, info.Labels[k], v)
				}
			}
			var cfg struct {
				Config struct {
					User       string
					Entrypoint []string
					WorkingDir string
					Env        []string
				} `json:"config"`
			}
			skopeoInspect(t, target, true, &cfg)
			c := cfg.Config
			if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/manager"}) || c.WorkingDir != "/" || !slices.Equal(c.Env, []string{harness.ImagePath}) {
				t.Errorf("config user %q entrypoint %q workdir %q env %q", c.User, c.Entrypoint, c.WorkingDir, c.Env)
			}
		})
	}
}

func dockerArchiveTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := tar.NewReader(f)
	for {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("no manifest.json in %s: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(r).Decode(&m); err != nil || len(m) != 1 {
			t.Fatalf("manifest.json: %v (%d images)", err, len(m))
		}
		return m[0].RepoTags
	}
}

// entry is what the file system holds at a path, as a container sees it.
type entry struct {
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	Link     string // a symlink's target
	SHA256   string // a regular file's content
	ModTime  int64
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// treeEntries lists root as it is on disk.
func treeEntries(t *testing.T, root string) map[string]entry {
	t.Helper()
	got := map[string]entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		e := entry{Mode: fi.Mode(), ModTime: fi.ModTime().Unix()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = int(st.Uid), int(st.Gid)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Link, err = os.Readlink(path)
		case fi.Mode().IsRegular():
			e.Size, e.SHA256 = fi.Size(), fileSHA256(t, path)
		}
		got[filepath.ToSlash(rel)] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// imageEntries lists the image's file system, its layers unpacked in order;
// a hard link is its target's entry.
func imageEntries(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	got := map[string]entry{}
	r := tar.NewReader(rc)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		path := strings.TrimSuffix(h.Name, "/")
		e := entry{Mode: h.FileInfo().Mode(), UID: h.Uid, GID: h.Gid, ModTime: h.ModTime.Unix()}
		switch h.Typeflag {
		case tar.TypeSymlink:
			e.Link = h.Linkname
		case tar.TypeLink:
			target, ok := got[h.Linkname]
			if !ok {
				t.Fatalf("%s: hard link to %s, not in the image before it", path, h.Linkname)
			}
			e = target
		case tar.TypeReg:
			hash := sha256.New()
			n, err := io.Copy(hash, r)
			if err != nil {
				t.Fatal(err)
			}
			e.Size, e.SHA256 = n, hex.EncodeToString(hash.Sum(nil))
		}
		got[path] = e
	}
}

// TestImageIsTheTestedFileSystem: the image unpacked is, entry for entry (type,
// mode, owner, content, symlink target), the runtime file system the agent's
// image tests run in, with the binaries those tests bind-mount at /agent (and
// the manager at /manager) and without what the runtime provides in /dev.
func TestImageIsTheTestedFileSystem(t *testing.T) {
	img := image(t)
	tree := treeEntries(t, built.rootfs)
	got := imageEntries(t, img)
	want := map[string]entry{}
	for rel, e := range tree {
		if ex, _ := ociimage.Excluded(rel); ex {
			continue
		}
		// Times are clamped to SOURCE_DATE_EPOCH.
		e.ModTime = min(e.ModTime, built.epoch.Unix())
		want[rel] = e
	}
	for rel, bin := range map[string]string{"manager": built.manager, "agent": built.agent} {
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		want[rel] = entry{Mode: 0o755, Size: fi.Size(), SHA256: fileSHA256(t, bin), ModTime: built.epoch.Unix()}
	}
	if len(want) < 5000 {
		t.Fatalf("the runtime file system has %d entries: not the debootstrap tree?", len(want))
	}
	var diffs []string
	for rel, w := range want {
		if g, ok := got[rel]; !ok {
			diffs = append(diffs, "missing from the image: "+rel)
		} else if g != w {
			diffs = append(diffs, rel+": image "+jsonOf(g)+", file system "+jsonOf(w))
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			diffs = append(diffs, "only in the image: "+rel)
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%d differences between the image and %s, first ones:\n%s", len(diffs), built.rootfs, strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	t.Logf("%d entries equal (the tree has %d; /dev's and the placeholders left out)", len(got), len(tree))
	// What the tree leaves out is only what Excluded names; /dev itself stays.
	if _, ok := got["dev"]; !ok {
		t.Error("the image has no /dev directory")
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestDockerfileAgrees: the Dockerfile (for users with a container engine) and
// make image build from the same package list and give the same user,
// entrypoint, working directory, binary paths and go build flags.
func TestDockerfileAgrees(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dockerfile := read("Dockerfile")
	final := dockerfile[strings.LastIndex(dockerfile, "\nFROM "):]
	entrypoint, _ := json.Marshal(ociimage.Entrypoint)
	for _, want := range []string{
		"\nCOPY " + ociimage.PackageList + " ",
		"\nUSER " + ociimage.User + "\n",
		"\nENTRYPOINT " + string(entrypoint) + "\n",
		"\nWORKDIR " + ociimage.WorkingDir + "\n",
		"\nCOPY --from=builder /out/manager " + ociimage.ManagerPath + "\n",
		"\nCOPY --from=builder /out/agent " + ociimage.AgentPath + "\n",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's runtime stage lacks %q", strings.TrimSpace(want))
		}
	}
	// The builder stage: the same flags as GoBuild, static.
	ldflags := strings.TrimPrefix(ociimage.BuildFlags[1], "-ldflags=")
	build := "CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build " + ociimage.BuildFlags[0] + ` -ldflags="` + ldflags + `"`
	if n := strings.Count(dockerfile, build); n != 2 {
		t.Errorf("the Dockerfile builds %d binaries with %q, want the manager and the agent", n, build)
	}
	// hack/rootfs.sh reads the same list.
	if !regexp.MustCompile(`(?m)^LIST=` + regexp.QuoteMeta(ociimage.PackageList) + `$`).MatchString(read("hack/rootfs.sh")) {
		t.Errorf("hack/rootfs.sh does not read %s", ociimage.PackageList)
	}
}

// TestPushToARegistry: Push (make image-push) sends the layout's image to a
// registry that then serves the same digest. The registry is go-containerregistry's
// own in-memory one on loopback (no other registry is reachable here): it checks
// the push protocol and the content, not a real registry's authentication.
func TestPushToARegistry(t *testing.T) {
	img := image(t)
	dir := t.TempDir()
	out := ociimage.Outputs{Layout: filepath.Join(dir, "oci")}
	if err := ociimage.Write(img, ref, out); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://") + "/runbook-operator:test"
	if err := ociimage.Push(context.Background(), out.Layout, target); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(target)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got, err := pulled.Digest(); err != nil || got != want {
		t.Fatalf("the registry serves %s (%v), want %s", got, err, want)
	}
	cf, err := pulled.ConfigFile()
	if err != nil || cf.Config.User != ociimage.User {
		t.Fatalf("pulled config user %q (%v)", cf.Config.User, err)
	}
}
