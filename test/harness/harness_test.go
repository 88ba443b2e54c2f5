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

package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := pg.DataDir
	defer func() { _ = pg.Stop() }()
	v := serverVersion(ctx, t, pg)
	t.Logf("server %s on port %d", v, pg.Port)
	env := strings.Join(pg.Env("postgres"), " ")
	if !strings.Contains(env, "PGPASSWORD="+pg.Password) || !strings.Contains(env, "PGPORT=") {
		t.Fatalf("bad env %q", env)
	}
	// A wrong password must be rejected: authentication is really on.
	badDSN := strings.Replace(pg.DSN("postgres"), pg.Password, "wrong", 1)
	if c, err := pgx.Connect(ctx, badDSN); err == nil {
		_ = c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s still exists after Stop: %v", dir, err)
	}
	if c, err := pgx.Connect(ctx, pg.DSN("postgres")); err == nil {
		_ = c.Close(ctx)
		t.Fatal("server still answers after Stop")
	}
}

// TestPostgres17InRootfs starts the second server major of the tests:
// PostgreSQL 17 chrooted into the trixie file system of hack/rootfs.sh.
func TestPostgres17InRootfs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fs, err := FindRootFS()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := StartPostgres(ctx, PostgresOptions{Rootfs: fs.Server17, Version: "17"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Stop() }()
	dir := filepath.Join(fs.Server17, pg.DataDir)
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("the cluster is not in the file system: %v", err)
	}
	v := serverVersion(ctx, t, pg)
	if !strings.HasPrefix(v, "17.") {
		t.Errorf("server_version %q, want 17.x", v)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s still exists after Stop: %v", dir, err)
	}
}

func serverVersion(ctx context.Context, t *testing.T, pg *Postgres) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := StartS3(ctx, S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	if err := s.CreateBucket(ctx, "bucket-one"); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("a/k"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.RootDir, "bucket-one", "a", "k"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("object file: %q %v", b, err)
	}
	s.Kill()
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Fatal("gateway answers after Kill")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("a/k")}); err != nil {
		t.Fatal(err)
	}
	root := s.RootDir
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("root dir still exists: %v", err)
	}
}
