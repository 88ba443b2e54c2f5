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

package controller

import (
	"strings"
	"time"

	"runbook-operator/internal/progress"
)

// humanBytes formats a size for messages: 9.0 MiB.
func humanBytes(n int64) string { return progress.Human(n) }

// humanDuration formats a duration without zero units: 1h, 45m, 1h30m, 90s → 1m30s.
func humanDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

// short abbreviates a checksum for messages.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12] + "…"
	}
	if sha == "" {
		return "unknown"
	}
	return sha
}
