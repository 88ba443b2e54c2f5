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

package plugin

// The commands against envtest's real API server, with no controller running: a
// test plays the controller by writing status, which is the API contract the
// commands read (phase, conditions, history, lastRotateRequest).

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

var (
	k8s        client.Client
	kubeconfig string
	nsCount    atomic.Int32
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		// The table tests run; every envtest one fails in namespace().
		os.Exit(m.Run())
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The person on call: the kubeconfig the plugin is given.
		alice, err := env.AddUser(envtest.User{Name: "alice", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kc, err := alice.KubeConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "kubectl-runbook-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }()
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// result is one run of the plugin.
type result struct {
	out, err string
	code     int
}

// run runs `kubectl runbook --kubeconfig … -n ns args…` as main does.
func run(ns string, args ...string) result {
	var out, errOut bytes.Buffer
	code := Main(append([]string{"--kubeconfig", kubeconfig, "-n", ns, "--poll-interval", "20ms"}, args...),
		genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return result{out.String(), errOut.String(), code}
}

// runAsync runs the plugin in the background (a --wait) and returns its result
// when it ends.
func runAsync(ns string, args ...string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- run(ns, args...) }()
	return ch
}

func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin did not end")
		return result{}
	}
}

func namespace(t *testing.T) string {
	t.Helper()
	if k8s == nil {
		t.Fatal("no API server: export KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print)")
	}
	ns := fmt.Sprintf("plugin-%d", nsCount.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, ns, name string, obj client.Object) {
	t.Helper()
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj))
}

// only waits until exactly one object of the list kind exists and returns its name.
func only(t *testing.T, ns string, list client.ObjectList) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		must(t, k8s.List(context.Background(), list, client.InNamespace(ns)))
		switch l := list.(type) {
		case *opsv1alpha1.DatabaseBackupList:
			if len(l.Items) == 1 {
				return l.Items[0].Name
			}
		case *opsv1alpha1.DatabaseRestoreList:
			if len(l.Items) == 1 {
				return l.Items[0].Name
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no object created")
	return ""
}

// eventually retries f (the test's controller step) until it succeeds.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
}

func s3dest(bucket string) opsv1alpha1.BackupDestination {
	return opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{Bucket: bucket, Prefix: "nightly", CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: "s3"}}}
}

func schedule(t *testing.T, ns, name, secret string) *opsv1alpha1.BackupSchedule {
	s := &opsv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1alpha1.BackupScheduleSpec{
			Schedule: "0 2 * * *",
			Template: opsv1alpha1.BackupTemplate{
				Metadata: opsv1alpha1.TemplateMetadata{Labels: map[string]opsv1alpha1.LabelValue{"team": "payments"}, Annotations: map[string]string{"note": "nightly"}},
				Spec:     opsv1alpha1.DatabaseBackupSpec{Database: opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: secret}}, Destination: s3dest("saas-backups"), Compression: opsv1alpha1.CompressionGzip},
			},
		},
	}
	must(t, k8s.Create(context.Background(), s))
	return s
}

func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	*conds = append(*conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: metav1.Now()})
}

func TestBackupNowWritesTheDatabaseBackupAPersonWould(t *testing.T) {
	ns := namespace(t)
	r := run(ns, "backup", "now", "--database", "saas-db", "--bucket", "bucket-1", "--prefix", "manual", "--s3-credentials", "s3", "--name", "before-upgrade", "--verify")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var b opsv1alpha1.DatabaseBackup
	get(t, ns, "before-upgrade", &b)
	if b.Spec.Database.SecretRef.Name != "saas-db" || b.Spec.Destination.S3.Bucket != "bucket-1" || b.Spec.Destination.S3.Prefix != "manual" ||
		b.Spec.Destination.S3.CredentialsSecretRef.Name != "s3" || !b.Spec.Verify || b.Labels[LabelCreatedBy] != CreatedByValue {
		t.Fatalf("backup written: %+v %v", b.Spec, b.Labels)
	}
	if !strings.Contains(r.out, "databasebackup.ops.runbook.dev/before-upgrade created") {
		t.Fatalf("output: %s", r.out)
	}

	// Without --bucket: the destination of the schedule of that database.
	schedule(t, ns, "nightly", "saas-db")
	r = run(ns, "backup", "now", "--database", "saas-db", "--name", "second")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	get(t, ns, "second", &b)
	if b.Spec.Destination.S3.Bucket != "saas-backups" || !strings.Contains(r.out, "BackupSchedule nightly") {
		t.Fatalf("destination %+v, output %s", b.Spec.Destination, r.out)
	}

	// No destination anywhere: refused, nothing created.
	r = run(ns, "backup", "now", "--database", "other-db", "--name", "third")
	if r.code != 1 || !strings.Contains(r.err, "no destination for a backup of other-db") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var bl opsv1alpha1.DatabaseBackupList
	must(t, k8s.List(context.Background(), &bl, client.InNamespace(ns)))
	if len(bl.Items) != 2 {
		t.Fatalf("%d backups", len(bl.Items))
	}
	// Both or neither of --database and --from-schedule: refused.
	if r := run(ns, "backup", "now"); r.code != 1 || !strings.Contains(r.err, "either --database") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
}

func TestBackupNowFromScheduleCopiesItsTemplate(t *testing.T) {
	ns := namespace(t)
	schedule(t, ns, "nightly", "saas-db")
	r := run(ns, "backup", "now", "--from-schedule", "nightly")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var b opsv1alpha1.DatabaseBackup
	get(t, ns, only(t, ns, &opsv1alpha1.DatabaseBackupList{}), &b)
	if !strings.HasPrefix(b.Name, "nightly-now-") || b.Spec.Compression != opsv1alpha1.CompressionGzip || b.Spec.Destination.S3.Bucket != "saas-backups" ||
		b.Labels["team"] != "payments" || b.Annotations["note"] != "nightly" || b.Annotations[AnnotationFromSchedule] != "nightly" || b.Spec.Verify {
		t.Fatalf("backup: %s %+v %v %v", b.Name, b.Spec, b.Labels, b.Annotations)
	}
	if r := run(ns, "backup", "now", "--from-schedule", "missing"); r.code != 1 || !strings.Contains(r.err, "BackupSchedule missing not found in namespace "+ns) {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
}

// finishBackup plays the backup controller: phase and conditions as it writes them.
func finishBackup(t *testing.T, ns string, phase opsv1alpha1.BackupPhase, msg string) {
	name := only(t, ns, &opsv1alpha1.DatabaseBackupList{})
	eventually(t, func() error {
		var b opsv1alpha1.DatabaseBackup
		get(t, ns, name, &b)
		b.Status.ObservedGeneration, b.Status.Phase = b.Generation, phase
		ready := metav1.ConditionTrue
		if phase == opsv1alpha1.BackupPhaseFailed {
			ready = metav1.ConditionFalse
			setCondition(&b.Status.Conditions, b.Generation, opsv1alpha1.ConditionStalled, metav1.ConditionTrue, "JobFailed", msg)
		}
		setCondition(&b.Status.Conditions, b.Generation, opsv1alpha1.ConditionReady, ready, "Done", msg)
		b.Status.Location, b.Status.SizeBytes, b.Status.SHA256 = "s3://saas-backups/nightly/x.dump.zst", 3<<20, strings.Repeat("ab", 32)
		return k8s.Status().Update(context.Background(), &b)
	})
}

func TestBackupNowWaitEndsWithTheBackup(t *testing.T) {
	ns := namespace(t)
	ch := runAsync(ns, "backup", "now", "--database", "saas-db", "--bucket", "bucket-2", "--wait")
	// A Running phase first: the line follows it.
	name := only(t, ns, &opsv1alpha1.DatabaseBackupList{})
	eventually(t, func() error {
		var b opsv1alpha1.DatabaseBackup
		get(t, ns, name, &b)
		b.Status.ObservedGeneration, b.Status.Phase = b.Generation, opsv1alpha1.BackupPhaseRunning
		b.Status.Progress = &opsv1alpha1.Progress{Percent: ptr.To[int32](40), BytesDone: 4 << 20, BytesExpected: 10 << 20}
		return k8s.Status().Update(context.Background(), &b)
	})
	time.Sleep(100 * time.Millisecond)
	finishBackup(t, ns, opsv1alpha1.BackupPhaseCompleted, "Backup completed")
	r := await(t, ch)
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.err, r.out)
	}
	for _, want := range []string{"databasebackup/" + name + ": Running 40%, 4 MiB of 10 MiB", "databasebackup/" + name + ": Completed", "stored s3://saas-backups/nightly/x.dump.zst (3 MiB"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b[") {
		t.Fatalf("escape codes off a terminal:\n%q", r.out)
	}

	ns = namespace(t)
	ch = runAsync(ns, "backup", "now", "--database", "saas-db", "--bucket", "bucket-2", "--wait")
	finishBackup(t, ns, opsv1alpha1.BackupPhaseFailed, "the access key ID is not known to the store")
	r = await(t, ch)
	if r.code != 1 || !strings.Contains(r.err, "Failed: the access key ID is not known to the store") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
}

func TestRestoreWritesTheRestoreAndWaits(t *testing.T) {
	ns := namespace(t)
	if r := run(ns, "restore", "--from", "nightly-1", "--database", "saas-db", "--quiesce", "deployment/web"); r.code != 1 || !strings.Contains(r.err, "only a Release can be quiesced") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	ch := runAsync(ns, "restore", "--from", "nightly-1", "--database", "saas-db", "--quiesce", "release/saas", "--wait")
	name := only(t, ns, &opsv1alpha1.DatabaseRestoreList{})
	var dr opsv1alpha1.DatabaseRestore
	get(t, ns, name, &dr)
	if dr.Spec.Source.BackupRef.Name != "nightly-1" || dr.Spec.Database.SecretRef.Name != "saas-db" || dr.Spec.Quiesce.ReleaseRef.Name != "saas" || dr.Spec.Mode != opsv1alpha1.RestoreModeSwap {
		t.Fatalf("restore: %+v", dr.Spec)
	}
	eventually(t, func() error {
		get(t, ns, name, &dr)
		dr.Status.ObservedGeneration, dr.Status.Phase = dr.Generation, opsv1alpha1.RestorePhaseCompleted
		dr.Status.RestoredDatabase, dr.Status.PreviousDatabase, dr.Status.SourceLocation = "saas", "saas_pre_restore_20261207", "s3://b/x"
		return k8s.Status().Update(context.Background(), &dr)
	})
	r := await(t, ch)
	if r.code != 0 || !strings.Contains(r.out, "kept as saas_pre_restore_20261207") || !strings.Contains(r.out, "quiescing release saas") {
		t.Fatalf("exit %d: %s\n%s", r.code, r.err, r.out)
	}

	// --database from the backup; a failed restore exits 1 with its message.
	ns = namespace(t)
	must(t, k8s.Create(context.Background(), BackupNow(ns, "b1", "orders-db", s3dest("bucket-3"), false)))
	ch = runAsync(ns, "restore", "--from", "b1", "--wait")
	name = only(t, ns, &opsv1alpha1.DatabaseRestoreList{})
	eventually(t, func() error {
		get(t, ns, name, &dr)
		dr.Status.ObservedGeneration, dr.Status.Phase = dr.Generation, opsv1alpha1.RestorePhaseFailed
		setCondition(&dr.Status.Conditions, dr.Generation, opsv1alpha1.ConditionReady, metav1.ConditionFalse, "RestoreFailed", "checksum mismatch: the live database is untouched")
		return k8s.Status().Update(context.Background(), &dr)
	})
	r = await(t, ch)
	if r.code != 1 || !strings.Contains(r.err, "checksum mismatch: the live database is untouched") || dr.Spec.Database.SecretRef.Name != "orders-db" {
		t.Fatalf("exit %d: %s (database %s)", r.code, r.err, dr.Spec.Database.SecretRef.Name)
	}
}

func release(t *testing.T, ns, name string, labels map[string]string, st opsv1alpha1.ReleaseStatus) *opsv1alpha1.Release {
	r := &opsv1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: opsv1alpha1.ReleaseSpec{Version: "1.2.0", Image: "registry.example/saas:1.2.0",
			Components: []opsv1alpha1.Component{{Name: "web"}}, Database: &opsv1alpha1.DatabaseConnection{SecretRef: opsv1alpha1.LocalObjectReference{Name: "saas-db"}},
			Backup: &opsv1alpha1.ReleaseBackup{Destination: ptr.To(s3dest("saas-backups"))}},
	}
	must(t, k8s.Create(context.Background(), r))
	st.ObservedGeneration = r.Generation
	r.Status = st
	must(t, k8s.Status().Update(context.Background(), r))
	return r
}

func TestReleaseRollbackAnnotatesTheRevisionInProgress(t *testing.T) {
	ns := namespace(t)
	release(t, ns, "stable", nil, opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseDeployed, CurrentRevision: "aaa", StableRevision: "aaa"})
	if r := run(ns, "release", "rollback", "stable"); r.code != 1 || !strings.Contains(r.err, "no revision in progress to roll back") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var rel opsv1alpha1.Release
	get(t, ns, "stable", &rel)
	if _, ok := rel.Annotations[opsv1alpha1.AnnotationRollback]; ok {
		t.Fatal("annotated a Release with nothing to roll back")
	}

	release(t, ns, "saas", map[string]string{"app.kubernetes.io/instance": "saas-prod"}, opsv1alpha1.ReleaseStatus{
		Phase: opsv1alpha1.ReleasePhaseVerifying, CurrentRevision: "bbb", StableRevision: "aaa", StableVersion: "1.1.0",
		Progress: &opsv1alpha1.ReleaseProgress{Revision: "bbb"},
		History:  []opsv1alpha1.RevisionRecord{{Revision: "bbb", Version: "1.2.0", Image: "x", Result: opsv1alpha1.RevisionInProgress}},
	})
	ch := runAsync(ns, "release", "rollback", "saas", "--wait")
	eventually(t, func() error {
		get(t, ns, "saas", &rel)
		if rel.Annotations[opsv1alpha1.AnnotationRollback] != "bbb" {
			return fmt.Errorf("annotation %v", rel.Annotations)
		}
		rel.Status.Phase, rel.Status.Progress = opsv1alpha1.ReleasePhaseRolledBack, nil
		rel.Status.History[0].Result, rel.Status.History[0].Message = opsv1alpha1.RevisionRolledBack, "Revision bbb (1.2.0) rolled back to aaa (1.1.0): rollback requested"
		return k8s.Status().Update(context.Background(), &rel)
	})
	r := await(t, ch)
	if r.code != 0 || !strings.Contains(r.out, "Argo CD (application saas-prod)") || !strings.Contains(r.out, "rolled back to aaa (1.1.0): rollback requested") {
		t.Fatalf("exit %d: %s\n%s", r.code, r.err, r.out)
	}
}

func TestReleaseRetryPauseResume(t *testing.T) {
	ns := namespace(t)
	// Rolled back by `release rollback` (its annotation still names bbb): a retry of bbb
	// must not leave the request that would roll it back again.
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseFailed, CurrentRevision: "aaa", StableRevision: "aaa", ObservedRetry: ptr.To("old"),
		History: []opsv1alpha1.RevisionRecord{{Revision: "bbb", Version: "1.2.0", Image: "x", Result: opsv1alpha1.RevisionFailed, Message: "first"}}})
	var rel opsv1alpha1.Release
	get(t, ns, "saas", &rel)
	must(t, k8s.Patch(context.Background(), &rel, client.RawPatch(types.MergePatchType, RollbackPatch("bbb"))))
	ch := runAsync(ns, "release", "retry", "saas", "--wait")
	eventually(t, func() error {
		get(t, ns, "saas", &rel)
		v := rel.Annotations[opsv1alpha1.AnnotationRetry]
		if v == "" || v == "old" {
			return fmt.Errorf("retry annotation %q", v)
		}
		if r, ok := rel.Annotations[opsv1alpha1.AnnotationRollback]; ok {
			t.Fatalf("the retry left the rollback request %q", r)
		}
		rel.Status.ObservedRetry = &v
		rel.Status.History = append([]opsv1alpha1.RevisionRecord{{Revision: "bbb", Version: "1.2.0", Image: "x", Retry: v, Result: opsv1alpha1.RevisionFailed, Message: "migration 0003 failed: column exists"}}, rel.Status.History...)
		return k8s.Status().Update(context.Background(), &rel)
	})
	r := await(t, ch)
	if r.code != 1 || !strings.Contains(r.err, "migration 0003 failed: column exists") || strings.Contains(r.out, "Argo CD") {
		t.Fatalf("exit %d: %s\n%s", r.code, r.err, r.out)
	}

	for _, step := range []struct {
		cmd    string
		paused bool
	}{{"pause", true}, {"pause", true}, {"resume", false}} {
		r := run(ns, "release", step.cmd, "saas")
		get(t, ns, "saas", &rel)
		if r.code != 0 || rel.Spec.Paused != step.paused {
			t.Fatalf("%s: exit %d %s, paused %t", step.cmd, r.code, r.err, rel.Spec.Paused)
		}
	}
	if r := run(ns, "release", "pause", "nope"); r.code != 1 || !strings.Contains(r.err, "Release nope not found") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
}

func rotation(t *testing.T, ns, name string) {
	must(t, k8s.Create(context.Background(), &opsv1alpha1.SecretRotation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       opsv1alpha1.SecretRotationSpec{SecretName: "app-keys", Keys: []opsv1alpha1.RotatedKey{{Key: "API_TOKEN", Generator: opsv1alpha1.GeneratorRandom}}},
	}))
}

// playRotation plays the SecretRotation controller carrying out the request it finds
// (the emergency annotation's, else rotateRequest).
func playRotation(t *testing.T, ns, name string, phase opsv1alpha1.RotationPhase, msg string) opsv1alpha1.SecretRotation {
	var sr opsv1alpha1.SecretRotation
	eventually(t, func() error {
		get(t, ns, name, &sr)
		sr.Status.ObservedGeneration, sr.Status.Phase = sr.Generation, phase
		if v := sr.Annotations[opsv1alpha1.AnnotationEmergencyRotation]; v != "" {
			sr.Status.LastEmergencyRequest = v
		} else if sr.Spec.RotateRequest != "" {
			sr.Status.LastRotateRequest = sr.Spec.RotateRequest
		} else {
			return fmt.Errorf("no request yet")
		}
		sr.Status.CurrentVersionHash = "3f628580e7510f15"
		if msg != "" {
			setCondition(&sr.Status.Conditions, sr.Generation, opsv1alpha1.ConditionStalled, metav1.ConditionTrue, "TargetMissing", msg)
		}
		return k8s.Status().Update(context.Background(), &sr)
	})
	return sr
}

func TestRotate(t *testing.T) {
	ns := namespace(t)
	rotation(t, ns, "keys")
	ch := runAsync(ns, "rotate", "keys", "--wait")
	sr := playRotation(t, ns, "keys", opsv1alpha1.RotationPhaseIdle, "")
	r := await(t, ch)
	if r.code != 0 || sr.Spec.Mode != opsv1alpha1.RotationTwoPhase || sr.Spec.RotateRequest == "" || !strings.Contains(r.out, "version 3f628580e751") {
		t.Fatalf("exit %d %s, spec %+v\n%s", r.code, r.err, sr.Spec, r.out)
	}

	// --emergency: the annotation, the spec untouched (it stays as Git has it).
	rotation(t, ns, "keys2")
	ch = runAsync(ns, "rotate", "keys2", "--emergency", "--wait")
	sr = playRotation(t, ns, "keys2", opsv1alpha1.RotationPhaseIdle, "")
	r = await(t, ch)
	if r.code != 0 || sr.Spec.Mode != opsv1alpha1.RotationTwoPhase || sr.Spec.RotateRequest != "" ||
		!strings.HasPrefix(sr.Annotations[opsv1alpha1.AnnotationEmergencyRotation], "emergency-") || !strings.Contains(r.out, "rotated (Immediate)") {
		t.Fatalf("exit %d %s, spec %+v %v\n%s", r.code, r.err, sr.Spec, sr.Annotations, r.out)
	}

	// A rotation that cannot start: exit 1 with the Stalled message.
	rotation(t, ns, "keys3")
	ch = runAsync(ns, "rotate", "keys3", "--emergency", "--wait")
	playRotation(t, ns, "keys3", opsv1alpha1.RotationPhaseBlocked, "restart target Deployment web does not exist")
	r = await(t, ch)
	if r.code != 1 || !strings.Contains(r.err, "restart target Deployment web does not exist") {
		t.Fatalf("exit %d %s\n%s", r.code, r.err, r.out)
	}
}

func TestIncidentOpenAckResolve(t *testing.T) {
	ns := namespace(t)
	r := run(ns, "incident", "open", "--severity", "p1", "--title", "checkout down", "--release", "saas", "--name", "checkout")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var inc opsv1alpha1.Incident
	get(t, ns, "checkout", &inc)
	if inc.Spec.Severity != opsv1alpha1.SeverityP1 || inc.Spec.Title != "checkout down" || inc.Spec.ReleaseRef.Name != "saas" {
		t.Fatalf("incident: %+v", inc.Spec)
	}
	// ack records who the kubeconfig's credentials are; --by someone else.
	if r := run(ns, "incident", "ack", "checkout"); r.code != 0 || !strings.Contains(r.out, "acknowledged by alice") {
		t.Fatalf("exit %d: %s %s", r.code, r.err, r.out)
	}
	get(t, ns, "checkout", &inc)
	if inc.Spec.AcknowledgedBy != "alice" {
		t.Fatalf("acknowledgedBy %q", inc.Spec.AcknowledgedBy)
	}
	if r := run(ns, "incident", "ack", "checkout", "--by", "bob"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	get(t, ns, "checkout", &inc)
	if inc.Spec.AcknowledgedBy != "bob" {
		t.Fatalf("acknowledgedBy %q", inc.Spec.AcknowledgedBy)
	}
	if r := run(ns, "incident", "resolve", "checkout"); r.code != 1 || !strings.Contains(r.err, "--resolution") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if r := run(ns, "incident", "resolve", "checkout", "-m", "rolled back to 1.1.0"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	get(t, ns, "checkout", &inc)
	if inc.Spec.Resolution != "rolled back to 1.1.0" {
		t.Fatalf("resolution %q", inc.Spec.Resolution)
	}
	// The API server's refusal reaches the person: severity P7.
	if r := run(ns, "incident", "open", "--severity", "P7", "--title", "x"); r.code != 1 || !strings.Contains(r.err, "severity") {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
}

func TestStatusTreeAndJSON(t *testing.T) {
	ns := namespace(t)
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseDeployed, CurrentRevision: "aaa", StableRevision: "aaa",
		Components: []opsv1alpha1.ComponentStatus{{Name: "web", Replicas: 3, ReadyReplicas: 2}}})
	schedule(t, ns, "nightly", "saas-db")
	rotation(t, ns, "keys")
	must(t, k8s.Create(context.Background(), Incident(ns, "db-down", IncidentOptions{Severity: "P1", Title: "db down", Release: "saas"})))
	must(t, k8s.Create(context.Background(), BackupNow(ns, "manual-1", "other-db", s3dest("bucket-3"), false)))

	r := run(ns, "status")
	for _, want := range []string{"namespace " + ns, "Release saas  Deployed  1.2.0 (revision aaa)", "web  2/3 ready", "BackupSchedule nightly", "DatabaseBackup manual-1", "SecretRotation keys", `Incident db-down  P1`} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("status lacks %q:\n%s", want, r.out)
		}
	}
	// One release: what concerns it (its database's schedule, its incident), not the other database's backup.
	r = run(ns, "status", "saas")
	if r.code != 0 || strings.Contains(r.out, "manual-1") || !strings.Contains(r.out, "BackupSchedule nightly") || !strings.Contains(r.out, "db-down") {
		t.Fatalf("exit %d %s\n%s", r.code, r.err, r.out)
	}
	r = run(ns, "status", "-o", "json")
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	must(t, json.Unmarshal([]byte(r.out), &list))
	if list.Kind != "List" || len(list.Items) != 5 || list.Items[0].Kind != "Release" {
		t.Fatalf("json: %+v", list)
	}
	if r := run(ns, "status", "-o", "yaml"); r.code != 0 || !strings.Contains(r.out, "kind: SecretRotation") {
		t.Fatalf("yaml: %s", r.out)
	}
	if r := run(ns, "status", "nope"); r.code != 1 || !strings.Contains(r.err, "release nope not found in namespace "+ns) {
		t.Fatalf("status nope: exit %d %s", r.code, r.err)
	}
	if r := run(ns, "status", "-o", "wide"); r.code != 1 {
		t.Fatalf("-o wide: exit %d", r.code)
	}
}

// A Release in its canary with a warned destructive migration, as the API server
// stores it: the tree shows both under the Release, -o json prints the status as is.
func TestStatusShowsTheCanaryAndTheMigrationGuard(t *testing.T) {
	ns := namespace(t)
	start := metav1.NewTime(time.Now().Add(-10 * time.Second).Truncate(time.Second))
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseCanary, CurrentRevision: "bbb", StableRevision: "aaa", StableVersion: "1.1.0",
		Components: []opsv1alpha1.ComponentStatus{{Name: "web", Replicas: 2, ReadyReplicas: 2, Revision: "aaa"}},
		Progress: &opsv1alpha1.ReleaseProgress{Revision: "bbb", Canary: &opsv1alpha1.CanaryProgress{Component: "web", Deployment: "saas-web-canary",
			Replicas: 1, ReadyReplicas: 1, StableReplicas: 2, StartTime: &start, WindowStartTime: &start}},
		History: []opsv1alpha1.RevisionRecord{{Revision: "bbb", Version: "1.2.0", Image: "x", Result: opsv1alpha1.RevisionInProgress,
			DestructiveMigrations: []opsv1alpha1.MigrationFinding{
				{Migration: "shop.0004_remove_order_note", Kind: "DropColumn", Table: "shop_order", Column: "note", Statement: `ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;`},
				{Migration: "shop.0005_drop_coupon", Kind: "DropTable", Table: "shop_coupon", Statement: `DROP TABLE "shop_coupon" CASCADE;`}}}},
		Conditions: []metav1.Condition{{Type: opsv1alpha1.ConditionDestructiveMigration, Status: metav1.ConditionTrue, Reason: opsv1alpha1.ReasonDestructiveMigrationWarned,
			Message: "destructiveMigrations is Warn, so the deploy goes on", LastTransitionTime: start}},
	})
	r := run(ns, "status", "saas")
	for _, want := range []string{"Release saas  Canary  1.2.0 (revision bbb), stable 1.1.0 (aaa)", "canary web: 1/1 ready beside 2 stable, healthy for ",
		" of 30s", `destructive migrations Warned: 2 statements, first shop.0004_remove_order_note DropColumn shop_order.note: ALTER TABLE "shop_order" DROP COLUMN "note" CASCADE;`} {
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Fatalf("exit %d %s: status lacks %q:\n%s", r.code, r.err, want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b[") {
		t.Fatalf("colour on a pipe:\n%q", r.out)
	}
	r = run(ns, "status", "-o", "json")
	var list struct {
		Items []opsv1alpha1.Release `json:"items"`
	}
	must(t, json.Unmarshal([]byte(r.out), &list))
	if len(list.Items) != 1 || list.Items[0].Status.Progress == nil || list.Items[0].Status.Progress.Canary == nil ||
		list.Items[0].Status.Progress.Canary.StableReplicas != 2 || len(list.Items[0].Status.History[0].DestructiveMigrations) != 2 || strings.Contains(r.out, "canary web:") {
		t.Fatalf("json: %s", r.out)
	}
}

func TestCompletionListsObjectNames(t *testing.T) {
	ns := namespace(t)
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{})
	release(t, ns, "shop", nil, opsv1alpha1.ReleaseStatus{})
	must(t, k8s.Create(context.Background(), BackupNow(ns, "nightly-1", "saas-db", s3dest("bucket-3"), false)))
	r := run(ns, "__complete", "release", "rollback", "sa")
	if !strings.Contains(r.out, "saas\n") || strings.Contains(r.out, "shop") {
		t.Fatalf("completion: %q", r.out)
	}
	if r := run(ns, "__complete", "restore", "--from", ""); !strings.Contains(r.out, "nightly-1\n") {
		t.Fatalf("completion: %q", r.out)
	}
	if r := run(ns, "__complete", "restore", "--quiesce", "release/sh"); !strings.Contains(r.out, "release/shop\n") {
		t.Fatalf("completion: %q", r.out)
	}
	for _, shell := range []string{"bash", "zsh"} {
		if r := run(ns, "completion", shell); r.code != 0 || !strings.Contains(r.out, "__complete") {
			t.Fatalf("completion %s: exit %d %s", shell, r.code, r.err)
		}
	}
}

func TestReportHasNoSecretValue(t *testing.T) {
	ns := namespace(t)
	const password = "Tr0ub4dor-and-3-horses"
	const accessKey = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	must(t, k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "saas-db"},
		StringData: map[string]string{"host": "db", "password": password}}))
	must(t, k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3"},
		StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": accessKey}}))
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{Phase: opsv1alpha1.ReleasePhaseDeployed})
	// A status and an event that leaked the values (what the redaction is for).
	b := BackupNow(ns, "leaky", "saas-db", s3dest("bucket-3"), false)
	must(t, k8s.Create(context.Background(), b))
	b.Status.Phase = opsv1alpha1.BackupPhaseFailed
	setCondition(&b.Status.Conditions, b.Generation, opsv1alpha1.ConditionReady, metav1.ConditionFalse, "Failed", "connect failed with "+password+" and "+accessKey)
	must(t, k8s.Status().Update(context.Background(), b))
	must(t, k8s.Create(context.Background(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: "leaky.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "DatabaseBackup", Name: "leaky", Namespace: ns},
		Reason:         "BackupFailed", Message: "dump refused: password " + password, Type: corev1.EventTypeWarning,
		LastTimestamp: metav1.Now(), Count: 1,
	}))
	file := filepath.Join(t.TempDir(), "report.tar.gz")
	r := run(ns, "report", "-f", file, "--manager-namespace", "runbook-operator-system")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	files := untar(t, file)
	all := files["report.txt"] + files["manifest.json"]
	for _, secret := range []string{password, accessKey} {
		if strings.Contains(all, secret) {
			t.Fatalf("the report holds a Secret value %q", secret)
		}
	}
	for _, want := range []string{"=== objects/DatabaseBackup/leaky ===", "=== objects/Release/saas ===", "BackupFailed DatabaseBackup/leaky", "connect failed with [REDACTED]", "no manager pod"} {
		if !strings.Contains(all, want) {
			t.Fatalf("report lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "managedFields") {
		t.Fatal("managedFields in the report")
	}
	// Bounded: a small --max-bytes cuts it and says so.
	r = run(ns, "report", "-f", file, "--max-bytes", "2000")
	files = untar(t, file)
	if r.code != 0 || len(files["report.txt"]) > 2000 || !strings.Contains(files["manifest.json"], `"truncated": true`) {
		t.Fatalf("exit %d, %d bytes, manifest %s", r.code, len(files["report.txt"]), files["manifest.json"])
	}
}

func untar(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	must(t, err)
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		out[h.Name] = string(b)
	}
}

// The built binary, as kubectl runs it from PATH: the process's exit status is the
// one --wait promises (0 when the backup completes, 1 with the object's message
// when it fails).
func TestBinaryExitStatus(t *testing.T) {
	ns := namespace(t)
	bin := filepath.Join(t.TempDir(), "kubectl-runbook")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-runbook")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		phase opsv1alpha1.BackupPhase
		code  int
	}{{opsv1alpha1.BackupPhaseCompleted, 0}, {opsv1alpha1.BackupPhaseFailed, 1}} {
		name := "b-" + strings.ToLower(string(tc.phase))
		cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "-n", ns, "--poll-interval", "20ms", "backup", "now", "--database", "saas-db", "--bucket", "bucket-4", "--name", name, "--wait")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		eventually(t, func() error {
			var b opsv1alpha1.DatabaseBackup
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
				return err
			}
			b.Status.ObservedGeneration, b.Status.Phase = b.Generation, tc.phase
			setCondition(&b.Status.Conditions, b.Generation, opsv1alpha1.ConditionReady, metav1.ConditionFalse, "Failed", "bucket bucket-4 does not exist")
			return k8s.Status().Update(context.Background(), &b)
		})
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || (tc.code == 1 && !strings.Contains(stderr.String(), "error: databasebackup/"+name+" Failed: bucket bucket-4 does not exist")) {
			t.Fatalf("%s: exit %d, stderr %s", tc.phase, code, stderr.String())
		}
	}
}

// -o prints the object written (as it ended, with --wait) on stdout, for scripts;
// the lines for people go to stderr.
func TestOutputPrintsTheObjectWritten(t *testing.T) {
	ns := namespace(t)
	r := run(ns, "backup", "now", "--database", "saas-db", "--bucket", "bucket-5", "--name", "as-json", "-o", "json")
	var b opsv1alpha1.DatabaseBackup
	if r.code != 0 || json.Unmarshal([]byte(r.out), &b) != nil || b.Kind != "DatabaseBackup" || b.Name != "as-json" || b.UID == "" ||
		!strings.Contains(r.err, "databasebackup.ops.runbook.dev/as-json created") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.err)
	}

	ch := runAsync(ns, "backup", "now", "--database", "saas-db", "--bucket", "bucket-5", "--name", "as-yaml", "--wait", "-o", "yaml")
	eventually(t, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "as-yaml"}, &b); err != nil {
			return err
		}
		b.Status.ObservedGeneration, b.Status.Phase = b.Generation, opsv1alpha1.BackupPhaseFailed
		setCondition(&b.Status.Conditions, b.Generation, opsv1alpha1.ConditionReady, metav1.ConditionFalse, "JobFailed", "disk full")
		return k8s.Status().Update(context.Background(), &b)
	})
	r = await(t, ch)
	if r.code != 1 || !strings.Contains(r.out, "kind: DatabaseBackup") || !strings.Contains(r.out, "phase: Failed") ||
		strings.Contains(r.out, "databasebackup/as-yaml:") || !strings.Contains(r.err, "databasebackup/as-yaml: Failed") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.err)
	}
	if r := run(ns, "incident", "open", "--severity", "P2", "--title", "x", "-o", "table"); r.code != 1 || !strings.Contains(r.err, "-o table") {
		t.Fatalf("-o table: exit %d %s", r.code, r.err)
	}
}

// completed is what `__complete args…` offers (the lines before cobra's directive
// line), and the directive.
func completed(t *testing.T, ns string, args ...string) ([]string, string) {
	t.Helper()
	r := run(ns, append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d %s", args, r.code, r.err)
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// Every argument and flag that names an object completes with the names of that
// kind in the namespace (and only those); no file names are offered.
func TestCompletionOfEveryObjectArgument(t *testing.T) {
	ns := namespace(t)
	release(t, ns, "saas", nil, opsv1alpha1.ReleaseStatus{})
	release(t, ns, "shop", nil, opsv1alpha1.ReleaseStatus{})
	schedule(t, ns, "nightly", "saas-db")
	rotation(t, ns, "keys")
	must(t, k8s.Create(context.Background(), Incident(ns, "db-down", IncidentOptions{Severity: "P1", Title: "db down"})))
	for _, s := range []string{"saas-db", "saas-s3"} {
		must(t, k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s}}))
	}
	must(t, k8s.Create(context.Background(), BackupNow(ns, "nightly-1", "saas-db", s3dest("bucket-3"), false)))

	releases := []string{"saas", "shop"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", ""}, releases},
		{[]string{"status", "saas", ""}, nil}, // one Release at most
		{[]string{"status", "-o", ""}, []string{"json", "yaml"}},
		{[]string{"release", "retry", ""}, releases},
		{[]string{"release", "pause", "sh"}, []string{"shop"}},
		{[]string{"release", "resume", ""}, releases},
		{[]string{"rotate", ""}, []string{"keys"}},
		{[]string{"incident", "ack", ""}, []string{"db-down"}},
		{[]string{"incident", "resolve", "d"}, []string{"db-down"}},
		{[]string{"incident", "open", "--release", ""}, releases},
		{[]string{"incident", "open", "--severity", ""}, []string{"P0", "P1", "P2", "P3"}},
		{[]string{"backup", "now", "--database", "saas-d"}, []string{"saas-db"}},
		{[]string{"backup", "now", "--s3-credentials", ""}, []string{"saas-db", "saas-s3"}},
		{[]string{"backup", "now", "--from-schedule", ""}, []string{"nightly"}},
		{[]string{"restore", "--from", "n"}, []string{"nightly-1"}},
		{[]string{"restore", "--database", "saas-s"}, []string{"saas-s3"}},
		{[]string{"report", "--release", "sa"}, []string{"saas"}},
	} {
		got, directive := completed(t, ns, tc.args...)
		if !slices.Equal(got, tc.want) || directive != ":4" {
			t.Errorf("__complete %q: got %q %s, want %q :4 (no file completion)", tc.args, got, directive, tc.want)
		}
	}
}
