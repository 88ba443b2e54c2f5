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

package controller

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// BenchmarkThousandBackups applies 1,000 DatabaseBackups (of 1,000 databases, so the
// database lock lets all of them run) at once against envtest, with the real manager
// binary (cmd/manager) as a subprocess, and reports the time until all 1,000 Jobs exist
// and the manager's peak resident memory (VmHWM). Targets: 30 s and 150 MiB.
//
//	KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print) go test ./internal/controller \
//	    -run '^$' -bench ThousandBackups -benchtime 1x
//
// BENCH_BACKUPS overrides the count.
func BenchmarkThousandBackups(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("BENCH_BACKUPS")); err == nil && v > 0 {
		n = v
	}
	c, runManager, stop := benchManagerBinary(b)
	defer stop()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}

	for i := 0; i < b.N; i++ {
		mgr := runManager("--metrics-bind-address=0")
		time.Sleep(2 * time.Second) // caches synced, as for a manager that was already running

		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32) // like kubectl apply of many files in parallel
		errs := make(chan error, n)
		for j := 0; j < n; j++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(j int) {
				defer wg.Done()
				defer func() { <-sem }()
				bk := newBackup("bench", fmt.Sprintf("r%d-b%04d", i, j), fmt.Sprintf("tenant-%04d-db", j))
				if err := c.Create(ctx, bk); err != nil {
					errs <- err
				}
			}(j)
		}
		wg.Wait()
		applied := time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		var jobs int
		for {
			var list batchv1.JobList
			if err := c.List(ctx, &list, client.InNamespace("bench")); err != nil {
				b.Fatal(err)
			}
			jobs = 0
			for _, j := range list.Items {
				if strings.HasPrefix(j.Name, fmt.Sprintf("r%d-", i)) {
					jobs++
				}
			}
			if jobs >= n || time.Since(start) > 5*time.Minute {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		allJobs := time.Since(start)
		b.StopTimer()
		hwm := vmHWM(mgr.Process.Pid)
		_ = mgr.Process.Signal(os.Interrupt)
		_ = mgr.Wait()
		if jobs < n {
			b.Fatalf("only %d of %d Jobs after %s", jobs, n, allJobs)
		}
		b.ReportMetric(allJobs.Seconds(), "s-to-all-jobs")
		b.ReportMetric(applied.Seconds(), "s-to-apply")
		b.ReportMetric(float64(hwm)/1024, "MiB-peak-rss")
		b.Logf("%d backups applied in %s; all %d Jobs existed after %s; manager peak RSS %.1f MiB (targets: 30 s, 150 MiB)",
			n, applied.Round(time.Millisecond), n, allJobs.Round(time.Millisecond), float64(hwm)/1024)
		var backups opsv1alpha1.DatabaseBackupList
		if err := c.List(ctx, &backups, client.InNamespace("bench")); err == nil {
			running := 0
			for _, bk := range backups.Items {
				if bk.Status.Phase == opsv1alpha1.BackupPhaseRunning {
					running++
				}
			}
			b.Logf("%d of %d backups report phase Running", running, len(backups.Items))
		}
	}
}

// benchManagerBinary starts envtest and builds cmd/manager with a kubeconfig of its own
// (a system:masters user), for the benchmarks that measure the real manager as a
// subprocess; runManager starts it with args after the common ones (no probes, the
// agent image), its log in the benchmark's temporary folder. stop ends the API server.
func benchManagerBinary(b *testing.B) (c client.Client, runManager func(args ...string) *exec.Cmd, stop func()) {
	b.Helper()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	stop = func() { _ = env.Stop() }
	fatal := func(err error) {
		stop()
		b.Fatal(err)
	}
	if c, err = client.New(cfg, client.Options{Scheme: benchScheme()}); err != nil {
		fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		fatal(err)
	}
	dir := b.TempDir()
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/manager").CombinedOutput(); err != nil {
		fatal(fmt.Errorf("building the manager: %v\n%s", err, out))
	}
	runs := 0
	runManager = func(args ...string) *exec.Cmd {
		b.Helper()
		runs++
		mgr := exec.Command(bin, append([]string{"--health-probe-bind-address=0", "--agent-image=agent:bench"}, args...)...)
		mgr.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("manager-%d.log", runs)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = logf.Close() })
		mgr.Stdout, mgr.Stderr = logf, logf
		if err := mgr.Start(); err != nil {
			b.Fatal(err)
		}
		return mgr
	}
	return c, runManager, stop
}

// vmHWM returns the peak resident set size of pid in KiB.
func vmHWM(pid int) int64 { return procStatus(pid, "VmHWM:") }

// procStatus returns the field (e.g. "VmHWM:") of /proc/<pid>/status in KiB; -1 when
// it cannot be read.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return -1
}

func benchScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1alpha1.AddToScheme(s)
	return s
}

// benchManager starts envtest and an in-process manager (no metrics, no probes, the
// managed-Secrets cache) for the benchmarks that run one reconciler in this process;
// stop ends the API server. Add the reconciler, then start the manager.
func benchManager(b *testing.B) (c client.Client, mgr ctrl.Manager, stop func()) {
	b.Helper()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	stop = func() { _ = env.Stop() }
	s := benchScheme()
	if c, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		stop()
		b.Fatal(err)
	}
	mgr, err = ctrl.NewManager(cfg, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache:      cache.Options{ByObject: ManagedSecretsCache()},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}}) // run once per b.N tried
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return c, mgr, stop
}
