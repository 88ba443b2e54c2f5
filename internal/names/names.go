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

// Package names derives Kubernetes names and label values from user-given names so
// that they always fit: a derived value that is too long is shortened with a hash of
// what it was derived from, so the same input always gives the same output and two
// inputs sharing a long prefix still differ.
package names

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// MaxLabelValue is the longest label value (and DNS-1123 label, e.g. a Job name
	// whose pods carry it in the batch.kubernetes.io/job-name label).
	MaxLabelValue = 63
	// MaxObjectName is the longest DNS-1123 subdomain, the name of most objects.
	MaxObjectName = 253
)

// Join returns "<base>-<suffix>", shortened with a hash of base to fit limit
// characters. base must be a Kubernetes name; the result is one too.
func Join(base, suffix string, limit int) string {
	name := base + "-" + suffix
	if len(name) <= limit {
		return name
	}
	hash := hash8(base)
	keep := limit - len(suffix) - len(hash) - 2
	short := strings.TrimRight(base[:max(keep, 0)], "-.")
	if short == "" {
		return hash + "-" + suffix
	}
	return short + "-" + hash + "-" + suffix
}

// LabelValue returns name when it fits a label value, else its first characters
// and a hash of the whole, 63 characters. name must be a Kubernetes name (whose
// characters are all allowed in label values).
func LabelValue(name string) string {
	if len(name) <= MaxLabelValue {
		return name
	}
	hash := hash8(name)
	short := strings.TrimRight(name[:MaxLabelValue-len(hash)-1], "-.")
	return short + "-" + hash
}

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}
