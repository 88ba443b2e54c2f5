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
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"runbook-operator/internal/secretgen"
)

const python = "/usr/bin/python3"

type fernetCheck struct {
	Encrypt string `json:"encrypt"`
	Decrypt string `json:"decrypt"`
	// want is whether the token must decrypt.
	want bool
	what string
}

func runFernet(t *testing.T, keys []string, checks []fernetCheck) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"keys": keys, "checks": checks})
	cmd := exec.Command(python, filepath.Join("testdata", "fernet_consumer.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cryptography.fernet refused the keys: %v\n%s", err, stderr.String())
	}
	var res struct {
		Keys    int    `json:"keys"`
		Results []bool `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Keys != len(keys) || len(res.Results) != len(checks) {
		t.Fatalf("consumer checked %d keys and %d tokens, want %d and %d", res.Keys, len(res.Results), len(keys), len(checks))
	}
	for i, c := range checks {
		if res.Results[i] != c.want {
			t.Errorf("%s: decrypted %v, want %v", c.what, res.Results[i], c.want)
		}
	}
}

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
	runFernet(t, append(keys, before, published, promoted, field(later), field(emerg)), []fernetCheck{
		{Encrypt: before, Decrypt: published, want: true, what: "old token, after publish"},
		{Encrypt: before, Decrypt: promoted, want: true, what: "old token, after promote"},
		{Encrypt: published, Decrypt: before, want: true, what: "written by a published pod, read by a pod not yet restarted"},
		{Encrypt: promoted, Decrypt: published, want: true, what: "written by a promoted pod, read by a pod still on the published list"},
		{Encrypt: before, Decrypt: field(later), want: false, what: "old token, two rotations later with keepPrevious 1"},
		{Encrypt: promoted, Decrypt: field(later), want: true, what: "previous token, one rotation later"},
		{Encrypt: before, Decrypt: field(emerg), want: false, what: "old token, after an emergency rotation"},
		{Encrypt: promoted, Decrypt: field(emerg), want: false, what: "current token, after an emergency rotation"},
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
