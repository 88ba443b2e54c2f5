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
	"time"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// countingWriter counts and hashes what passes through it.
type countingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

type byteCounter struct {
	w io.Writer
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var errUploadStopped = errors.New("the upload stopped")

// backup streams pg_dump -Fc -Z0 → compressor → SHA-256/size → S3 multipart
// upload, then writes the manifest. Nothing is left behind on failure: the
// multipart upload is aborted, and a dump whose manifest could not be written is
// deleted.
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
	_ = conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("read table estimates: %w", err)
	}
	tools, err := pgtools.SelectTools(ctx, server, 0)
	if err != nil {
		return err
	}
	res.ClientTools = tools.String()

	started := time.Now().UTC()
	e.logf("backup of database %q (PostgreSQL %s, %d tables) to %s with %s compression, using %s", t.Database, server.Text, len(tables), res.Location, e.o.Compression, tools)

	pr, pw := io.Pipe()
	sum := &countingWriter{w: pw, h: sha256.New()}
	raw := &byteCounter{}
	done := make(chan error, 1)
	go func() {
		derr := func() error {
			comp, err := newCompressor(e.o.Compression, sum, e.o.Threads, e.o.CompressionLevel)
			if err != nil {
				return err
			}
			raw.w = comp
			if err := pgtools.Dump(ctx, pgtools.DumpOptions{Tools: tools, Target: t, Database: t.Database, Log: e.log}, raw); err != nil {
				_ = comp.Close()
				return err
			}
			return comp.Close()
		}()
		_ = pw.CloseWithError(derr) // nil: the upload sees EOF and completes
		done <- derr
	}()
	info, uerr := store.Upload(ctx, e.o.Key, pr)
	_ = pr.CloseWithError(errUploadStopped)
	derr := <-done
	if uerr != nil || derr != nil {
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
	ended := time.Now().UTC()
	res.SizeBytes = info.Size
	res.SHA256 = hex.EncodeToString(sum.h.Sum(nil))
	if sum.n != info.Size {
		_ = e.deleteQuietly(ctx, store, e.o.Key)
		return fmt.Errorf("internal error: hashed %d bytes but uploaded %d", sum.n, info.Size)
	}

	m := Manifest{
		ManifestVersion: 1, Database: t.Database, ServerVersion: server.Text, PgDumpVersion: tools.Version.Text, ClientTools: tools.Dir,
		Format: "custom", Compression: e.o.Compression, SizeBytes: info.Size, UncompressedBytes: raw.n,
		SHA256: res.SHA256, StartTime: started, EndTime: ended, Tables: tables,
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := store.Put(ctx, ManifestKey(e.o.Key), mb, "application/json"); err != nil {
		derr := e.deleteQuietly(ctx, store, e.o.Key)
		if derr != nil {
			return fmt.Errorf("writing the manifest failed (%w) and the dump could not be deleted either (%v): delete %s by hand, it is not a valid backup", err, derr, res.Location)
		}
		return fmt.Errorf("writing the manifest failed, the dump was deleted: %w", err)
	}
	e.logf("backup complete: %d bytes (%d uncompressed, %d parts), sha256 %s, %.1fs",
		info.Size, raw.n, info.Parts, res.SHA256, time.Since(e.start).Seconds())
	return nil
}

// deleteQuietly removes a dump that must not look like a backup, even when ctx
// was cancelled.
func (e *env) deleteQuietly(ctx context.Context, store objectstore.Store, key string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return store.Delete(dctx, key)
}
