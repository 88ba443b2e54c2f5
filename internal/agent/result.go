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

package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxResultBytes is the size limit of a result written to the termination log
// (Kubernetes keeps at most 4096 bytes of a termination message).
const MaxResultBytes = 4000

// Result is what every agent command prints as the last line of its stdout and
// writes to --termination-log: one JSON object. Controllers read it back from the
// terminated container state with ParseResult.
type Result struct {
	// Command is the subcommand that ran: backup, restore, verify, check, delete.
	Command string `json:"command"`
	// Error is set when the command failed: a sentence a person can act on.
	Error string `json:"error,omitempty"`
	// Permanent is true when retrying the same command cannot help (wrong
	// credentials, missing bucket or database, checksum mismatch).
	Permanent bool `json:"permanent,omitempty"`

	// Object (backup, restore, verify, delete).
	Bucket      string `json:"bucket,omitempty"`
	Key         string `json:"key,omitempty"`
	Location    string `json:"location,omitempty"` // s3://bucket/key
	SizeBytes   int64  `json:"sizeBytes,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	Compression string `json:"compression,omitempty"`

	// Server (backup, check, restore).
	ServerVersion string `json:"serverVersion,omitempty"`
	// ClientTools names the PostgreSQL client tools the agent chose for the
	// server (backup, restore, verify), and how a restore used them.
	ClientTools     string  `json:"clientTools,omitempty"`
	DurationSeconds float64 `json:"durationSeconds"`

	// Restore and verify.
	Database         string `json:"database,omitempty"`         // restored into (verify: the scratch database, dropped)
	PreviousDatabase string `json:"previousDatabase,omitempty"` // the former live database, kept under this name
	Mode             string `json:"mode,omitempty"`             // swap or inplace
	Tables           int    `json:"tables,omitempty"`
	Rows             int64  `json:"rows,omitempty"`
	// TerminatedConnections counts the sessions ended on the live database for the swap.
	TerminatedConnections int `json:"terminatedConnections,omitempty"`

	// Verify.
	Verified bool     `json:"verified,omitempty"`
	Problems []string `json:"problems,omitempty"`

	// Check is what `agent check` found (see DatabaseCheck).
	Check *DatabaseCheck `json:"check,omitempty"`

	// Delete.
	Deleted []string `json:"deleted,omitempty"`
}

// Marshal encodes r as one line of JSON of at most MaxResultBytes, shortening
// the problem list and the error message when needed.
func (r Result) Marshal() []byte {
	b, _ := json.Marshal(r)
	if len(b) <= MaxResultBytes {
		return b
	}
	if len(r.Problems) > 10 {
		more := fmt.Sprintf("… %d more problems omitted", len(r.Problems)-10)
		r.Problems = append(append([]string(nil), r.Problems[:10]...), more)
	}
	for i := range r.Problems {
		r.Problems[i] = truncate(r.Problems[i], 300)
	}
	r.Deleted = nil
	b, _ = json.Marshal(r)
	// Each pass strictly shortens the error; JSON escaping makes one pass inexact.
	for len(b) > MaxResultBytes && len(r.Error) > 300 {
		r.Error = truncate(r.Error, len(r.Error)-(len(b)-MaxResultBytes)-64)
		b, _ = json.Marshal(r)
	}
	if len(b) > MaxResultBytes {
		r.Problems = nil
		if r.Check != nil {
			c := *r.Check
			c.Problems = nil
			r.Check = &c
		}
		r.Error = truncate(r.Error, 300)
		b, _ = json.Marshal(r)
	}
	return b
}

func truncate(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …(truncated)"
}

// ParseResult reads a Result from a termination message or from a command's
// whole stdout: the last non-empty line that is a JSON object.
func ParseResult(b []byte) (Result, error) {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			return Result{}, err
		}
		if r.Command == "" {
			return r, errors.New("agent result has no command")
		}
		return r, nil
	}
	return Result{}, errors.New("no agent result (JSON object) found")
}
