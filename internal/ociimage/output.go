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
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Outputs are the files an image is written to.
type Outputs struct {
	// Layout is an OCI image layout directory (skopeo's oci:DIR).
	Layout string
	// DockerArchive is a tar that docker load and podman load accept (skopeo's
	// docker-archive:FILE), tagged with the image's reference.
	DockerArchive string
}

// Write writes img, referred to as ref (registry/repository:tag), to out.
// Each output is written beside its place and renamed there, so a reader never
// sees half of one.
func Write(img v1.Image, ref string, out Outputs) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if out.Layout != "" {
		tmp := out.Layout + ".tmp"
		_ = os.RemoveAll(tmp)
		p, err := layout.Write(tmp, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithPlatform(Platform), layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag.TagStr(),
		})); err != nil {
			return err
		}
		_ = os.RemoveAll(out.Layout)
		if err := os.Rename(tmp, out.Layout); err != nil {
			return err
		}
	}
	if out.DockerArchive != "" {
		tmp := out.DockerArchive + ".tmp"
		if err := tarball.WriteToFile(tmp, tag, img); err != nil {
			return err
		}
		if err := os.Rename(tmp, out.DockerArchive); err != nil {
			return err
		}
	}
	return nil
}

// Push pushes the image in the layout directory dir to ref, with the
// credentials of docker login / podman login (the default keychain).
func Push(ctx context.Context, dir, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s holds %d images, want 1", dir, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	return remote.Write(tag, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

// BuildFlags are the Dockerfile's go build flags (static, trimmed, stripped),
// with CGO_ENABLED=0 and GOOS/GOARCH of Platform in the environment.
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// GoBuild builds the manager and the agent of the module in repo into dir as
// the Dockerfile does and returns their paths.
func GoBuild(ctx context.Context, repo, dir string) (manager, agent string, err error) {
	manager, agent = filepath.Join(dir, "manager"), filepath.Join(dir, "agent")
	for _, b := range []struct{ out, pkg string }{{manager, "./cmd/manager"}, {agent, "./cmd/agent"}} {
		cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, BuildFlags...), "-o", b.out, b.pkg)...) //nolint:gosec // G204: go build of this module's own commands into the caller's folder
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+Platform.OS, "GOARCH="+Platform.Architecture)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return manager, agent, nil
}
