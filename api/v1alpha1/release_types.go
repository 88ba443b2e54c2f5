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

package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReleasePhase is a release's pipeline step, for humans.
// +kubebuilder:validation:Enum=Pending;BackingUp;Migrating;Blocked;PreDeploy;Canary;RollingOut;Verifying;Deployed;RollingBack;RolledBack;Failed;Paused
type ReleasePhase string

const (
	ReleasePhasePending   ReleasePhase = "Pending"
	ReleasePhaseBackingUp ReleasePhase = "BackingUp"
	ReleasePhaseMigrating ReleasePhase = "Migrating"
	// ReleasePhaseBlocked: migrations.destructiveMigrations Block stopped the revision
	// before its migrations; the previous revision serves.
	ReleasePhaseBlocked   ReleasePhase = "Blocked"
	ReleasePhasePreDeploy ReleasePhase = "PreDeploy"
	// ReleasePhaseCanary: spec.canary's pods of the new revision run beside the stable
	// pods and are checked for the canary window; nothing else has changed yet.
	ReleasePhaseCanary      ReleasePhase = "Canary"
	ReleasePhaseRollingOut  ReleasePhase = "RollingOut"
	ReleasePhaseVerifying   ReleasePhase = "Verifying"
	ReleasePhaseDeployed    ReleasePhase = "Deployed"
	ReleasePhaseRollingBack ReleasePhase = "RollingBack"
	ReleasePhaseRolledBack  ReleasePhase = "RolledBack"
	ReleasePhaseFailed      ReleasePhase = "Failed"
	ReleasePhasePaused      ReleasePhase = "Paused"
)

// RevisionResult is how a revision of a release ended.
// +kubebuilder:validation:Enum=InProgress;Succeeded;Failed;RolledBack;Superseded
type RevisionResult string

const (
	RevisionInProgress RevisionResult = "InProgress"
	RevisionSucceeded  RevisionResult = "Succeeded"
	RevisionFailed     RevisionResult = "Failed"
	RevisionRolledBack RevisionResult = "RolledBack"
	RevisionSuperseded RevisionResult = "Superseded"
)

// DeploymentStrategy is how a component's pods are replaced.
// +kubebuilder:validation:Enum=RollingUpdate;Recreate
type DeploymentStrategy string

const (
	// StrategyRollingUpdate starts new pods before old ones stop (the default).
	StrategyRollingUpdate DeploymentStrategy = "RollingUpdate"
	// StrategyRecreate stops every old pod before a new one starts: a Celery beat must
	// never run twice.
	StrategyRecreate DeploymentStrategy = "Recreate"
)

// Labels and annotations of the Release controller.
const (
	// LabelRelease, LabelComponent and LabelRevision are set on every object a Release
	// owns and on its pod templates: the release's name, the component's name and the
	// revision hash of the pod template.
	LabelRelease   = "ops.runbook.dev/release"
	LabelComponent = "ops.runbook.dev/component"
	LabelRevision  = "ops.runbook.dev/revision"
	// AnnotationRetry on a Release runs a failed or rolled-back revision again when its
	// value changes (any value, e.g. a timestamp).
	AnnotationRetry = "ops.runbook.dev/retry"
	// AnnotationRestartedAt is the pod-template annotation that restarts a component's
	// pods when its value changes, as `kubectl rollout restart` does. The controller
	// writes spec.restartedAt into it; another controller (SecretRotation) restarts a
	// Release by setting spec.restartedAt, never by editing the Deployments.
	AnnotationRestartedAt = "ops.runbook.dev/restartedAt"
	// AnnotationRollback on a Release asks for the revision it names to be rolled back
	// to the stable revision now, as a failed verification would: honoured while that
	// revision is rolling out or verifying, ignored otherwise (a value naming an older
	// revision does nothing). The controller removes it once the revision it names is
	// not in progress, so that a retry of that revision is not rolled back at once. An
	// Incident's rollback sets it; a person may too.
	AnnotationRollback = "ops.runbook.dev/rollback"
	// LabelCanary ("true") marks the canary Deployment of a Release and its pods; its
	// pods carry the component's labels too, so its Service sends them a share of the
	// traffic.
	LabelCanary = "ops.runbook.dev/canary"
)

// Condition reasons of the Release controller.
const (
	ReasonMigrationFailed = "MigrationFailed"
	ReasonPreDeployFailed = "PreDeployFailed"
	ReasonCheckerError    = "CheckerError"
	ReasonRevisionPinned  = "RevisionPinned"
	ReasonQuiescedBy      = "QuiescedByRestore"
	// ReasonRollbackRequested: the ops.runbook.dev/rollback annotation named the
	// revision in progress.
	ReasonRollbackRequested = "RollbackRequested"
	ReasonDeployed          = "Deployed"
	ReasonWorkloadConflict  = "WorkloadNameInUse"
	// ReasonRestoringDatabase: a rollback's DatabaseRestore of the pre-deploy backup runs.
	ReasonRestoringDatabase = "RestoringDatabase"
	// ReasonRestoreFailed: a rollback's DatabaseRestore failed or was deleted first.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonIncidentOpened: a failed revision opened an Incident (rollback.openIncident).
	ReasonIncidentOpened = "IncidentOpened"
	// ReasonDestructiveMigrationWarned, ...Blocked and ...Allowed: the
	// DestructiveMigration condition's reasons under each policy; ...None: the planned
	// migrations break nothing the previous revision does.
	ReasonDestructiveMigrationWarned  = "Warned"
	ReasonDestructiveMigrationBlocked = "DestructiveMigrationBlocked"
	ReasonDestructiveMigrationAllowed = "Allowed"
	ReasonDestructiveMigrationNone    = "NoneFound"
	// ReasonNoPreviousRevision: a first deploy, with no earlier revision's pods to break.
	ReasonNoPreviousRevision = "NoPreviousRevision"
	// ReasonWaitingForEvidence: a decided rollback waits (at most 60 s) for its
	// Incident to read the failing pods before the stable templates replace them.
	ReasonWaitingForEvidence = "WaitingForEvidence"
	// ReasonEvidenceIncomplete: a rollback went ahead without its Incident's evidence
	// of the failing pods (not read within 60 s, or failed).
	ReasonEvidenceIncomplete = "EvidenceIncomplete"
	// ReasonQueryFailed: a verify.prometheus query's value broke its condition.
	ReasonQueryFailed = "QueryFailed"
	// ReasonQueryInconclusive: a verify.prometheus query had no data, NaN or Inf, or
	// several series when the window ended.
	ReasonQueryInconclusive = "QueryInconclusive"
	// ReasonPrometheusError: Prometheus could not be queried errorThreshold times in a
	// row; the revision is neither rolled back nor deployed for it.
	ReasonPrometheusError = "PrometheusError"
	// ReasonCanaryFailed: the canary's pods failed their checks (or did not become
	// available); only they were removed, the stable pods never changed.
	ReasonCanaryFailed = "CanaryFailed"
	// ReasonCanaryPassed: the canary's pods stayed healthy for canary.window.
	ReasonCanaryPassed = "CanaryPassed"
	// ReasonCanaryRunning: the canary's pods start or are checked.
	ReasonCanaryRunning = "CanaryRunning"
)

// ConditionCanaryVerified follows spec.canary's step: Unknown while the canary's pods
// start and are checked, True once they stayed healthy for the window (they are then
// removed and the rollout starts), False when they failed.
const ConditionCanaryVerified = "CanaryVerified"

// ConditionDestructiveMigration is True when a planned migration of the current
// revision breaks the pods still serving the previous revision
// (migrations.destructiveMigrations says what follows), False when the plan's SQL was
// checked and none does.
const ConditionDestructiveMigration = "DestructiveMigration"

// ConditionDatabaseRestored reports the DatabaseRestore a rollback created of the
// pre-deploy backup (rollback.restoreDatabase).
const ConditionDatabaseRestored = "DatabaseRestored"

// ServiceType is the type of a component's Service.
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
type ServiceType string

// ComponentDeploymentName is the name of the Deployment (and Service) that the Release
// controller creates for a component: `<release>-<component>`. A DatabaseRestore that
// quiesces a Release scales exactly these Deployments.
func ComponentDeploymentName(release, component string) string {
	return release + "-" + component
}

// ComponentPort is a port a component's container listens on.
type ComponentPort struct {
	// name of the port, e.g. `http`: an IANA service name as Kubernetes requires it
	// (at most 15 lowercase letters, digits and '-', at least one letter, no '-' at
	// either end or twice in a row).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^([a-z0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$`
	Name string `json:"name"`

	// containerPort is the port number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ContainerPort int32 `json:"containerPort"`
}

// EnvVar is an environment variable of the application's containers: a Pod's
// EnvVar, with the checks a Pod makes done by the API server when the Release is
// applied rather than when its Deployment or Job is created.
// +kubebuilder:validation:XValidation:rule="!has(self.valueFrom) || !has(self.value) || size(self.value) == 0",message="value and valueFrom are exclusive: give one of them"
// +kubebuilder:validation:XValidation:rule="!has(self.valueFrom) || (has(self.valueFrom.fieldRef) ? 1 : 0) + (has(self.valueFrom.resourceFieldRef) ? 1 : 0) + (has(self.valueFrom.configMapKeyRef) ? 1 : 0) + (has(self.valueFrom.secretKeyRef) ? 1 : 0) + (has(self.valueFrom.fileKeyRef) ? 1 : 0) == 1",message="valueFrom takes exactly one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef or fileKeyRef"
type EnvVar struct {
	// name of the variable: printable ASCII characters other than '=', as a Pod
	// accepts them, e.g. `DJANGO_SETTINGS_MODULE`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[ -<>-~]+$`
	Name string `json:"name"`

	// value of the variable; `$(NAME)` refers to a variable defined before it.
	// +optional
	Value string `json:"value,omitempty"`

	// valueFrom takes the value from a Secret or ConfigMap key, or a field of the pod.
	// +optional
	ValueFrom *corev1.EnvVarSource `json:"valueFrom,omitempty"`
}

// CoreEnv returns env as a Pod's environment variables (nil for nil, so that
// revision snapshots keep their hash).
func CoreEnv(env []EnvVar) []corev1.EnvVar {
	if env == nil {
		return nil
	}
	out := make([]corev1.EnvVar, len(env))
	for i, e := range env {
		out[i] = corev1.EnvVar{Name: e.Name, Value: e.Value, ValueFrom: e.ValueFrom}
	}
	return out
}

// ComponentService exposes a component inside the cluster.
type ComponentService struct {
	// port the Service listens on. It forwards to the component's first port.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// type of the Service. Default: ClusterIP.
	// +optional
	// +kubebuilder:default=ClusterIP
	Type ServiceType `json:"type,omitempty"`
}

// Autoscaling scales a component with a HorizontalPodAutoscaler on CPU.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must not exceed maxReplicas"
type Autoscaling struct {
	// minReplicas is the fewest pods. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most pods.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage is the average CPU use, in percent of requests,
	// the autoscaler aims for. Default: 70.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// Component is one Deployment of the application, e.g. backend, celery worker, celery beat.
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || self.ports.all(p, self.ports.exists_one(q, q.containerPort == p.containerPort))",message="a containerPort is listed twice in ports"
// +kubebuilder:validation:XValidation:rule="!(has(self.strategy) && self.strategy == 'Recreate' && has(self.autoscaling))",message="strategy Recreate cannot be combined with autoscaling: an autoscaler would run several pods that Recreate means to keep to one generation at a time"
type Component struct {
	// name of the component; the Deployment is named `<release>-<name>`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// image overrides the release's image for this component.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^((?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}))?$')`,message="image must be an image reference: [registry[:port]/]repository[:tag][@digest], the repository in lower case, no spaces, e.g. registry.example.com/saas/backend:v2.4.0"
	Image string `json:"image,omitempty"`

	// command overrides the image's entrypoint, e.g. `[gunicorn]`.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command,omitempty"`

	// args are the arguments to the command, e.g. `[saas.wsgi, --bind, 0.0.0.0:8000]`.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Args []string `json:"args,omitempty"`

	// replicas is the number of pods when autoscaling is off. Changing it scales the
	// component without a new migration pipeline. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// resources are the container's CPU and memory requests and limits (vertical scaling).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ports the container listens on.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Ports []ComponentPort `json:"ports,omitempty"`

	// service creates a Service named `<release>-<name>` for the component.
	// +optional
	Service *ComponentService `json:"service,omitempty"`

	// healthPath is the HTTP path of the component's readiness probe on its first
	// port, e.g. `/api/v1/health/`. Default: no probe.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/`
	HealthPath string `json:"healthPath,omitempty"`

	// env are environment variables of the container, added to the release's env.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Env []EnvVar `json:"env,omitempty"`

	// envFrom adds ConfigMaps and Secrets as environment variables.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// autoscaling replaces replicas with a HorizontalPodAutoscaler.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// strategy is how pods are replaced: RollingUpdate (default) or Recreate (every old
	// pod stops before a new one starts, e.g. for a Celery beat).
	// +optional
	Strategy DeploymentStrategy `json:"strategy,omitempty"`
}

// ReleaseBackup is the backup taken before migrations.
// +kubebuilder:validation:XValidation:rule="(has(self.enabled) && !self.enabled) || has(self.destination)",message="backup.destination is required while backup.enabled is true (set enabled: false to skip the pre-deploy backup)"
type ReleaseBackup struct {
	// enabled takes a DatabaseBackup before migrations run. Default: true (a pointer,
	// so that a client sending the struct without it gets the default, not false).
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// destination of the pre-deploy backups.
	// +optional
	Destination *BackupDestination `json:"destination,omitempty"`

	// deletionPolicy of the pre-deploy DatabaseBackups. Default: Retain.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// Migrations runs the application's schema migrations in a Job before the rollout.
type Migrations struct {
	// command runs the migrations with the new image, e.g. `[python, manage.py, migrate, --noinput]`.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command"`

	// planCommand prints the migration plan, recorded in status before applying, e.g.
	// `[python, manage.py, showmigrations, --plan]`. Default: no plan.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	PlanCommand []string `json:"planCommand,omitempty"`

	// timeout is the longest the migration Job may run (Go duration). Default: 30m.
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))",message="timeout must be between 1m and 24h",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`

	// destructiveMigrations is what happens when a planned migration's SQL breaks the
	// pods still serving the previous revision during the rollout (drops or renames a
	// column or table, changes a column's type, leaves a column NOT NULL without a
	// default, builds a unique index while locking a large table). The plan Job prints
	// each planned migration's SQL with sqlCommand and the controller classifies it
	// before anything is migrated. Warn (default): a DestructiveMigration condition and
	// a Warning event name the migration and statement, and the deploy goes on. Block:
	// the revision stops before migrating (Stalled, with the statements and the
	// expand/contract advice); nothing is migrated or rolled out until the spec
	// changes (a new version, or this field set to Warn or Allow). Allow: no check.
	// Warn and Block need planCommand (without a plan nothing is checked).
	// +optional
	// +kubebuilder:default=Warn
	DestructiveMigrations DestructiveMigrationPolicy `json:"destructiveMigrations,omitempty"`

	// sqlCommand prints one migration's SQL when given its app label and migration name
	// as two more arguments; the plan Job runs it for every migration the plan lists.
	// Default: `[python, manage.py, sqlmigrate]`. Needs /bin/sh and sed in the image.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	SQLCommand []string `json:"sqlCommand,omitempty"`

	// largeTableRows is the row estimate from which a unique index built without
	// CONCURRENTLY counts as destructive (writes wait for the whole build). The plan Job
	// reads the planner's estimates of the tables; a table without one counts as large.
	// Read when the plan is checked: changing it does not re-check a planned revision.
	// Default 100000.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000000
	LargeTableRows *int64 `json:"largeTableRows,omitempty"`
}

// DestructiveMigrationPolicy is what a Release does with a migration that breaks the
// previous revision's pods.
// +kubebuilder:validation:Enum=Warn;Block;Allow
type DestructiveMigrationPolicy string

const (
	DestructiveMigrationsWarn  DestructiveMigrationPolicy = "Warn"
	DestructiveMigrationsBlock DestructiveMigrationPolicy = "Block"
	DestructiveMigrationsAllow DestructiveMigrationPolicy = "Allow"
)

// MigrationFinding is one statement of a planned migration that breaks the pods still
// serving the previous revision.
type MigrationFinding struct {
	// migration is the migration the statement belongs to, e.g. `shop.0004_remove_field`.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Migration string `json:"migration"`

	// kind of the change: DropColumn, DropTable, RenameColumn, RenameTable, AlterType,
	// NotNullWithoutDefault, UniqueIndexLocksTable, or SQLUnknown when the migration's
	// SQL could not be read.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Kind string `json:"kind"`

	// table and column the statement changes.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Table string `json:"table,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Column string `json:"column,omitempty"`

	// statement is the statement, on one line, at most 300 bytes.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Statement string `json:"statement,omitempty"`

	// note says, for a UniqueIndexLocksTable finding, the table's row estimate it was
	// decided on, e.g. `table shop_order, about 5000000 rows: from 100000 on, reported`.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Note string `json:"note,omitempty"`
}

// PreDeployJob is a command run with the new image after migrations and before the
// rollout, e.g. collectstatic.
type PreDeployJob struct {
	// name of the step; the Job is named after the release, revision and step.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=30
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// command to run, e.g. `[python, manage.py, collectstatic, --noinput]`.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command"`

	// timeout is the longest the Job may run (Go duration). Default: 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))",message="timeout must be between 1m and 24h",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`
}

// ReleaseVerify is the health verification window after the rollout.
// +kubebuilder:validation:XValidation:rule="has(self.path) || has(self.url) || has(self.prometheus)",message="verify needs a path (checked on every new pod), a url or prometheus queries, or several of them"
type ReleaseVerify struct {
	// path is checked with HTTP GET on every new pod of components with ports, e.g.
	// `/api/v1/health/`; 2xx is healthy.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path,omitempty"`

	// url is checked with HTTP GET from the operator, e.g. the public health URL.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url,omitempty"`

	// interval between checks (Go duration). Default: 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1s') && duration(self) <= duration('1h'))",message="interval must be between 1s and 1h",optionalOldSelf=true
	Interval *Duration `json:"interval,omitempty"`

	// failureThreshold is how many consecutive failed checks fail the release. Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureThreshold int32 `json:"failureThreshold,omitempty"`

	// window is how long the new revision must stay healthy to count as deployed (Go
	// duration). Default: 2m.
	// +optional
	// +kubebuilder:default="2m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('0s') && duration(self) <= duration('24h'))",message="window must be between 0s and 24h",optionalOldSelf=true
	Window *Duration `json:"window,omitempty"`

	// progressDeadline is how long the rollout may take before it fails (Go duration).
	// Default: 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))",message="progressDeadline must be between 1m and 24h",optionalOldSelf=true
	ProgressDeadline *Duration `json:"progressDeadline,omitempty"`

	// prometheus queries are evaluated every interval during the window, beside the
	// HTTP checks: a query whose value breaks its condition fails the round (counted
	// toward failureThreshold); one with no data, NaN or several series is
	// inconclusive; Prometheus not answering counts toward errorThreshold.
	// +optional
	Prometheus *PrometheusVerify `json:"prometheus,omitempty"`
}

// InconclusivePolicy is what a verification window that ends inconclusive leads to.
// +kubebuilder:validation:Enum=Pause;Rollback
type InconclusivePolicy string

const (
	// InconclusivePause holds the revision in verification (phase Paused, not
	// Deployed) and goes on querying: it is Deployed once the queries answer and pass,
	// rolled back if they fail, or by the ops.runbook.dev/rollback annotation.
	InconclusivePause InconclusivePolicy = "Pause"
	// InconclusiveRollback rolls the revision back, naming the inconclusive query.
	InconclusiveRollback InconclusivePolicy = "Rollback"
)

// QueryOperator compares a query's value with the condition's value.
// +kubebuilder:validation:Enum=LessThan;LessThanOrEqual;GreaterThan;GreaterThanOrEqual
type QueryOperator string

const (
	QueryLessThan           QueryOperator = "LessThan"
	QueryLessThanOrEqual    QueryOperator = "LessThanOrEqual"
	QueryGreaterThan        QueryOperator = "GreaterThan"
	QueryGreaterThanOrEqual QueryOperator = "GreaterThanOrEqual"
)

// QueryCondition is what a healthy revision's value satisfies, e.g. `{op: LessThan,
// value: "0.05"}`.
type QueryCondition struct {
	// op compares the query's value (on the left) with value.
	// +required
	Op QueryOperator `json:"op"`

	// value is the threshold, a decimal number written as a string, e.g. "0.05".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$')`,message="condition.value must be a decimal number written as a string, e.g. \"0.05\""
	Value string `json:"value"`
}

// PrometheusQuery is one PromQL query with the condition a healthy revision meets.
// +kubebuilder:validation:XValidation:rule=`!self.query.replace('{{revision}}', "").replace('{{stableRevision}}', "").replace('{{namespace}}', "").replace('{{release}}', "").contains('{{')`,message="query: the placeholders are {{revision}}, {{stableRevision}}, {{namespace}} and {{release}}; another {{...}} is not replaced"
type PrometheusQuery struct {
	// name of the query, named in conditions, events and history, e.g. `error-rate`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// query is an instant PromQL query that returns one value (a scalar, or a vector
	// of one series), e.g. `(sum(rate(django_http_responses_total_by_status_view_method_total{revision="{{revision}}",status=~"5.."}[1m])) or vector(0)) / sum(rate(django_http_responses_total_by_status_view_method_total{revision="{{revision}}"}[1m]))`.
	// `{{revision}}` and `{{stableRevision}}` are replaced with the revision hashes
	// (the pods' ops.runbook.dev/revision label), `{{namespace}}` and `{{release}}`
	// with the Release's; each value is escaped for a double-quoted PromQL string.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Query string `json:"query"`

	// condition the value of a healthy revision meets; a query without one is refused.
	// +required
	Condition QueryCondition `json:"condition"`
}

// ConfigMapKeyReference selects one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the ConfigMap's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// CASource is a PEM bundle of CA certificates, from a ConfigMap or a Secret key.
// +kubebuilder:validation:XValidation:rule="has(self.configMapKeyRef) != has(self.secretKeyRef)",message="ca takes exactly one of configMapKeyRef and secretKeyRef"
type CASource struct {
	// +optional
	ConfigMapKeyRef *ConfigMapKeyReference `json:"configMapKeyRef,omitempty"`
	// +optional
	SecretKeyRef *SecretKeyReference `json:"secretKeyRef,omitempty"`
}

// PrometheusVerify says which Prometheus to ask and what.
// +kubebuilder:validation:XValidation:rule="!has(self.ca) || self.address.startsWith('https://')",message="prometheus.ca is for an https:// address"
type PrometheusVerify struct {
	// address of the Prometheus HTTP API, e.g. `http://prometheus.monitoring:9090`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Address string `json:"address"`

	// bearerTokenSecretRef is a Secret key holding a bearer token sent with every
	// query (never written to status, events or logs).
	// +optional
	BearerTokenSecretRef *SecretKeyReference `json:"bearerTokenSecretRef,omitempty"`

	// ca is the PEM bundle that signs an https address's certificate. Default: the
	// system's roots.
	// +optional
	CA *CASource `json:"ca,omitempty"`

	// timeout of each query (Go duration). Default: 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1s') && duration(self) <= duration('1m'))",message="timeout must be between 1s and 1m",optionalOldSelf=true
	Timeout *Duration `json:"timeout,omitempty"`

	// queries evaluated in every round, each with its condition; names are unique.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Queries []PrometheusQuery `json:"queries"`

	// errorThreshold is how many consecutive rounds in which Prometheus could not be
	// queried (unreachable, an error answer) pause the verification with a condition
	// naming Prometheus. Errors never roll back nor pass a revision. Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ErrorThreshold int32 `json:"errorThreshold,omitempty"`

	// onInconclusive is what a window that ends with an inconclusive query (no data,
	// NaN or Inf, several series) leads to: Pause (the revision is not Deployed; it is
	// held and queried until the query answers) or Rollback. Default: Pause.
	// +optional
	// +kubebuilder:default=Pause
	OnInconclusive InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// ReleaseCanary starts a few pods of a new revision beside the stable ones before the
// rollout, checks them as verification checks pods for a window, then removes them
// and rolls out every component; a failure removes only them.
type ReleaseCanary struct {
	// component whose new revision runs in the canary, e.g. `web`: a component of
	// spec.components that has ports (it serves; the canary pods carry its labels, so
	// its Service sends them a share of the traffic) and strategy RollingUpdate. Workers
	// and beat are never in the canary: they roll out after it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Component string `json:"component"`

	// replicas is how many canary pods run beside the stable ones. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Replicas int32 `json:"replicas,omitempty"`

	// window is how long every canary pod must stay healthy, counted from when all of
	// them are available (Go duration). Default: 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && oldSelf.value() == self) || (duration(self) >= duration('1s') && duration(self) <= duration('1h'))",message="canary.window must be between 1s and 1h",optionalOldSelf=true
	Window *Duration `json:"window,omitempty"`
}

// IncidentSeverity is how urgent an incident is.
// +kubebuilder:validation:Enum=P0;P1;P2;P3
type IncidentSeverity string

// ReleaseRollback says what happens when a rollout or verification fails.
// +kubebuilder:validation:XValidation:rule="!has(self.incidentNotify) || size(self.incidentNotify) == 0 || has(self.openIncident)",message="rollback.incidentNotify needs rollback.openIncident (the severity of the Incident it notifies about)"
type ReleaseRollback struct {
	// automatic rolls the components back to the stable revision when the rollout or
	// verification fails. Default: true (a pointer, so that a client sending the
	// struct without it gets the default rather than false).
	// +optional
	// +kubebuilder:default=true
	Automatic *bool `json:"automatic,omitempty"`

	// restoreDatabase also restores the pre-deploy backup (a DatabaseRestore in Swap
	// mode, quiescing the release) when the failed revision's migrations ran. Needs
	// spec.database with the pre-deploy backup enabled. Default: false, because it
	// loses writes made since the backup.
	// +optional
	RestoreDatabase bool `json:"restoreDatabase,omitempty"`

	// openIncident opens an Incident of this severity when a rollout or verification
	// fails (rolled back, or failed with nothing to roll back to), once per revision.
	// A rollback waits (at most 60 s) until the Incident has read the failing pods
	// and their logs before the stable templates replace them. Default: none.
	// +optional
	OpenIncident IncidentSeverity `json:"openIncident,omitempty"`

	// incidentNotify is the notify list of the Incident openIncident opens (the
	// Incident's spec.notify: Slack, PagerDuty or Webhook, each with its Secret in the
	// release's namespace). Default: none, the Incident notifies nobody.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:XValidation:rule="self.all(n, n.type == 'PagerDuty' || !has(n.url))",message="incidentNotify[].url is PagerDuty's endpoint only; Slack and Webhook read their URL from secretRef"
	IncidentNotify []Notifier `json:"incidentNotify,omitempty"`
}

// ReleaseSpec is the desired version of the application and how to get there.
// +kubebuilder:validation:XValidation:rule="!has(self.verify) || !has(self.verify.path) || self.components.exists(c, has(c.ports) && size(c.ports) > 0)",message="verify.path is checked on the pods' first port, but no component has ports: add ports to a component or use verify.url"
// +kubebuilder:validation:XValidation:rule="!has(self.migrations) || !has(self.migrations.destructiveMigrations) || self.migrations.destructiveMigrations != 'Block' || (has(self.migrations.planCommand) && size(self.migrations.planCommand) > 0)",message="migrations.destructiveMigrations Block checks the planned migrations' SQL: it needs migrations.planCommand (e.g. [python, manage.py, showmigrations, --plan])"
// +kubebuilder:validation:XValidation:rule="!has(self.migrations) || has(self.database)",message="migrations need spec.database, so that a pre-deploy backup can be taken"
// +kubebuilder:validation:XValidation:rule="!has(self.database) || !has(self.backup) || (has(self.backup.enabled) && !self.backup.enabled) || has(self.backup.destination)",message="spec.backup.destination is required when spec.database is set (or set spec.backup.enabled: false)"
// +kubebuilder:validation:XValidation:rule="!has(self.database) || has(self.backup)",message="spec.backup is required when spec.database is set: give backup.destination, or set backup.enabled: false"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || self.components.exists(c, c.name == self.canary.component)",message="canary.component must name a component of spec.components"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || !self.components.exists(c, c.name == self.canary.component && (!has(c.ports) || size(c.ports) == 0))",message="canary.component must be a component with ports (the web one): the canary's pods get a share of its Service's traffic and are checked on their first port; workers and beat are never in a canary, they roll out after it"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || !self.components.exists(c, c.name == self.canary.component && has(c.strategy) && c.strategy == 'Recreate')",message="canary.component has strategy Recreate (one generation at a time, e.g. a Celery beat): a canary would run a second generation beside it; choose a RollingUpdate component"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || (has(self.verify) && (has(self.verify.path) || has(self.verify.prometheus)))",message="canary checks its own pods with verify's checks: set verify.path (checked on each canary pod) or verify.prometheus; verify.url alone reaches the stable pods too"
// +kubebuilder:validation:XValidation:rule="!has(self.rollback) || !has(self.rollback.restoreDatabase) || !self.rollback.restoreDatabase || (has(self.database) && has(self.backup) && !(has(self.backup.enabled) && !self.backup.enabled))",message="rollback.restoreDatabase restores the pre-deploy backup: it needs spec.database and spec.backup with enabled not false"
type ReleaseSpec struct {
	// version of the application, e.g. `v2.4.0`; recorded in history.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version"`

	// image of the application, e.g. `registry.example.com/saas/backend:v2.4.0`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^((?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}))?$')`,message="image must be an image reference: [registry[:port]/]repository[:tag][@digest], the repository in lower case, no spaces, e.g. registry.example.com/saas/backend:v2.4.0"
	Image string `json:"image"`

	// imagePullSecrets for the application's pods.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// env is shared by every component, migration and pre-deploy Job.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Env []EnvVar `json:"env,omitempty"`

	// envFrom is shared by every component, migration and pre-deploy Job.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// components are the application's Deployments.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Components []Component `json:"components"`

	// database the application uses; needed for pre-deploy backups and migrations.
	// +optional
	Database *DatabaseConnection `json:"database,omitempty"`

	// backup is the DatabaseBackup taken before migrations; on by default when a
	// database is set.
	// +optional
	Backup *ReleaseBackup `json:"backup,omitempty"`

	// migrations run before the rollout with the new image.
	// +optional
	Migrations *Migrations `json:"migrations,omitempty"`

	// preDeploy Jobs run after migrations and before the rollout, in order.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	PreDeploy []PreDeployJob `json:"preDeploy,omitempty"`

	// verify is the health verification after the rollout. Default: none beyond
	// Deployment readiness.
	// +optional
	Verify *ReleaseVerify `json:"verify,omitempty"`

	// canary starts canary.replicas pods of a new revision of one component beside its
	// stable pods, after migrations and pre-deploy Jobs and before the rollout, and
	// checks them with verify's checks for canary.window; a failure removes only them.
	// Not on a first deploy (no stable pods to protect). Default: none.
	// +optional
	Canary *ReleaseCanary `json:"canary,omitempty"`

	// rollback says what happens when the rollout or verification fails.
	// +optional
	// +kubebuilder:default={automatic: true}
	Rollback ReleaseRollback `json:"rollback,omitempty"`

	// restartedAt restarts every component when changed, like `kubectl rollout restart`.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`

	// paused stops the controller from changing workloads; status still updates.
	// Default: false.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// revisionHistoryLimit is how many revisions are kept in status.history. Default: 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	RevisionHistoryLimit int32 `json:"revisionHistoryLimit,omitempty"`
}

// RevisionRecord is one entry of a release's history.
type RevisionRecord struct {
	// revision is the hash of what defines a deployable revision (version, image,
	// commands, env).
	// +required
	Revision string `json:"revision"`

	// version and image of the revision.
	// +required
	Version string `json:"version"`
	// +required
	Image string `json:"image"`

	// startTime is when the pipeline for the revision started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when it ended.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// result of the revision.
	// +required
	Result RevisionResult `json:"result"`

	// backup is the DatabaseBackup taken before the revision's migrations.
	// +optional
	Backup string `json:"backup,omitempty"`

	// message says why the revision ended as it did.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// appliedMigrations are the migrations the revision's migration Job applied (from
	// the plan, confirmed by the Job's success). They stay applied after a rollback.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	AppliedMigrations []string `json:"appliedMigrations,omitempty"`

	// migrated is true once the revision's migration Job succeeded (or it had none):
	// reverting to this revision later never runs its migrations again.
	// +optional
	Migrated bool `json:"migrated,omitempty"`

	// retry is the value of the ops.runbook.dev/retry annotation that ran the revision
	// again after it failed or was rolled back; empty when it ran for a spec change.
	// +optional
	Retry string `json:"retry,omitempty"`

	// databaseRestore is the DatabaseRestore of the pre-deploy backup that the
	// revision's rollback asked for (rollback.restoreDatabase).
	// +optional
	DatabaseRestore *FollowUp `json:"databaseRestore,omitempty"`

	// incident is the Incident opened for the revision's failure (rollback.openIncident).
	// +optional
	Incident *FollowUp `json:"incident,omitempty"`

	// destructiveMigrations are the statements of the revision's planned migrations that
	// break the pods still serving the previous revision (at most 20; the
	// DestructiveMigration condition gives the total), recorded with the plan before
	// anything is migrated.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	DestructiveMigrations []MigrationFinding `json:"destructiveMigrations,omitempty"`
}

// WindowOrDefault is canary.window, or DefaultCanaryWindow when it is unset or
// unreadable (the controller's and kubectl runbook's one reading of it).
func (c *ReleaseCanary) WindowOrDefault() time.Duration {
	if c != nil && c.Window != nil && c.Window.Duration > 0 && c.Window.Err() == nil {
		return c.Window.Duration
	}
	return DefaultCanaryWindow
}

// Defaults and bounds of a Release that the controller and kubectl runbook both use,
// matching the markers above (a test compares them with the CRD).
const (
	// DefaultCanaryWindow is canary.window's default (an object stored before the
	// field existed has none).
	DefaultCanaryWindow = 30 * time.Second
	// MaxDestructiveMigrations is how many findings a history entry keeps
	// (destructiveMigrations' MaxItems).
	MaxDestructiveMigrations = 20
)

// FollowUp is an object a revision's failure asks for: named when decided (recorded
// before it is created), created exactly once.
type FollowUp struct {
	// name of the object, in the release's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// created is true once the object was created (or found): it is never created
	// again, even when deleted later.
	// +optional
	Created bool `json:"created,omitempty"`
}

// ReleaseProgress is where the current revision's pipeline is, written before each
// step acts so that a restarted manager resumes it instead of starting over.
type ReleaseProgress struct {
	// revision the progress belongs to.
	// +required
	Revision string `json:"revision"`

	// revert is true when the revision is one in history whose migrations already ran
	// (a GitOps revert): no backup and no migrations.
	// +optional
	Revert bool `json:"revert,omitempty"`

	// backup is the pre-deploy DatabaseBackup; backedUp is true once it Completed.
	// +optional
	Backup string `json:"backup,omitempty"`
	// +optional
	BackedUp bool `json:"backedUp,omitempty"`

	// planned is true once the migration plan is recorded in status.migrationPlan.
	// +optional
	Planned bool `json:"planned,omitempty"`

	// migrationJob is the name of the migration Job once created.
	// +optional
	MigrationJob string `json:"migrationJob,omitempty"`

	// preDeployDone is how many pre-deploy Jobs succeeded; preDeployJob the name of the
	// one created and not yet finished.
	// +optional
	PreDeployDone int32 `json:"preDeployDone,omitempty"`
	// +optional
	PreDeployJob string `json:"preDeployJob,omitempty"`

	// rolledOut is how many components (in the order listed) run the revision and are
	// available.
	// +optional
	RolledOut int32 `json:"rolledOut,omitempty"`

	// rolloutStartTime is when the rollout began; verify.progressDeadline counts from it.
	// +optional
	RolloutStartTime *metav1.Time `json:"rolloutStartTime,omitempty"`

	// verifyStartTime is when the verification window began; a restarted manager
	// resumes the window from it.
	// +optional
	VerifyStartTime *metav1.Time `json:"verifyStartTime,omitempty"`

	// lastCheckTime is when the health checks last ran; failedChecks how many
	// consecutive rounds failed.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
	// +optional
	FailedChecks int32 `json:"failedChecks,omitempty"`

	// queryErrors is how many consecutive rounds Prometheus could not be queried
	// (verify.prometheus.errorThreshold); such a round fails and passes nothing.
	// +optional
	QueryErrors int32 `json:"queryErrors,omitempty"`

	// canary is the canary step's progress (spec.canary): set when it starts, before
	// its Deployment is written.
	// +optional
	Canary *CanaryProgress `json:"canary,omitempty"`

	// inconclusiveChecks is how many consecutive rounds a query was inconclusive (no
	// data, NaN or Inf, several series); a window that ends with it above zero does not
	// deploy the revision (verify.prometheus.onInconclusive).
	// +optional
	InconclusiveChecks int32 `json:"inconclusiveChecks,omitempty"`
}

// CanaryProgress is where the canary of a new revision is.
type CanaryProgress struct {
	// component in the canary and deployment, the canary Deployment
	// (`<release>-<component>-canary`).
	// +required
	Component string `json:"component"`
	// +required
	Deployment string `json:"deployment"`

	// replicas is how many canary pods run; readyReplicas how many are ready, and
	// stableReplicas how many pods of the stable revision serve beside them.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	StableReplicas int32 `json:"stableReplicas,omitempty"`

	// startTime is when the canary started; verify.progressDeadline counts from it
	// until its pods are available.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// windowStartTime is when every canary pod was available and the canary window
	// began, recorded before any wait: a restarted manager resumes the window from it.
	// +optional
	WindowStartTime *metav1.Time `json:"windowStartTime,omitempty"`

	// passed is true once the canary stayed healthy for the window: its Deployment is
	// removed and the rollout starts.
	// +optional
	Passed bool `json:"passed,omitempty"`

	// message is what the latest round of checks of the canary found.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// QueryVerdict is what one evaluation of a verification query found.
// +kubebuilder:validation:Enum=Pass;Fail;Inconclusive;Error
type QueryVerdict string

const (
	QueryPass         QueryVerdict = "Pass"
	QueryFail         QueryVerdict = "Fail"
	QueryInconclusive QueryVerdict = "Inconclusive"
	QueryError        QueryVerdict = "Error"
)

// QueryMeasurement is one evaluation of a verify.prometheus query.
type QueryMeasurement struct {
	// revision verified.
	// +required
	Revision string `json:"revision"`

	// name of the query.
	// +required
	Name string `json:"name"`

	// query as evaluated, its placeholders replaced (cut to 2 KiB).
	// +required
	Query string `json:"query"`

	// value Prometheus returned, as text (e.g. `0.31`, `NaN`); empty when none.
	// +optional
	Value string `json:"value,omitempty"`

	// threshold the value was held to, e.g. `< 0.05`.
	// +required
	Threshold string `json:"threshold"`

	// verdict of the measurement.
	// +required
	Verdict QueryVerdict `json:"verdict"`

	// detail says why a measurement is inconclusive or an error (cut to 512 bytes).
	// +optional
	Detail string `json:"detail,omitempty"`

	// time the query was evaluated at.
	// +required
	Time metav1.Time `json:"time"`
}

// ComponentStatus is the observed state of one component.
type ComponentStatus struct {
	// name of the component.
	// +required
	Name string `json:"name"`

	// replicas, readyReplicas and updatedReplicas of the component's Deployment.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// revision the component's pod template belongs to.
	// +optional
	Revision string `json:"revision,omitempty"`
}

// ReleaseStatus is what the controller observed of the release.
type ReleaseStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is the pipeline step of the current revision.
	// +optional
	Phase ReleasePhase `json:"phase,omitempty"`

	// currentRevision is the revision the spec asks for.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// stableRevision is the last revision that deployed and verified; rollbacks go to it.
	// +optional
	StableRevision string `json:"stableRevision,omitempty"`

	// stableVersion is the version of the stable revision.
	// +optional
	StableVersion string `json:"stableVersion,omitempty"`

	// migrationPlan is the output of migrations.planCommand for the current revision,
	// truncated to 4 KiB.
	// +optional
	MigrationPlan string `json:"migrationPlan,omitempty"`

	// migrationSQLConfigMap names the ConfigMap (owned by the release) holding the SQL
	// of the current revision's planned migrations, as the plan Job printed it (key
	// `sql`, at most 64 KiB, truncated with a note).
	// +optional
	MigrationSQLConfigMap string `json:"migrationSQLConfigMap,omitempty"`

	// progress of the current revision's pipeline; empty once it ended.
	// +optional
	Progress *ReleaseProgress `json:"progress,omitempty"`

	// observedRetry is the value of the ops.runbook.dev/retry annotation when the latest
	// revision started: a failed revision runs again once the annotation differs from
	// it (or, for a revision that ran as a retry, from its history entry's retry).
	// +optional
	ObservedRetry *string `json:"observedRetry,omitempty"`

	// measurements of the verify.prometheus queries, newest first, at most 20 (kept
	// after the revision ends, so that a rollback's measurements stay visible).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Measurements []QueryMeasurement `json:"measurements,omitempty"`

	// history of revisions, newest first, at most revisionHistoryLimit entries.
	// +optional
	// +listType=atomic
	History []RevisionRecord `json:"history,omitempty"`

	// components are the observed replica counts per component.
	// +optional
	// +listType=map
	// +listMapKey=name
	Components []ComponentStatus `json:"components,omitempty"`

	// conditions: Ready, Reconciling, Stalled, BackupSucceeded, MigrationsApplied,
	// DestructiveMigration, PreDeployCompleted, CanaryVerified, RolledOut, Verified,
	// RolledBack.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:validation:XValidation:rule="self.spec.components.all(c, size(self.metadata.name) + size(c.name) <= 62)",message="each component's Deployment and Service are named <release>-<component>, at most 63 characters: shorten metadata.name or the component name"
// +kubebuilder:validation:XValidation:rule="!self.spec.components.exists(c, has(c.service)) || self.metadata.name.matches('^[a-z]')",message="a component with a Service needs a Release name that starts with a letter (Service names are DNS-1035 labels)"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rel,categories=runbook
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Stable",type=string,JSONPath=`.status.stableVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Release deploys one version of the application: pre-deploy backup, migrations,
// pre-deploy Jobs, rolling update of every component and a health verification window,
// with automatic rollback to the last good revision.
//
//	apiVersion: ops.runbook.dev/v1alpha1
//	kind: Release
//	metadata: {name: saas}
//	spec:
//	  version: v2.4.0
//	  image: registry.example.com/saas/backend:v2.4.0
//	  components:
//	  - {name: backend, replicas: 3, ports: [{name: http, containerPort: 8000}], service: {port: 80}}
//	  - {name: celery, replicas: 5, command: [celery, -A, saas, worker]}
type Release struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the desired release.
	// +required
	Spec ReleaseSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status ReleaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReleaseList contains a list of Release.
type ReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Release `json:"items"`
}

func init() {
	register(&Release{}, &ReleaseList{})
}
