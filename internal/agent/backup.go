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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// countingWriter counts and hashes what passes through it.
// n is atomic because the progress meter reads it meanwhile.
type countingWriter struct {
	w io.Writer
	h hash.Hash
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n.Add(int64(n))
	return n, err
}

type byteCounter struct {
	w io.Writer
	n atomic.Int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

var errUploadStopped = errors.New("the upload stopped")

// dump writes pg_dump's archive of t through the compressor into out; raw counts
// the uncompressed bytes.
func (e *env) dump(ctx context.Context, tools pgtools.Tools, t pgtools.Target, out io.Writer, raw *byteCounter) error {
	comp, err := newCompressor(e.o.Compression, out, e.o.Threads, e.o.CompressionLevel)
	if err != nil {
		return err
	}
	raw.w = comp
	if err := pgtools.Dump(ctx, pgtools.DumpOptions{Tools: tools, Target: t, Database: t.Database, Log: e.log}, raw); err != nil {
		_ = comp.Close()
		return err
	}
	return comp.Close()
}

// backup streams pg_dump -Fc -Z0 → compressor → SHA-256/size → S3 multipart
// upload, writes the manifest, and only then completes the upload. Nothing is left
// behind on failure: the multipart upload is aborted and a manifest already written
// deleted; what a SIGKILL leaves is removed by the next attempt.
func (e *env) backup(ctx context.Context, res *Result) error {
	if strings.HasSuffix(e.o.Key, ManifestSuffix) {
		return permanent("the key must not end in %s (reserved for manifests)", ManifestSuffix)
	}
	if e.o.PartSizeMB < 5 {
		return permanent("--part-size-mb must be at least 5 (the S3 minimum)")
	}
	if _, err := newCompressor(e.o.Compression, io.Discard, 1, e.o.CompressionLevel); err != nil {
		return permanentError{err}
	}
	res.Compression = e.o.Compression
	t, err := e.target()
	if err != nil {
		return err
	}
	res.Database = t.Database
	store, err := e.store(ctx)
	if err != nil {
		return err
	}

	// Facts for the manifest, and an early, clear failure for a missing database,
	// wrong password or too old pg_dump before any upload starts.
	conn, err := t.Connect(ctx, t.Database)
	if err != nil {
		return err
	}
	server, err := pgtools.ServerVersion(ctx, conn)
	if err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("read server version: %w", err)
	}
	res.ServerVersion = server.Text
	tables, err := pgtools.TableEstimates(ctx, conn)
	dbSize, _ := pgtools.DatabaseSize(ctx, conn) // 0 if unknown: no ETA
	_ = conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("read table estimates: %w", err)
	}
	tools, err := pgtools.SelectTools(ctx, server, 0)
	if err != nil {
		return err
	}
	res.ClientTools = tools.String()

	if err := e.cleanUpAttempt(ctx, store); err != nil {
		return fmt.Errorf("no backup was stored: %w", err)
	}

	started := time.Now().UTC()
	e.logf("backup of database %q (PostgreSQL %s, %d tables) to %s with %s compression, using %s", t.Database, server.Text, len(tables), res.Location, e.o.Compression, tools)

	pr, pw := io.Pipe()
	sum := &countingWriter{w: pw, h: sha256.New()}
	raw := &byteCounter{}
	e.meter.setPhase("dump")
	e.meter.trackUpload(&sum.n)
	e.meter.track(&raw.n, dbSize)
	done := make(chan error, 1)
	go func() {
		derr := e.dump(ctx, tools, t, sum, raw)
		_ = pw.CloseWithError(derr) // nil: the upload sees EOF and completes
		done <- derr
	}()
	// The manifest is written after the last part and before the upload is
	// completed, so a complete dump never exists without its manifest: a process
	// killed in between leaves a manifest and an incomplete upload, which the retry
	// (below, at the start) and the Delete finalizer's `agent delete` remove.
	var ended time.Time
	manifestWritten := false
	info, uerr := store.UploadThen(ctx, e.o.Key, pr, func(info objectstore.UploadInfo) error {
		ended = time.Now().UTC()
		if sum.n.Load() != info.Size {
			return fmt.Errorf("internal error: hashed %d bytes but uploaded %d", sum.n.Load(), info.Size)
		}
		m := Manifest{
			ManifestVersion: 1, Database: t.Database, ServerVersion: server.Text, PgDumpVersion: tools.Version.Text, ClientTools: tools.Dir,
			Format: "custom", Compression: e.o.Compression, SizeBytes: info.Size, UncompressedBytes: raw.n.Load(),
			SHA256: hex.EncodeToString(sum.h.Sum(nil)), StartTime: started, EndTime: ended, Tables: tables,
		}
		mb, _ := json.MarshalIndent(m, "", "  ")
		if err := store.Put(ctx, ManifestKey(e.o.Key), mb, "application/json"); err != nil {
			return fmt.Errorf("writing the manifest failed: %w", err)
		}
		manifestWritten = true
		return nil
	})
	_ = pr.CloseWithError(errUploadStopped)
	derr := <-done
	if uerr != nil || derr != nil {
		if manifestWritten { // the upload was not completed: its manifest must go too
			if err := e.deleteQuietly(ctx, store, ManifestKey(e.o.Key)); err != nil {
				return fmt.Errorf("upload aborted, no backup was stored (%w), but its manifest could not be deleted (%v): delete %s by hand", uerr, err, ManifestKey(e.o.Key))
			}
		}
		var s3err *objectstore.Error
		switch {
		case errors.As(uerr, &s3err):
			return fmt.Errorf("upload aborted, no backup was stored: %w", uerr)
		case derr != nil && !errors.Is(derr, errUploadStopped):
			return fmt.Errorf("upload aborted, no backup was stored: %w", derr)
		default:
			return fmt.Errorf("upload aborted, no backup was stored: %w", uerr)
		}
	}
	res.SizeBytes = info.Size
	res.SHA256 = hex.EncodeToString(sum.h.Sum(nil))
	e.logf("backup complete: %d bytes (%d uncompressed, %d parts), sha256 %s, %.1fs",
		info.Size, raw.n.Load(), info.Parts, res.SHA256, time.Since(e.start).Seconds())
	return nil
}

// cleanUpAttempt removes what a killed earlier attempt at the same key left: its
// incomplete multipart uploads, and a manifest whose dump was never completed.
func (e *env) cleanUpAttempt(ctx context.Context, store objectstore.Store) error {
	n, err := store.AbortIncomplete(ctx, e.o.Key)
	if err != nil {
		return err
	}
	if n > 0 {
		e.logf("aborted %d incomplete upload(s) of %s left by an earlier attempt", n, e.o.Key)
	}
	dump, err := store.Exists(ctx, e.o.Key)
	if err != nil {
		return err
	}
	if !dump {
		if err := store.Delete(ctx, ManifestKey(e.o.Key)); err != nil {
			return err
		}
	}
	return nil
}

// deleteQuietly removes a dump that must not look like a backup, even when ctx
// was cancelled.
func (e *env) deleteQuietly(ctx context.Context, store objectstore.Store, key string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return store.Delete(dctx, key)
}
