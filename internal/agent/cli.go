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

// Package agent implements the data-plane commands run by Jobs: backup, restore,
// verify, check and delete. Each prints one JSON Result as its last stdout line
// and writes it to --termination-log.
package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// Options are the flags shared by the commands.
type Options struct {
	Bucket, Key, Endpoint, Region string
	PathStyle                     bool
	TerminationLog                string
	// ConnectTimeout bounds the retries of the first database connection.
	ConnectTimeout time.Duration

	// backup
	Compression       string
	CompressionLevel  string
	PartSizeMB        int
	UploadConcurrency int
	Threads           int
	// ProgressInterval is the pace of the progress lines (backup, restore); 0: none.
	ProgressInterval time.Duration

	// restore / verify
	SHA256         string
	Mode           string
	ConfirmInplace bool
	TargetDatabase string
	KeepPrevious   bool
	Jobs           int
	NoOwner        bool
	Analyze        bool

	// check
	// StatementTimeout bounds each query of the check (statement_timeout).
	StatementTimeout time.Duration
}

const usage = `agent: the runbook-operator data-plane binary.

Usage:
  agent backup  --bucket B --key K [--endpoint URL] [--region R] [--path-style] [--compression zstd|gzip|none]
  agent restore --bucket B --key K [--sha256 HEX] [--mode swap|inplace] [--confirm-inplace]
                [--target-database NAME] [--keep-previous=true] [--jobs N]
  agent verify  --bucket B --key K [--sha256 HEX]
  agent check   [--connect-timeout 10s] [--statement-timeout 10s]
  agent delete  --bucket B --key K

Every command accepts --termination-log PATH. Connection settings come from PGHOST,
PGPORT, PGDATABASE, PGUSER, PGPASSWORD and PGSSLMODE (or DATABASE_URL); S3
credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS default chain.
`

// Exit statuses of the agent. Jobs fail at once on ExitUsage and ExitPermanent (a retry
// cannot help) and retry ExitFailure up to their backoffLimit.
const (
	ExitOK        = 0
	ExitFailure   = 1 // possibly transient: S3 or database unreachable, interrupted
	ExitUsage     = 2 // bad flags
	ExitPermanent = 3 // the result says permanent: wrong credentials, missing bucket, checksum mismatch, …
)

// Main runs the agent with args (without the program name) and returns the exit
// status: ExitOK, ExitFailure, ExitUsage or ExitPermanent.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	scrub := NewScrubber()
	logw := scrub.Writer(stderr)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		_, _ = io.WriteString(stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd := args[0]
	o := Options{}
	fs := flag.NewFlagSet("agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(logw)
	fs.StringVar(&o.TerminationLog, "termination-log", "", "also write the JSON result to this file (e.g. /dev/termination-log)")
	needObject, ok := registerFlags(fs, cmd, &o)
	if !ok {
		_, _ = fmt.Fprintf(stderr, "agent: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	start := time.Now()
	res := Result{Command: cmd}
	var err error
	if perr := fs.Parse(args[1:]); perr != nil {
		if errors.Is(perr, flag.ErrHelp) {
			return 0
		}
		err = usageError{perr}
	} else if fs.NArg() > 0 {
		err = usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	} else if needObject && (o.Bucket == "" || o.Key == "") {
		err = usageError{errors.New("--bucket and --key are required")}
	}
	if err == nil {
		if needObject {
			res.Bucket, res.Key, res.Location = o.Bucket, o.Key, "s3://"+o.Bucket+"/"+o.Key
		}
		env := &env{o: o, log: logw, out: scrub.Writer(stdout), start: start}
		if cmd == "backup" || cmd == "restore" {
			env.meter = env.startMeter(ctx, cmd)
		}
		switch cmd {
		case "backup":
			err = env.backup(ctx, &res)
		case "restore":
			err = env.restore(ctx, &res)
		case "verify":
			err = env.verify(ctx, &res)
		case "check":
			err = env.check(ctx, &res)
		case "delete":
			err = env.delete(ctx, &res)
		}
		env.meter.finish(err)
	}
	res.DurationSeconds = float64(time.Since(start).Milliseconds()) / 1000
	code := ExitOK
	if err != nil {
		code = recordFailure(ctx, err, scrub, &res)
		_, _ = fmt.Fprintf(logw, "agent %s failed: %s\n", cmd, res.Error)
	}
	out := res.Marshal()
	// Scrub the whole line too: defence in depth for any field.
	line := []byte(scrub.String(string(out)))
	if o.TerminationLog != "" {
		if werr := os.WriteFile(o.TerminationLog, line, 0o600); werr != nil {
			_, _ = fmt.Fprintf(logw, "agent: cannot write termination log %s: %v\n", o.TerminationLog, werr)
		}
	}
	_, _ = stdout.Write(append(line, '\n'))
	return code
}

// recordFailure puts err's scrubbed message and permanence in res and returns the
// exit status it calls for.
func recordFailure(ctx context.Context, err error, scrub *Scrubber, res *Result) int {
	msg := err.Error()
	if ctx.Err() != nil {
		msg = fmt.Sprintf("interrupted (%v): %s", context.Cause(ctx), msg)
	}
	res.Error = scrub.String(sanitizeMessage(msg))
	res.Permanent = objectstore.IsPermanent(err) || pgtools.IsPermanent(err) || isPermanent(err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case res.Permanent && ctx.Err() == nil:
		return ExitPermanent
	}
	return ExitFailure
}

// registerFlags declares cmd's flags; ok is false for an unknown command.
func registerFlags(fs *flag.FlagSet, cmd string, o *Options) (needObject, ok bool) {
	connectTimeout := 30 * time.Second
	if cmd == "check" {
		connectTimeout = DefaultCheckConnectTimeout
	}
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", connectTimeout, "how long to retry connecting to PostgreSQL")
	switch cmd {
	case "backup", "restore", "verify", "delete":
		needObject = true
		fs.StringVar(&o.Bucket, "bucket", "", "S3 bucket")
		fs.StringVar(&o.Key, "key", "", "object key of the dump")
		fs.StringVar(&o.Endpoint, "endpoint", "", "S3 endpoint URL for S3-compatible stores")
		fs.StringVar(&o.Region, "region", "", "S3 region (default AWS_REGION, else us-east-1)")
		fs.BoolVar(&o.PathStyle, "path-style", false, "use path-style bucket addressing")
	case "check":
		fs.DurationVar(&o.StatementTimeout, "statement-timeout", 10*time.Second, "statement_timeout of each query of the check")
	default:
		return false, false
	}
	if cmd == "backup" || cmd == "restore" {
		fs.DurationVar(&o.ProgressInterval, "progress-interval", 5*time.Second, "how often to print a progress line (0: never)")
	}
	switch cmd {
	case "backup":
		fs.StringVar(&o.Compression, "compression", CompressionZstd, "zstd, gzip or none")
		fs.StringVar(&o.CompressionLevel, "compression-level", "fastest", "fastest, default or better")
		fs.IntVar(&o.PartSizeMB, "part-size-mb", 8, "multipart part size in MiB (memory is about (concurrency+1) × part size)")
		fs.IntVar(&o.UploadConcurrency, "upload-concurrency", 4, "parts uploaded at once")
		fs.IntVar(&o.Threads, "compression-threads", runtime.GOMAXPROCS(0), "compression threads")
	case "restore", "verify":
		fs.StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the object (default: the manifest's)")
		fs.IntVar(&o.Jobs, "jobs", defaultJobs(), "pg_restore parallel jobs")
		fs.BoolVar(&o.NoOwner, "no-owner", false, "do not restore ownership and privileges (pg_restore --no-owner --no-privileges)")
		fs.StringVar(&o.TargetDatabase, "target-database", "", "database to restore (default PGDATABASE)")
	}
	if cmd == "restore" {
		fs.StringVar(&o.Mode, "mode", "swap", "swap: restore into a new database and rename it into place; inplace: drop and recreate the database")
		fs.BoolVar(&o.ConfirmInplace, "confirm-inplace", false, "required with --mode inplace, which drops the live database before restoring")
		fs.BoolVar(&o.KeepPrevious, "keep-previous", true, "keep the former database as <name>_pre_restore_<timestamp> after a swap")
		fs.BoolVar(&o.Analyze, "analyze", true, "ANALYZE the restored database before it goes live")
	}
	return needObject, true
}

type usageError struct{ error }

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

func isPermanent(err error) bool {
	var p permanentError
	var u usageError
	return errors.As(err, &p) || errors.As(err, &u)
}

// sanitizeMessage keeps a message on one line of valid UTF-8.
func sanitizeMessage(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.ReplaceAll(s, "\r", " ")
	s = strings.ReplaceAll(s, "\n", " | ")
	if utf8.RuneCountInString(s) > 3000 {
		s = truncate(s, 3000)
	}
	return s
}

func defaultJobs() int {
	n := runtime.NumCPU()
	if n > 4 {
		n = 4
	}
	if n < 1 {
		n = 1
	}
	return n
}

// env carries what a command run needs.
type env struct {
	o     Options
	log   io.Writer
	out   io.Writer // stdout, scrubbed: a report for people before the JSON line (check)
	start time.Time
	ph    phases // restore and verify: time per step
	meter *meter // backup and restore: progress lines (nil: none)
	// server is the version of the server restored into; tools the client
	// tools chosen for it and the dump (restore and verify, set by source).
	server pgtools.Version
	tools  pgtools.Tools
	// toolsNote says which tools and how, for Result.ClientTools.
	toolsNote string
}

// target reads the connection settings from the environment.
func (e *env) target() (pgtools.Target, error) {
	t, err := pgtools.TargetFromEnv()
	if err != nil {
		return t, permanentError{err}
	}
	t.RetryFor = e.o.ConnectTimeout
	return t, nil
}

func (e *env) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(e.log, "%s agent: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

func (e *env) store(ctx context.Context) (*objectstore.S3, error) {
	partSize := int64(e.o.PartSizeMB) << 20
	return objectstore.New(ctx, objectstore.Config{
		Bucket: e.o.Bucket, Endpoint: e.o.Endpoint, Region: e.o.Region, PathStyle: e.o.PathStyle,
		PartSize: partSize, Concurrency: e.o.UploadConcurrency,
	})
}

// dbName shortens base so that base+suffix fits PostgreSQL's 63-byte names.
func dbName(base, suffix string) string {
	max := 63 - len(suffix)
	if len(base) > max {
		base = base[:max]
		for len(base) > 0 && !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
	}
	return base + suffix
}

func timestamp(t time.Time) string { return t.UTC().Format("20060102150405") }
