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

// Package fernettest runs the real consumer of rotated Fernet keys, Python's
// cryptography.fernet (Debian's python3-cryptography, installed by .ci/run), for the
// tests of the packages that lay out and rotate keys: a token is encrypted with
// MultiFernet over one comma list and decrypted with MultiFernet over another.
package fernettest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Check is one token: encrypted with MultiFernet over Encrypt (a comma list, newest
// first), decrypted with MultiFernet over Decrypt.
type Check struct {
	Encrypt string `json:"encrypt"`
	Decrypt string `json:"decrypt"`
	// Want is whether the token must decrypt; What names the check in failures.
	Want bool   `json:"-"`
	What string `json:"-"`
}

// Run has cryptography.fernet accept every key of keys (or fails the test) and run
// the checks, failing the test for each whose result is not Want.
func Run(t testing.TB, keys []string, checks []Check) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	in, _ := json.Marshal(map[string]any{"keys": keys, "checks": checks})
	script := filepath.Join(filepath.Dir(here), "..", "testdata", "fernet_consumer.py")
	cmd := exec.Command("/usr/bin/python3", script) //nolint:gosec // this package's own script, keys on stdin
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
		if res.Results[i] != c.Want {
			t.Errorf("%s: decrypted %v, want %v", c.What, res.Results[i], c.Want)
		}
	}
}
