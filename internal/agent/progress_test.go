/*
Copyright 2026.

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

package agent_test

import (
	"strings"
	"testing"

	"runbook-operator/internal/progress"
)

// progressReports reads the machine-readable progress lines of an agent's log
// and checks what every run's lines promise: bytes, tables and time never go
// back, exactly the last line is final, and a line for people goes with each.
func progressReports(t *testing.T, log string) []progress.Report {
	t.Helper()
	var out []progress.Report
	human := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " agent: backup progress") || strings.Contains(line, " agent: restore progress") ||
			strings.Contains(line, "final progress") {
			human++
		}
		if !strings.HasPrefix(line, progress.Prefix) {
			continue
		}
		r, ok := progress.Last([]byte(line))
		if !ok {
			t.Fatalf("unparsable progress line %q", line)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatalf("no progress lines in the log:\n%s", log)
	}
	if human != len(out) {
		t.Errorf("%d human progress lines for %d machine-readable ones", human, len(out))
	}
	for i := 1; i < len(out); i++ {
		a, b := out[i-1], out[i]
		if b.BytesDone < a.BytesDone || b.BytesUploaded < a.BytesUploaded || b.TablesDone < a.TablesDone || b.Time.Before(a.Time) {
			t.Errorf("progress went back from %+v to %+v", a, b)
		}
		if a.Final {
			t.Errorf("line %d of %d is final", i, len(out))
		}
	}
	if last := out[len(out)-1]; !last.Final || !last.Succeeded || last.Percent() != 100 {
		t.Errorf("last progress line %+v is not a successful final one", last)
	}
	return out
}

// A backup and a restore of the million-row database print progress lines at
// the requested pace that only go forward and end at the dump's and the
// object's final sizes.
func TestProgressLinesEndAtTheFinalSize(t *testing.T) {
	copyDB(t, "progress")
	key := "progress/progress.dump.zst"
	b := runAgent(t, baseEnv("progress"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style",
		"--progress-interval", "200ms")
	mustSucceed(t, b)
	reps := progressReports(t, b.stderr)
	m := readManifest(t, key)
	last := reps[len(reps)-1]
	if last.Command != "backup" || last.BytesDone != m.UncompressedBytes || last.BytesUploaded != b.res.SizeBytes {
		t.Errorf("final backup progress %+v, want %d bytes read and %d uploaded", last, m.UncompressedBytes, b.res.SizeBytes)
	}
	if last.BytesExpected < 1<<20 {
		t.Errorf("backup progress expects %d bytes, want pg_database_size", last.BytesExpected)
	}
	if len(reps) < 2 || reps[0].BytesDone == last.BytesDone {
		t.Errorf("backup printed %d progress lines, want one before the end with less done: %+v", len(reps), reps)
	}
	t.Logf("backup: %d progress lines, first %+v", len(reps), reps[0])

	r := runAgent(t, baseEnv("progress"), "restore", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style",
		"--progress-interval", "200ms")
	mustSucceed(t, r)
	reps = progressReports(t, r.stderr)
	last = reps[len(reps)-1]
	if last.Command != "restore" || last.BytesDone != b.res.SizeBytes || last.BytesExpected != b.res.SizeBytes {
		t.Errorf("final restore progress %+v, want %d bytes of %d", last, b.res.SizeBytes, b.res.SizeBytes)
	}
	if last.TablesTotal != r.res.Tables || last.TablesDone != last.TablesTotal {
		t.Errorf("final restore progress has tables %d/%d, the restore loaded %d", last.TablesDone, last.TablesTotal, r.res.Tables)
	}
	if len(reps) < 2 {
		t.Errorf("restore printed %d progress lines, want some before the end", len(reps))
	}
	t.Logf("restore: %d progress lines, first %+v", len(reps), reps[0])
}
