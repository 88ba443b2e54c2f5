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

package release

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/jobs"
)

// ContainerName is the application container of every component and Job.
const ContainerName = "app"

// Labels of an object of component (or of a Job: component is its step) at revision.
func Labels(rel *opsv1alpha1.Release, component, revision string) map[string]string {
	l := map[string]string{
		opsv1alpha1.LabelRelease:   rel.Name,
		opsv1alpha1.LabelComponent: component,
		jobs.LabelManagedBy:        "runbook-operator",
	}
	if revision != "" {
		l[opsv1alpha1.LabelRevision] = revision
	}
	return l
}

// Selector selects a component's pods (immutable: no revision in it).
func Selector(rel *opsv1alpha1.Release, component string) map[string]string {
	return map[string]string{opsv1alpha1.LabelRelease: rel.Name, opsv1alpha1.LabelComponent: component}
}

// Deployment builds the Deployment of spec component c running revision (from its
// snapshot snap). Replicas is left nil with autoscaling: the HPA owns it.
func Deployment(rel *opsv1alpha1.Release, c *opsv1alpha1.Component, snap Snapshot, revision string) *appsv1.Deployment {
	cs, ok := snap.Component(c.Name)
	if !ok { // a component new since that revision: its own definition, that revision's image
		cs = ComponentSnapshot{Name: c.Name, Command: c.Command, Args: c.Args, Env: opsv1alpha1.CoreEnv(c.Env), EnvFrom: c.EnvFrom}
	}
	container := corev1.Container{
		Name:            ContainerName,
		Image:           snap.ImageOf(cs),
		Command:         cs.Command,
		Args:            cs.Args,
		Env:             append(append([]corev1.EnvVar{}, snap.Env...), cs.Env...),
		EnvFrom:         append(append([]corev1.EnvFromSource{}, snap.EnvFrom...), cs.EnvFrom...),
		Resources:       c.Resources,
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
	for _, p := range c.Ports {
		container.Ports = append(container.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: corev1.ProtocolTCP})
	}
	switch {
	case c.HealthPath != "" && len(c.Ports) > 0:
		container.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: c.HealthPath, Port: intstr.FromString(c.Ports[0].Name)}},
			PeriodSeconds:    5,
			FailureThreshold: 3,
		}
	case len(c.Ports) > 0:
		// Without a probe a pod is Ready as soon as its process starts, before it
		// listens: the rollout would count it available and the verification would
		// check a server that is not up yet. Ready means "accepts connections".
		container.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(c.Ports[0].Name)}},
			PeriodSeconds:    2,
			FailureThreshold: 3,
		}
	}
	annotations := map[string]string{}
	if rel.Spec.RestartedAt != nil {
		annotations[opsv1alpha1.AnnotationRestartedAt] = rel.Spec.RestartedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	if c.Strategy == opsv1alpha1.StrategyRecreate {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:      opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name),
			Namespace: rel.Namespace,
			Labels:    Labels(rel, c.Name, revision),
		},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: Selector(rel, c.Name)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(rel, c.Name, revision), Annotations: annotations},
				Spec: corev1.PodSpec{
					Containers:       []corev1.Container{container},
					ImagePullSecrets: pullSecrets(snap),
				},
			},
		},
	}
	if c.Autoscaling == nil {
		d.Spec.Replicas = ptr.To(ptr.Deref(c.Replicas, 1))
	}
	return d
}

func pullSecrets(snap Snapshot) []corev1.LocalObjectReference {
	var out []corev1.LocalObjectReference
	for _, s := range snap.ImagePullSecrets {
		out = append(out, corev1.LocalObjectReference{Name: s.Name})
	}
	return out
}

// Service builds the component's Service, or nil when it declares none (or no port).
func Service(rel *opsv1alpha1.Release, c *opsv1alpha1.Component) *corev1.Service {
	if c.Service == nil || len(c.Ports) == 0 {
		return nil
	}
	typ := corev1.ServiceType(c.Service.Type)
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name), Namespace: rel.Namespace,
			Labels: Labels(rel, c.Name, ""),
		},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: Selector(rel, c.Name),
			Ports: []corev1.ServicePort{{
				Name: c.Ports[0].Name, Port: c.Service.Port, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString(c.Ports[0].Name),
			}},
		},
	}
}

// HPA builds the component's HorizontalPodAutoscaler, or nil without autoscaling.
func HPA(rel *opsv1alpha1.Release, c *opsv1alpha1.Component) *autoscalingv2.HorizontalPodAutoscaler {
	a := c.Autoscaling
	if a == nil {
		return nil
	}
	name := opsv1alpha1.ComponentDeploymentName(rel.Name, c.Name)
	target := a.TargetCPUUtilizationPercentage
	if target == 0 {
		target = 70
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rel.Namespace, Labels: Labels(rel, c.Name, "")},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To(max(a.MinReplicas, 1)),
			MaxReplicas:    a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)},
				},
			}},
		},
	}
}

// Job kinds of a revision.
const (
	StepNamePlan    = "plan"
	StepNameMigrate = "migrate"
)

// JobName is the deterministic name of a revision's Job for step (plan, migrate or a
// pre-deploy step's name).
func JobName(rel *opsv1alpha1.Release, step, revision string) string {
	return jobs.Name(rel.Name, step+"-"+revision)
}

// BackupName is the deterministic name of a revision's pre-deploy DatabaseBackup.
func BackupName(rel *opsv1alpha1.Release, revision string) string {
	return jobs.Name(rel.Name, "predeploy-"+revision)
}

// PlanShell wraps the plan command so that its output (stdout and stderr) becomes the
// container's termination message, which the controller records in status: the image
// needs /bin/sh (Django images have it). The command's exit code is the container's.
// The file is named by PlanOutputEnv (the termination log), not in the script, so that
// a runtime that moves the termination log can rewrite the variable.
var PlanShell = []string{"/bin/sh", "-c", `"$@" >"$` + PlanOutputEnv + `" 2>&1`, "--"}

// PlanOutputEnv is set on the plan Job's container to the termination log's path.
const PlanOutputEnv = "RUNBOOK_PLAN_OUTPUT"

// Job builds a revision's Job running command with the revision's image, shared env
// and the first component's env: backoffLimit 0 (a migration never runs twice) and
// the container's log tail as termination message on failure.
func Job(rel *opsv1alpha1.Release, snap Snapshot, revision, step string, command []string, timeoutSeconds int64) *batchv1.Job {
	env := append([]corev1.EnvVar{}, snap.Env...)
	envFrom := append([]corev1.EnvFromSource{}, snap.EnvFrom...)
	l := Labels(rel, step, revision)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(rel, step, revision), Namespace: rel.Namespace, Labels: l},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To(timeoutSeconds),
			TTLSecondsAfterFinished: nil, // kept: the Job is the step's record and its log Django's evidence
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{
					RestartPolicy:    corev1.RestartPolicyNever,
					ImagePullSecrets: pullSecrets(snap),
					Containers: []corev1.Container{{
						Name:                     ContainerName,
						Image:                    snap.Image,
						Command:                  command,
						Env:                      env,
						EnvFrom:                  envFrom,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						ImagePullPolicy:          corev1.PullIfNotPresent,
					}},
				},
			},
		},
	}
}
