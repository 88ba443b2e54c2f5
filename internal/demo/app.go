package demo

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"runbook-operator/internal/devcluster"
)

// The runbook's application (test/saas) as the demo runs it: image saas:<tag>, run by
// the node agent with Debian's Django, Celery and gunicorn.
const (
	// AppTag is the release the demo runs.
	AppTag = "1.0.0"
	// DemoAppImage is the application's image.
	DemoAppImage = devcluster.SaaSImage + ":" + AppTag
	// PartOfLabel marks every workload of the application (web, worker, beat).
	PartOfLabel = "app.kubernetes.io/part-of"
	partOf      = "saas"
)

// AppImage is the application's image at tag.
func AppImage(tag string) string { return devcluster.SaaSImage + ":" + tag }

// DBEnv maps the keys of a database Secret to the PG* variables the app reads.
func DBEnv(secret string) []corev1.EnvVar {
	ref := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
	}
	return []corev1.EnvVar{ref("PGHOST", "host"), ref("PGPORT", "port"), ref("PGDATABASE", "dbname"),
		ref("PGUSER", "user"), ref("PGPASSWORD", "password")}
}

// AppEnvFrom gives the app its secrets (DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY) and
// Redis (REDIS_URL) from the devcluster's Secrets.
func AppEnvFrom() []corev1.EnvFromSource {
	from := func(name string) corev1.EnvFromSource {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}
	}
	return []corev1.EnvFromSource{from(devcluster.DemoAppSecret), from(devcluster.DemoRedisSecret)}
}

// AppContainer is a container of the app at tag running command, with the database
// of Secret dbSecret.
func AppContainer(name, tag, dbSecret string, command ...string) corev1.Container {
	return corev1.Container{
		Name: name, Image: AppImage(tag), Command: command, WorkingDir: devcluster.SaaSWorkDir,
		Env: DBEnv(dbSecret), EnvFrom: AppEnvFrom(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// ManageJob is a Job running `python manage.py ARGS` of the app at tag once.
func ManageJob(name, tag, dbSecret string, args ...string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{AppContainer("manage", tag, dbSecret, append([]string{"python", "manage.py"}, args...)...)},
			}},
		},
	}
}

// MigrateJob runs the demo release's migrations with the database of Secret dbSecret.
func MigrateJob(dbSecret string) *batchv1.Job {
	return ManageJob("migrate", AppTag, dbSecret, "migrate")
}

// SeedJob adds the app's data through its own management command.
func SeedJob(dbSecret string) *batchv1.Job {
	return ManageJob("seed", AppTag, dbSecret, "seed")
}

// appDeployment is one workload of the app, labelled app=name.
func appDeployment(name string, replicas int32, c corev1.Container) *appsv1.Deployment {
	labels := map[string]string{"app": name, PartOfLabel: partOf}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](10),
					Containers:                    []corev1.Container{c},
				},
			},
		},
	}
}

// AppDeployment is the app's web server (gunicorn saas.wsgi) at tag, with the
// database of Secret dbSecret; it is ready when its health check answers 200.
func AppDeployment(name, tag, dbSecret string, replicas int32) *appsv1.Deployment {
	c := AppContainer("web", tag, dbSecret, "gunicorn", "saas.wsgi")
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}
	c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 2, TimeoutSeconds: 5, ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/api/v1/health/", Port: intstr.FromString("http")}}}
	return appDeployment(name, replicas, c)
}

// WorkerDeployment is the app's Celery worker (celery -A saas worker) at tag.
func WorkerDeployment(name, tag, dbSecret string, replicas int32) *appsv1.Deployment {
	return appDeployment(name, replicas, AppContainer("worker", tag, dbSecret, "celery", "-A", "saas", "worker", "--loglevel=INFO"))
}

// BeatDeployment is the app's Celery beat (celery -A saas beat) at tag: one replica,
// replaced rather than rolled, so two never schedule at once.
func BeatDeployment(name, tag, dbSecret string) *appsv1.Deployment {
	d := appDeployment(name, 1, AppContainer("beat", tag, dbSecret, "celery", "-A", "saas", "beat", "--loglevel=INFO"))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	return d
}
