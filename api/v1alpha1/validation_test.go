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

package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// These tests install the generated CRDs into a real kube-apiserver (envtest) and
// check that the schema and CEL rules accept the samples, refuse bad input with a
// message naming the offending field, and apply the documented defaults.

var k8s client.Client

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test` (it builds kube-apiserver and etcd from source)")
		os.Exit(1)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = opsv1alpha1.AddToScheme(scheme)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "client:", err)
	}
	_ = env.Stop()
	os.Exit(code)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// obj parses YAML into an unstructured object of the given kind.
func obj(t *testing.T, kind, name, specYAML string) *unstructured.Unstructured {
	t.Helper()
	spec := map[string]any{}
	if err := yaml.Unmarshal([]byte(specYAML), &spec); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(opsv1alpha1.GroupVersion.String())
	u.SetKind(kind)
	u.SetName(name)
	return u
}

const (
	backupSpec = `
database: {secretRef: {name: saas-db}}
destination: {s3: {bucket: saas-backups}}
`
	restoreSpec = `
source: {backupRef: {name: nightly}}
database: {secretRef: {name: saas-db}}
`
	releaseSpec = `
version: v1
image: example.com/saas:v1
components: [{name: backend}]
`
	rotationSpec = `
secretName: saas-app
keys: [{key: SECRET_KEY, generator: DjangoSecretKey}]
`
	incidentSpec = `
severity: P1
title: Payments failing
`
)

func scheduleSpec(extra string) string {
	return `
schedule: "0 3 * * *"
template:
  spec:
    database: {secretRef: {name: saas-db}}
    destination: {s3: {bucket: saas-backups}}
` + extra
}

type invalidCase struct {
	kind, what, spec, want string
}

func invalidCases() []invalidCase {
	many := func(n int, item string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(item, i)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return []invalidCase{
		// DatabaseBackup
		{"DatabaseBackup", "database missing", `destination: {s3: {bucket: saas-backups}}`, "spec.database: Required"},
		{"DatabaseBackup", "destination missing", `database: {secretRef: {name: saas-db}}`, "spec.destination: Required"},
		{"DatabaseBackup", "Secret name not a Kubernetes name", `{database: {secretRef: {name: Saas_DB}}, destination: {s3: {bucket: saas-backups}}}`, "spec.database.secretRef.name"},
		{"DatabaseBackup", "bucket with uppercase and underscore", `{database: {secretRef: {name: db}}, destination: {s3: {bucket: My_Bucket}}}`, "spec.destination.s3.bucket"},
		{"DatabaseBackup", "bucket too short", `{database: {secretRef: {name: db}}, destination: {s3: {bucket: ab}}}`, "spec.destination.s3.bucket"},
		{"DatabaseBackup", "prefix with leading slash", `{database: {secretRef: {name: db}}, destination: {s3: {bucket: saas-backups, prefix: /prod}}}`, "prefix must not start with '/'"},
		{"DatabaseBackup", "endpoint not a URL", `{database: {secretRef: {name: db}}, destination: {s3: {bucket: saas-backups, endpoint: "minio:9000"}}}`, "spec.destination.s3.endpoint"},
		{"DatabaseBackup", "region with spaces", `{database: {secretRef: {name: db}}, destination: {s3: {bucket: saas-backups, region: EU Central}}}`, "spec.destination.s3.region"},
		{"DatabaseBackup", "compression not in enum", backupSpec + "compression: lz4", "spec.compression: Unsupported value"},
		{"DatabaseBackup", "format not in enum", backupSpec + "format: Plain", "spec.format: Unsupported value"},
		{"DatabaseBackup", "timeout not a duration", backupSpec + "timeout: 1 hour", "spec.timeout"},
		{"DatabaseBackup", "deletionPolicy not in enum", backupSpec + "deletionPolicy: Keep", "spec.deletionPolicy: Unsupported value"},
		// BackupSchedule
		{"BackupSchedule", "schedule is prose", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, "every night", 1), "spec.schedule"},
		{"BackupSchedule", "schedule with four fields", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 3 * *"`, 1), "spec.schedule"},
		{"BackupSchedule", "timeZone with a space", scheduleSpec("timeZone: Europe Berlin"), "spec.timeZone"},
		{"BackupSchedule", "negative keepDaily", scheduleSpec("retention: {keepDaily: -1}"), "spec.retention.keepDaily"},
		{"BackupSchedule", "keepLast above 1000", scheduleSpec("retention: {keepLast: 5000}"), "spec.retention.keepLast"},
		{"BackupSchedule", "missedRunPolicy not in enum", scheduleSpec("missedRunPolicy: All"), "spec.missedRunPolicy: Unsupported value"},
		{"BackupSchedule", "template without spec", `{schedule: "@daily", template: {}}`, "spec.template.spec: Required"},
		{"BackupSchedule", "template with bad compression", `{schedule: "@daily", template: {spec: {database: {secretRef: {name: db}}, destination: {s3: {bucket: saas-backups}}, compression: brotli}}}`, "spec.template.spec.compression"},
		// DatabaseRestore
		{"DatabaseRestore", "source names both a backup and an S3 object", `{source: {backupRef: {name: b}, s3: {bucket: saas-backups, key: a.dump}}, database: {secretRef: {name: db}}}`, "exactly one of backupRef or s3"},
		{"DatabaseRestore", "source names nothing", `{source: {}, database: {secretRef: {name: db}}}`, "exactly one of backupRef or s3"},
		{"DatabaseRestore", "InPlace without confirmation", restoreSpec + "mode: InPlace", "set confirmInPlace: true"},
		{"DatabaseRestore", "InPlace with confirmInPlace false", restoreSpec + "mode: InPlace\nconfirmInPlace: false", "set confirmInPlace: true"},
		{"DatabaseRestore", "mode not in enum", restoreSpec + "mode: Replace", "spec.mode: Unsupported value"},
		{"DatabaseRestore", "sha256 not hex", `{source: {s3: {bucket: saas-backups, key: a.dump, sha256: xyz}}, database: {secretRef: {name: db}}}`, "spec.source.s3.sha256"},
		{"DatabaseRestore", "S3 source without key", `{source: {s3: {bucket: saas-backups}}, database: {secretRef: {name: db}}}`, "spec.source.s3.key: Required"},
		{"DatabaseRestore", "more than 50 deployments to quiesce", restoreSpec + "quiesce: {deployments: " + many(51, `d%d`) + "}", "spec.quiesce.deployments: Too many"},
		{"DatabaseRestore", "timeout not a duration", restoreSpec + "timeout: 2 hours", "spec.timeout"},
		// Release
		{"Release", "no components", `{version: v1, image: x, components: []}`, "spec.components"},
		{"Release", "image with a space", `{version: v1, image: "registry.example.com/x/static app:1.0", components: [{name: web}]}`, `spec.image: Invalid value: "registry.example.com/x/static app:1.0": image must be an image reference`},
		{"Release", "image with a leading space", `{version: v1, image: " saas:1.1.0", components: [{name: web}]}`, "spec.image: Invalid value"},
		{"Release", "image repository in capitals", `{version: v1, image: "registry.example.com/SaaS/backend:v1", components: [{name: web}]}`, "spec.image: Invalid value"},
		{"Release", "image with an empty tag", `{version: v1, image: "saas:", components: [{name: web}]}`, "spec.image: Invalid value"},
		{"Release", "component image with a space", `{version: v1, image: saas:1.0.0, components: [{name: web, image: "static app:1.0"}]}`, `spec.components[0].image: Invalid value: "static app:1.0": image must be an image reference`},
		{"Release", "version missing", `{image: x, components: [{name: backend}]}`, "spec.version: Required"},
		{"Release", "component name with capitals", `{version: v1, image: x, components: [{name: Backend}]}`, "spec.components[0].name"},
		{"Release", "duplicate component names", `{version: v1, image: x, components: [{name: web}, {name: web}]}`, "spec.components[1]: Duplicate value"},
		{"Release", "negative replicas", `{version: v1, image: x, components: [{name: web, replicas: -1}]}`, "spec.components[0].replicas"},
		{"Release", "autoscaling min above max", `{version: v1, image: x, components: [{name: web, autoscaling: {minReplicas: 5, maxReplicas: 2}}]}`, "minReplicas must not exceed maxReplicas"},
		{"Release", "port above 65535", `{version: v1, image: x, components: [{name: web, ports: [{name: http, containerPort: 70000}]}]}`, "spec.components[0].ports[0].containerPort"},
		{"Release", "migrations without database", releaseSpec + "migrations: {command: [python, manage.py, migrate]}", "migrations need spec.database"},
		{"Release", "database without backup settings", releaseSpec + "database: {secretRef: {name: db}}", "spec.backup is required when spec.database is set"},
		{"Release", "backup enabled without destination", releaseSpec + "database: {secretRef: {name: db}}\nbackup: {enabled: true}", "backup.destination is required"},
		{"Release", "verify with neither path nor url", releaseSpec + "verify: {interval: 10s}", "verify needs a path"},
		{"Release", "verify url not http", releaseSpec + "verify: {url: 'ftp://example.com/health'}", "spec.verify.url"},
		{"Release", "revisionHistoryLimit zero", releaseSpec + "revisionHistoryLimit: 0", "spec.revisionHistoryLimit"},
		{"Release", "restoreDatabase without a pre-deploy backup", releaseSpec + "database: {secretRef: {name: db}}\nbackup: {enabled: false}\nrollback: {restoreDatabase: true}", "rollback.restoreDatabase restores the pre-deploy backup"},
		{"Release", "restoreDatabase without a database", releaseSpec + "rollback: {restoreDatabase: true}", "rollback.restoreDatabase restores the pre-deploy backup"},
		{"Release", "openIncident severity P5", releaseSpec + "rollback: {openIncident: P5}", "spec.rollback.openIncident: Unsupported value"},
		{"Release", "incidentNotify without openIncident", releaseSpec + "rollback: {incidentNotify: [{name: oncall, type: PagerDuty, secretRef: {name: pd, key: routing-key}}]}", "rollback.incidentNotify needs rollback.openIncident"},
		{"Release", "incidentNotify url on a Slack notifier", releaseSpec + "rollback: {openIncident: P2, incidentNotify: [{name: chat, type: Slack, url: 'https://example.com/x', secretRef: {name: slack, key: url}}]}", "incidentNotify[].url is PagerDuty's endpoint only"},
		{"Release", "incidentNotify without a Secret", releaseSpec + "rollback: {openIncident: P2, incidentNotify: [{name: oncall, type: PagerDuty}]}", "spec.rollback.incidentNotify[0].secretRef: Required value"},
		{"Release", "port name used twice", `{version: v1, image: x, components: [{name: web, ports: [{name: http, containerPort: 8000}, {name: http, containerPort: 8001}]}]}`, "spec.components[0].ports[1]: Duplicate value"},
		{"Release", "containerPort listed twice", `{version: v1, image: x, components: [{name: web, ports: [{name: http, containerPort: 8000}, {name: metrics, containerPort: 8000}]}]}`, "a containerPort is listed twice"},
		{"Release", "Recreate with an HPA", `{version: v1, image: x, components: [{name: beat, strategy: Recreate, autoscaling: {maxReplicas: 3}}]}`, "strategy Recreate cannot be combined with autoscaling"},
		{"Release", "verify.path without a component with ports", releaseSpec + "verify: {path: /health}", "verify.path is checked on the pods' first port"},
		{"Release", "unknown strategy", `{version: v1, image: x, components: [{name: web, strategy: BlueGreen}]}`, "spec.components[0].strategy: Unsupported value"},
		{"Release", "pre-deploy step without command", releaseSpec + "preDeploy: [{name: collectstatic, command: []}]", "spec.preDeploy[0].command"},
		// SecretRotation
		{"SecretRotation", "key with both generator and copyFrom", `{secretName: app, keys: [{key: K, generator: Fernet, copyFrom: {name: s, key: k}}]}`, "exactly one of generator or copyFrom"},
		{"SecretRotation", "key with neither generator nor copyFrom", `{secretName: app, keys: [{key: K}]}`, "exactly one of generator or copyFrom"},
		{"SecretRotation", "generator not in enum", `{secretName: app, keys: [{key: K, generator: UUID}]}`, "spec.keys[0].generator: Unsupported value"},
		{"SecretRotation", "random value too short", `{secretName: app, keys: [{key: K, generator: Random, length: 8}]}`, "spec.keys[0].length"},
		{"SecretRotation", "length on a Django key", `{secretName: app, keys: [{key: K, generator: DjangoSecretKey, length: 64}]}`, "length applies to generator Random only"},
		{"SecretRotation", "previousKey equal to key", `{secretName: app, keys: [{key: K, generator: Fernet, previousKey: K}]}`, "previousKey must differ from key"},
		{"SecretRotation", "keepPrevious above 10", `{secretName: app, keys: [{key: K, generator: Fernet, keepPrevious: 11}]}`, "spec.keys[0].keepPrevious"},
		{"SecretRotation", "secretName not a Kubernetes name", `{secretName: Saas_App, keys: [{key: K, generator: Fernet}]}`, "spec.secretName"},
		{"SecretRotation", "restart target of an unsupported kind", rotationSpec + "restartTargets: [{kind: CronJob, name: x}]", "spec.restartTargets[0].kind: Unsupported value"},
		{"SecretRotation", "no keys", `{secretName: app, keys: []}`, "spec.keys"},
		{"SecretRotation", "interval in days", rotationSpec + "interval: 90d", "spec.interval"},
		{"SecretRotation", "Random characters with the list separator", `{secretName: app, keys: [{key: K, generator: Random, characters: "abc,def"}]}`, "characters must not contain a comma"},
		{"SecretRotation", "characters on a Fernet key", `{secretName: app, keys: [{key: K, generator: Fernet, characters: abcdef}]}`, "characters applies to generator Random only"},
		{"SecretRotation", "bytes with an alphanumeric alphabet", `{secretName: app, keys: [{key: K, generator: Random, bytes: 32}]}`, "bytes applies to generator Random with alphabet Hex or Base64URL"},
		{"SecretRotation", "bytes and length together", `{secretName: app, keys: [{key: K, generator: Random, alphabet: Hex, bytes: 32, length: 64}]}`, "without length"},
		{"SecretRotation", "previousFormat without previousKey", `{secretName: app, keys: [{key: K, generator: Fernet, previousFormat: JSON}]}`, "previousFormat applies to previousKey only"},
		{"SecretRotation", "previousKey that is another rotated key", `{secretName: app, keys: [{key: A, generator: Fernet, previousKey: B}, {key: B, generator: Fernet}]}`, "a previousKey must not be another rotated key"},
		{"SecretRotation", "two keys sharing a previousKey", `{secretName: app, keys: [{key: A, generator: Fernet, previousKey: P}, {key: B, generator: Fernet, previousKey: P}]}`, "each previousKey belongs to one key only"},
		{"SecretRotation", "mode not in enum", rotationSpec + "mode: Later", "spec.mode: Unsupported value"},
		// The enum's message lists exactly the kinds a SecretRotation restarts.
		{"SecretRotation", "StatefulSet restart target", rotationSpec + "restartTargets: [{kind: StatefulSet, name: db}]", `spec.restartTargets[0].kind: Unsupported value: "StatefulSet": supported values: "Deployment", "Release"`},
		{"SecretRotation", "interval in words", rotationSpec + "interval: weekly", "interval is a duration in hours, minutes or seconds (Go syntax), e.g. 168h for a week"},
		{"SecretRotation", "Immediate rotation of a Fernet key without reencrypt", `{secretName: app, mode: Immediate, keys: [{key: F, generator: Fernet}]}`, "mode Immediate drops the old Fernet values, and data encrypted with them could no longer be read: set reencrypt.command"},
		{"SecretRotation", "reencrypt without a Deployment to copy", `{secretName: app, mode: Immediate, keys: [{key: F, generator: Fernet}], reencrypt: {command: [python, manage.py, reencrypt]}}`, "reencrypt needs a Deployment whose image and environment its Job uses"},
		{"SecretRotation", "reencrypt without a command", `{secretName: app, keys: [{key: F, generator: Fernet}], reencrypt: {command: [], deployment: web}}`, "spec.reencrypt.command"},
		{"SecretRotation", "reencrypt timeout in words", `{secretName: app, keys: [{key: F, generator: Fernet}], reencrypt: {command: [x], deployment: web, timeout: soon}}`, "reencrypt.timeout is a duration in hours, minutes or seconds"},
		{"SecretRotation", "reencrypt timeout of two days", `{secretName: app, keys: [{key: F, generator: Fernet}], reencrypt: {command: [x], deployment: web, timeout: 48h}}`, "reencrypt.timeout must be between 1m and 24h"},
		// Incident
		{"Incident", "severity P4", `{severity: P4, title: t}`, "spec.severity: Unsupported value"},
		{"Incident", "title missing", `{severity: P1}`, "spec.title: Required"},
		{"Incident", "title over 200 characters", `{severity: P1, title: ` + strings.Repeat("x", 201) + `}`, "spec.title: Too long"},
		{"Incident", "rollback without a release", incidentSpec + "response: {rollback: true}", "need spec.releaseRef"},
		{"Incident", "notifier type not in enum", incidentSpec + "notify: [{name: n, type: Email, secretRef: {name: s, key: k}}]", "spec.notify[0].type: Unsupported value"},
		{"Incident", "more than 10 notifiers", incidentSpec + "notify: " + many(11, `{name: n%d, type: Webhook, secretRef: {name: s, key: k}}`), "spec.notify: Too many"},
		{"Incident", "diagnostic without command", incidentSpec + "releaseRef: {name: saas}\nresponse: {diagnostics: [{name: check, command: []}]}", "spec.response.diagnostics[0].command"},
		// Issue 22: the response clock, notifiers and actions.
		{"Incident", "severity in lowercase", `{severity: p1, title: t}`, "spec.severity: Unsupported value"},
		{"Incident", "notifier without a Secret reference", incidentSpec + "notify: [{name: oncall, type: PagerDuty}]", "spec.notify[0].secretRef: Required"},
		{"Incident", "notifier Secret reference without a key", incidentSpec + "notify: [{name: oncall, type: Slack, secretRef: {name: s}}]", "spec.notify[0].secretRef.key: Required"},
		{"Incident", "notifier without a name", incidentSpec + "notify: [{type: Slack, secretRef: {name: s, key: k}}]", "spec.notify[0].name: Required"},
		{"Incident", "two notifiers of one name", incidentSpec + "notify: [{name: a, type: Slack, secretRef: {name: s, key: k}}, {name: a, type: Webhook, secretRef: {name: s, key: k}}]", "spec.notify[1]: Duplicate value"},
		{"Incident", "url on a Slack notifier", incidentSpec + "notify: [{name: a, type: Slack, secretRef: {name: s, key: k}, url: 'https://example.com/x'}]", "notify[].url is PagerDuty's endpoint only"},
		{"Incident", "PagerDuty url not http(s)", incidentSpec + "notify: [{name: a, type: PagerDuty, secretRef: {name: s, key: k}, url: 'ftp://example.com/x'}]", "spec.notify[0].url"},
		{"Incident", "holiday that is not a date", incidentSpec + "responseClock: {holidays: [2026-12-25, Christmas]}", "spec.responseClock.holidays[1]"},
		{"Incident", "holiday on February 30", incidentSpec + "responseClock: {holidays: ['2027-02-30']}", "spec.responseClock.holidays[0]"},
		{"Incident", "holiday with a time", incidentSpec + "responseClock: {holidays: ['2026-12-25T00:00:00Z']}", "spec.responseClock.holidays[0]"},
		{"Incident", "timeZone with a space", incidentSpec + "responseClock: {timeZone: Europe Berlin}", "spec.responseClock.timeZone"},
		{"Incident", "timeZone in lowercase", incidentSpec + "responseClock: {timeZone: europe/berlin}", "spec.responseClock.timeZone"},
		{"Incident", "timeZone Local", incidentSpec + "responseClock: {timeZone: Local}", "timeZone Local is the manager's own zone"},
		{"Incident", "timeZone not in the zone database", incidentSpec + "responseClock: {timeZone: Europe/Atlantis}", "timeZone is not in the API server's IANA time zone database"},
		{"Incident", "more than 10 diagnostics", incidentSpec + "releaseRef: {name: saas}\nresponse: {diagnostics: " + many(11, `{name: d%d, command: [x]}`) + "}", "spec.response.diagnostics: Too many"},
		{"Incident", "diagnostics without a release", incidentSpec + "response: {diagnostics: [{name: check, command: [x]}]}", "need spec.releaseRef"},
		{"Incident", "isolate without a release", incidentSpec + "response: {isolate: {}}", "need spec.releaseRef"},
		{"Incident", "takeOffline without a release", incidentSpec + "response: {takeOffline: {restoreOnResolve: true}}", "need spec.releaseRef"},
		{"Incident", "diagnostic timeout above an hour", incidentSpec + "releaseRef: {name: saas}\nresponse: {diagnostics: [{name: check, command: [x], timeout: 2h}]}", "timeout must be between 10s and 1h"},
		{"Incident", "escalationInterval of 10 seconds", incidentSpec + "responseClock: {escalationInterval: 10s}", "escalationInterval must be between 1m and 24h"},
		{"Incident", "escalationInterval Go cannot hold", incidentSpec + "responseClock: {escalationInterval: 3000000h}", "spec.responseClock.escalationInterval"},
		{"Incident", "acknowledgementTimeout of a month", incidentSpec + "responseClock: {acknowledgementTimeout: 720h}", "acknowledgementTimeout must be between 1m and 168h"},
		{"Incident", "isolation source selecting nothing", incidentSpec + "releaseRef: {name: saas}\nresponse: {isolate: {allowFrom: [{name: admin}]}}", "an isolation source needs podLabels, namespaceLabels or both"},
		{"Incident", "isolation source label key with a space", incidentSpec + "releaseRef: {name: saas}\nresponse: {isolate: {allowFrom: [{name: admin, podLabels: {'my role': admin}}]}}", "podLabels keys must be Kubernetes label keys"},
		{"Incident", "isolation source label value too long", incidentSpec + "releaseRef: {name: saas}\nresponse: {isolate: {allowFrom: [{name: admin, podLabels: {role: " + strings.Repeat("a", 64) + "}}]}}", "spec.response.isolate.allowFrom[0].podLabels.role"},
		{"Incident", "more than 20 rotateSecrets", incidentSpec + "response: {rotateSecrets: " + many(21, `r%d`) + "}", "spec.response.rotateSecrets: Too many"},
		// Issue 10: durations Go cannot hold, or far outside what the field is for. Before
		// these bounds "3000000h" was stored and stopped the manager's informer.
		{"DatabaseBackup", "timeout Go cannot hold", backupSpec + "timeout: 3000000h", "spec.timeout"},
		{"DatabaseBackup", "timeout of a year", backupSpec + "timeout: 8760h", "timeout must be between 1m and 168h"},
		{"DatabaseBackup", "timeout of zero", backupSpec + "timeout: 0s", "timeout must be between 1m and 168h"},
		{"BackupSchedule", "template timeout above a week", scheduleSpec("") + "    timeout: 200h\n", "spec.template.spec.timeout"},
		{"DatabaseRestore", "timeout Go cannot hold", restoreSpec + "timeout: 3000000h", "spec.timeout"},
		{"DatabaseRestore", "timeout of 30 seconds", restoreSpec + "timeout: 30s", "timeout must be between 1m and 168h"},
		{"Release", "migrations timeout above a day", releaseSpec + "database: {secretRef: {name: db}}\nbackup: {enabled: false}\nmigrations: {command: [migrate], timeout: 48h}", "spec.migrations.timeout"},
		{"Release", "destructiveMigrations not a policy", releaseSpec + "database: {secretRef: {name: db}}\nbackup: {enabled: false}\nmigrations: {command: [migrate], planCommand: [plan], destructiveMigrations: Deny}", "spec.migrations.destructiveMigrations: Unsupported value"},
		{"Release", "destructiveMigrations Block without a plan", releaseSpec + "database: {secretRef: {name: db}}\nbackup: {enabled: false}\nmigrations: {command: [migrate], destructiveMigrations: Block}", "Block checks the planned migrations' SQL: it needs migrations.planCommand"},
		{"Release", "preDeploy timeout of zero", releaseSpec + "preDeploy: [{name: collectstatic, command: [x], timeout: 0s}]", "spec.preDeploy[0].timeout"},
		{"Release", "verify interval of two hours", releaseSpec + "verify: {path: /health, interval: 2h}", "interval must be between 1s and 1h"},
		{"Release", "verify window above a day", releaseSpec + "verify: {path: /health, window: 48h}", "window must be between 0s and 24h"},
		{"Release", "progressDeadline Go cannot hold", releaseSpec + "verify: {path: /health, progressDeadline: 3000000h}", "spec.verify.progressDeadline"},
		// verify.prometheus: a query without a threshold, duplicate names, bounds.
		{"Release", "prometheus query with no condition", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)'}]}}", "spec.verify.prometheus.queries[0].condition: Required value"},
		{"Release", "prometheus condition with no value", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan}}]}}", "spec.verify.prometheus.queries[0].condition.value: Required value"},
		{"Release", "prometheus condition op unknown", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: Below, value: '1'}}]}}", "Unsupported value: \"Below\""},
		{"Release", "prometheus condition value not a number", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: 'five percent'}}]}}", "condition.value must be a decimal number"},
		{"Release", "prometheus query names twice", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}, {name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}]}}", "Duplicate value"},
		{"Release", "prometheus with no queries", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: []}}", "spec.verify.prometheus.queries"},
		{"Release", "prometheus with eleven queries", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: q0, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q1, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q2, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q3, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q4, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q5, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q6, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q7, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q8, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q9, query: 'sum(x)', condition: {op: LessThan, value: '1'}}, {name: q10, query: 'sum(x)', condition: {op: LessThan, value: '1'}}]}}", "must have at most 10 items"},
		{"Release", "prometheus query name not a DNS label", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: Errors_5xx, query: 'sum(x)', condition: {op: LessThan, value: '1'}}]}}", "spec.verify.prometheus.queries[0].name"},
		{"Release", "prometheus unknown placeholder", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'x{revision=\"{{rev}}\"}', condition: {op: LessThan, value: '1'}}]}}", "the placeholders are {{revision}}"},
		{"Release", "prometheus query above 2 KiB", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', condition: {op: LessThan, value: '1'}}]}}", "spec.verify.prometheus.queries[0].query: Too long"},
		{"Release", "prometheus address not http", releaseSpec + "verify: {prometheus: {address: 'prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}]}}", "spec.verify.prometheus.address"},
		{"Release", "prometheus errorThreshold of zero", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}], errorThreshold: 0}}", "spec.verify.prometheus.errorThreshold"},
		{"Release", "prometheus onInconclusive unknown", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}], onInconclusive: Ignore}}", "Unsupported value: \"Ignore\""},
		{"Release", "prometheus ca with both sources", releaseSpec + "verify: {prometheus: {address: 'https://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}], ca: {configMapKeyRef: {name: ca, key: ca.crt}, secretKeyRef: {name: ca, key: ca.crt}}}}", "ca takes exactly one of"},
		{"Release", "prometheus ca for an http address", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}], ca: {configMapKeyRef: {name: ca, key: ca.crt}}}}", "prometheus.ca is for an https:// address"},
		{"Release", "canary of a component not in the spec", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: api}", "canary.component must name a component of spec.components"},
		{"Release", "canary of a worker (no ports)", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: worker}", "canary.component must be a component with ports (the web one)"},
		{"Release", "canary of a Recreate beat", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: beat}", "canary.component has strategy Recreate"},
		{"Release", "canary without verify", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\ncanary: {component: web}", "canary checks its own pods with verify's checks"},
		{"Release", "canary with only verify.url", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {url: 'https://saas.example.com/health'}\ncanary: {component: web}", "verify.url alone reaches the stable pods too"},
		{"Release", "canary of zero replicas", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: web, replicas: 0}", "spec.canary.replicas"},
		{"Release", "canary of eleven replicas", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: web, replicas: 11}", "spec.canary.replicas"},
		{"Release", "canary window of two hours", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: web, window: 2h}", "canary.window must be between 1s and 1h"},
		{"Release", "canary window not a duration", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: web, ports: [{name: http, containerPort: 8000}]}, {name: worker}, {name: beat, strategy: Recreate, ports: [{name: metrics, containerPort: 9000}]}]\nverify: {path: /health}\ncanary: {component: web, window: soon}", "spec.canary.window"},
		{"Release", "prometheus timeout of two minutes", releaseSpec + "verify: {prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}], timeout: 2m}}", "timeout must be between 1s and 1m"},
		{"SecretRotation", "interval of 30 minutes", rotationSpec + "interval: 30m", "interval must be between 1h and 17520h"},
		{"SecretRotation", "interval Go cannot hold", rotationSpec + "interval: 3000000h", "spec.interval"},
		// Cron field ranges and time zone shape.
		{"BackupSchedule", "cron hour 25", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 25 * * *"`, 1), "the hour field of spec.schedule"},
		{"BackupSchedule", "cron minute 60", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"60 3 * * *"`, 1), "the minute field of spec.schedule"},
		{"BackupSchedule", "cron day-of-month 32", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 3 32 * *"`, 1), "the day-of-month field of spec.schedule"},
		{"BackupSchedule", "cron month 13", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 3 * 13 *"`, 1), "the month field of spec.schedule"},
		{"BackupSchedule", "cron day-of-week 7", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 3 * * 7"`, 1), "the day-of-week field of spec.schedule"},
		{"BackupSchedule", "cron step of zero", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"*/0 3 * * *"`, 1), "the minute field of spec.schedule"},
		{"BackupSchedule", "cron hour range beyond 23", strings.Replace(scheduleSpec(""), `"0 3 * * *"`, `"0 22-24 * * *"`, 1), "the hour field of spec.schedule"},
		{"BackupSchedule", "timeZone Local", scheduleSpec("timeZone: Local"), "timeZone Local is the manager's own zone"},
		{"BackupSchedule", "timeZone in lowercase", scheduleSpec("timeZone: europe/berlin"), "spec.timeZone"},
		{"BackupSchedule", "timeZone with four parts", scheduleSpec("timeZone: A/B/C/D"), "spec.timeZone"},
		// Issue 20: a well-shaped name that is no zone, which the controller then marked Invalid.
		{"BackupSchedule", "timeZone not in the zone database", scheduleSpec("timeZone: Europe/Atlantis"), "spec.timeZone: Invalid value"},
		{"BackupSchedule", "timeZone not in the zone database says what to write", scheduleSpec("timeZone: Mars/Olympus_Mons"), "timeZone is not in the API server's IANA time zone database"},
		{"BackupSchedule", "timeZone of a city without its area", scheduleSpec("timeZone: Berlin"), "timeZone is not in the API server's IANA time zone database"},
		// Names and values that become object names or labels.
		{"DatabaseRestore", "quiesce deployment not a Kubernetes name", restoreSpec + "quiesce: {deployments: [Web_App]}", "spec.quiesce.deployments[0]"},
		{"DatabaseRestore", "S3 prefix and key above 1024 bytes", `{source: {s3: {bucket: saas-backups, prefix: ` + strings.Repeat("p", 500) + `, key: ` + strings.Repeat("k", 600) + `}}, database: {secretRef: {name: db}}}`, "S3 limits to 1024 bytes"},
		{"Incident", "rotateSecrets entry not a Kubernetes name", incidentSpec + "response: {rotateSecrets: [App_Keys]}", "spec.response.rotateSecrets[0]"},
		{"BackupSchedule", "template label value of 64 characters", scheduleSpec("") + "  metadata: {labels: {team: " + strings.Repeat("a", 64) + "}}\n", "spec.template.metadata.labels.team"},
		{"BackupSchedule", "template label key with a space", scheduleSpec("") + "  metadata: {labels: {'my team': a}}\n", "labels keys must be Kubernetes label keys"},
		{"BackupSchedule", "template annotation key with two slashes", scheduleSpec("") + "  metadata: {annotations: {'a/b/c': x}}\n", "annotations keys must be Kubernetes annotation keys"},
		// Issue 10: port names a Pod refuses (IANA service names) and env a Pod refuses,
		// which the Release accepted before and its Deployment then could not be created.
		{"Release", "port name of digits only", port("80"), "spec.components[0].ports[0].name"},
		{"Release", "port name with a double dash", port("http--alt"), "spec.components[0].ports[0].name"},
		{"Release", "port name ending in a dash", port("http-"), "spec.components[0].ports[0].name"},
		{"Release", "port name of 16 characters", port("http-metrics-abc"), "spec.components[0].ports[0].name: Too long"},
		{"Release", "env name with '='", releaseSpec + "env: [{name: 'A=B', value: x}]", "spec.env[0].name"},
		{"Release", "env name empty", releaseSpec + "env: [{name: '', value: x}]", "spec.env[0].name"},
		{"Release", "env name with a tab", releaseSpec + "env: [{name: \"A\\tB\", value: x}]", "spec.env[0].name"},
		{"Release", "component env name not ASCII", `{version: v1, image: x, components: [{name: web, env: [{name: "STRAßE", value: x}]}]}`, "spec.components[0].env[0].name"},
		{"Release", "env with value and valueFrom", releaseSpec + "env: [{name: A, value: x, valueFrom: {secretKeyRef: {name: s, key: k}}}]", "value and valueFrom are exclusive"},
		{"Release", "env valueFrom with two sources", releaseSpec + "env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}, configMapKeyRef: {name: c, key: k}}}]", "valueFrom takes exactly one of"},
		{"Release", "env valueFrom with no source", releaseSpec + "env: [{name: A, valueFrom: {}}]", "valueFrom takes exactly one of"},
	}
}

// port is a Release whose component has one port named name.
func port(name string) string {
	return `{version: v1, image: x, components: [{name: web, ports: [{name: "` + name + `", containerPort: 8000}]}]}`
}

func TestCRDValidationRefusesInvalidObjects(t *testing.T) {
	ns := newNamespace(t)
	cases := invalidCases()
	kinds := map[string]int{}
	for i, tc := range cases {
		t.Run(tc.kind+"/"+tc.what, func(t *testing.T) {
			u := obj(t, tc.kind, fmt.Sprintf("invalid-%d", i), tc.spec)
			u.SetNamespace(ns)
			err := k8s.Create(context.Background(), u)
			if err == nil {
				t.Fatalf("the API server accepted an invalid %s (%s)", tc.kind, tc.what)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused, but the message does not name the problem %q:\n%v", tc.want, err)
			}
			kinds[tc.kind]++
			t.Logf("crd-validation | %-15s | %-45s | refused: %s", tc.kind, tc.what, tc.want)
		})
	}
	// Cases where the object's own name matters: it becomes part of child names.
	for _, tc := range []struct{ kind, what, name, spec, want string }{
		{"Release", "release and component name above 63 characters", strings.Repeat("r", 40),
			`{version: v1, image: x, components: [{name: ` + strings.Repeat("c", 23) + `}]}`, "at most 63 characters"},
		{"Release", "Service of a release whose name starts with a digit", "1saas",
			`{version: v1, image: x, components: [{name: web, ports: [{name: http, containerPort: 8000}], service: {port: 80}}]}`, "starts with a letter"},
	} {
		t.Run(tc.kind+"/"+tc.what, func(t *testing.T) {
			u := obj(t, tc.kind, tc.name, tc.spec)
			u.SetNamespace(ns)
			err := k8s.Create(context.Background(), u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s (%s): want refused naming %q, got %v", tc.kind, tc.what, tc.want, err)
			}
			t.Logf("crd-validation | %-15s | %-45s | refused: %s", tc.kind, tc.what, tc.want)
		})
	}
	t.Logf("crd-validation | %d invalid objects refused across %d kinds", len(cases), len(kinds))
	if len(kinds) != 6 || len(cases) < 40 {
		t.Fatalf("the table must cover all six kinds with at least 40 cases, has %d kinds and %d cases", len(kinds), len(cases))
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "ops_*.yaml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("expected one sample per kind in config/samples, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(data, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(ns)
			if err := k8s.Create(context.Background(), u); err != nil {
				t.Fatalf("sample refused: %v", err)
			}
			t.Logf("crd-validation | sample %s accepted", filepath.Base(f))
		})
	}
}

// defaulted is one field the API server defaults: its path in the spec, the value
// read back, and the default the CRD declares.
type defaulted struct {
	field     string
	got, want any
}

// value is *p, or nil for a field left unset.
func value[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDefaultsAreApplied(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	var (
		b   opsv1alpha1.DatabaseBackup
		s   opsv1alpha1.BackupSchedule
		r   opsv1alpha1.DatabaseRestore
		rel opsv1alpha1.Release
		rot opsv1alpha1.SecretRotation
		inc opsv1alpha1.Incident
	)
	for _, tc := range []struct {
		kind, spec string
		into       client.Object
		defaults   func() []defaulted
	}{
		{"DatabaseBackup", backupSpec, &b, func() []defaulted {
			return []defaulted{
				{"format", b.Spec.Format, opsv1alpha1.BackupFormatCustom},
				{"compression", b.Spec.Compression, opsv1alpha1.CompressionZstd},
				{"timeout", b.Spec.Timeout.Duration.String(), "1h0m0s"},
				{"deletionPolicy", b.Spec.DeletionPolicy, opsv1alpha1.DeletionPolicyRetain},
				{"destination.s3.region", b.Spec.Destination.S3.Region, "us-east-1"},
			}
		}},
		{"BackupSchedule", scheduleSpec(""), &s, func() []defaulted {
			return []defaulted{
				{"timeZone", s.Spec.TimeZone, "UTC"},
				{"missedRunPolicy", s.Spec.MissedRunPolicy, opsv1alpha1.MissedRunRunOnce},
				{"retention.keepLast", value(s.Spec.Retention.KeepLast), int32(7)},
				{"retention.keepFailed", value(s.Spec.Retention.KeepFailed), int32(3)},
				{"template.spec.compression", s.Spec.Template.Spec.Compression, opsv1alpha1.CompressionZstd},
			}
		}},
		{"DatabaseRestore", restoreSpec, &r, func() []defaulted {
			return []defaulted{
				{"mode", r.Spec.Mode, opsv1alpha1.RestoreModeSwap},
				{"keepPrevious", value(r.Spec.KeepPrevious), true},
				{"timeout", r.Spec.Timeout.Duration.String(), "2h0m0s"},
			}
		}},
		{"Release", "version: v1\nimage: example.com/saas:v1\ncomponents: [{name: backend, ports: [{name: http, containerPort: 8000}]}]\ndatabase: {secretRef: {name: db}}\nbackup: {destination: {s3: {bucket: saas-backups}}}\nverify: {path: /health, prometheus: {address: 'http://prom:9090', queries: [{name: errors, query: 'sum(x)', condition: {op: LessThan, value: '0.05'}}]}}\ncanary: {component: backend}", &rel, func() []defaulted {
			return []defaulted{
				{"components[0].replicas", value(rel.Spec.Components[0].Replicas), int32(1)},
				{"rollback.automatic", value(rel.Spec.Rollback.Automatic), true},
				{"revisionHistoryLimit", rel.Spec.RevisionHistoryLimit, int32(10)},
				{"backup.enabled", value(rel.Spec.Backup.Enabled), true},
				{"backup.deletionPolicy", rel.Spec.Backup.DeletionPolicy, opsv1alpha1.DeletionPolicyRetain},
				{"verify.failureThreshold", rel.Spec.Verify.FailureThreshold, int32(3)},
				{"verify.window", rel.Spec.Verify.Window.Duration.String(), "2m0s"},
				{"verify.progressDeadline", rel.Spec.Verify.ProgressDeadline.Duration.String(), "10m0s"},
				{"verify.prometheus.errorThreshold", rel.Spec.Verify.Prometheus.ErrorThreshold, int32(3)},
				{"verify.prometheus.onInconclusive", rel.Spec.Verify.Prometheus.OnInconclusive, opsv1alpha1.InconclusivePause},
				{"verify.prometheus.timeout", rel.Spec.Verify.Prometheus.Timeout.Duration.String(), "10s"},
				{"canary.replicas", rel.Spec.Canary.Replicas, int32(1)},
				{"canary.window", rel.Spec.Canary.Window.Duration.String(), "30s"},
			}
		}},
		{"SecretRotation", rotationSpec, &rot, func() []defaulted {
			return []defaulted{
				{"interval", rot.Spec.Interval.Duration.String(), "2160h0m0s"},
				{"keys[0].keepPrevious", value(rot.Spec.Keys[0].KeepPrevious), int32(1)},
				{"keys[0].alphabet", rot.Spec.Keys[0].Alphabet, opsv1alpha1.AlphabetAlphanumeric},
				{"mode", rot.Spec.Mode, opsv1alpha1.RotationTwoPhase},
			}
		}},
		{"Incident", incidentSpec, &inc, func() []defaulted {
			r := inc.Spec.Response
			return []defaulted{
				{"response.captureEvidence", r != nil && r.CaptureEvidence, true},
				{"response.isolate, takeOffline, rollback left out", r != nil && r.Isolate == nil && r.TakeOffline == nil && !r.Rollback, true},
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			u := obj(t, tc.kind, "defaults", tc.spec)
			u.SetNamespace(ns)
			if err := k8s.Create(ctx, u); err != nil {
				t.Fatalf("create %s: %v", tc.kind, err)
			}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "defaults"}, tc.into); err != nil {
				t.Fatal(err)
			}
			for _, d := range tc.defaults() {
				if !reflect.DeepEqual(d.got, d.want) {
					t.Errorf("%s spec.%s = %#v, want the default %#v", tc.kind, d.field, d.got, d.want)
				}
			}
		})
	}
}

func TestImmutability(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)

	t.Run("a started backup's spec cannot change, its deletionPolicy can", func(t *testing.T) {
		b := obj(t, "DatabaseBackup", "started", backupSpec)
		b.SetNamespace(ns)
		if err := k8s.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		// Before it started, the spec may still be corrected.
		_ = unstructured.SetNestedField(b.Object, "other-bucket", "spec", "destination", "s3", "bucket")
		if err := k8s.Update(ctx, b); err != nil {
			t.Fatalf("a pending backup's spec should be editable: %v", err)
		}
		_ = unstructured.SetNestedField(b.Object, "2026-11-28T10:00:00Z", "status", "startTime")
		if err := k8s.Status().Update(ctx, b); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(b.Object, "third-bucket", "spec", "destination", "s3", "bucket")
		err := k8s.Update(ctx, b)
		if err == nil || !strings.Contains(err.Error(), "spec is immutable once the backup has started") {
			t.Fatalf("changing a started backup's destination: got %v", err)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(b.Object, "Delete", "spec", "deletionPolicy")
		if err := k8s.Update(ctx, b); err != nil {
			t.Fatalf("deletionPolicy should stay editable: %v", err)
		}
		t.Logf("crd-validation | DatabaseBackup  | started backup's destination changed          | refused: spec is immutable once the backup has started")
	})

	t.Run("a restore's spec cannot change", func(t *testing.T) {
		r := obj(t, "DatabaseRestore", "once", restoreSpec)
		r.SetNamespace(ns)
		if err := k8s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(r.Object, "other", "spec", "source", "backupRef", "name")
		err := k8s.Update(ctx, r)
		if err == nil || !strings.Contains(err.Error(), "create a new DatabaseRestore") {
			t.Fatalf("changing a restore's source: got %v", err)
		}
		t.Logf("crd-validation | DatabaseRestore | source changed after creation                  | refused: spec is immutable")
	})

	t.Run("a resolution cannot be removed", func(t *testing.T) {
		i := obj(t, "Incident", "resolved", incidentSpec+"resolution: rolled back to v2.3.9")
		i.SetNamespace(ns)
		if err := k8s.Create(ctx, i); err != nil {
			t.Fatal(err)
		}
		unstructured.RemoveNestedField(i.Object, "spec", "resolution")
		err := k8s.Update(ctx, i)
		if err == nil || !strings.Contains(err.Error(), "resolution cannot be removed") {
			t.Fatalf("removing a resolution: got %v", err)
		}
		t.Logf("crd-validation | Incident        | resolution removed                             | refused: resolution cannot be removed")
	})
}

// The bounds added for issue 10 must not refuse what users write every day.
func TestValidValuesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range []struct{ kind, what, spec string }{
		{"BackupSchedule", "cron with lists, ranges, steps and names", strings.Replace(scheduleSpec("timeZone: America/Argentina/Buenos_Aires"), `"0 3 * * *"`, `"*/15 0-6/2 1,15 JAN-MAR mon-fri"`, 1)},
		{"BackupSchedule", "cron descriptor", strings.Replace(scheduleSpec("timeZone: Etc/GMT+5"), `"0 3 * * *"`, `"@weekly"`, 1)},
		{"BackupSchedule", "cron with ? and 59/23/31/12/6", strings.Replace(scheduleSpec("timeZone: UTC"), `"0 3 * * *"`, `"59 23 31 12 ?"`, 1)},
		{"BackupSchedule", "timeZone Europe/Berlin", scheduleSpec("timeZone: Europe/Berlin")},
		{"BackupSchedule", "timeZone of one part", scheduleSpec("timeZone: Japan")},
		{"BackupSchedule", "timeZone with a digit and sign", scheduleSpec("timeZone: Etc/GMT-14")},
		{"BackupSchedule", "template labels and annotations", scheduleSpec("") + "  metadata: {labels: {app.kubernetes.io/part-of: saas, tier: db}, annotations: {example.com/owner: 'Team Data <data@example.com>'}}\n"},
		{"DatabaseBackup", "timeout of a week", backupSpec + "timeout: 168h"},
		{"DatabaseBackup", "timeout of 1h30m", backupSpec + "timeout: 1h30m"},
		{"Release", "verify window of zero", releaseSpec + "verify: {url: 'http://saas.example/health', window: 0s, interval: 1s}"},
		{"Release", "incidentNotify with openIncident, a PagerDuty url and a Slack notifier", releaseSpec + "rollback: {openIncident: P2, incidentNotify: [{name: oncall, type: PagerDuty, url: 'http://127.0.0.1:8080/v2/enqueue', secretRef: {name: pd, key: routing-key}}, {name: chat, type: Slack, secretRef: {name: slack, key: url}}]}"},
		{"Release", "verify by Prometheus queries alone, with token and CA", releaseSpec + "verify: {prometheus: {address: 'https://prom.monitoring:9090', bearerTokenSecretRef: {name: prom, key: token}, ca: {configMapKeyRef: {name: prom-ca, key: ca.crt}}, onInconclusive: Rollback, errorThreshold: 5, queries: [{name: error-rate, query: 'sum(rate(x{revision=\"{{revision}}\",status=~\"5..\"}[1m])) / sum(rate(x{revision=\"{{revision}}\"}[1m]))', condition: {op: LessThan, value: '0.05'}}, {name: vs-stable, query: 'x{revision=\"{{stableRevision}}\",namespace=\"{{namespace}}\",release=\"{{release}}\"}', condition: {op: GreaterThanOrEqual, value: '-1e3'}}]}}"},
		{"SecretRotation", "interval of a year", rotationSpec + "interval: 8760h"},
		{"SecretRotation", "Immediate of a Fernet key with reencrypt", `{secretName: app, mode: Immediate, keys: [{key: F, generator: Fernet}], restartTargets: [{kind: Deployment, name: web}], reencrypt: {command: [python, manage.py, reencrypt]}}`},
		{"SecretRotation", "Immediate of a Fernet key, loss acknowledged", `{secretName: app, mode: Immediate, dropUnreadable: true, keys: [{key: F, generator: Fernet}]}`},
		{"SecretRotation", "Immediate of a Django key only", `{secretName: app, mode: Immediate, keys: [{key: K, generator: DjangoSecretKey}]}`},
		{"Incident", "every response action and clock setting", incidentSpec + `releaseRef: {name: saas}
response:
  captureEvidence: true
  isolate: {allowFrom: [{name: admin, podLabels: {app.kubernetes.io/name: admin-shell}}, {name: monitoring, namespaceLabels: {kubernetes.io/metadata.name: monitoring}}], keepIsolation: true}
  takeOffline: {restoreOnResolve: true}
  rollback: true
  rotateSecrets: [saas-app, saas-db]
  diagnostics: [{name: sessions, command: [python, manage.py, shell, -c, 'print(1)'], timeout: 1h}]
notify:
- {name: oncall, type: PagerDuty, secretRef: {name: s, key: routing-key}, url: 'http://127.0.0.1:9/v2/enqueue'}
- {name: chat, type: Slack, secretRef: {name: s, key: slack-url}}
- {name: boss, type: Webhook, secretRef: {name: s, key: url}, escalation: true}
responseClock: {timeZone: America/New_York, holidays: ['2026-12-25', '2027-01-01', '2028-02-29'], escalationInterval: 1m, acknowledgementTimeout: 168h}
acknowledgedBy: alice
`},
		{"DatabaseRestore", "quiesce deployments with dotted names", restoreSpec + "quiesce: {deployments: [saas-web, saas.worker]}"},
		{"Release", "IANA port names with digits and dashes", `{version: v1, image: x, components: [{name: web, ports: [{name: h2c, containerPort: 8000}, {name: 8080-tcp, containerPort: 8080}, {name: http-metrics-ab, containerPort: 9090}, {name: x, containerPort: 9091}]}]}`},
		{"Release", "image references of every form", `{version: v1, image: "registry.example.com:5000/saas/static_app-x.y:1.0.0-rc.1_b@sha256:` + strings.Repeat("ab", 32) + `", components: [{name: a, image: saas}, {name: b, image: "localhost/saas:latest"}, {name: c, image: "[::1]:5000/saas__x/web--y:V1"}]}`},
		{"Release", "env names a Pod accepts", releaseSpec + "env: [{name: my.env-name, value: a}, {name: 'Odd Name!', value: b}, {name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: B, value: ''}]"},
	} {
		t.Run(tc.kind+"/"+tc.what, func(t *testing.T) {
			u := obj(t, tc.kind, fmt.Sprintf("valid-%d", i), tc.spec)
			u.SetNamespace(ns)
			if err := k8s.Create(context.Background(), u); err != nil {
				t.Fatalf("refused a valid %s (%s): %v", tc.kind, tc.what, err)
			}
		})
	}
}

// releaseCRD is the generated Release CRD as YAML data.
func releaseCRD(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "ops.runbook.dev_releases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// TestNamePatternsAgreeWithPodValidation checks the generated CRD's patterns for
// port and env var names against the functions Kubernetes validates a Pod with, so
// that the Release accepts exactly the names its Deployments can carry.
func TestNamePatternsAgreeWithPodValidation(t *testing.T) {
	crd := releaseCRD(t)
	field := func(path ...string) *regexp.Regexp {
		var node any = crd
		for _, p := range path {
			m, ok := node.(map[string]any)
			if !ok {
				t.Fatalf("no %v in the CRD", path)
			}
			node = m[p]
		}
		re, err := regexp.Compile(node.(string))
		if err != nil {
			t.Fatal(err)
		}
		return re
	}
	versions := crd["spec"].(map[string]any)["versions"].([]any)
	crd = versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)["properties"].(map[string]any)["spec"].(map[string]any)
	portName := field("properties", "components", "items", "properties", "ports", "items", "properties", "name", "pattern")
	envName := field("properties", "env", "items", "properties", "name", "pattern")

	// Every name of up to 4 characters over letters, digits and '-', and some longer.
	var ports []string
	var grow func(prefix string)
	grow = func(prefix string) {
		if len(prefix) > 0 {
			ports = append(ports, prefix)
		}
		if len(prefix) < 4 {
			for _, c := range []string{"a", "z", "0", "9", "-", "A", "_"} {
				grow(prefix + c)
			}
		}
	}
	grow("")
	ports = append(ports, "http", "8080-tcp", "http-metrics-ab", "a-1-b-2", "1-2-3-a")
	for _, name := range ports {
		want := len(validation.IsValidPortName(name)) == 0
		if got := portName.MatchString(name); got != want {
			t.Errorf("port name %q: pattern says %v, a Pod says %v", name, got, want)
		}
	}
	envs := []string{"A", "my.env-name", "Odd Name!", "STRAßE", "é", "A\u00a0B"}
	for c := rune(0); c < 128; c++ {
		envs = append(envs, string(c), "A"+string(c)+"B")
	}
	for _, name := range envs {
		want := len(validation.IsRelaxedEnvVarName(name)) == 0
		if got := envName.MatchString(name); got != want {
			t.Errorf("env name %q: pattern says %v, a Pod says %v", name, got, want)
		}
	}
	t.Logf("%d port names and %d env names agree with Pod validation", len(ports), len(envs))
}

// An Incident's nested defaults: the escalation interval once a responseClock is given,
// and a diagnostic's timeout.
func TestIncidentNestedDefaults(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	u := obj(t, "Incident", "nested-defaults", incidentSpec+"releaseRef: {name: saas}\nresponse: {diagnostics: [{name: check, command: [x]}]}\nresponseClock: {timeZone: Europe/Berlin}")
	u.SetNamespace(ns)
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	var inc opsv1alpha1.Incident
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), &inc); err != nil {
		t.Fatal(err)
	}
	if got := inc.Spec.ResponseClock.EscalationInterval; got == nil || got.Duration.String() != "30m0s" {
		t.Errorf("responseClock.escalationInterval defaulted to %v, want 30m", got)
	}
	if got := inc.Spec.Response.Diagnostics[0].Timeout; got == nil || got.Duration.String() != "5m0s" {
		t.Errorf("diagnostics[0].timeout defaulted to %v, want 5m", got)
	}
	if !inc.Spec.Response.CaptureEvidence {
		t.Error("captureEvidence should default to true when response is given without it")
	}
}

// referencePattern is github.com/distribution/reference v0.6.0's ReferenceRegexp
// (reference.ReferenceRegexp.String()), the grammar the container runtimes parse an
// image reference with. It is copied, not imported: the module is not a dependency.
const referencePattern = `^((?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}))?$`

// TestImageRulesAreTheReferenceGrammar checks that the CEL rule of the release's image
// and of each component's is the image reference grammar, and what it accepts.
func TestImageRulesAreTheReferenceGrammar(t *testing.T) {
	crd := releaseCRD(t)
	spec := crd["spec"].(map[string]any)["versions"].([]any)[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)["properties"].(map[string]any)["spec"].(map[string]any)
	props := spec["properties"].(map[string]any)
	component := props["components"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)
	want := "self.matches(r'" + referencePattern + "')"
	for name, field := range map[string]any{"spec.image": props["image"], "spec.components[].image": component["image"]} {
		rules, _ := field.(map[string]any)["x-kubernetes-validations"].([]any)
		if len(rules) != 1 || rules[0].(map[string]any)["rule"] != want {
			t.Errorf("%s: rules %v, want the reference grammar", name, rules)
		}
	}
	re := regexp.MustCompile(referencePattern)
	digest := "@sha256:" + strings.Repeat("0f", 32)
	// Each agrees with reference.Parse (checked when the rule was written).
	valid := []string{"saas", "saas:1.0.0", "saas:1.0.0-broken", "registry.example.com/saas/backend:v2.4.0",
		"registry.example.com:5000/saas/backend" + digest, "localhost:5000/a/b/c:Tag_1.x", "[2001:db8::1]:5000/app:v1",
		"a.b__c-d---e/f:" + strings.Repeat("t", 128)}
	invalid := []string{"registry.example.com/x/static app:1.0", " saas:1.1.0", "saas:1.1.0 ", "Saas:1",
		"saas:", "saas:-1", "saas@sha256:abc", "/saas", "saas/", "a.b._c",
		"saas:" + strings.Repeat("t", 129), "http://registry.example.com/saas", ""}
	for _, ref := range append(valid, invalid...) {
		ok := slices.Contains(valid, ref)
		if got := re.MatchString(ref); got != ok {
			t.Errorf("%q: matches %v, want %v", ref, got, ok)
		}
	}
}
