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

// The commands: flags, client calls, printing. What they write comes from build.go,
// what --wait decides from wait.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// scheme knows the runbook kinds and the built-in ones.
var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(opsv1alpha1.AddToScheme(scheme))
}

// env is what every command shares: the kubectl flags, the streams, the clock.
type env struct {
	streams  genericiooptions.IOStreams
	flags    *genericclioptions.ConfigFlags
	now      func() time.Time
	interval time.Duration
	timeout  time.Duration
	wait     bool
	// terminal: stdout is a terminal (colour, a live line rewritten in place).
	terminal bool
	c        client.Client
	// output (-o yaml|json) prints result, the object the command created or
	// changed (as it ended, with --wait), on stdout; the lines for people then go to
	// stderr.
	output string
	result client.Object
}

// human is where the lines for people go.
func (e *env) human() io.Writer {
	if e.output != "" {
		return e.streams.ErrOut
	}
	return e.streams.Out
}

func (e *env) restConfig() (*rest.Config, error) { return e.flags.ToRESTConfig() }

func (e *env) client() (client.Client, error) {
	if e.c != nil {
		return e.c, nil
	}
	cfg, err := e.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	e.c = c
	return c, nil
}

func (e *env) namespace() (string, error) {
	ns, _, err := e.flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// setup is the client and namespace of a command.
func (e *env) setup() (client.Client, string, error) {
	ns, err := e.namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := e.client()
	return c, ns, err
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.human(), format, args...) }

// NewCommand is `kubectl runbook` with every subcommand.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	e := &env{
		streams:  streams,
		flags:    genericclioptions.NewConfigFlags(true),
		now:      time.Now,
		interval: time.Second,
	}
	if f, ok := streams.Out.(*os.File); ok {
		e.terminal = term.IsTerminal(int(f.Fd()))
	}
	root := &cobra.Command{
		Use:   "kubectl-runbook",
		Short: "The operations runbook's procedures as commands: back up, restore, roll back, rotate, incidents",
		Long: `kubectl runbook creates or patches the runbook-operator's custom resources (the same
objects you could write by hand) and, with --wait, follows them until they end.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl runbook"},
	}
	e.flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().DurationVar(&e.interval, "poll-interval", time.Second, "how often --wait reads the object")
	_ = root.PersistentFlags().MarkHidden("poll-interval")
	root.AddCommand(statusCommand(e), backupCommand(e), restoreCommand(e), releaseCommand(e),
		rotateCommand(e), incidentCommand(e), reportCommand(e), completionCommand(root))
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// Main runs the command line and returns the exit code: 0, or 1 with the error on
// stderr (a followed object that failed, refused input, an unreachable cluster).
func Main(args []string, streams genericiooptions.IOStreams) int {
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(streams.ErrOut, "error: "+err.Error())
		return 1
	}
	return 0
}

func waitFlags(cmd *cobra.Command, e *env) {
	cmd.Flags().BoolVar(&e.wait, "wait", false, "follow the object until it ends; exit non-zero when it fails")
	cmd.Flags().DurationVar(&e.timeout, "timeout", 0, "give up waiting after this long (0: no limit)")
	outputFlag(cmd, e)
}

// outputFlag adds -o yaml|json: the command prints the object it wrote (after
// --wait, as it ended, also when it failed).
func outputFlag(cmd *cobra.Command, e *env) {
	cmd.Flags().StringVarP(&e.output, "output", "o", "", "yaml or json: print the object written (as it ended, with --wait) on stdout, the progress on stderr")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if e.output != "" && e.output != "yaml" && e.output != "json" {
			return fmt.Errorf("-o %s: the output formats are json and yaml", e.output)
		}
		err := run(cmd, args)
		if e.output != "" && e.result != nil {
			if perr := e.printObject(e.result); err == nil {
				err = perr
			}
		}
		return err
	}
}

// printObject writes obj as -o asks, with its kind.
func (e *env) printObject(obj client.Object) error {
	obj = obj.DeepCopyObject().(client.Object)
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	obj.SetManagedFields(nil)
	var b []byte
	if e.output == "json" {
		b, err = json.MarshalIndent(obj, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(obj)
	}
	if err != nil {
		return err
	}
	_, err = e.streams.Out.Write(b)
	return err
}

// follow reads obj every interval and shows where it is (a line rewritten in place on
// a terminal, a new line on each change otherwise) until outcome says it ended.
func (e *env) follow(ctx context.Context, c client.Client, obj client.Object, what string, outcome func() Outcome) error {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	last := ""
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: gave up waiting after %s (last: %s)", what, e.timeout, last)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		o := outcome()
		line := what + ": " + o.Line
		if line != last {
			if e.terminal {
				fmt.Fprint(e.human(), "\r\x1b[K"+line)
			} else {
				fmt.Fprintln(e.human(), line)
			}
			last = line
		}
		if o.Done {
			if e.terminal {
				fmt.Fprintln(e.human())
			}
			if o.Failed {
				return fmt.Errorf("%s %s: %s", what, o.Line, o.Message)
			}
			if o.Message != "" {
				e.printf("%s\n", o.Message)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if e.terminal {
				fmt.Fprintln(e.human())
			}
			return fmt.Errorf("%s: gave up waiting after %s (last: %s)", what, e.timeout, o.Line)
		case <-time.After(e.interval):
		}
	}
}

// notFound turns a NotFound into words naming the kind and namespace.
func notFound(err error, kind, name, ns string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s not found in namespace %s", kind, name, ns)
	}
	return err
}

// ---- status

func statusCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:               "status [RELEASE]",
		Short:             "Every runbook object of the namespace (or what concerns one Release) as a tree",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: e.completeNames(&opsv1alpha1.ReleaseList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			release := ""
			if len(args) == 1 {
				release = args[0]
			}
			snap, err := readSnapshot(cmd.Context(), c, ns, release)
			if err != nil {
				return err
			}
			switch output {
			case "":
				RenderStatus(e.streams.Out, snap, e.now(), statusPalette(e.terminal, os.LookupEnv))
				return nil
			case "json":
				b, err := json.MarshalIndent(snap.Objects(), "", "  ")
				if err != nil {
					return err
				}
				e.printf("%s\n", b)
				return nil
			case "yaml":
				b, err := yaml.Marshal(snap.Objects())
				if err != nil {
					return err
				}
				_, err = e.streams.Out.Write(b)
				return err
			}
			return fmt.Errorf("-o %s: the output formats are json and yaml (or none, for the tree)", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the objects as a List instead of the tree")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// statusPalette colours the tree when stdout is a terminal and NO_COLOR
// (no-color.org: set, whatever its value) is not.
func statusPalette(terminal bool, lookupEnv func(string) (string, bool)) Palette {
	_, noColor := lookupEnv("NO_COLOR")
	return Palette{On: terminal && !noColor}
}

// readSnapshot reads every runbook object of the namespace, or (release not empty)
// what concerns that Release.
func readSnapshot(ctx context.Context, c client.Client, ns, release string) (Snapshot, error) {
	s := Snapshot{Namespace: ns}
	var (
		rl  opsv1alpha1.ReleaseList
		sl  opsv1alpha1.BackupScheduleList
		bl  opsv1alpha1.DatabaseBackupList
		dl  opsv1alpha1.DatabaseRestoreList
		srl opsv1alpha1.SecretRotationList
		il  opsv1alpha1.IncidentList
	)
	for _, l := range []client.ObjectList{&rl, &sl, &bl, &dl, &srl, &il} {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return s, err
		}
	}
	s.Releases, s.Schedules, s.Backups, s.Restores, s.Rotations, s.Incidents = rl.Items, sl.Items, bl.Items, dl.Items, srl.Items, il.Items
	if release == "" {
		return s, nil
	}
	s, ok := s.ForRelease(release)
	if !ok {
		return s, fmt.Errorf("release %s not found in namespace %s", release, ns)
	}
	return s, nil
}

// ---- backup

func backupCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Back up a database now"}
	var (
		database, schedule, name                        string
		bucket, prefix, region, endpoint, s3Credentials string
		verify, pathStyle                               bool
	)
	now := &cobra.Command{
		Use:   "now (--database SECRET | --from-schedule SCHEDULE)",
		Short: "Create a DatabaseBackup now: of the database in a connection Secret, or as a BackupSchedule's next run would",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (database == "") == (schedule == "") {
				return errors.New("give either --database SECRET (the database's connection Secret) or --from-schedule SCHEDULE")
			}
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var b *opsv1alpha1.DatabaseBackup
			if schedule != "" {
				var s opsv1alpha1.BackupSchedule
				if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: schedule}, &s); err != nil {
					return notFound(err, "BackupSchedule", schedule, ns)
				}
				if name == "" {
					name = ObjectName(schedule+"-now", e.now())
				}
				b = BackupFromSchedule(&s, name, verify)
			} else {
				if name == "" {
					name = ObjectName(database, e.now())
				}
				dest := opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{Bucket: bucket, Prefix: prefix, Region: region, Endpoint: endpoint, ForcePathStyle: pathStyle}}
				if s3Credentials != "" {
					dest.S3.CredentialsSecretRef = &opsv1alpha1.LocalObjectReference{Name: s3Credentials}
				}
				if bucket == "" {
					var sl opsv1alpha1.BackupScheduleList
					var rl opsv1alpha1.ReleaseList
					if err := c.List(ctx, &sl, client.InNamespace(ns)); err != nil {
						return err
					}
					if err := c.List(ctx, &rl, client.InNamespace(ns)); err != nil {
						return err
					}
					d, from, ok := DestinationFor(database, sl.Items, rl.Items)
					if !ok {
						return fmt.Errorf("no destination for a backup of %s: no BackupSchedule or Release of namespace %s backs it up; give --bucket (with --prefix, --region, --endpoint, --s3-credentials as needed)", database, ns)
					}
					dest = d
					e.printf("destination: the one of %s\n", from)
				}
				b = BackupNow(ns, name, database, dest, verify)
			}
			if err := ValidName("DatabaseBackup", b.Name); err != nil {
				return err
			}
			if err := c.Create(ctx, b); err != nil {
				return err
			}
			e.result = b
			e.printf("databasebackup.ops.runbook.dev/%s created (database %s → s3://%s/%s)\n", b.Name, b.Spec.Database.SecretRef.Name, b.Spec.Destination.S3.Bucket, b.Spec.Destination.S3.Prefix)
			if !e.wait {
				e.printf("follow it: kubectl -n %s get databasebackup %s -w\n", ns, b.Name)
				return nil
			}
			return e.follow(ctx, c, b, "databasebackup/"+b.Name, func() Outcome { return BackupOutcome(b) })
		},
	}
	f := now.Flags()
	f.StringVar(&database, "database", "", "the database's connection Secret (host, port, dbname, user, password)")
	f.StringVar(&schedule, "from-schedule", "", "copy this BackupSchedule's template (destination, format, labels)")
	f.StringVar(&name, "name", "", "the DatabaseBackup's name (default: <database or schedule>-<UTC time>)")
	f.BoolVar(&verify, "verify", false, "restore the dump into a scratch database and compare every table")
	f.StringVar(&bucket, "bucket", "", "S3 bucket (default: the destination of a BackupSchedule or Release of this database)")
	f.StringVar(&prefix, "prefix", "", "S3 key prefix")
	f.StringVar(&region, "region", "", "S3 region")
	f.StringVar(&endpoint, "endpoint", "", "S3 endpoint URL (for S3-compatible stores)")
	f.BoolVar(&pathStyle, "force-path-style", false, "path-style S3 addressing")
	f.StringVar(&s3Credentials, "s3-credentials", "", "Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	waitFlags(now, e)
	_ = now.RegisterFlagCompletionFunc("database", e.completeFlag("", &corev1.SecretList{}))
	_ = now.RegisterFlagCompletionFunc("s3-credentials", e.completeFlag("", &corev1.SecretList{}))
	_ = now.RegisterFlagCompletionFunc("from-schedule", e.completeFlag("", &opsv1alpha1.BackupScheduleList{}))
	cmd.AddCommand(now)
	return cmd
}

// ---- restore

func restoreCommand(e *env) *cobra.Command {
	var from, database, quiesce, name string
	cmd := &cobra.Command{
		Use:   "restore --from BACKUP [--database SECRET] [--quiesce release/NAME]",
		Short: "Create a DatabaseRestore: restore a backup into a new database and swap it in, keeping the old one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("--from BACKUP is required: the DatabaseBackup to restore")
			}
			release, err := ParseQuiesce(quiesce)
			if err != nil {
				return err
			}
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if database == "" {
				var b opsv1alpha1.DatabaseBackup
				if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: from}, &b); err != nil {
					return fmt.Errorf("--database not given and the backup cannot tell it: %w", notFound(err, "DatabaseBackup", from, ns))
				}
				database = b.Spec.Database.SecretRef.Name
			}
			if name == "" {
				name = ObjectName("restore-"+from, e.now())
			}
			r := Restore(ns, name, from, database, release)
			if err := ValidName("DatabaseRestore", r.Name); err != nil {
				return err
			}
			if err := c.Create(ctx, r); err != nil {
				return err
			}
			e.result = r
			e.printf("databaserestore.ops.runbook.dev/%s created (backup %s → database of Secret %s, Swap: the live database is kept)\n", r.Name, from, database)
			if release != "" {
				e.printf("quiescing release %s while it runs\n", release)
			}
			if !e.wait {
				e.printf("follow it: kubectl -n %s get databaserestore %s -w\n", ns, r.Name)
				return nil
			}
			return e.follow(ctx, c, r, "databaserestore/"+r.Name, func() Outcome { return RestoreOutcome(r) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the DatabaseBackup to restore")
	f.StringVar(&database, "database", "", "the live database's connection Secret (default: the backup's)")
	f.StringVar(&quiesce, "quiesce", "", "release/NAME: scale the Release's components to zero while restoring")
	f.StringVar(&name, "name", "", "the DatabaseRestore's name (default: restore-<backup>-<UTC time>)")
	waitFlags(cmd, e)
	_ = cmd.RegisterFlagCompletionFunc("from", e.completeFlag("", &opsv1alpha1.DatabaseBackupList{}))
	_ = cmd.RegisterFlagCompletionFunc("database", e.completeFlag("", &corev1.SecretList{}))
	_ = cmd.RegisterFlagCompletionFunc("quiesce", e.completeFlag("release/", &opsv1alpha1.ReleaseList{}))
	return cmd
}

// ---- release

// releaseOps are what the release subcommands share: reading the Release, patching it,
// the Argo CD note.
type releaseOps struct {
	e     *env
	names cobra.CompletionFunc
}

func (o releaseOps) get(ctx context.Context, args []string) (client.Client, *opsv1alpha1.Release, error) {
	c, ns, err := o.e.setup()
	if err != nil {
		return nil, nil, err
	}
	var r opsv1alpha1.Release
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: args[0]}, &r); err != nil {
		return nil, nil, notFound(err, "Release", args[0], ns)
	}
	return c, &r, nil
}

func (o releaseOps) patch(ctx context.Context, c client.Client, r *opsv1alpha1.Release, p []byte) error {
	return c.Patch(ctx, r, client.RawPatch(types.MergePatchType, p))
}

func (o releaseOps) argo(r *opsv1alpha1.Release, command string) {
	if app, ok := ArgoCD(r); ok {
		o.e.printf("%s\n", ArgoNote(app, command))
	}
}

func releaseCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Roll back, retry, pause or resume a Release"}
	o := releaseOps{e: e, names: e.completeNames(&opsv1alpha1.ReleaseList{})}
	cmd.AddCommand(o.rollback(), o.retry(),
		o.pause("pause", true, "Stop the controller changing the Release's workloads (spec.paused: true); status still updates"),
		o.pause("resume", false, "Let the controller carry on (spec.paused: false)"))
	return cmd
}

func (o releaseOps) rollback() *cobra.Command {
	e := o.e
	rollback := &cobra.Command{
		Use:               "rollback RELEASE",
		Short:             "Roll the revision in progress back to the stable one (ops.runbook.dev/rollback)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.names,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, r, err := o.get(ctx, args)
			if err != nil {
				return err
			}
			rev, err := RollbackRevision(r)
			if err != nil {
				return err
			}
			if err := o.patch(ctx, c, r, RollbackPatch(rev)); err != nil {
				return err
			}
			e.result = r
			e.printf("release.ops.runbook.dev/%s annotated %s=%s: revision %s rolls back to the stable revision %s (%s)\n",
				r.Name, opsv1alpha1.AnnotationRollback, rev, rev, r.Status.StableRevision, r.Status.StableVersion)
			o.argo(r, "rollback")
			if !e.wait {
				return nil
			}
			return e.follow(ctx, c, r, "release/"+r.Name, func() Outcome { return RollbackOutcome(r, rev) })
		},
	}
	waitFlags(rollback, e)
	return rollback
}

func (o releaseOps) retry() *cobra.Command {
	e := o.e
	retry := &cobra.Command{
		Use:               "retry RELEASE",
		Short:             "Run a failed or rolled-back revision again (ops.runbook.dev/retry)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.names,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, r, err := o.get(ctx, args)
			if err != nil {
				return err
			}
			v := RetryValue(e.now(), r.Status.ObservedRetry)
			if err := o.patch(ctx, c, r, RetryPatch(v)); err != nil {
				return err
			}
			e.result = r
			e.printf("release.ops.runbook.dev/%s annotated %s=%s: the revision the spec asks for (%s) runs again\n", r.Name, opsv1alpha1.AnnotationRetry, v, r.Spec.Version)
			o.argo(r, "retry")
			if !e.wait {
				return nil
			}
			return e.follow(ctx, c, r, "release/"+r.Name, func() Outcome { return RetryOutcome(r, v) })
		},
	}
	waitFlags(retry, e)
	return retry
}

func (o releaseOps) pause(use string, paused bool, short string) *cobra.Command {
	e := o.e
	return &cobra.Command{
		Use:               use + " RELEASE",
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.names,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, r, err := o.get(ctx, args)
			if err != nil {
				return err
			}
			was := r.Spec.Paused
			if err := o.patch(ctx, c, r, PausePatch(paused)); err != nil {
				return err
			}
			state := map[bool]string{true: "paused", false: "resumed"}[paused]
			if was == paused {
				e.printf("release.ops.runbook.dev/%s already %s (spec.paused: %t)\n", r.Name, state, paused)
			} else {
				e.printf("release.ops.runbook.dev/%s %s (spec.paused: %t)\n", r.Name, state, paused)
			}
			o.argo(r, use)
			return nil
		},
	}
}

// ---- rotate

func rotateCommand(e *env) *cobra.Command {
	var emergency bool
	cmd := &cobra.Command{
		Use:               "rotate SECRETROTATION [--emergency]",
		Short:             "Rotate a SecretRotation's Secret now (rotateRequest); --emergency replaces the values at once (the emergency-rotation annotation)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeNames(&opsv1alpha1.SecretRotationList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var sr opsv1alpha1.SecretRotation
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: args[0]}, &sr); err != nil {
				return notFound(err, "SecretRotation", args[0], ns)
			}
			req := RotateRequest(e.now(), emergency)
			if err := c.Patch(ctx, &sr, client.RawPatch(types.MergePatchType, RotatePatch(req, emergency))); err != nil {
				return err
			}
			e.result = &sr
			if emergency {
				e.printf("secretrotation.ops.runbook.dev/%s annotated %s=%s: one emergency (Immediate) rotation of Secret %s; the spec is unchanged\n",
					sr.Name, opsv1alpha1.AnnotationEmergencyRotation, req, sr.Spec.SecretName)
			} else {
				e.printf("secretrotation.ops.runbook.dev/%s patched: rotateRequest %q, carried out %s (Secret %s)\n", sr.Name, req, modeOr(sr.Spec.Mode), sr.Spec.SecretName)
			}
			if !e.wait {
				return nil
			}
			return e.follow(ctx, c, &sr, "secretrotation/"+sr.Name, func() Outcome { return RotationOutcome(&sr, req, emergency) })
		},
	}
	cmd.Flags().BoolVar(&emergency, "emergency", false, "one Immediate rotation (annotation ops.runbook.dev/emergency-rotation): old values stop working at once; Fernet keys need reencrypt or dropUnreadable")
	waitFlags(cmd, e)
	return cmd
}

// ---- incident

func incidentCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "incident", Short: "Open, acknowledge and resolve Incidents"}
	names := e.completeNames(&opsv1alpha1.IncidentList{})
	patchIncident := func(ctx context.Context, id string, p []byte) (*opsv1alpha1.Incident, error) {
		c, ns, err := e.setup()
		if err != nil {
			return nil, err
		}
		var inc opsv1alpha1.Incident
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: id}, &inc); err != nil {
			return nil, notFound(err, "Incident", id, ns)
		}
		return &inc, c.Patch(ctx, &inc, client.RawPatch(types.MergePatchType, p))
	}
	var by string
	ack := &cobra.Command{
		Use:               "ack INCIDENT [--by NAME]",
		Short:             "Acknowledge an Incident (spec.acknowledgedBy: you, as the cluster knows you, unless --by)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			who := by
			if who == "" {
				var err error
				if who, err = e.whoAmI(cmd.Context()); err != nil {
					return err
				}
			}
			inc, err := patchIncident(cmd.Context(), args[0], AckPatch(who))
			if err != nil {
				return err
			}
			e.printf("incident.ops.runbook.dev/%s acknowledged by %s\n", inc.Name, who)
			return nil
		},
	}
	ack.Flags().StringVar(&by, "by", "", "who acknowledges (default: the user of the kubeconfig's credentials)")
	var resolution string
	resolve := &cobra.Command{
		Use:               "resolve INCIDENT --resolution TEXT",
		Short:             "Resolve an Incident (spec.resolution); a resolution cannot be taken back",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(resolution) == "" {
				return errors.New("--resolution TEXT is required: what ended the incident")
			}
			inc, err := patchIncident(cmd.Context(), args[0], ResolvePatch(resolution))
			if err != nil {
				return err
			}
			e.printf("incident.ops.runbook.dev/%s resolved: %s\n", inc.Name, resolution)
			return nil
		},
	}
	resolve.Flags().StringVarP(&resolution, "resolution", "m", "", "what ended the incident")
	cmd.AddCommand(incidentOpenCommand(e), ack, resolve)
	return cmd
}

func incidentOpenCommand(e *env) *cobra.Command {
	var o IncidentOptions
	var name string
	open := &cobra.Command{
		Use:   "open --severity P0|P1|P2|P3 --title TITLE [--release RELEASE]",
		Short: "Open an Incident (its response clock starts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Title == "" || o.Severity == "" {
				return errors.New("--severity (P0, P1, P2 or P3) and --title are required")
			}
			c, ns, err := e.setup()
			if err != nil {
				return err
			}
			if name == "" {
				base := "incident"
				if o.Release != "" {
					base = o.Release
				}
				name = ObjectName(base, e.now())
			}
			inc := Incident(ns, name, o)
			if err := ValidName("Incident", inc.Name); err != nil {
				return err
			}
			if err := c.Create(cmd.Context(), inc); err != nil {
				return err
			}
			e.result = inc
			e.printf("incident.ops.runbook.dev/%s created (%s %q)\n", inc.Name, inc.Spec.Severity, inc.Spec.Title)
			e.printf("acknowledge it: kubectl runbook -n %s incident ack %s\n", ns, inc.Name)
			return nil
		},
	}
	f := open.Flags()
	f.StringVar(&o.Severity, "severity", "", "P0, P1, P2 or P3")
	f.StringVar(&o.Title, "title", "", "what is wrong, in a line")
	f.StringVar(&o.Description, "description", "", "more words")
	f.StringVar(&o.Release, "release", "", "the Release concerned")
	f.StringVar(&name, "name", "", "the Incident's name (default: <release or incident>-<UTC time>)")
	outputFlag(open, e)
	_ = open.RegisterFlagCompletionFunc("severity", cobra.FixedCompletions([]string{"P0", "P1", "P2", "P3"}, cobra.ShellCompDirectiveNoFileComp))
	_ = open.RegisterFlagCompletionFunc("release", e.completeFlag("", &opsv1alpha1.ReleaseList{}))

	return open
}

// whoAmI is the user the API server authenticates (SelfSubjectReview), else the
// kubeconfig's user entry of the current context.
func (e *env) whoAmI(ctx context.Context) (string, error) {
	c, err := e.client()
	if err != nil {
		return "", err
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username, nil
	}
	raw, err := e.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", err
	}
	ctxName := raw.CurrentContext
	if e.flags.Context != nil && *e.flags.Context != "" {
		ctxName = *e.flags.Context
	}
	if kc, ok := raw.Contexts[ctxName]; ok && kc.AuthInfo != "" {
		return kc.AuthInfo, nil
	}
	return "", errors.New("cannot tell who you are (no user in the kubeconfig's context): give --by NAME")
}

// ---- completion

func completionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh",
		Short:     "Shell completion of commands, flags and object names",
		Long:      "Load it with `source <(kubectl-runbook completion bash)`. For `kubectl runbook <TAB>`, put plugins/kubectl_complete-runbook on PATH too.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(cmd.OutOrStdout(), true)
			case "zsh":
				return root.GenZshCompletion(cmd.OutOrStdout())
			}
			return fmt.Errorf("completion %s: bash or zsh", args[0])
		},
	}
}

// completeNames completes a command's one argument with the names of the objects of
// a list kind in the namespace.
func (e *env) completeNames(list client.ObjectList) cobra.CompletionFunc {
	names := e.completeFlag("", list)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(cmd, args, toComplete)
	}
}

// completeFlag completes a flag's value: prefix and the name of an object.
func (e *env) completeFlag(prefix string, list client.ObjectList) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		c, ns, err := e.setup()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(cmd.Context(), l, client.InNamespace(ns)); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, o := range objs {
			if m, err := meta.Accessor(o); err == nil && strings.HasPrefix(prefix+m.GetName(), toComplete) {
				out = append(out, prefix+m.GetName())
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
