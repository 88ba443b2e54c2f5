package imagefs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"runbook-operator/internal/ociimage"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
}

func layerOf(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid, Linkname: e.link,
			ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writeLayout writes an OCI layout holding img under tag, as make image does.
func writeLayout(t *testing.T, img v1.Image, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag})); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testImage(t *testing.T) v1.Image {
	t.Helper()
	base := layerOf(t,
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/passwd", body: "nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"},
		entry{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "usr/bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755},
		entry{name: "usr/bin/tool-link", typ: tar.TypeLink, link: "usr/bin/tool"},
		entry{name: "bin", typ: tar.TypeSymlink, link: "usr/bin"},
		entry{name: "old/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "old/gone", body: "deleted by the next layer"},
		entry{name: "opq/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "opq/lower", body: "hidden by an opaque whiteout"},
		entry{name: "home/nonroot/", typ: tar.TypeDir, mode: 0o700, uid: 65532},
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	)
	top := layerOf(t,
		entry{name: "old/.wh.gone"},
		entry{name: "opq/.wh..wh..opq"},
		entry{name: "opq/upper", body: "kept"},
		entry{name: "manager", body: "the manager binary", mode: 0o755},
	)
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, top)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = v1.Config{User: "65532:65532", Entrypoint: []string{"/manager"}, WorkingDir: "/",
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnpackLayersWithWhiteoutsOwnersAndLinks(t *testing.T) {
	dir := writeLayout(t, testImage(t), "dev")
	img, err := Resolve(dir, "ghcr.io/acme/runbook-operator:dev")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Dir: t.TempDir()}
	got, err := s.Unpack(img)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Unpacked || got.Reason != "" {
		t.Errorf("first Unpack: Unpacked %v, Reason %q; want a cold unpack", got.Unpacked, got.Reason)
	}
	r := got.Root
	if s := readFile(t, filepath.Join(r, "usr/bin/tool")); s != "#!/bin/sh\necho tool\n" {
		t.Errorf("usr/bin/tool = %q", s)
	}
	if s := readFile(t, filepath.Join(r, "bin/tool-link")); !strings.Contains(s, "echo tool") {
		t.Errorf("the hard link through the bin symlink reads %q", s)
	}
	if target, err := os.Readlink(filepath.Join(r, "bin")); err != nil || target != "usr/bin" {
		t.Errorf("bin -> %q (%v), want usr/bin", target, err)
	}
	if _, err := os.Lstat(filepath.Join(r, "old/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old/gone survived its whiteout: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(r, "opq/lower")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opq/lower survived the opaque whiteout: %v", err)
	}
	if s := readFile(t, filepath.Join(r, "opq/upper")); s != "kept" {
		t.Errorf("opq/upper = %q", s)
	}
	fi, err := os.Stat(filepath.Join(r, "home/nonroot"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := statUID(t, filepath.Join(r, "home/nonroot")); os.Geteuid() == 0 && uid != 65532 {
		t.Errorf("home/nonroot owned by %d, want 65532", uid)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("home/nonroot mode %v, want 0700", fi.Mode())
	}
	if fi, err := os.Stat(filepath.Join(r, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode %v (%v), want sticky 0777", fi.Mode(), err)
	}
	if got.Config.User != "65532:65532" || got.Config.Entrypoint[0] != "/manager" {
		t.Errorf("config %+v", got.Config)
	}
	d, _ := img.Digest()
	if got.Digest != d.String() || filepath.Base(filepath.Dir(r)) != "sha256-"+d.Hex {
		t.Errorf("cached under %s as %s, want the manifest digest %s", r, got.Digest, d)
	}

	again, err := s.Unpack(img)
	if err != nil {
		t.Fatal(err)
	}
	if again.Unpacked || again.Root != r {
		t.Errorf("second Unpack: Unpacked %v at %s; want the cached tree %s", again.Unpacked, again.Root, r)
	}
	// Another Store (a new node agent process) checks the tree once, then uses it.
	other := &Store{Dir: s.Dir}
	if third, err := other.Unpack(img); err != nil || third.Unpacked {
		t.Errorf("a new Store's Unpack of an intact tree: %+v, %v; want it cached", third, err)
	}
}

func statUID(t *testing.T, p string) uint32 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// A file of the cached tree changed after the unpack (what a container writing
// into a shared root, or a disk error, does): the next Store refuses the tree and
// unpacks the image again, and the file reads as the image has it.
func TestCorruptedCachedTreeIsRefusedAndUnpackedAgain(t *testing.T) {
	img := testImage(t)
	s := &Store{Dir: t.TempDir()}
	first, err := s.Unpack(img)
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(first.Root, "usr/bin/tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\nrm -rf /\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := (&Store{Dir: s.Dir}).Unpack(img)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Unpacked || !strings.Contains(got.Reason, "changed since it was unpacked") {
		t.Errorf("Unpack of a changed tree: Unpacked %v, Reason %q; want it unpacked again, saying why", got.Unpacked, got.Reason)
	}
	if s := readFile(t, tool); s != "#!/bin/sh\necho tool\n" {
		t.Errorf("usr/bin/tool after the new unpack = %q, want the image's", s)
	}
	// A file added to the tree counts as well.
	if err := os.WriteFile(filepath.Join(got.Root, "etc/extra"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := (&Store{Dir: s.Dir}).Unpack(img); err != nil || !again.Unpacked {
		t.Errorf("Unpack of a tree with an added file: %+v, %v; want it unpacked again", again, err)
	}
}

// A layer blob of the layout whose bytes changed (bit rot, a truncated copy) is
// refused with a DigestError naming the blob, and nothing is left in the cache to
// run; once the blob is right again the image unpacks.
func TestCorruptedLayerBlobIsRefused(t *testing.T) {
	dir := writeLayout(t, testImage(t), "dev")
	img, err := Resolve(dir, "runbook-operator:dev")
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.Digest()
		blob := filepath.Join(dir, "blobs", d.Algorithm, d.Hex)
		orig, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(orig)
		bad[len(bad)/2] ^= 0xff
		if err := os.WriteFile(blob, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		s := &Store{Dir: t.TempDir()}
		_, err = s.Unpack(img)
		var de *DigestError
		if !errors.As(err, &de) || de.Layer != i || de.Want != d.String() || de.LayoutBlob != blob {
			t.Fatalf("layer %d corrupted: Unpack error %v, want a DigestError for %s naming %s", i, err, d, blob)
		}
		if entries, _ := os.ReadDir(s.Dir); len(entries) != 1 || entries[0].Name() != ".lock" {
			t.Errorf("layer %d corrupted: the cache holds %v, want nothing but its lock", i, entries)
		}
		if err := os.WriteFile(blob, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Unpack(img); err != nil {
			t.Fatalf("layer %d restored: %v", i, err)
		}
	}
}

func TestResolve(t *testing.T) {
	img := testImage(t)
	dir := writeLayout(t, img, "dev")
	d, _ := img.Digest()
	for _, ref := range []string{"runbook-operator:dev", "localhost:5000/x/runbook-operator:dev", "runbook-operator@" + d.String()} {
		got, err := Resolve(dir, ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if gd, _ := got.Digest(); gd != d {
			t.Errorf("Resolve(%q) = %s, want %s", ref, gd, d)
		}
	}
	for ref, want := range map[string]string{
		"runbook-operator:v9": "manifest for runbook-operator:v9 not found: the image layout " + dir + " has the tags dev",
		"runbook-operator":    "manifest for runbook-operator not found",
		"runbook-operator@sha256:" + strings.Repeat("0", 64): "has the tags dev",
	} {
		_, err := Resolve(dir, ref)
		var nf *NotFoundError
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q) error %v, want a NotFoundError containing %q", ref, err, want)
		}
	}
	_, err := Resolve(filepath.Join(t.TempDir(), "missing"), "runbook-operator:dev")
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Err == nil {
		t.Errorf("Resolve of a missing layout: %v, want a NotFoundError with its cause", err)
	}
}

func TestUnpackRefusesEntriesLeavingTheRoot(t *testing.T) {
	for name, l := range map[string]v1.Layer{
		"dot-dot": layerOf(t, entry{name: "../escape", body: "x"}),
		"through a symlink": layerOf(t,
			entry{name: "link", typ: tar.TypeSymlink, link: "/"},
			entry{name: "link/escape", body: "x"}),
		"hard link outside": layerOf(t, entry{name: "passwd", typ: tar.TypeLink, link: "../../etc/passwd"}),
	} {
		img, err := mutate.AppendLayers(empty.Image, l)
		if err != nil {
			t.Fatal(err)
		}
		s := &Store{Dir: t.TempDir()}
		if _, err := s.Unpack(img); err == nil {
			t.Errorf("%s: unpacked, want it refused", name)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(s.Dir), "escape")); err == nil {
			t.Errorf("%s: a file was written outside the root", name)
		}
	}
}

func TestPruneKeepsTheMostRecentlyUsed(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Keep: 2}
	var roots []string
	for i := range 3 {
		img, err := mutate.AppendLayers(empty.Image, layerOf(t, entry{name: "n", body: strings.Repeat("x", i)}))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Unpack(img)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, got.Root)
		// Distinct use times, all older than ociimage.InUseGrace (trees used within it
		// are never pruned: another checkout's run may be using them).
		ageNewEntries(t, s.Dir, time.Now().Add(-2*ociimage.InUseGrace+time.Duration(i)*time.Minute))
	}
	if _, err := os.Stat(roots[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the least recently used tree is kept: %v", err)
	}
	for _, r := range roots[1:] {
		if _, err := os.Stat(r); err != nil {
			t.Errorf("a recent tree is gone: %v", err)
		}
	}
}

// ageNewEntries gives the cache entries modified within ociimage.InUseGrace the
// modification time at.
func ageNewEntries(t *testing.T, dir string, at time.Time) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || strings.HasPrefix(e.Name(), ".") || time.Since(fi.ModTime()) > ociimage.InUseGrace {
			continue
		}
		if err := os.Chtimes(filepath.Join(dir, e.Name()), at, at); err != nil {
			t.Fatal(err)
		}
	}
}
