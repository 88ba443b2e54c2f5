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

// Package secretgen makes new secret values from crypto/rand: Django secret keys,
// Fernet keys and random strings. Every character is drawn uniformly (rejection
// sampling, never a modulo bias).
package secretgen

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// DjangoAlphabet is the alphabet of Django's get_random_secret_key.
const DjangoAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"

// DjangoKeyLength is the length of Django's get_random_secret_key.
const DjangoKeyLength = 50

// Alphabets of Random values. None contains a comma, the separator of the lists that
// hold previous values.
const (
	Alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	Hex          = "0123456789abcdef"
	Base64URL    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Printable is printable ASCII without space and comma.
	Printable = "!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
)

// Reader is the source of randomness; tests may replace it to make a failure.
var Reader io.Reader = rand.Reader

// DjangoSecretKey returns 50 characters drawn uniformly from DjangoAlphabet, as
// django.core.management.utils.get_random_secret_key does.
func DjangoSecretKey() (string, error) {
	return Random(DjangoKeyLength, DjangoAlphabet)
}

// Fernet returns a Fernet key: 32 random bytes in URL-safe base64 with padding (44
// characters), as cryptography.fernet.Fernet.generate_key does.
func Fernet() (string, error) {
	b, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// Random returns n characters drawn uniformly from alphabet (2 to 256 distinct bytes).
func Random(n int, alphabet string) (string, error) {
	if n <= 0 {
		return "", fmt.Errorf("length %d: must be positive", n)
	}
	if len(alphabet) < 2 || len(alphabet) > 256 {
		return "", fmt.Errorf("alphabet of %d characters: need 2 to 256", len(alphabet))
	}
	seen := [256]bool{}
	for i := 0; i < len(alphabet); i++ {
		if seen[alphabet[i]] {
			return "", fmt.Errorf("alphabet repeats %q: its characters would not be drawn uniformly", alphabet[i])
		}
		seen[alphabet[i]] = true
	}
	// Accept a byte only below the largest multiple of len(alphabet) that fits in a
	// byte, so that every character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := io.ReadFull(Reader, buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// Encoding of RandomBytes.
type Encoding int

const (
	// EncodingHex is lowercase hexadecimal: 2 characters per byte.
	EncodingHex Encoding = iota
	// EncodingBase64URL is URL-safe base64 with padding.
	EncodingBase64URL
)

// RandomBytes returns n random bytes, encoded.
func RandomBytes(n int, enc Encoding) (string, error) {
	if n <= 0 {
		return "", fmt.Errorf("%d bytes: must be positive", n)
	}
	b, err := randomBytes(n)
	if err != nil {
		return "", err
	}
	switch enc {
	case EncodingHex:
		return hex.EncodeToString(b), nil
	case EncodingBase64URL:
		return base64.URLEncoding.EncodeToString(b), nil
	}
	return "", errors.New("unknown encoding")
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(Reader, b); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return b, nil
}

// ValidFernetKey says whether s is a Fernet key: URL-safe base64 of 32 bytes.
func ValidFernetKey(s string) bool {
	b, err := base64.URLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}
