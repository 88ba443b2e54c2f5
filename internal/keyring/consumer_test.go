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

package keyring

// The real consumers of rotated values: Python's cryptography.fernet (Debian's
// python3-cryptography) for Fernet keys and MultiFernet lists, and Django's
// `check --deploy` for Django secret keys. Both are installed by .ci/run.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"runbook-operator/internal/keyring/fernettest"
	"runbook-operator/internal/secretgen"
)

const python = "/usr/bin/python3"

func fernetKey(t *testing.T) string {
	k, err := secretgen.Fernet()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestFernetConsumerAcceptsEveryKeyAndPhase: every generated key is a Fernet key, and
// a token encrypted before a two-phase rotation decrypts with the list of every phase
// (pods not yet restarted, restarted once, restarted twice) in both directions, while
// an emergency rotation makes it unreadable, as does trimming past keepPrevious.
func TestFernetConsumerAcceptsEveryKeyAndPhase(t *testing.T) {
	var keys []string
	for range 200 {
		keys = append(keys, fernetKey(t))
	}
	l := Layout{Key: "FIELD_ENCRYPTION_KEYS", KeepPrevious: 1}
	field := func(v Values) string { return string(l.Write(v)[l.Key]) }

	old := Initial(fernetKey(t))
	next := fernetKey(t)
	pub := Publish(old, next)
	prom, err := Promote(pub, l.KeepPrevious)
	if err != nil {
		t.Fatal(err)
	}
	later, err := Promote(Publish(prom, fernetKey(t)), l.KeepPrevious)
	if err != nil {
		t.Fatal(err)
	}
	emerg := Emergency(fernetKey(t))
	before, published, promoted := field(old), field(pub), field(prom)
	fernettest.Run(t, append(keys, before, published, promoted, field(later), field(emerg)), []fernettest.Check{
		{Encrypt: before, Decrypt: published, Want: true, What: "old token, after publish"},
		{Encrypt: before, Decrypt: promoted, Want: true, What: "old token, after promote"},
		{Encrypt: published, Decrypt: before, Want: true, What: "written by a published pod, read by a pod not yet restarted"},
		{Encrypt: promoted, Decrypt: published, Want: true, What: "written by a promoted pod, read by a pod still on the published list"},
		{Encrypt: before, Decrypt: field(later), Want: false, What: "old token, two rotations later with keepPrevious 1"},
		{Encrypt: promoted, Decrypt: field(later), Want: true, What: "previous token, one rotation later"},
		{Encrypt: before, Decrypt: field(emerg), Want: false, What: "old token, after an emergency rotation"},
		{Encrypt: promoted, Decrypt: field(emerg), Want: false, What: "current token, after an emergency rotation"},
	})
}

// TestDjangoAcceptsTheGeneratedKey runs `manage.py check --deploy` with generated keys
// and with one Django calls insecure, so the test can fail.
func TestDjangoAcceptsTheGeneratedKey(t *testing.T) {
	check := func(key string) string {
		cmd := exec.Command(python, "manage.py", "check", "--deploy")
		cmd.Dir = filepath.Join("..", "secretgen", "testdata", "checksite")
		cmd.Env = append(os.Environ(), "SECRET_KEY="+key)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "System check identified") {
			t.Fatalf("check --deploy did not run: %s", out)
		}
		return string(out)
	}
	if out := check("django-insecure-" + strings.Repeat("x", 40)); !strings.Contains(out, "security.W009") {
		t.Fatalf("Django did not warn about an insecure key; the test could not fail:\n%s", out)
	}
	for range 5 {
		k, err := secretgen.DjangoSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		if out := check(k); strings.Contains(out, "security.W009") {
			t.Fatalf("Django warns about the generated key:\n%s", out)
		}
	}
}
