// Package nodeagent is a minimal kubelet for the devcluster: it registers a Node, binds
// pending pods to it and runs the containers of those pods as host processes, reporting
// their status through the API server the way a kubelet does.
//
// A container runs for real only when its image is mapped (an ImageMapping): to an
// OCI image layout, whose image the agent unpacks and runs the container chrooted
// in (Layout), or to a host program; everything else is reported Running and Ready
// without running anything, and an Event on the pod says so.
package nodeagent

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// ImageMapping maps a container image to a host program that plays the image's
// ENTRYPOINT.
type ImageMapping struct {
	// Image is an image repository without tag or digest ("saas",
	// "ghcr.io/runbook-operator/runbook-operator"). A trailing "*" makes it a prefix
	// ("ghcr.io/runbook-operator/*"); a leading "*/" matches the name under any
	// registry and path ("*/saas": "ghcr.io/acme/saas", "localhost:5000/saas").
	Image string
	// Layout is an OCI image layout (make image writes one): the image reference's
	// tag (its ref.name in the layout) or digest picks the image, which the agent
	// unpacks (Options.ImageCache) and runs the container in, chrooted, as the
	// image's or the securityContext's user, with the pod's volumes and env. A
	// reference the layout does not hold fails to pull (ErrImagePull). The fields
	// below, which map the image to host programs, are then unused.
	Layout string
	// Binary is the host program run when the container has no command, or when the
	// command names the image's entrypoint.
	Binary string
	// Entrypoints are the in-image names of the entrypoint ("/agent", "agent"). A
	// container command whose first element is one of them, or whose base name equals
	// the base name of Binary, runs Binary with the rest of the command and the args.
	Entrypoints []string
	// Commands maps other in-image programs (by path or base name, "/manager",
	// "python") to host programs. A relative host path is relative to the tag's folder
	// (Tags): "bin/celery".
	Commands map[string]string
	// Tags, when set, maps each tag of the image to a host folder holding that
	// version's files, as an image's layers would: the container runs in it (it stands
	// for WorkDir), and a tag not listed fails to start as a pull of a missing tag does.
	// An image reference without a tag means "latest".
	Tags map[string]string
	// WorkDir is the image's WORKDIR ("/app"): a container workingDir, command or arg
	// naming it, or a path below it, is rewritten to the tag's folder.
	WorkDir string
	// Path are the folders the image's PATH starts with (its ENV PATH), before the
	// host's: a relative folder is relative to the tag's folder ("bin"). A shell in
	// the container finds the image's programs (`python`) there, as in the real image.
	Path []string
}

// PathDirs are the host folders of mp.Path for an image whose tag folder is root.
func (mp ImageMapping) PathDirs(root string) []string {
	var out []string
	for _, d := range mp.Path {
		if !filepath.IsAbs(d) {
			if root == "" {
				continue
			}
			d = filepath.Join(root, d)
		}
		out = append(out, d)
	}
	return out
}

// ErrImagePull is returned by ForImage for a tag the mapping does not have.
type ErrImagePull struct{ Image, Known string }

func (e *ErrImagePull) Error() string {
	return fmt.Sprintf("manifest for %s not found: the devcluster's image has the tags %s", e.Image, e.Known)
}

// ForImage returns the mapping for one image reference: with Tags, the tag's folder
// (also returned) and Commands resolved against it. Without Tags it returns the
// mapping as it is and no folder.
func (mp ImageMapping) ForImage(image string) (ImageMapping, string, error) {
	if len(mp.Tags) == 0 {
		return mp, "", nil
	}
	tag := Tag(image)
	if tag == "" {
		tag = "latest"
	}
	root, ok := mp.Tags[tag]
	if !ok {
		known := make([]string, 0, len(mp.Tags))
		for t := range mp.Tags {
			known = append(known, t)
		}
		slices.Sort(known)
		return mp, "", &ErrImagePull{Image: image, Known: strings.Join(known, ", ")}
	}
	out := mp
	out.Commands = make(map[string]string, len(mp.Commands))
	for k, v := range mp.Commands {
		if !filepath.IsAbs(v) {
			v = filepath.Join(root, v)
		}
		out.Commands[k] = v
	}
	if out.Binary != "" && !filepath.IsAbs(out.Binary) {
		out.Binary = filepath.Join(root, out.Binary)
	}
	return out, root, nil
}

// InImage rewrites a path inside the image (WorkDir or below it) to the host folder
// root; other values are returned as they are.
func (mp ImageMapping) InImage(v, root string) string {
	if root == "" || mp.WorkDir == "" {
		return v
	}
	wd := strings.TrimSuffix(mp.WorkDir, "/")
	if v == wd {
		return root
	}
	if rest, ok := strings.CutPrefix(v, wd+"/"); ok {
		return filepath.Join(root, rest)
	}
	return v
}

// ImageMap is the list of mappings the node agent uses. Exact repository matches win
// over prefixes; among prefixes the longest wins.
type ImageMap []ImageMapping

// Repository returns the image reference without tag and digest.
func Repository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		image = image[:i]
	}
	return image
}

// Tag returns the image tag, or "" when there is none (or only a digest).
func Tag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[i+1:]
	}
	return ""
}

// Lookup finds the mapping for an image.
func (m ImageMap) Lookup(image string) (ImageMapping, bool) {
	repo := Repository(image)
	best, bestLen := -1, -1
	for i, mp := range m {
		key := mp.Image
		if rest, ok := strings.CutPrefix(key, "*/"); ok { // any registry prefix
			if strings.HasSuffix(repo, "/"+rest) && len(key) > bestLen {
				best, bestLen = i, len(key)
			}
			continue
		}
		if strings.HasSuffix(key, "*") {
			prefix := strings.TrimSuffix(key, "*")
			if strings.HasPrefix(repo, prefix) && len(prefix) > bestLen {
				best, bestLen = i, len(prefix)
			}
			continue
		}
		if repo == key {
			return mp, true
		}
	}
	if best >= 0 {
		return m[best], true
	}
	return ImageMapping{}, false
}

// LookPathFunc finds a program on the host (exec.LookPath).
type LookPathFunc func(string) (string, error)

// Argv returns the host command line for a container with the given command and args,
// following the image's ENTRYPOINT semantics: without a command the entrypoint runs
// with the args; a command naming the entrypoint (or another mapped in-image program)
// runs the mapped host program; any other command runs from the host PATH when it
// exists there (sh, pg_dump, ...).
func (mp ImageMapping) Argv(command, args []string, lookPath LookPathFunc) ([]string, error) {
	if len(command) == 0 {
		if mp.Binary == "" {
			return nil, fmt.Errorf("image %s has no entrypoint mapped and the container has no command", mp.Image)
		}
		return append([]string{mp.Binary}, args...), nil
	}
	rest := append(append([]string{}, command[1:]...), args...)
	cmd0 := command[0]
	base := filepath.Base(cmd0)
	if mp.Binary != "" {
		if base == filepath.Base(mp.Binary) {
			return append([]string{mp.Binary}, rest...), nil
		}
		for _, e := range mp.Entrypoints {
			if e == cmd0 || e == base {
				return append([]string{mp.Binary}, rest...), nil
			}
		}
	}
	if host, ok := mp.Commands[cmd0]; ok {
		return append([]string{host}, rest...), nil
	}
	if host, ok := mp.Commands[base]; ok {
		return append([]string{host}, rest...), nil
	}
	if lookPath != nil {
		if p, err := lookPath(cmd0); err == nil {
			return append([]string{p}, rest...), nil
		}
	}
	known := []string{}
	if mp.Binary != "" {
		known = append(known, mp.Entrypoints...)
		known = append(known, filepath.Base(mp.Binary))
	}
	for k := range mp.Commands {
		known = append(known, k)
	}
	slices.Sort(known)
	return nil, fmt.Errorf("command %q of image %s is neither a mapped program (%s) nor on the host PATH",
		cmd0, mp.Image, strings.Join(known, ", "))
}
