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

package secretgen

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// draws is how many values each property test makes.
const draws = 2000

func TestGeneratorsHaveTheirLengthAndAlphabet(t *testing.T) {
	cases := []struct {
		name     string
		gen      func() (string, error)
		length   int
		alphabet string
	}{
		{"DjangoSecretKey", DjangoSecretKey, 50, DjangoAlphabet},
		{"Fernet", Fernet, 44, Base64URL + "="},
		{"Random alphanumeric 32", func() (string, error) { return Random(32, Alphanumeric) }, 32, Alphanumeric},
		{"Random printable 64", func() (string, error) { return Random(64, Printable) }, 64, Printable},
		{"Random hex 16", func() (string, error) { return Random(16, Hex) }, 16, Hex},
		{"RandomBytes hex 32", func() (string, error) { return RandomBytes(32, EncodingHex) }, 64, Hex},
		{"RandomBytes base64url 32", func() (string, error) { return RandomBytes(32, EncodingBase64URL) }, 44, Base64URL + "="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range draws {
				v, err := c.gen()
				if err != nil {
					t.Fatal(err)
				}
				if len(v) != c.length {
					t.Fatalf("length %d, want %d", len(v), c.length)
				}
				if i := strings.IndexFunc(v, func(r rune) bool { return !strings.ContainsRune(c.alphabet, r) }); i >= 0 {
					t.Fatalf("character %q outside the alphabet", v[i])
				}
				if strings.Contains(v, ",") {
					t.Fatal("a value holds the list separator")
				}
				if seen[v] {
					t.Fatal("the same value was drawn twice")
				}
				seen[v] = true
			}
		})
	}
}

func TestFernetKeysDecodeTo32Bytes(t *testing.T) {
	for range draws {
		k, err := Fernet()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidFernetKey(k) {
			t.Fatalf("not a Fernet key (%d characters)", len(k))
		}
	}
	if ValidFernetKey("short") || ValidFernetKey(strings.Repeat("A", 40)+"====") {
		t.Fatal("a short value passed as a Fernet key")
	}
}

// TestCharactersAreDrawnUniformly runs a chi-squared test over every character of many
// draws; without rejection sampling Django's 50-character alphabet would favour its
// first 6 characters (256 = 5·50 + 6) by a fifth, far beyond the bound.
func TestCharactersAreDrawnUniformly(t *testing.T) {
	for _, alphabet := range []string{DjangoAlphabet, Alphanumeric, Printable, Hex} {
		counts := map[rune]int{}
		total := 0
		for range draws {
			v, err := Random(50, alphabet)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range v {
				counts[r]++
				total++
			}
		}
		if len(counts) != len(alphabet) {
			t.Fatalf("alphabet of %d characters, %d seen", len(alphabet), len(counts))
		}
		want := float64(total) / float64(len(alphabet))
		chi := 0.0
		for _, r := range alphabet {
			d := float64(counts[r]) - want
			chi += d * d / want
		}
		// Degrees of freedom k-1; the bound is the mean plus 6 standard deviations
		// (sqrt(2(k-1))), which a fair source exceeds with negligible probability.
		df := float64(len(alphabet) - 1)
		if bound := df + 6*math.Sqrt(2*df); chi > bound {
			t.Errorf("alphabet %q: chi-squared %.1f above %.1f: not uniform", alphabet[:8], chi, bound)
		}
	}
}

// biased reads bytes that a modulo mapping would turn into a skewed distribution, to
// show the uniformity test can fail: it returns only bytes ≥ 250, which rejection
// sampling refuses for a 50-character alphabet (limit 250) and so must keep reading.
type biased struct{ n int }

func (b *biased) Read(p []byte) (int, error) {
	for i := range p {
		if b.n%2 == 0 {
			p[i] = 250 + byte(b.n%6)
		} else {
			p[i] = byte(b.n % 50)
		}
		b.n++
	}
	return len(p), nil
}

func TestRejectionSamplingSkipsBytesThatWouldBias(t *testing.T) {
	old := Reader
	defer func() { Reader = old }()
	Reader = &biased{}
	v, err := Random(50, DjangoAlphabet)
	if err != nil {
		t.Fatal(err)
	}
	// Every accepted byte was below 250, i.e. the odd positions 1, 3, 5, …: the
	// characters at alphabet indexes 1, 3, 5, … in turn.
	for i := range len(v) {
		want := DjangoAlphabet[(2*i+1)%50]
		if v[i] != want {
			t.Fatalf("character %d is %q, want %q: a byte ≥ 250 was used", i, v[i], want)
		}
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("entropy source gone") }

func TestAFailingSourceIsAnError(t *testing.T) {
	old := Reader
	defer func() { Reader = old }()
	Reader = failing{}
	for name, gen := range map[string]func() (string, error){
		"django": DjangoSecretKey, "fernet": Fernet,
		"bytes": func() (string, error) { return RandomBytes(8, EncodingHex) },
	} {
		if v, err := gen(); err == nil || v != "" {
			t.Errorf("%s: got a value without randomness", name)
		}
	}
}

func TestBadArgumentsAreRefused(t *testing.T) {
	for name, f := range map[string]func() (string, error){
		"zero length":      func() (string, error) { return Random(0, Hex) },
		"one character":    func() (string, error) { return Random(8, "a") },
		"repeated":         func() (string, error) { return Random(8, "abca") },
		"zero bytes":       func() (string, error) { return RandomBytes(0, EncodingHex) },
		"unknown encoding": func() (string, error) { return RandomBytes(4, Encoding(9)) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
