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

package rotation

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
	"runbook-operator/internal/names"
)

// DefaultReencryptTimeout is spec.reencrypt.timeout's default.
const DefaultReencryptTimeout = time.Hour

// ReencryptContainer is the name of the reencrypt Job's container.
const ReencryptContainer = "reencrypt"

// ReencryptOutputEnv is set on the reencrypt container to the termination log's path.
const ReencryptOutputEnv = "RUNBOOK_REENCRYPT_OUTPUT"

// ReencryptShell wraps the command so that its output (stdout and stderr) becomes the
// container's termination message, which the controller records in
// status.reencryption.output: the image needs /bin/sh. The command's exit code is the
// container's. The file is opened for appending, so that a command that writes its
// own termination message (test/saas's manage.py does on an error) keeps it.
var ReencryptShell = []string{"/bin/sh", "-c", `"$@" >>"$` + ReencryptOutputEnv + `" 2>&1`, "--"}

// ReencryptJobName is the name of the reencrypt Job of the Secret version (the one
// with the new values current and the old ones decrypt-only): one Job per emergency
// rotation, found again by name after a restart.
func ReencryptJobName(srName, version string) string {
	return names.Join(srName, "reencrypt-"+version, names.MaxLabelValue)
}

// ReencryptSource names the Deployment whose pod template the Job copies:
// spec.reencrypt.deployment, else the first restart target's Deployment.
func ReencryptSource(spec *opsv1alpha1.SecretRotationSpec, targets []opsv1alpha1.RestartTargetStatus) string {
	if spec.Reencrypt != nil && spec.Reencrypt.Deployment != "" {
		return spec.Reencrypt.Deployment
	}
	if len(targets) > 0 {
		return targets[0].Deployment
	}
	return ""
}

// ReencryptJob builds the Job that runs spec.reencrypt.command with the image,
// environment, volumes and service account of dep's pod template (its container
// spec.reencrypt.container, else the first): backoffLimit 0, the command's output as
// termination message. The pod carries the Secret version it runs with. It returns an
// error naming what is missing when dep has no such container.
func ReencryptJob(sr *opsv1alpha1.SecretRotation, dep *appsv1.Deployment, version string) (*batchv1.Job, error) {
	re := sr.Spec.Reencrypt
	tpl := dep.Spec.Template.Spec
	var src *corev1.Container
	for i := range tpl.Containers {
		if re.Container == "" || tpl.Containers[i].Name == re.Container {
			src = &tpl.Containers[i]
			break
		}
	}
	if src == nil {
		return nil, fmt.Errorf("the reencrypt Job takes its image and environment from container %s of Deployment %s, which has no such container", re.Container, dep.Name)
	}
	c := corev1.Container{
		Name:                     ReencryptContainer,
		Image:                    src.Image,
		ImagePullPolicy:          src.ImagePullPolicy,
		Command:                  append(append([]string{}, ReencryptShell...), re.Command...),
		WorkingDir:               src.WorkingDir,
		Env:                      append(append([]corev1.EnvVar{}, src.Env...), corev1.EnvVar{Name: ReencryptOutputEnv, Value: corev1.TerminationMessagePathDefault}),
		EnvFrom:                  append([]corev1.EnvFromSource{}, src.EnvFrom...),
		VolumeMounts:             append([]corev1.VolumeMount{}, src.VolumeMounts...),
		Resources:                *src.Resources.DeepCopy(),
		SecurityContext:          src.SecurityContext.DeepCopy(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	labels := map[string]string{
		opsv1alpha1.LabelSecretRotation: names.LabelValue(sr.Name),
		jobs.LabelManagedBy:             "runbook-operator",
		jobs.LabelComponent:             "reencrypt",
	}
	timeout := sr.Spec.Reencrypt.Timeout.Or(DefaultReencryptTimeout)
	if timeout <= 0 {
		timeout = DefaultReencryptTimeout
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: ReencryptJobName(sr.Name, version), Namespace: sr.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(timeout.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{opsv1alpha1.SecretVersionAnnotation(sr.Spec.SecretName): version}},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					Containers:         []corev1.Container{c},
					Volumes:            append([]corev1.Volume{}, tpl.Volumes...),
					ServiceAccountName: tpl.ServiceAccountName,
					ImagePullSecrets:   append([]corev1.LocalObjectReference{}, tpl.ImagePullSecrets...),
					SecurityContext:    tpl.SecurityContext.DeepCopy(),
					NodeSelector:       tpl.NodeSelector,
					Tolerations:        tpl.Tolerations,
				},
			},
		},
	}, nil
}
