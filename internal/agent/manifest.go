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
	"encoding/json"
	"fmt"
	"io"
	"time"

	"runbook-operator/internal/objectstore"
	"runbook-operator/internal/pgtools"
)

// ManifestSuffix is appended to a dump's key to name its manifest object.
const ManifestSuffix = ".manifest.json"

// Manifest describes a completed dump. It is written after the dump object is
// complete, so a dump without a manifest is not a good backup.
type Manifest struct {
	ManifestVersion int    `json:"manifestVersion"`
	Database        string `json:"database"`
	ServerVersion   string `json:"serverVersion"`
	PgDumpVersion   string `json:"pgDumpVersion"`
	// ClientTools is the directory of the client tools that made the dump,
	// chosen for the server's major version (/usr/lib/postgresql/15/bin).
	ClientTools       string                  `json:"clientTools,omitempty"`
	Format            string                  `json:"format"` // "custom" (pg_dump -Fc)
	Compression       string                  `json:"compression"`
	SizeBytes         int64                   `json:"sizeBytes"`
	UncompressedBytes int64                   `json:"uncompressedBytes"`
	SHA256            string                  `json:"sha256"`
	StartTime         time.Time               `json:"startTime"`
	EndTime           time.Time               `json:"endTime"`
	Tables            []pgtools.TableEstimate `json:"tables"`
}

// ManifestKey returns the manifest object's key for a dump key.
func ManifestKey(key string) string { return key + ManifestSuffix }

// readManifest fetches and decodes the manifest of key; (nil, nil) when it is missing.
func readManifest(ctx context.Context, store objectstore.Store, key string) (*Manifest, error) {
	ok, err := store.Exists(ctx, ManifestKey(key))
	if err != nil || !ok {
		return nil, err
	}
	rc, _, err := store.Get(ctx, ManifestKey(key))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s is not valid JSON: %w", ManifestKey(key), err)
	}
	return &m, nil
}
