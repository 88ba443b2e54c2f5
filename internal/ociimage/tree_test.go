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
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// makeTree writes the same tree in the given order of its files, every file
// touched at mtime.
func makeTree(t *testing.T, order []string, mtime time.Time) string {
	t.Helper()
	root := t.TempDir()
	content := map[string]string{"b/x": "x", "a/y": "yy", "c": "c"}
	for _, p := range order {
		path := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content[p]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("b/x", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "b/x"), filepath.Join(root, "a/hard")); err != nil {
		t.Fatal(err)
	}
	// The symlink keeps its time (now, after the epoch: clamped).
	for _, p := range []string{"b/x", "a/y", "c", "a", "b"} {
		if err := os.Chtimes(filepath.Join(root, p), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func tarOf(t *testing.T, root string, skip func(string) bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteTree(&b, root, epoch, skip); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func headers(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	r := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestWriteTreeIsReproducible(t *testing.T) {
	// Same content written in another order, at other times after the epoch:
	// the same bytes.
	one := tarOf(t, makeTree(t, []string{"b/x", "a/y", "c"}, epoch.Add(time.Hour)), nil)
	two := tarOf(t, makeTree(t, []string{"c", "a/y", "b/x"}, epoch.Add(48*time.Hour+time.Millisecond)), nil)
	if sha256.Sum256(one) != sha256.Sum256(two) {
		t.Fatal("the same tree gave two different layers")
	}
	var names []string
	for _, h := range headers(t, one) {
		names = append(names, h.Name)
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: time %v, want clamped to %v", h.Name, h.ModTime, epoch)
		}
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: names or times of the building machine: %+v", h.Name, h)
		}
	}
	want := []string{"a/", "a/hard", "a/y", "b/", "b/x", "c", "l"}
	if !slices.Equal(names, want) {
		t.Fatalf("entries %q, want sorted %q", names, want)
	}
	// A time before the epoch is kept: clamped, not replaced.
	early := epoch.Add(-24 * time.Hour)
	if h := headers(t, tarOf(t, makeTree(t, []string{"c", "a/y", "b/x"}, early), nil))[0]; !h.ModTime.Equal(early) {
		t.Errorf("a/: time %v, want %v kept", h.ModTime, early)
	}
}

func TestWriteTreeEntries(t *testing.T) {
	root := makeTree(t, []string{"b/x", "a/y", "c"}, epoch)
	byName := map[string]*tar.Header{}
	for _, h := range headers(t, tarOf(t, root, func(rel string) bool { return rel == "c" })) {
		byName[h.Name] = h
	}
	if _, ok := byName["c"]; ok {
		t.Error("skipped entry c is in the layer")
	}
	// a/hard sorts before b/x: it carries the content, b/x links to it.
	if h := byName["a/hard"]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 1 {
		t.Errorf("a/hard: %+v, want the inode's first path as a regular file", h)
	}
	if h := byName["b/x"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "a/hard" {
		t.Errorf("b/x: %+v, want a hard link to a/hard", h)
	}
	if h := byName["l"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "b/x" {
		t.Errorf("l: %+v, want a symlink to b/x", h)
	}
	if h := byName["a/"]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != os.Getuid() {
		t.Errorf("a/: %+v, want a directory owned by uid %d", h, os.Getuid())
	}
}

func TestWriteTreeRefusesSpecialFiles(t *testing.T) {
	root := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := WriteTree(io.Discard, root, epoch, nil); err == nil {
		t.Fatal("a socket went into the layer")
	}
	if err := WriteTree(io.Discard, root, epoch, func(rel string) bool { return rel == "sock" }); err != nil {
		t.Fatalf("skipped socket: %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("#!"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Built before the epoch: its own time still does not go into the layer.
	if err := os.Chtimes(src, epoch.Add(-time.Hour), epoch.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteFiles(&b, []File{{Path: "/manager", Source: src, Mode: 0o755}}, epoch); err != nil {
		t.Fatal(err)
	}
	hs := headers(t, b.Bytes())
	if len(hs) != 1 || hs[0].Name != "manager" || hs[0].Mode != 0o755 || hs[0].Uid != 0 || hs[0].Gid != 0 || hs[0].Size != 2 || !hs[0].ModTime.Equal(epoch) {
		t.Fatalf("headers %+v, want manager 0755 root-owned of 2 bytes at the epoch", hs)
	}
}

func TestExcluded(t *testing.T) {
	for rel, want := range map[string]bool{
		"dev/null": true, "dev/termination-log": true, "dev/pts": true,
		"manager": true, "agent": true,
		"dev": false, "devices": false, "usr/bin/manager": false, "etc/passwd": false, "agents": false,
	} {
		if got, why := Excluded(rel); got != want || got == (why == "") {
			t.Errorf("Excluded(%q) = %v, %q; want %v with a reason when true", rel, got, why, want)
		}
	}
}

func TestConfigFile(t *testing.T) {
	cf := ConfigFile(Labels{Source: "s", Revision: "r", Version: "v"}, time.Unix(1767225600, 0))
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/manager"}) || c.WorkingDir != "/" {
		t.Errorf("user %q entrypoint %q workdir %q", c.User, c.Entrypoint, c.WorkingDir)
	}
	if !slices.Equal(c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}) {
		t.Errorf("env %q", c.Env)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   "s",
		"org.opencontainers.image.revision": "r",
		"org.opencontainers.image.version":  "v",
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
	} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Equal(time.Unix(1767225600, 0)) {
		t.Errorf("platform %s/%s created %v", cf.OS, cf.Architecture, cf.Created)
	}
}

func TestPruneCache(t *testing.T) {
	for _, tc := range []struct {
		keep    int
		current []string
		fresh   bool
		want    []string
	}{
		{keep: 2, want: []string{".lock", ".tmp-being-written", "middle", "newest"}},
		// An entry written within InUseGrace stays whatever keep says (another
		// checkout's run may be using it).
		{keep: 0, fresh: true, want: []string{".lock", ".tmp-being-written", "just-built"}},
		// The entry in use stays, however old, and counts in keep.
		{keep: 2, current: []string{"old"}, want: []string{".lock", ".tmp-being-written", "newest", "old"}},
		{keep: 1, current: []string{"old"}, want: []string{".lock", ".tmp-being-written", "old"}},
		{keep: 5, want: []string{".lock", ".tmp-being-written", "middle", "newest", "old"}},
	} {
		dir := t.TempDir()
		for i, name := range []string{"old", "newest", "middle", ".tmp-being-written", ".lock"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			mt := epoch.Add(time.Duration(map[int]int{0: 1, 1: 3, 2: 2, 3: 0, 4: 0}[i]) * time.Hour)
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		// An unpacked image's read-only folder is removed too.
		ro := filepath.Join(dir, "middle-tree")
		if err := os.MkdirAll(filepath.Join(ro, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(ro, "sub", "f"), nil, 0o644)
		_ = os.Chmod(filepath.Join(ro, "sub"), 0o555)
		old := epoch.Add(-time.Hour)
		_ = os.Chtimes(ro, old, old)
		if tc.fresh {
			recent := time.Now().Add(-InUseGrace / 2)
			_ = os.WriteFile(filepath.Join(dir, "just-built"), nil, 0o644)
			_ = os.Chtimes(filepath.Join(dir, "just-built"), recent, recent)
		}
		if err := PruneCache(dir, tc.keep, tc.current...); err != nil {
			t.Fatal(err)
		}
		var left []string
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			left = append(left, e.Name())
		}
		if tc.keep == 5 {
			tc.want = append(tc.want, "middle-tree")
			slices.Sort(tc.want)
		}
		if !slices.Equal(left, tc.want) {
			t.Errorf("keep %d, current %q: left %q, want %q", tc.keep, tc.current, left, tc.want)
		}
	}
}
