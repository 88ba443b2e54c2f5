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
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Options configures StartS3.
type S3Options struct{}

// S3 is a running versitygw gateway serving the posix folder RootDir over S3 with
// SigV4 authentication. Buckets are folders of RootDir; objects are files in them.
type S3 struct {
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	RootDir   string

	bin     string
	port    int
	tmp     string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

// VersitygwPath finds the versitygw binary: $VERSITYGW, $KUBEBUILDER_ASSETS/versitygw,
// the directory printed by hack/test-binaries.sh --print, then the PATH.
func VersitygwPath() (string, error) {
	var tried []string
	try := func(p string) bool {
		tried = append(tried, p)
		st, err := os.Stat(p)
		return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
	}
	if p := os.Getenv("VERSITYGW"); p != "" && try(p) {
		return p, nil
	}
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" && try(filepath.Join(d, "versitygw")) {
		return filepath.Join(d, "versitygw"), nil
	}
	if script, err := findRepoFile("hack/test-binaries.sh"); err == nil {
		out, err := exec.Command("bash", script, "--print").Output()
		if err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			p := filepath.Join(strings.TrimSpace(lines[len(lines)-1]), "versitygw")
			if try(p) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw not found (tried %s and the PATH); build it with hack/test-binaries.sh", strings.Join(tried, ", "))
}

// findRepoFile walks up from this source file and from the working directory to
// find rel in the repository.
func findRepoFile(rel string) (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			p := filepath.Join(d, rel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%s not found above %v", rel, starts)
}

// StartS3 starts versitygw over a new temp folder on a free loopback port, with
// random root credentials, and waits until it answers authenticated requests.
func StartS3(ctx context.Context, _ S3Options) (*S3, error) {
	bin, err := VersitygwPath()
	if err != nil {
		return nil, err
	}
	tmp, err := newTempDir("harness-s3-")
	if err != nil {
		return nil, err
	}
	s := &S3{
		Region:    "us-east-1",
		AccessKey: "AK" + strings.ToUpper(randomHex(9)),
		SecretKey: randomHex(20),
		RootDir:   filepath.Join(tmp, "root"),
		bin:       bin,
		tmp:       tmp,
		logPath:   filepath.Join(tmp, "versitygw.log"),
	}
	if err := os.Mkdir(s.RootDir, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, err
		}
		s.port = port
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		if lastErr = s.start(ctx); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(tmp)
	return nil, lastErr
}

func (s *S3) start(ctx context.Context) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.port), "--quiet", "posix", s.RootDir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	client := s.Client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("versitygw exited during start-up: %v: %s", waitErr, lastLines(string(log), 10))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListBuckets(cctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Kill()
			return fmt.Errorf("versitygw did not answer on %s: %w", s.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Client returns an S3 client for the gateway with the root credentials.
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:           s.Region,
		BaseEndpoint:     aws.String(s.Endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RetryMaxAttempts: 1,
	})
}

// Env returns the AWS environment variables holding the root credentials.
func (s *S3) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// CreateBucket creates a bucket (a folder of RootDir).
func (s *S3) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	return err
}

// Kill stops the gateway at once with SIGKILL, leaving its folder in place, as a
// crash would. Restart brings it back on the same port and folder.
func (s *S3) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts the gateway again after Kill, on the same port and folder.
func (s *S3) Restart(ctx context.Context) error {
	s.Kill()
	return s.start(ctx)
}

// Stop stops the gateway and removes its folder. It is safe to call twice.
func (s *S3) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if s.tmp == "" {
		return errors.New("s3 harness was not started")
	}
	return os.RemoveAll(s.tmp)
}

// Addr returns host:port of the gateway.
func (s *S3) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }
