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

// Package promtest starts a real Prometheus server (Debian's prometheus 2.42, as
// .ci/run installs it) for tests: on loopback, with its own config and storage in a
// temporary directory, scraping the given targets every second.
package promtest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// TB is what the server needs of a test: testing.TB and GinkgoT() both have it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Options of a server.
type Options struct {
	// Targets are host:port scraped every second at /metrics (job "app").
	Targets []string
	// ScrapeConfigs, when set, is the scrape_configs list as YAML (instead of Targets),
	// e.g. a kubernetes_sd_configs job.
	ScrapeConfigs string
	// CertPEM and KeyPEM, when set, make it serve HTTPS (web.config.file's
	// tls_server_config).
	CertPEM, KeyPEM []byte
	// Log receives the server's output (default: discarded).
	Log io.Writer
}

// Server is a running (or stopped) Prometheus process.
type Server struct {
	// Addr is host:port it listens on; URL is http(s)://Addr.
	Addr, URL string

	t    TB
	bin  string
	dir  string
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary is the prometheus binary the tests run: $PROMETHEUS, else /usr/bin/prometheus.
// The test fails, saying how to install it, when it is missing.
func Binary(t TB) string {
	t.Helper()
	bin := os.Getenv("PROMETHEUS")
	if bin == "" {
		bin = "/usr/bin/prometheus"
	}
	if _, err := os.Stat(bin); err != nil { //nolint:gosec // the test's own choice of binary
		t.Fatalf("this test needs a real Prometheus server at %s (%v): install Debian's package (apt-get install --no-install-recommends prometheus, as .ci/run does) or set PROMETHEUS to its path", bin, err)
	}
	return bin
}

// Start starts a server and waits until it is ready; it is stopped when the test ends.
func Start(t TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), opts: opts}
	targets := make([]string, len(opts.Targets))
	for i, a := range opts.Targets {
		targets[i] = "'" + a + "'"
	}
	cfg := "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\n"
	switch {
	case opts.ScrapeConfigs != "":
		cfg += "scrape_configs:\n" + opts.ScrapeConfigs
	case len(targets) > 0:
		cfg += fmt.Sprintf("scrape_configs:\n- job_name: app\n  static_configs: [{targets: [%s]}]\n", strings.Join(targets, ", "))
	}
	s.write("prometheus.yml", []byte(cfg))
	scheme := "http"
	if len(opts.CertPEM) > 0 {
		scheme = "https"
		s.write("cert.pem", opts.CertPEM)
		s.write("key.pem", opts.KeyPEM)
		s.write("web.yml", []byte(fmt.Sprintf("tls_server_config: {cert_file: %s, key_file: %s}\n",
			filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem"))))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	s.Addr = l.Addr().String()
	_ = l.Close()
	s.URL = scheme + "://" + s.Addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) write(name string, b []byte) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o600); err != nil {
		s.t.Fatalf("writing %s: %v", name, err)
	}
}

// Start starts the process again on the same address and storage (after Stop).
func (s *Server) Start() {
	s.t.Helper()
	args := []string{"--config.file=" + filepath.Join(s.dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(s.dir, "data"),
		"--web.listen-address=" + s.Addr, "--log.level=warn"}
	if len(s.opts.CertPEM) > 0 {
		args = append(args, "--web.config.file="+filepath.Join(s.dir, "web.yml"))
	}
	s.cmd = exec.Command(s.bin, args...) //nolint:gosec // the test's own binary and temporary files
	out := s.opts.Log
	if out == nil {
		out = io.Discard
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	// Readiness over the same scheme, not checking the (test) certificate.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // only readiness
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Get(s.URL + "/-/ready")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("/-/ready: %s", res.Status)
		}
		select {
		case <-s.done:
			s.t.Fatalf("prometheus exited before it was ready (%v)", err)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("prometheus not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the process (SIGINT, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}
