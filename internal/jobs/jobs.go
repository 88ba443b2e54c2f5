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

// Package jobs builds the Jobs that run the agent (cmd/agent): backup, verify,
// delete, restore and an Incident's database check. Builders are pure functions of
// the spec: no client.
// Every agent Job shares one hardened pod (agentPod); credentials reach it only as
// secretKeyRef environment variables, never as arguments.
package jobs

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/agent"
	"runbook-operator/internal/names"
)

const (
	// AgentBinary is the agent's path in the operator image.
	AgentBinary = "/agent"
	// TerminationLog is where the agent writes its JSON result.
	TerminationLog = "/dev/termination-log"
	// ContainerName is the agent container's name in every agent Job.
	ContainerName = "agent"

	// LabelComponent says which agent command a Job runs (backup, verify, delete, restore, db-check).
	LabelComponent = "app.kubernetes.io/component"
	// LabelManagedBy marks the operator's Jobs.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelName is the app name of agent pods.
	LabelName = "app.kubernetes.io/name"
	// AnnotationKey records the object key a Job works on, so that an adopted Job
	// tells the controller which key it uploads to.
	AnnotationKey = "ops.runbook.dev/key"

	managedBy = "runbook-operator"
	// maxNameLength is the longest Job name: the Job controller copies it into the
	// batch.kubernetes.io/job-name label of its pods, which is limited to 63.
	maxNameLength = 63
)

// Name returns "<base>-<suffix>", shortened with a hash of base to fit 63
// characters, so the same base always gives the same name.
func Name(base, suffix string) string { return names.Join(base, suffix, maxNameLength) }

// PodOptions are the parts of an agent pod that differ between commands.
type PodOptions struct {
	// Image is the agent image; ServiceAccount the pod's ServiceAccount ("" = default).
	Image, ServiceAccount string
	// Args follow the agent binary: the command and its flags. Never secrets.
	Args []string
	// Database, when set, adds the libpq environment from its Secret.
	Database *opsv1alpha1.DatabaseConnection
	// S3, when set, adds the S3 credentials from its credentials Secret.
	S3 *opsv1alpha1.S3Location
	// Env is added after the generated variables.
	Env []corev1.EnvVar
	// Resources of the agent container; zero means DefaultResources.
	Resources corev1.ResourceRequirements
	// TmpSizeLimit bounds the emptyDir at /tmp; nil means unbounded (restore and
	// verify write the uncompressed dump there).
	TmpSizeLimit *resource.Quantity
	// Labels are added to the pod.
	Labels map[string]string
}

// DefaultResources suit backup and delete: the agent streams with bounded memory
// (about 40 MiB of upload buffers plus pg_dump).
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("2"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
	}
}

// DatabaseEnv maps the connection Secret's keys to the libpq environment the agent
// reads. Every key is optional, so a Secret may hold either the libpq keys (host,
// port, dbname, user, password, sslmode) or a single uri (DATABASE_URL, used when
// PGHOST is unset); the agent reports what is missing.
func DatabaseEnv(db opsv1alpha1.DatabaseConnection) []corev1.EnvVar {
	keys := []struct{ env, key string }{
		{"PGHOST", "host"},
		{"PGPORT", "port"},
		{"PGDATABASE", "dbname"},
		{"PGUSER", "user"},
		{"PGPASSWORD", "password"},
		{"PGSSLMODE", "sslmode"},
		{"DATABASE_URL", "uri"},
	}
	env := make([]corev1.EnvVar, 0, len(keys))
	for _, k := range keys {
		env = append(env, secretEnv(k.env, db.SecretRef.Name, k.key, true))
	}
	return env
}

// S3Env returns the region and, when the location names a credentials Secret, the
// access keys (required: a Secret without them is a configuration error the pod
// reports as CreateContainerConfigError). Without a Secret the AWS default chain of
// the pod applies.
func S3Env(s3 opsv1alpha1.S3Location) []corev1.EnvVar {
	var env []corev1.EnvVar
	if s3.CredentialsSecretRef != nil {
		env = append(env,
			secretEnv("AWS_ACCESS_KEY_ID", s3.CredentialsSecretRef.Name, "AWS_ACCESS_KEY_ID", false),
			secretEnv("AWS_SECRET_ACCESS_KEY", s3.CredentialsSecretRef.Name, "AWS_SECRET_ACCESS_KEY", false),
		)
	}
	return env
}

// S3Args are the agent flags that address a bucket and key.
func S3Args(s3 opsv1alpha1.S3Location, key string) []string {
	args := []string{"--bucket", s3.Bucket, "--key", key}
	if s3.Endpoint != "" {
		args = append(args, "--endpoint", s3.Endpoint)
	}
	if s3.Region != "" {
		args = append(args, "--region", s3.Region)
	}
	if s3.ForcePathStyle {
		args = append(args, "--path-style")
	}
	return args
}

func secretEnv(name, secret, key string, optional bool) corev1.EnvVar {
	ref := &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret},
		Key:                  key,
	}
	if optional {
		ref.Optional = ptr.To(true)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}}
}

// agentPod is the hardened pod shared by every agent Job: non-root, read-only root
// filesystem with an emptyDir at /tmp, no capabilities, RuntimeDefault seccomp, no
// privilege escalation, no service account token, resource requests and limits, and
// the result in the termination message (falling back to the log tail on a crash).
func agentPod(o PodOptions) corev1.PodTemplateSpec {
	var env []corev1.EnvVar
	if o.Database != nil {
		env = append(env, DatabaseEnv(*o.Database)...)
	}
	if o.S3 != nil {
		env = append(env, S3Env(*o.S3)...)
		if o.S3.Region != "" {
			env = append(env, corev1.EnvVar{Name: "AWS_REGION", Value: o.S3.Region})
		}
	}
	env = append(env, corev1.EnvVar{Name: "TMPDIR", Value: "/tmp"})
	env = append(env, o.Env...)

	res := o.Resources
	if res.Requests == nil && res.Limits == nil {
		res = DefaultResources()
	}
	args := append(append([]string{}, o.Args...), "--termination-log", TerminationLog)

	labels := map[string]string{LabelName: "runbook-agent", LabelManagedBy: managedBy}
	for k, v := range o.Labels {
		labels[k] = v
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ServiceAccountName:            o.ServiceAccount,
			AutomountServiceAccountToken:  ptr.To(false), // the agent never talks to the API server
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](60), // the agent aborts its multipart upload on SIGTERM
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:                     ContainerName,
				Image:                    o.Image,
				ImagePullPolicy:          corev1.PullIfNotPresent,
				Command:                  []string{AgentBinary},
				Args:                     args,
				Env:                      env,
				Resources:                res,
				TerminationMessagePath:   TerminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Privileged:               ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
			Volumes: []corev1.Volume{{
				Name:         "tmp",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: o.TmpSizeLimit}},
			}},
		},
	}
}

// JobOptions are the Job-level settings of an agent Job.
type JobOptions struct {
	// Name and Namespace of the Job.
	Name, Namespace string
	// Owner is the controlling object (garbage-collects the Job with it).
	Owner metav1.OwnerReference
	// Component labels the Job and its pod: backup, verify, delete, restore, db-check.
	Component string
	// ActiveDeadline bounds the Job's run time; nil means no deadline.
	ActiveDeadline *metav1.Duration
	// BackoffLimit is how many failed pods are retried (default 1).
	BackoffLimit *int32
	// Annotations are added to the Job.
	Annotations map[string]string
}

// agentJob wraps an agent pod in a Job: no restarts in place, a bounded number of
// retries, usage errors and permanent failures (agent exit codes 2 and 3: wrong
// credentials, missing bucket, checksum mismatch) fail the Job at once instead of
// starting a pod that cannot do better, and pods evicted by a disruption do not count
// as failures.
func agentJob(j JobOptions, pod corev1.PodTemplateSpec) *batchv1.Job {
	backoff := j.BackoffLimit
	if backoff == nil {
		backoff = ptr.To[int32](1)
	}
	labels := map[string]string{LabelName: "runbook-agent", LabelManagedBy: managedBy, LabelComponent: j.Component}
	for k, v := range labels {
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[k] = v
	}
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            j.Name,
			Namespace:       j.Namespace,
			Labels:          labels,
			Annotations:     j.Annotations,
			OwnerReferences: []metav1.OwnerReference{j.Owner},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: backoff,
			Template:     pod,
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(ContainerName),
						Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values:        []int32{agent.ExitUsage, agent.ExitPermanent},
					},
				},
				{
					Action: batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
						{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
					},
				},
			}},
		},
	}
	if j.ActiveDeadline != nil && j.ActiveDeadline.Duration > 0 {
		secs := int64(j.ActiveDeadline.Seconds())
		if secs < 1 {
			secs = 1
		}
		job.Spec.ActiveDeadlineSeconds = ptr.To(secs)
	}
	return job
}

func smallResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
	}
}
