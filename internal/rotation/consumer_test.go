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
	"testing"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/keyring/fernettest"
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
	fernettest.Run(t, []string{older, leaked, fresh, replacing, dropped}, []fernettest.Check{
		{Encrypt: before, Decrypt: replacing, Want: true, What: "a row written with the leaked key, read by a restarted pod during the re-encryption"},
		{Encrypt: older, Decrypt: replacing, Want: true, What: "a row still under the key before the leaked one, read during the re-encryption"},
		{Encrypt: replacing, Decrypt: dropped, Want: true, What: "a row written by a restarted pod, read after the drop (it encrypts with the new key)"},
		{Encrypt: replacing, Decrypt: leaked, Want: false, What: "a row written by a restarted pod, read with the leaked key alone (it is not used to encrypt)"},
		{Encrypt: before, Decrypt: dropped, Want: false, What: "a row left under the leaked key, after the drop"},
		{Encrypt: leaked, Decrypt: dropped, Want: false, What: "a token made with the leaked key, after the drop"},
	})
}
