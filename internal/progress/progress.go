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

// Package progress is the agent's progress line: the agent prints one every few
// seconds to its log, the controller reads the last one from the pod's log. It
// holds the line's format and the figures derived from it, and the formats of the
// figures in messages (Human, Duration, Short).
package progress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Prefix starts every machine-readable progress line; the rest of the line is
// a Report in JSON.
const Prefix = "agent-progress "

// Report is one progress line.
type Report struct {
	// Command is backup or restore.
	Command string `json:"command"`
	// Phase is what the agent is doing: dump, download, restore, post-data…
	Phase string `json:"phase,omitempty"`
	// BytesDone: backup, bytes read from pg_dump (uncompressed); restore,
	// bytes of the object read from S3.
	BytesDone int64 `json:"bytesDone"`
	// BytesExpected: backup, pg_database_size (an estimate: the dump holds no
	// indexes, so it usually ends below it); restore, the object's size. 0 when
	// unknown.
	BytesExpected int64 `json:"bytesExpected,omitempty"`
	// BytesUploaded: backup, compressed bytes handed to the upload.
	BytesUploaded int64 `json:"bytesUploaded,omitempty"`
	// TablesDone of TablesTotal: restore, tables whose data is loaded, from the
	// archive's table of contents.
	TablesDone  int `json:"tablesDone,omitempty"`
	TablesTotal int `json:"tablesTotal,omitempty"`
	// BytesPerSecond is the mean throughput since the stream started.
	BytesPerSecond float64 `json:"bytesPerSecond"`
	// ETASeconds is the estimated time left, 0 when it cannot be estimated.
	ETASeconds float64 `json:"etaSeconds,omitempty"`
	// Final is set on the last line of a run: BytesDone is the final size.
	Final bool `json:"final,omitempty"`
	// Succeeded tells, on the final line, whether the run succeeded.
	Succeeded bool `json:"succeeded,omitempty"`
	// Time is when the agent wrote the line.
	Time time.Time `json:"time"`
}

// Line formats r as a log line, without the newline.
func (r Report) Line() string {
	b, _ := json.Marshal(r)
	return Prefix + string(b)
}

// Percent is BytesDone of BytesExpected, capped at 99 until the final line
// (the expectation is an estimate) and 100 on a successful final line; -1
// when nothing is expected.
func (r Report) Percent() int {
	if r.Final && r.Succeeded {
		return 100
	}
	if r.BytesExpected <= 0 {
		return -1
	}
	p := int(r.BytesDone * 100 / r.BytesExpected)
	return min(max(p, 0), 99)
}

// Last returns the last progress line in log (the tail of a pod's log, which
// may start mid-line). ok is false when there is none.
func Last(log []byte) (r Report, ok bool) {
	for len(log) > 0 {
		i := bytes.LastIndexByte(bytes.TrimRight(log, "\n"), '\n')
		line := log[i+1:]
		log = log[:max(i, 0)]
		// Tolerate a kubelet timestamp or other text before the prefix.
		j := bytes.Index(line, []byte(Prefix))
		if j >= 0 {
			var got Report
			if json.Unmarshal(bytes.TrimSpace(line[j+len(Prefix):]), &got) == nil {
				return got, true
			}
		}
		if i < 0 {
			break
		}
	}
	return Report{}, false
}

// Human formats a size: 9.0 MiB.
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
