package imagefs

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// unpackLayer applies layer i onto root, hashing the compressed blob and the
// uncompressed tar as it reads them; a mismatch with the manifest's digest or the
// config's diff ID is a DigestError. Whiteouts delete what lower layers put.
func unpackLayer(root string, i int, l v1.Layer, diffID v1.Hash) error {
	want, err := l.Digest()
	if err != nil {
		return err
	}
	mt, err := l.MediaType()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %d (%s): %w", i, want, err)
	}
	defer func() { _ = rc.Close() }()
	blobHash := sha256.New()
	blob := io.TeeReader(rc, blobHash)
	tarStream := blob
	switch mt {
	case types.OCILayer, types.DockerLayer, types.OCIRestrictedLayer, types.DockerForeignLayer:
		gz, err := gzip.NewReader(blob)
		if err != nil {
			return verifyOr(i, want, blobHash, rc, fmt.Errorf("layer %d (%s): %w", i, want, err))
		}
		defer func() { _ = gz.Close() }()
		tarStream = gz
	case types.OCIUncompressedLayer, types.OCIUncompressedRestrictedLayer:
	default:
		return fmt.Errorf("layer %d (%s): media type %s is not supported", i, want, mt)
	}
	diffHash := sha256.New()
	tarStream = io.TeeReader(tarStream, diffHash)
	applyErr := apply(root, tar.NewReader(tarStream))
	// The digests cover the whole streams, past the tar's end.
	_, _ = io.Copy(io.Discard, tarStream)
	if err := verifyOr(i, want, blobHash, rc, nil); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(diffHash.Sum(nil)); got != diffID.String() {
		return &DigestError{Layer: i, What: "uncompressed tar (diff ID)", Want: diffID.String(), Got: got, LayoutBlob: blobPath(rc, want)}
	}
	if applyErr != nil {
		return fmt.Errorf("layer %d (%s): %w", i, want, applyErr)
	}
	return nil
}

// verifyOr reads the rest of the blob and compares its digest with want: a
// mismatch explains any other failure (a corrupted blob fails to decompress).
func verifyOr(i int, want v1.Hash, h hash.Hash, rest io.Reader, other error) error {
	_, _ = io.Copy(h, rest)
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != want.String() {
		return &DigestError{Layer: i, What: "compressed blob", Want: want.String(), Got: got, LayoutBlob: blobPath(rest, want)}
	}
	return other
}

// blobPath names the blob's file when the layer was read from a file (a layout's).
func blobPath(r io.Reader, d v1.Hash) string {
	if f, ok := r.(*os.File); ok {
		return f.Name()
	}
	return d.String()
}

// apply writes a layer's entries under root.
func apply(root string, tr *tar.Reader) error {
	created := map[string]bool{} // this layer's paths, which an opaque whiteout keeps
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue
		}
		dir, base := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		if err := checkParents(root, dir); err != nil {
			return err
		}
		target := filepath.Join(root, filepath.FromSlash(rel))
		switch {
		case base == whiteoutOpaque:
			if err := opaque(root, dir, created); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))))); err != nil {
				return err
			}
			continue
		}
		created[rel] = true
		if err := writeEntry(root, target, h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

// cleanName makes an entry name relative to the root, refusing names that leave it.
func cleanName(name string) (string, error) {
	c := path.Clean("/" + name)
	if strings.Contains(name, "..") {
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return "", fmt.Errorf("entry %q leaves the image's root", name)
			}
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}

// checkParents refuses an entry whose parent folders are not folders under root (a
// symbolic link there would lead outside the root); missing ones are created.
func checkParents(root, dir string) error {
	if dir == "" {
		return nil
	}
	p := root
	for _, part := range strings.Split(dir, "/") {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(p, 0o755); err != nil { //nolint:gosec // G301: implicit folders of a layer are 0755
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: a parent of a layer entry is not a folder (%s)", dir, fi.Mode().Type())
		}
	}
	return nil
}

// opaque empties dir of what lower layers put there.
func opaque(root, dir string, created map[string]bool) error {
	full := filepath.Join(root, filepath.FromSlash(dir))
	entries, err := os.ReadDir(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if created[path.Join(dir, e.Name())] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(full, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func writeEntry(root, target string, h *tar.Header, r io.Reader) error {
	mode := fs.FileMode(h.Mode).Perm() //nolint:gosec // G115: tar modes fit
	if h.Mode&04000 != 0 {
		mode |= fs.ModeSetuid
	}
	if h.Mode&02000 != 0 {
		mode |= fs.ModeSetgid
	}
	if h.Mode&01000 != 0 {
		mode |= fs.ModeSticky
	}
	if h.Typeflag == tar.TypeDir {
		if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
			if err := os.Remove(target); err != nil {
				return err
			}
		}
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	} else if err := os.RemoveAll(target); err != nil { // what a lower layer put there
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
	case tar.TypeReg:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) //nolint:gosec // G304: under root, parents checked
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		return finish(target, h, 0, os.Symlink(h.Linkname, target))
	case tar.TypeLink:
		src, err := cleanName(h.Linkname)
		if err != nil {
			return err
		}
		old := filepath.Join(root, filepath.FromSlash(src))
		if fi, err := os.Lstat(old); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("hard link to %q, which is not a file of the image (%v)", h.Linkname, err)
		}
		return os.Link(old, target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		dev := int(unixMkdev(uint32(h.Devmajor), uint32(h.Devminor))) //nolint:gosec // G115: device numbers fit
		typ := map[byte]uint32{tar.TypeChar: syscall.S_IFCHR, tar.TypeBlock: syscall.S_IFBLK, tar.TypeFifo: syscall.S_IFIFO}[h.Typeflag]
		if err := syscall.Mknod(target, typ|uint32(mode.Perm()), dev); err != nil {
			return err
		}
	default:
		return fmt.Errorf("tar entry type %q is not supported", h.Typeflag)
	}
	return finish(target, h, mode, nil)
}

// finish sets owner, mode and time (symbolic links: owner only).
func finish(target string, h *tar.Header, mode fs.FileMode, err error) error {
	if err != nil {
		return err
	}
	if err := os.Lchown(target, h.Uid, h.Gid); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	if h.Typeflag == tar.TypeSymlink {
		return nil
	}
	// After chown, which clears set-id bits.
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	return os.Chtimes(target, h.ModTime, h.ModTime)
}

func unixMkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(minor&0xff) | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

// TreeDigest is a digest of the file system under root: every entry's path, type,
// permissions, numeric owner, and a file's content or a link's target, in lexical
// order. Times are left out (opening a folder may change them).
func TreeDigest(root string) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st, _ := fi.Sys().(*syscall.Stat_t)
		var uid, gid uint32
		if st != nil {
			uid, gid = st.Uid, st.Gid
		}
		fmt.Fprintf(h, "%q %v %d %d", rel, fi.Mode(), uid, gid)
		switch {
		case fi.Mode().IsRegular():
			fmt.Fprintf(h, " %d ", fi.Size())
			f, err := os.Open(p) //nolint:gosec // G304: a file of the tree being hashed
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(h, f, buf)
			_ = f.Close()
			if err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " -> %q", target)
		case st != nil && fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			fmt.Fprintf(h, " dev %d", st.Rdev)
		}
		h.Write([]byte{'\n'})
		return nil
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
