//go:build e2e

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

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/release"
)

// Crash safety with a real crash: the suite's manager process (cmd/manager) is killed
// with SIGKILL four times inside one revision of the Django app (saas:1.1.0 on a
// fresh database, so its migration Job really applies every migration, 0002 included)
// and started again each time. From the API server, it must end Deployed with one
// DatabaseBackup, one backup, plan, migrate and collectstatic Job each, every one
// created once (one UID in every watch event), the migrations applied once in Django's
// django_migrations, and one verifyStartTime in every status the Release went through.
const (
	killDB       = "release_kill_e2e"
	killDBSecret = "e2e-kill-db"
	killRelease  = "e2e-kill"
	killWindow   = 10 * time.Second // the verify window of backedUpReleaseSpecYAML
)

// crashRecord is what an informer started before the Release saw of it: every UID each
// of its Jobs and DatabaseBackups had (a Job created twice shows two, even if the
// first was deleted before anyone looked) and every progress.verifyStartTime its
// status held, with the Verified condition's reason written with it.
type crashRecord struct {
	mu           sync.Mutex
	uids         map[string][]types.UID // "Job/<name>" or "DatabaseBackup/<name>"
	verifyStarts []string               // "<time> <reason>"
}

func recordRelease(ctx context.Context, name string) *crashRecord {
	GinkgoHelper()
	r := &crashRecord{uids: map[string][]types.UID{}}
	c, err := cache.New(cluster.RESTConfig, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range []client.Object{&opsv1alpha1.Release{}, &batchv1.Job{}, &opsv1alpha1.DatabaseBackup{}} {
		inf, err := c.GetInformer(ctx, obj)
		Expect(err).NotTo(HaveOccurred())
		_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.see(name, o) },
			UpdateFunc: func(_, o any) { r.see(name, o) },
		})
		Expect(err).NotTo(HaveOccurred())
	}
	go func() { _ = c.Start(ctx) }()
	Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
	return r
}

func (r *crashRecord) see(relName string, o any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch o := o.(type) {
	case *opsv1alpha1.Release:
		if p := o.Status.Progress; o.Name == relName && p != nil && p.VerifyStartTime != nil {
			v := p.VerifyStartTime.UTC().Format(time.RFC3339)
			if n := len(r.verifyStarts); n == 0 || !strings.HasPrefix(r.verifyStarts[n-1], v+" ") {
				var reason string
				if c := meta.FindStatusCondition(o.Status.Conditions, opsv1alpha1.ConditionVerified); c != nil {
					reason = c.Reason
				}
				r.verifyStarts = append(r.verifyStarts, v+" "+reason)
			}
		}
	case *batchv1.Job:
		r.uid("Job", relName, o)
	case *opsv1alpha1.DatabaseBackup:
		r.uid("DatabaseBackup", relName, o)
	}
}

func (r *crashRecord) uid(kind, relName string, o client.Object) {
	if !strings.HasPrefix(o.GetName(), relName+"-") {
		return
	}
	key := kind + "/" + o.GetName()
	if !slices.Contains(r.uids[key], o.GetUID()) {
		r.uids[key] = append(r.uids[key], o.GetUID())
	}
}

func (r *crashRecord) snapshot() (map[string][]types.UID, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	uids := map[string][]types.UID{}
	for k, v := range r.uids {
		uids[k] = slices.Clone(v)
	}
	return uids, slices.Clone(r.verifyStarts)
}

// killManager SIGKILLs the suite's manager process and starts a new one, no earlier
// than notBefore.
func killManager(ctx context.Context, moment string, notBefore time.Time) {
	GinkgoHelper()
	By("SIGKILL of the manager " + moment)
	killed := manager
	killed.Kill()
	Expect(killed.Err()).To(MatchError(ContainSubstring("signal: killed")))
	time.Sleep(time.Until(notBefore))
	var err error
	manager, err = cluster.StartManager(ctx, binaries["manager"])
	Expect(err).NotTo(HaveOccurred())
}

var _ = Describe("Release with its manager killed inside a revision", Ordered, func() {
	It("finishes the revision after SIGKILLs at the backup, in the migration, at the pre-deploy Job and in the verification window, nothing run twice", func(ctx SpecContext) {
		DeferCleanup(func(ctx SpecContext) {
			select {
			case <-manager.Done(): // the spec failed between a kill and its restart
				var err error
				manager, err = cluster.StartManager(ctx, binaries["manager"])
				Expect(err).NotTo(HaveOccurred())
			default:
			}
		})
		wctx, stopRecording := context.WithCancel(context.Background())
		DeferCleanup(stopRecording)
		rec := recordRelease(wctx, killRelease)

		By("creating database " + killDB + " and Release " + killRelease + " at saas:1.1.0 with a pre-deploy backup and collectstatic")
		execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+killDB+" WITH (FORCE)")
		execSQL(ctx, "postgres", "CREATE DATABASE "+killDB)
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: killDBSecret, Namespace: ns},
			StringData: map[string]string{"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port),
				"dbname": killDB, "user": cluster.Postgres.User, "password": cluster.Postgres.Password},
		}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, secret))).To(Succeed())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: killRelease, Namespace: ns}}
		Expect(yaml.Unmarshal([]byte(backedUpReleaseSpecYAML("1.1.0", killDBSecret, "e2e-release-kill")+
			"preDeploy: [{name: collectstatic, command: [python, manage.py, collectstatic, --noinput]}]\n"), &rel.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, rel))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(rel), &opsv1alpha1.Release{}))
			}).WithTimeout(time.Minute).Should(BeTrue())
			execSQL(ctx, "postgres", "DROP DATABASE IF EXISTS "+killDB+" WITH (FORCE)")
			_ = k8sClient.Delete(ctx, secret)
		})

		var backup opsv1alpha1.DatabaseBackup
		Eventually(func() int {
			var list opsv1alpha1.DatabaseBackupList
			if err := k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{opsv1alpha1.LabelRelease: killRelease}); err != nil || len(list.Items) == 0 {
				return 0
			}
			backup = list.Items[0]
			return len(list.Items)
		}).WithTimeout(time.Minute).WithPolling(20 * time.Millisecond).Should(Equal(1))
		rev := backup.Labels[opsv1alpha1.LabelRevision]
		Expect(rev).NotTo(BeEmpty())
		killManager(ctx, "right after it created pre-deploy DatabaseBackup "+backup.Name, time.Time{})

		migrate := &batchv1.Job{}
		migrateKey := client.ObjectKey{Namespace: ns, Name: release.JobName(rel, release.StepNameMigrate, rev)}
		Eventually(func() corev1.PodPhase {
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + migrateKey.Name})
			if err != nil || len(pods.Items) == 0 {
				return ""
			}
			return pods.Items[0].Status.Phase
		}).WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).Should(Equal(corev1.PodRunning))
		Expect(k8sClient.Get(ctx, migrateKey, migrate)).To(Succeed())
		Expect(migrate.Status.Succeeded+migrate.Status.Failed).To(BeZero(), "the migration Job is still running at the kill")
		killManager(ctx, "while Django migrates in the pod of Job "+migrate.Name, time.Time{})

		collectstatic := &batchv1.Job{}
		collectstaticKey := client.ObjectKey{Namespace: ns, Name: release.JobName(rel, "collectstatic", rev)}
		Eventually(func() error { return k8sClient.Get(ctx, collectstaticKey, collectstatic) }).
			WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).Should(Succeed())
		killManager(ctx, "right after it created pre-deploy Job "+collectstatic.Name, time.Time{})

		var verifyStart metav1.Time
		Eventually(func() *metav1.Time {
			p := getE2ERelease(ctx, killRelease).Status.Progress
			if p == nil || p.Revision != rev || p.VerifyStartTime == nil {
				return nil
			}
			verifyStart = *p.VerifyStartTime
			return p.VerifyStartTime
		}).WithTimeout(3 * time.Minute).WithPolling(20 * time.Millisecond).ShouldNot(BeNil())
		// verifyStartTime has whole seconds: the new manager starts in a later second, so
		// a window it started over would show as another value.
		killManager(ctx, "in the verification window that began at "+verifyStart.UTC().Format(time.RFC3339),
			verifyStart.Add(time.Second))

		Eventually(releasePhaseOf(ctx, killRelease)).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal("Deployed 1.1.0"))
		rel = getE2ERelease(ctx, killRelease)
		Expect(rel.Status.StableRevision).To(Equal(rev))
		h := rel.Status.History[0]
		Expect(h.Result).To(Equal(opsv1alpha1.RevisionSucceeded))
		Expect(h.Backup).To(Equal(backup.Name))
		Expect(h.AppliedMigrations).To(ContainElement("subscriptions.0002_subscription_seats"))
		Expect(h.CompletionTime).NotTo(BeNil())
		Expect(h.CompletionTime.Time).NotTo(BeTemporally("<", verifyStart.Add(killWindow)), "the whole window was verified")

		By("one DatabaseBackup and one Job per step, each created once and still the one that ran")
		backupKey := client.ObjectKey{Namespace: ns, Name: backup.Name}
		want := map[string]client.ObjectKey{"DatabaseBackup/" + backup.Name: backupKey}
		for _, name := range []string{jobs.BackupJobName(&backup), release.JobName(rel, release.StepNamePlan, rev),
			migrateKey.Name, collectstaticKey.Name} {
			want["Job/"+name] = client.ObjectKey{Namespace: ns, Name: name}
		}
		uids, verifyStarts := rec.snapshot()
		Expect(uids).To(HaveLen(len(want)), "%v", uids)
		for key, objKey := range want {
			Expect(uids).To(HaveKeyWithValue(key, HaveLen(1)), key)
			var obj client.Object = &batchv1.Job{}
			if strings.HasPrefix(key, "DatabaseBackup/") {
				obj = &opsv1alpha1.DatabaseBackup{}
			}
			Expect(k8sClient.Get(ctx, objKey, obj)).To(Succeed())
			Expect(obj.GetUID()).To(Equal(uids[key][0]), key)
			if j, ok := obj.(*batchv1.Job); ok {
				Expect([]int32{j.Status.Succeeded, j.Status.Failed}).To(Equal([]int32{1, 0}), key+": one pod, succeeded")
			}
		}
		Expect(uids["DatabaseBackup/"+backup.Name]).To(Equal([]types.UID{backup.UID}))
		Expect(uids["Job/"+migrate.Name]).To(Equal([]types.UID{migrate.UID}))
		Expect(uids["Job/"+collectstatic.Name]).To(Equal([]types.UID{collectstatic.UID}))

		By("Django recorded each migration once, and the verification window kept its start")
		var seats, dup int
		conn := restoreConn(ctx, killDB)
		defer func() { _ = conn.Close(context.Background()) }()
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM django_migrations WHERE app = 'subscriptions' AND name = '0002_subscription_seats'").Scan(&seats)).To(Succeed())
		Expect(conn.QueryRow(ctx, "SELECT count(*) - count(DISTINCT (app, name)) FROM django_migrations").Scan(&dup)).To(Succeed())
		Expect([]int{seats, dup}).To(Equal([]int{1, 0}), "rows of 0002_subscription_seats, duplicated rows")
		// The window moves only when a round could not be checked (CheckerError: it
		// pauses), never because a manager started.
		Expect(verifyStarts).NotTo(BeEmpty())
		Expect(verifyStarts[0]).To(HavePrefix(verifyStart.UTC().Format(time.RFC3339)+" "), "%v", verifyStarts)
		for _, v := range verifyStarts[1:] {
			Expect(v).To(HaveSuffix(" "+opsv1alpha1.ReasonCheckerError), "verifyStartTime changed other than by a paused round: %v", verifyStarts)
		}
		GinkgoWriter.Printf("revision %s Deployed at %s after 4 SIGKILLs; verifyStartTime (with the Verified reason written with it) %v; %d objects created once each: %v\n",
			rev, h.CompletionTime.UTC().Format(time.RFC3339), verifyStarts, len(uids), uids)
	}, SpecTimeout(6*time.Minute))
})
