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

package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"runbook-operator/internal/agent"
)

// holdingProxy forwards S3 requests to the test's S3 server and holds the first one
// that match does not return until the test is done: the agent waits in that
// request, and is SIGKILLed there. Host headers pass unchanged, so SigV4 holds.
func holdingProxy(t *testing.T, match func(*http.Request) bool) (endpoint string, held <-chan struct{}) {
	t.Helper()
	target, err := url.Parse(store.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	reached := make(chan struct{})
	release := make(chan struct{})
	var holding atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) && holding.CompareAndSwap(false, true) {
			close(reached)
			<-release
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL, reached
}

// incompleteUploads lists the unfinished multipart uploads of key.
func incompleteUploads(t *testing.T, key string) int {
	t.Helper()
	out, err := store.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			n++
		}
	}
	return n
}

func exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := store.Client().HeadObject(context.Background(), headInput(key))
	return err == nil
}

// TestKilledAtEachStep SIGKILLs a backup while it waits in each S3 request of the
// upload, checks what is left in the bucket, then runs the Job's retry (same key) and
// the Delete finalizer's `agent delete`.
func TestKilledAtEachStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match func(r *http.Request, key string) bool
	}{
		{"while uploading a part", func(r *http.Request, key string) bool {
			return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
		}},
		{"while writing the manifest", func(r *http.Request, key string) bool {
			return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, agent.ManifestSuffix)
		}},
		{"while completing the upload", func(r *http.Request, key string) bool {
			return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "killed-" + strings.ReplaceAll(tc.name, " ", "-") + "/a.dump.zst"
			endpoint, held := holdingProxy(t, func(r *http.Request) bool { return tc.match(r, key) })
			cmd := exec.Command(agentBin, "backup", "--bucket", bucket, "--key", key, "--endpoint", endpoint, "--path-style",
				"--termination-log", t.TempDir()+"/termination-log")
			cmd.Env = baseEnv("source")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-held:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the agent never reached the request")
			}
			_ = cmd.Process.Kill() // SIGKILL: nothing runs after this
			_ = cmd.Wait()

			if exists(t, key) && !exists(t, agent.ManifestKey(key)) {
				t.Errorf("killed %s: a complete dump exists without its manifest", tc.name)
			}
			if exists(t, key) {
				t.Errorf("killed %s: the dump object was completed before the agent got that far", tc.name)
			}

			// The Job's retry of the same key cleans up and stores one good backup.
			r := runAgent(t, baseEnv("source"), "backup", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style")
			mustSucceed(t, r)
			if !exists(t, key) || !exists(t, agent.ManifestKey(key)) {
				t.Errorf("after the retry: dump %v, manifest %v; want both", exists(t, key), exists(t, agent.ManifestKey(key)))
			}
			if n := incompleteUploads(t, key); n != 0 {
				t.Errorf("after the retry: %d incomplete multipart upload(s) of %s left", n, key)
			}
		})
	}

	t.Run("the Delete finalizer removes what a killed backup left", func(t *testing.T) {
		key := "killed-then-deleted/a.dump.zst"
		endpoint, held := holdingProxy(t, func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
		})
		cmd := exec.Command(agentBin, "backup", "--bucket", bucket, "--key", key, "--endpoint", endpoint, "--path-style",
			"--termination-log", t.TempDir()+"/termination-log")
		cmd.Env = baseEnv("source")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		<-held
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if n := incompleteUploads(t, key); n != 1 {
			t.Fatalf("%d incomplete uploads after the kill, want 1 (the one in flight)", n)
		}
		mustSucceed(t, runAgent(t, baseEnv("source"), "delete", "--bucket", bucket, "--key", key, "--endpoint", store.Endpoint, "--path-style"))
		if exists(t, key) || exists(t, agent.ManifestKey(key)) || incompleteUploads(t, key) != 0 {
			t.Errorf("after agent delete: dump %v, manifest %v, incomplete uploads %d; want none",
				exists(t, key), exists(t, agent.ManifestKey(key)), incompleteUploads(t, key))
		}
	})
}
