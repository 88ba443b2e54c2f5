package devcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"runbook-operator/internal/nodeagent"
)

func TestBuildSaaSImages(t *testing.T) {
	src, err := filepath.Abs("../../test/saas")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	tags, err := BuildSaaSImages(src, out)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(tags))
	for tag, dir := range tags {
		names = append(names, tag)
		version, err := os.ReadFile(filepath.Join(dir, "VERSION"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(version)) != tag {
			t.Errorf("release %s says it is version %q", tag, version)
		}
		if _, err := os.Stat(filepath.Join(dir, "FROM")); err == nil {
			t.Errorf("release %s: the FROM file was copied into the image", tag)
		}
		if fi, err := os.Stat(filepath.Join(dir, "bin/celery")); err != nil || fi.Mode()&0o100 == 0 {
			t.Errorf("release %s: bin/celery is not an executable: %v", tag, err)
		}
		for _, name := range []string{"python", "python3"} {
			if target, err := os.Readlink(filepath.Join(dir, "bin", name)); err != nil || target != Python {
				t.Errorf("release %s: bin/%s is not Debian's Python: %q %v", tag, name, target, err)
			}
		}
	}
	slices.Sort(names)
	if want := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("tags = %v, want %v", names, want)
	}
	migrations := func(tag string) []string {
		entries, err := os.ReadDir(filepath.Join(tags[tag], "subscriptions/migrations"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "0") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	for tag, want := range map[string][]string{
		"1.0.0": {"0001_initial.py"},
		"1.1.0": {"0001_initial.py", "0002_subscription_seats.py"},
		"1.2.0": {"0001_initial.py", "0002_subscription_seats.py"},
		"1.3.0": {"0001_initial.py", "0002_subscription_seats.py", "0003_subscription_currency.py"},
		"1.4.0": {"0001_initial.py", "0002_subscription_seats.py", "0003_remove_subscription_seats.py"},
		"1.5.0": {"0001_initial.py", "0002_subscription_seats.py"},
	} {
		if got := migrations(tag); !reflect.DeepEqual(got, want) {
			t.Errorf("release %s has migrations %v, want %v", tag, got, want)
		}
	}
}

func TestSaaSImages(t *testing.T) {
	tags := map[string]string{"1.0.0": "/img/1.0.0", "1.1.0": "/img/1.1.0"}
	images := SaaSImages(tags)
	tests := []struct {
		image        string
		command      []string
		args         []string
		want         []string
		wantRoot     string
		notMapped    bool
		wantPullFail bool
	}{
		{image: "saas:1.1.0", command: []string{"python", "manage.py", "migrate", "--plan"},
			want: []string{Python, "manage.py", "migrate", "--plan"}, wantRoot: "/img/1.1.0"},
		{image: "ghcr.io/acme/saas:1.0.0", command: []string{"celery", "-A", "saas", "worker"},
			want: []string{"/img/1.0.0/bin/celery", "-A", "saas", "worker"}, wantRoot: "/img/1.0.0"},
		{image: "localhost:5000/saas:1.0.0", command: []string{"gunicorn"}, args: []string{"saas.wsgi"},
			want: []string{"/usr/bin/gunicorn", "saas.wsgi"}, wantRoot: "/img/1.0.0"},
		{image: "saas:1.0.0", command: []string{"python", "/app/manage.py", "showmigrations"},
			want: []string{Python, "/img/1.0.0/manage.py", "showmigrations"}, wantRoot: "/img/1.0.0"},
		{image: "saas:9.9.9", command: []string{"python"}, wantPullFail: true},
		{image: "saas", command: []string{"python"}, wantPullFail: true}, // "latest" is not a release
		{image: "saas-worker:1.0.0", notMapped: true},
		{image: "ghcr.io/acme/notsaas:1.0.0", notMapped: true},
	}
	for _, tt := range tests {
		mp, ok := images.Lookup(tt.image)
		if ok == tt.notMapped {
			t.Fatalf("%s: mapped = %v", tt.image, ok)
		}
		if !ok {
			continue
		}
		mp, root, err := mp.ForImage(tt.image)
		var pull *nodeagent.ErrImagePull
		if tt.wantPullFail {
			if !errors.As(err, &pull) || !strings.Contains(err.Error(), "1.0.0, 1.1.0") {
				t.Errorf("%s: err = %v, want a pull error naming the tags", tt.image, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		argv, err := mp.Argv(tt.command, tt.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range argv {
			argv[i] = mp.InImage(argv[i], root)
		}
		if root != tt.wantRoot || !reflect.DeepEqual(argv, tt.want) {
			t.Errorf("%s %v: %q in %s, want %q in %s", tt.image, tt.command, argv, root, tt.want, tt.wantRoot)
		}
		if got := mp.PathDirs(root); !reflect.DeepEqual(got, []string{tt.wantRoot + "/bin"}) {
			t.Errorf("%s: PATH starts with %v, want the image's bin", tt.image, got)
		}
	}
}

// TestSaaSMigrationsMatchModels runs Django's own check that every model change of
// each release has its migration, except in 1.2.0, whose missing migration is its bug.
func TestSaaSMigrationsMatchModels(t *testing.T) {
	if missing := MissingPackages(); len(missing) > 0 {
		t.Fatalf("Debian packages missing: %s (.ci/run installs them)", strings.Join(missing, " "))
	}
	src, _ := filepath.Abs("../../test/saas")
	tags, err := BuildSaaSImages(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for tag, dir := range tags {
		cmd := exec.CommandContext(context.Background(), Python, "manage.py", "makemigrations", "--check", "--dry-run")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DJANGO_SECRET_KEY=test", "PGHOST=/nonexistent", "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if tag == "1.2.0" {
			if err == nil || !strings.Contains(string(out), "renewal_reminder_sent") {
				t.Errorf("release 1.2.0 should lack the migration of renewal_reminder_sent: %v\n%s", err, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("release %s: models without migrations: %v\n%s", tag, err, out)
		}
	}
}
