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

package rotation

// The emergency sequence proven by its real consumer, Python's cryptography.fernet
// (Debian's python3-cryptography, installed by .ci/run), through internal/keyring's
// testdata script: a token encrypted with the leaked key still decrypts while the
// data is re-encrypted, pods encrypt with the new key only, and after the drop the
// leaked key's tokens are refused.

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/secretgen"
)

func fernetKeyT(t *testing.T) string {
	t.Helper()
	k, err := secretgen.Fernet()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fernetCheck struct {
	Encrypt string `json:"encrypt"`
	Decrypt string `json:"decrypt"`
	want    bool
	what    string
}

func runFernet(t *testing.T, keys []string, checks []fernetCheck) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"keys": keys, "checks": checks})
	cmd := exec.Command("/usr/bin/python3", filepath.Join("..", "keyring", "testdata", "fernet_consumer.py"))
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

func TestEmergencySequenceAsCryptographyReadsIt(t *testing.T) {
	s := spec(func(s *opsv1alpha1.SecretRotationSpec) {
		s.Mode = opsv1alpha1.RotationImmediate
		s.Reencrypt = &opsv1alpha1.Reencrypt{Command: []string{"python", "manage.py", "reencrypt"}}
	})
	older, leaked, fresh := fernetKeyT(t), fernetKeyT(t), fernetKeyT(t)
	d := map[string][]byte{"DJANGO_SECRET_KEY": []byte("k"), "FIELD_ENCRYPTION_KEY": []byte(leaked + "," + older), "STRIPE": []byte("s")}
	before := string(d["FIELD_ENCRYPTION_KEY"])
	if _, _, err := Start(s, d, opsv1alpha1.RotationImmediate, []string{"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"}, map[string]string{"DJANGO_SECRET_KEY": "k2", "FIELD_ENCRYPTION_KEY": fresh}); err != nil {
		t.Fatal(err)
	}
	replacing := string(d["FIELD_ENCRYPTION_KEY"])
	if err := Drop(s, d, []string{"FIELD_ENCRYPTION_KEY"}); err != nil {
		t.Fatal(err)
	}
	dropped := string(d["FIELD_ENCRYPTION_KEY"])
	runFernet(t, []string{older, leaked, fresh, replacing, dropped}, []fernetCheck{
		{Encrypt: before, Decrypt: replacing, want: true, what: "a row written with the leaked key, read by a restarted pod during the re-encryption"},
		{Encrypt: older, Decrypt: replacing, want: true, what: "a row still under the key before the leaked one, read during the re-encryption"},
		{Encrypt: replacing, Decrypt: dropped, want: true, what: "a row written by a restarted pod, read after the drop (it encrypts with the new key)"},
		{Encrypt: replacing, Decrypt: leaked, want: false, what: "a row written by a restarted pod, read with the leaked key alone (it is not used to encrypt)"},
		{Encrypt: before, Decrypt: dropped, want: false, what: "a row left under the leaked key, after the drop"},
		{Encrypt: leaked, Decrypt: dropped, want: false, what: "a token made with the leaked key, after the drop"},
	})
}
