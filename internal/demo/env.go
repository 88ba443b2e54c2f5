package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/devcluster"
)

// Env is what steps work with: the devcluster's API server, PostgreSQL and S3
// server, the printer, and what earlier steps left for later ones.
type Env struct {
	Out       *Printer
	Namespace string
	// Client knows the core, batch and ops.runbook.dev types.
	Client    client.Client
	Clientset kubernetes.Interface
	// DBSecret and S3Secret are the demo namespace's Secrets for the database and the
	// bucket; Database is the database's name and PostgresDSN reaches it from here.
	DBSecret, S3Secret, Database, PostgresDSN string
	// S3 reaches the S3 server from here (root credentials); Bucket, S3Endpoint and
	// S3Region are what resources put in their destination.
	S3                           *s3.Client
	Bucket, S3Endpoint, S3Region string

	// Seeded is the row count of each table after the seed step.
	Seeded map[string]int64
	// Backup is the completed on-demand backup of the backup step.
	Backup *opsv1alpha1.DatabaseBackup
	// PagerDuty is the local PagerDuty receiver of the release step's Incident
	// notifier (started on first use, see step_incident.go).
	PagerDuty *PagerDutyReceiver
	// Monitoring is the devcluster's Prometheus and Alertmanager (nil without them).
	Monitoring *devcluster.Monitoring

	mapper meta.RESTMapper
}

// NewEnv connects to the devcluster c and prints to out.
func NewEnv(c *devcluster.Cluster, out *Printer) (*Env, error) {
	if c.Postgres == nil || c.S3 == nil {
		return nil, errors.New("the demo needs the devcluster's PostgreSQL and S3 server")
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := opsv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cl, err := client.New(c.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &Env{
		Out: out, Namespace: devcluster.DemoNamespace, Monitoring: c.Monitoring,
		Client: cl, Clientset: c.Client,
		DBSecret: devcluster.DemoDBSecret, S3Secret: devcluster.DemoS3Secret,
		Database: devcluster.DemoDatabase, PostgresDSN: c.Postgres.DSN(devcluster.DemoDatabase),
		S3: c.S3.Client(), Bucket: devcluster.DemoBucket, S3Endpoint: c.S3.Endpoint, S3Region: c.S3.Region,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery())),
	}, nil
}

// Destination is the S3 location of the demo bucket under prefix, with the demo
// Secret's credentials.
func (e *Env) Destination(prefix string) opsv1alpha1.BackupDestination {
	return opsv1alpha1.BackupDestination{S3: opsv1alpha1.S3Location{
		Bucket: e.Bucket, Prefix: prefix, Region: e.S3Region, Endpoint: e.S3Endpoint, ForcePathStyle: true,
		CredentialsSecretRef: &opsv1alpha1.LocalObjectReference{Name: e.S3Secret},
	}}
}

// Apply prints obj as the YAML a person would `kubectl apply` and creates it.
// obj must have its kind set (TypeMeta) and no namespace or its namespace set.
func (e *Env) Apply(ctx context.Context, obj client.Object, spec any) error {
	if obj.GetNamespace() == "" {
		obj.SetNamespace(e.Namespace)
	}
	gvk, err := e.Client.GroupVersionKindFor(obj)
	if err != nil {
		return err
	}
	text, err := ManifestYAML(gvk.GroupVersion().String(), gvk.Kind, obj, spec)
	if err != nil {
		return err
	}
	e.Out.Command("kubectl apply -f - <<EOF")
	e.Out.Block(text + "EOF")
	if err := e.Client.Create(ctx, obj); err != nil {
		return fmt.Errorf("create %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// ManifestYAML is the YAML of an object as a person writes it: apiVersion, kind, the
// name, namespace, labels and annotations, and spec, with the fields in the order of
// the Go types (which is the order of the API reference), not sorted.
func ManifestYAML(apiVersion, kind string, obj metav1.Object, spec any) (string, error) {
	type metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	doc := struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Metadata   metadata `json:"metadata"`
		Spec       any      `json:"spec"`
	}{apiVersion, kind, metadata{obj.GetName(), obj.GetNamespace(), obj.GetLabels(), obj.GetAnnotations()}, spec}
	j, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	// JSON is YAML: parsed into nodes it keeps its order; then drop JSON's flow style
	// and quotes, which the encoder puts back only where YAML needs them.
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil {
		return "", err
	}
	blockStyle(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// RunJob creates job, waits until it completes or fails and returns the Job and its
// pod's log. A failed Job is an error that carries the log's tail.
func (e *Env) RunJob(ctx context.Context, job *batchv1.Job) (*batchv1.Job, string, error) {
	if job.Namespace == "" {
		job.Namespace = e.Namespace
	}
	if err := e.Client.Create(ctx, job); err != nil {
		return nil, "", fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	var done batchv1.JobConditionType
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return false, nil //nolint:nilerr // retried until the step's timeout
		}
		for _, c := range job.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				done = c.Type
				return true, nil
			}
		}
		return false, nil
	})
	logs := e.jobLogs(ctx, job)
	if err != nil {
		return job, logs, fmt.Errorf("the Job %s did not finish: %w", job.Name, err)
	}
	if done == batchv1.JobFailed {
		return job, logs, fmt.Errorf("the Job %s failed; its output:\n%s", job.Name, logs)
	}
	return job, logs, nil
}

// jobLogs returns the log of the Job's newest pod, like `kubectl logs job/NAME`.
func (e *Env) jobLogs(ctx context.Context, job *batchv1.Job) string {
	pods, err := e.Clientset.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	newest := pods.Items[0]
	for _, p := range pods.Items[1:] {
		if p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = p
		}
	}
	rc, err := e.Clientset.CoreV1().Pods(job.Namespace).GetLogs(newest.Name, &corev1.PodLogOptions{}).Stream(ctx)
	if err != nil {
		return ""
	}
	defer func() { _ = rc.Close() }()
	b, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	return string(b)
}

// Events returns the messages of the Events about an object, oldest first, as
// "Reason: message".
func (e *Env) Events(ctx context.Context, kind, name string) ([]string, error) {
	list, err := e.Clientset.EventsV1().Events(e.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "regarding.kind=" + kind + ",regarding.name=" + name})
	if err != nil {
		return nil, err
	}
	type ev struct {
		at   time.Time
		text string
	}
	evs := make([]ev, 0, len(list.Items))
	for _, x := range list.Items {
		at := x.EventTime.Time
		if x.DeprecatedLastTimestamp.After(at) {
			at = x.DeprecatedLastTimestamp.Time
		}
		evs = append(evs, ev{at, x.Reason + ": " + x.Note})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	out := make([]string, 0, len(evs))
	for _, x := range evs {
		out = append(out, x.text)
	}
	return out, nil
}
