package devcluster

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"runbook-operator/internal/nodeagent"
)

// The runbook's application (test/saas): a Django + Celery project run by Debian's
// packages. Its image "saas" (any registry prefix) has one tag per release folder.
const (
	// SaaSImage is the application's image repository.
	SaaSImage = "saas"
	// SaaSWorkDir is the image's WORKDIR, where manage.py is.
	SaaSWorkDir = "/app"
	// Python is Debian's interpreter, the one with Django, Celery and psycopg2: the
	// python3 first on a PATH may be another build without them.
	Python = "/usr/bin/python3"
)

// SaaSBaseTag is the release test/saas/src holds.
const SaaSBaseTag = "1.0.0"

// BuildSaaSImages lays out every release of the application found in srcRoot
// (test/saas) under outDir, one folder per tag, and returns tag → folder. src/ is
// release 1.0.0; each releases/<tag>/ holds the files that differ from the release
// named in its FROM file, like an image layer on its base image.
func BuildSaaSImages(srcRoot, outDir string) (map[string]string, error) {
	base := filepath.Join(srcRoot, "src")
	if _, err := os.Stat(filepath.Join(base, "manage.py")); err != nil {
		return nil, fmt.Errorf("the application's code: %w", err)
	}
	parents := map[string]string{SaaSBaseTag: ""}
	entries, err := os.ReadDir(filepath.Join(srcRoot, "releases"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		from, err := os.ReadFile(filepath.Join(srcRoot, "releases", e.Name(), "FROM"))
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", e.Name(), err)
		}
		parents[e.Name()] = strings.TrimSpace(string(from))
	}
	tags := map[string]string{}
	for tag := range parents {
		var chain []string // the layers, base first
		for t := tag; t != ""; t = parents[t] {
			if _, ok := parents[t]; !ok {
				return nil, fmt.Errorf("release %s is built FROM %s, which does not exist", tag, t)
			}
			if len(chain) > len(parents) {
				return nil, fmt.Errorf("release %s: its FROM files make a cycle", tag)
			}
			if t == SaaSBaseTag {
				chain = append(chain, base)
			} else {
				chain = append(chain, filepath.Join(srcRoot, "releases", t))
			}
		}
		slices.Reverse(chain)
		dir := filepath.Join(outDir, tag)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		for _, layer := range chain {
			if err := copyTree(layer, dir); err != nil {
				return nil, fmt.Errorf("release %s: %w", tag, err)
			}
		}
		if err := imagePrograms(dir); err != nil {
			return nil, fmt.Errorf("release %s: %w", tag, err)
		}
		tags[tag] = dir
	}
	return tags, nil
}

// imagePrograms gives the image folder dir the programs the real image has on its
// PATH beside bin/celery: `python` and `python3` are Debian's Python (the one with
// Django), whatever the host's PATH would find first, so that a command run through a
// shell (a migration plan's `python manage.py migrate --plan`) finds it.
func imagePrograms(dir string) error {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"python", "python3"} {
		if err := os.Symlink(Python, filepath.Join(bin, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the files of src into dst, keeping modes, skipping FROM files and
// Python's caches.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "__pycache__" || d.Name() == "staticfiles" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == "FROM" || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
}

// SaaSImages maps the image "saas" under any registry prefix to the release folders
// of BuildSaaSImages: `python manage.py ...`, `gunicorn saas.wsgi`, `celery -A saas
// worker|beat` run with Debian's Python in the tag's folder, whose bin/ (python,
// python3, celery) starts the containers' PATH.
func SaaSImages(tags map[string]string) nodeagent.ImageMap {
	cmds := map[string]string{
		"python": Python, "python3": Python, "/usr/bin/python": Python, "/usr/local/bin/python": Python,
		"gunicorn": "/usr/bin/gunicorn", "/usr/local/bin/gunicorn": "/usr/bin/gunicorn",
		"celery": "bin/celery", "/usr/local/bin/celery": "bin/celery",
		"manage.py": "manage.py", "./manage.py": "manage.py",
	}
	var m nodeagent.ImageMap
	for _, img := range []string{SaaSImage, "*/" + SaaSImage} {
		m = append(m, nodeagent.ImageMapping{Image: img, Commands: cmds, Tags: tags, WorkDir: SaaSWorkDir, Path: []string{"bin"}})
	}
	return m
}

// SaaSSecrets are the application's own secrets: a Django secret key and one Fernet
// key (FIELD_ENCRYPTION_KEY, a comma list newest first).
func SaaSSecrets() map[string]string {
	return map[string]string{
		"DJANGO_SECRET_KEY":    randomDjangoKey(),
		"FIELD_ENCRYPTION_KEY": NewFernetKey(),
	}
}

// NewFernetKey returns a new Fernet key: 32 random bytes, URL-safe base64.
func NewFernetKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

func randomDjangoKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"
	b := make([]byte, 50)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// requiredPackage is a Debian package the devcluster's application needs, and how
// to tell it is installed.
type requiredPackage struct {
	name   string
	path   string // a file the package installs
	module string // or a module Debian's Python imports
}

var requiredPackages = []requiredPackage{
	{name: "python3", path: Python},
	{name: "redis-server", path: RedisServer},
	{name: "gunicorn", path: "/usr/bin/gunicorn"},
	{name: "python3-django", module: "django"},
	{name: "python3-celery", module: "celery"},
	{name: "python3-redis", module: "redis"},
	{name: "python3-psycopg2", module: "psycopg2"},
	{name: "python3-cryptography", module: "cryptography.fernet"},
	{name: "python3-django-prometheus", module: "django_prometheus"},
}

// MissingPackages lists the Debian packages the application needs that are not
// installed (empty when all are).
func MissingPackages() []string {
	var missing []string
	python := true
	for _, p := range requiredPackages {
		switch {
		case p.path != "":
			if _, err := os.Stat(p.path); err != nil {
				missing = append(missing, p.name)
				if p.path == Python {
					python = false
				}
			}
		case !python:
			missing = append(missing, p.name)
		default:
			if err := exec.Command(Python, "-c", "import "+p.module).Run(); err != nil {
				missing = append(missing, p.name)
			}
		}
	}
	return missing
}
