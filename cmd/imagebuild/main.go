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

// Command imagebuild builds the operator's OCI image without a container engine
// (make image): the runtime file system hack/rootfs.sh built, the manager and
// agent built as the Dockerfile builds them, the config the Dockerfile gives.
// It writes an OCI layout and a docker-archive tar into a cache outside the
// checkout, keyed by the image's digest, prints where, and with --push pushes
// the image (make image-push).
//
//	imagebuild --rootfs DIR --tag REF [--source URL --revision SHA --version V] [--push]
//
// SOURCE_DATE_EPOCH (seconds) is the image's creation time and the latest file
// time in it.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"runbook-operator/internal/ociimage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		rootfs = flag.String("rootfs", "", "the runtime file system (hack/rootfs.sh prints it first)")
		tag    = flag.String("tag", "", "the image reference (registry/repository:tag)")
		labels ociimage.Labels
		push   = flag.Bool("push", false, "push the image to --tag after building it")
	)
	flag.StringVar(&labels.Source, "source", "", "org.opencontainers.image.source")
	flag.StringVar(&labels.Revision, "revision", "", "org.opencontainers.image.revision")
	flag.StringVar(&labels.Version, "version", "", "org.opencontainers.image.version")
	flag.Parse()
	if *rootfs == "" || *tag == "" {
		return fmt.Errorf("--rootfs and --tag are required")
	}
	sde := os.Getenv("SOURCE_DATE_EPOCH")
	secs, err := strconv.ParseInt(sde, 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (git log -1 --format=%%ct)", sde)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// hack/rootfs.sh's cache (<cache>/rootfs/image-<key>), beside the file system.
	cache := filepath.Join(filepath.Dir(filepath.Dir(filepath.Clean(*rootfs))), "image")
	start := time.Now()
	bin, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	manager, agent, err := ociimage.GoBuild(ctx, ".", bin)
	if err != nil {
		return err
	}
	spec := ociimage.Spec{RootFS: *rootfs, Manager: manager, Agent: agent, Labels: labels,
		Epoch: time.Unix(secs, 0), LayerCache: filepath.Join(cache, "layers")}
	img, err := spec.Image()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	// Outputs keyed by content: the digest, and the reference the archive is
	// tagged with.
	k := sha256.Sum256([]byte(digest.String() + " " + *tag))
	dir := filepath.Join(cache, "out", hex.EncodeToString(k[:])[:16])
	out := ociimage.Outputs{Layout: filepath.Join(dir, "oci"), DockerArchive: filepath.Join(dir, "docker-archive.tar")}
	if _, err := os.Stat(out.DockerArchive); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // used: kept by PruneCache
	} else {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if err := ociimage.Write(img, *tag, out); err != nil {
			return err
		}
	}
	// Each commit's image is a new output of a few hundred megabytes, each new
	// runtime file system a new layer: keep the latest few.
	if err := ociimage.PruneCache(filepath.Join(cache, "out"), 3); err != nil {
		return err
	}
	if err := ociimage.PruneCache(spec.LayerCache, 3); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "imagebuild: %s %s in %s\n", *tag, digest, time.Since(start).Round(time.Second))
	fmt.Printf("oci:%s\ndocker-archive:%s\n", out.Layout, out.DockerArchive)
	if *push {
		if err := ociimage.Push(ctx, out.Layout, *tag); err != nil {
			return fmt.Errorf("push %s: %w", *tag, err)
		}
		fmt.Fprintf(os.Stderr, "imagebuild: pushed %s@%s\n", *tag, digest)
	}
	return nil
}
