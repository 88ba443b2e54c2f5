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

// Package ociimage assembles the operator's OCI image without a container engine:
// a layer from the debootstrap runtime file system (hack/rootfs.sh), a layer with
// the manager and agent binaries, and the image config, with go-containerregistry
// for the OCI format. The same inputs give the same digest: layer entries are
// sorted, times clamped to SOURCE_DATE_EPOCH, owners numeric.
package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Excluded reports whether the runtime file system's entry rel (slash-separated,
// relative to its root) stays out of the image, and why. hack/rootfs.sh leaves in
// it what a container runtime or the kubelet provides: /dev's device nodes and
// the termination log; and empty /manager and /agent where the tests bind-mount
// binaries (the image has the built ones in a layer of their own).
func Excluded(rel string) (bool, string) {
	switch {
	case strings.HasPrefix(rel, "dev/"):
		return true, "device nodes and the termination log come from the runtime"
	case rel == "manager" || rel == "agent":
		return true, "placeholder for a bind-mounted binary; the binaries layer has the built one"
	}
	return false, ""
}

// normalize makes a header depend on the file's content, mode and numeric owner
// alone: the time clamped to epoch at second precision, no access or change time,
// no user or group names (looked up on the building machine), no extended
// attributes.
func normalize(h *tar.Header, epoch time.Time) {
	mt := h.ModTime.Truncate(time.Second)
	if mt.After(epoch) {
		mt = epoch
	}
	h.ModTime = mt.UTC()
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Uname, h.Gname = "", ""
	h.PAXRecords = nil
	h.Format = tar.FormatUnknown // the smallest format that holds the header
}

// WriteTree writes root's file system as an uncompressed layer tar to w: entries
// in lexical path order (filepath.WalkDir's), names relative without a leading
// "./", directories with a trailing slash, hard links as links to the first
// path of their inode, numeric owners as on disk, times clamped to epoch.
// Entries for which skip returns true (and, for directories, what they hold)
// are left out. Sockets, pipes and device nodes are refused: an image layer of
// this project holds none (Excluded drops /dev).
func WriteTree(w io.Writer, root string, epoch time.Time, skip func(rel string) bool) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.Mode().IsDir(), fi.Mode().IsRegular():
		default:
			return fmt.Errorf("%s: %s files cannot go into the image layer", rel, fi.Mode().Type())
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs between architectures
			if first, ok := seen[key]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				seen[key] = rel
			}
		}
		normalize(h, epoch)
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		return copyFile(tw, path, h.Size)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// File is a file put into a layer at Path (absolute in the image) from Source
// on this machine, owned by root.
type File struct {
	Path, Source string
	Mode         fs.FileMode
}

// WriteFiles writes files as an uncompressed layer tar to w, in the order
// given, owned by root, with epoch as their time (they are built fresh: their
// own times say nothing).
func WriteFiles(w io.Writer, files []File, epoch time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		fi, err := os.Stat(f.Source)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", f.Source)
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = strings.TrimPrefix(f.Path, "/")
		h.Mode = int64(f.Mode.Perm())
		h.Uid, h.Gid = 0, 0
		h.ModTime = epoch
		normalize(h, epoch)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if err := copyFile(tw, f.Source, h.Size); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile copies exactly size bytes of path (its size when the header was
// made): a file that changed meanwhile fails the layer rather than corrupt it.
func copyFile(w io.Writer, path string, size int64) error {
	f, err := os.Open(path) //nolint:gosec // G304: a file of the tree being packed, or a binary just built
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("%s: changed while it was read (%d of %d bytes)", path, n, size)
	}
	return nil
}
