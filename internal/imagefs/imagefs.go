// Package imagefs unpacks images of an OCI image layout into a cache of file
// systems, one per manifest digest, for the devcluster's node agent to run
// containers chrooted in. Every layer is verified while it is unpacked (the
// compressed blob against the manifest's digest, the uncompressed tar against the
// config's diff ID); an unpacked tree is recorded with a digest of its content,
// checked again the first time a Store uses it, so a cached file system that was
// changed since is refused and unpacked anew rather than run.
package imagefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"runbook-operator/internal/ociimage"
)

// RefNameAnnotation names an image's tag in an OCI layout's index.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// NotFoundError is a reference the layout does not hold: the kubelet's ErrImagePull.
type NotFoundError struct {
	Ref, Layout string
	Known       []string // the tags the layout holds
	Err         error    // why the layout could not be read, if that is the cause
}

func (e *NotFoundError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("image %s: reading the image layout %s: %v", e.Ref, e.Layout, e.Err)
	}
	return fmt.Sprintf("manifest for %s not found: the image layout %s has the tags %s",
		e.Ref, e.Layout, strings.Join(e.Known, ", "))
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// DigestError is a layer whose content does not match its digest: the image is
// refused and nothing of it is kept.
type DigestError struct {
	Layer      int    // its index in the manifest
	What       string // "compressed blob" or "uncompressed tar (diff ID)"
	Want, Got  string
	LayoutBlob string // the blob's file in the layout
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("layer %d: %s has digest %s, the image says %s: the blob %s is corrupted (rebuild the image: make image)",
		e.Layer, e.What, e.Got, e.Want, e.LayoutBlob)
}

// Resolve finds the image for ref in the OCI layout at dir: by digest
// (repo@sha256:...) or by tag (the index's ref.name annotation; a reference
// without tag or digest means "latest"). It returns a NotFoundError when the
// layout has no such image or cannot be read.
func Resolve(dir, ref string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, &NotFoundError{Ref: ref, Layout: dir, Err: err}
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, &NotFoundError{Ref: ref, Layout: dir, Err: err}
	}
	digest, tag := splitRef(ref)
	var known []string
	for _, d := range im.Manifests {
		name := d.Annotations[RefNameAnnotation]
		if name != "" {
			known = append(known, name)
		}
		if (digest != "" && d.Digest.String() == digest) || (digest == "" && name == tag) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, &NotFoundError{Ref: ref, Layout: dir, Err: err}
			}
			return img, nil
		}
	}
	slices.Sort(known)
	return nil, &NotFoundError{Ref: ref, Layout: dir, Known: known}
}

// splitRef returns ref's digest, or else its tag ("latest" when it has none).
func splitRef(ref string) (digest, tag string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return ref[i+1:], ""
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		return "", ref[i+1:]
	}
	return "", "latest"
}

// Image is an unpacked image.
type Image struct {
	// Digest is the manifest's digest ("sha256:...").
	Digest string
	// Root is the unpacked file system. Nothing may write to it: containers get
	// it read-only (or as the lower layer of an overlay).
	Root string
	// Config is the image's config (User, Env, Entrypoint, Cmd, WorkingDir).
	Config v1.Config
	// Unpacked says this call unpacked it (a cold cache, or a tree that failed
	// its check); Reason says why when a cached tree was dropped.
	Unpacked bool
	Reason   string
	// Took is how long the call took (unpack, or check of the cached tree).
	Took time.Duration
}

// record is what the cache keeps beside an unpacked tree.
type record struct {
	Digest string    `json:"digest"`
	Layers []string  `json:"layers"` // compressed digests, verified while unpacking
	Tree   string    `json:"tree"`   // TreeDigest of rootfs after unpacking
	Config v1.Config `json:"config"`
}

// Store is a cache of unpacked images under Dir: Dir/sha256-<hex>/rootfs and
// record.json. A Store checks each cached tree once (the first time it is used),
// and keeps the Keep most recently used trees (default 3).
type Store struct {
	Dir  string
	Keep int

	mu       sync.Mutex
	verified map[string]bool
}

// Unpack returns img unpacked, from the cache when the cached tree is intact.
// Concurrent calls (also from other processes) unpack an image once.
func (s *Store) Unpack(img v1.Image) (*Image, error) {
	start := time.Now()
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	digest := d.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.Dir, 0o755); err != nil { //nolint:gosec // G301: the trees are an image's public content, entered by its containers' users
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(s.Dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	entry := filepath.Join(s.Dir, d.Algorithm+"-"+d.Hex)
	root := filepath.Join(entry, "rootfs")
	var reason string
	if rec, err := readRecord(entry); err == nil && rec.Digest == digest {
		if s.verified[digest] {
			touch(entry)
			return &Image{Digest: digest, Root: root, Config: rec.Config, Took: time.Since(start)}, nil
		}
		tree, err := TreeDigest(root)
		if err == nil && tree == rec.Tree {
			s.markVerified(digest)
			touch(entry)
			return &Image{Digest: digest, Root: root, Config: rec.Config, Took: time.Since(start)}, nil
		}
		reason = fmt.Sprintf("the cached file system %s changed since it was unpacked (tree digest %s, recorded %s)", root, tree, rec.Tree)
		if err != nil {
			reason = fmt.Sprintf("the cached file system %s cannot be checked: %v", root, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) && err != nil {
		reason = fmt.Sprintf("the cache record of %s cannot be read: %v", entry, err)
	}
	if err := ociimage.RemoveAll(entry); err != nil {
		return nil, fmt.Errorf("drop the cached file system %s: %w", entry, err)
	}

	rec, err := s.unpack(img, digest, entry)
	if err != nil {
		return nil, err
	}
	s.markVerified(digest)
	keep := s.Keep
	if keep <= 0 {
		keep = 3
	}
	if err := ociimage.PruneCache(s.Dir, keep, filepath.Base(entry)); err != nil {
		return nil, err
	}
	return &Image{Digest: digest, Root: root, Config: rec.Config, Unpacked: true, Reason: reason, Took: time.Since(start)}, nil
}

func (s *Store) markVerified(digest string) {
	if s.verified == nil {
		s.verified = map[string]bool{}
	}
	s.verified[digest] = true
}

// unpack unpacks img into a temporary folder beside entry, verifying every layer,
// records it, and renames it to entry.
func (s *Store) unpack(img v1.Image, digest, entry string) (*record, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers but %d diff IDs in its config", digest, len(layers), len(cf.RootFS.DiffIDs))
	}
	tmp, err := os.MkdirTemp(s.Dir, ".unpack-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = ociimage.RemoveAll(tmp)
		}
	}()
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil { //nolint:gosec // G301: an image's root is 0755
		return nil, err
	}
	rec := &record{Digest: digest, Config: cf.Config}
	for i, l := range layers {
		if err := unpackLayer(root, i, l, cf.RootFS.DiffIDs[i]); err != nil {
			return nil, err
		}
		ld, _ := l.Digest()
		rec.Layers = append(rec.Layers, ld.String())
	}
	if rec.Tree, err = TreeDigest(root); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "record.json"), data, 0o644); err != nil { //nolint:gosec // G306: nothing secret
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { //nolint:gosec // G302: containers' users enter the tree
		return nil, err
	}
	if err := os.Rename(tmp, entry); err != nil {
		return nil, err
	}
	ok = true
	return rec, nil
}

func readRecord(entry string) (*record, error) {
	data, err := os.ReadFile(filepath.Join(entry, "record.json")) //nolint:gosec // G304: the cache's own file
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// lockFile takes an exclusive lock on path (created), for unpacks from several
// processes sharing a cache.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // G302,G304: a lock file of the cache
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
