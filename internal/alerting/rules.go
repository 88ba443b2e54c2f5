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

// Package alerting is the one source of the alert rules shipped in config/prometheus:
// Groups builds them, RulesFile renders them as a Prometheus rules file and
// PrometheusRule as a prometheus-operator manifest holding the same groups. The
// tests check both files against Groups, run promtool check/test rules on them, and
// check that every metric a rule or the Grafana dashboard reads is served.
//
// The rules are written here rather than with github.com/prometheus/prometheus's
// rulefmt types: that module would raise the Go version, client_golang and the
// Kubernetes libraries (61 go.mod lines, +123 go.sum lines). promtool, which CI
// installs from Debian, checks what is written.
package alerting

import (
	"fmt"
	"strings"
	"time"
)

// Rule is one alerting rule, in the rules file's field order.
type Rule struct {
	Alert       string            `yaml:"alert" json:"alert"`
	Expr        string            `yaml:"expr" json:"expr"`
	For         string            `yaml:"for,omitempty" json:"for,omitempty"`
	Labels      map[string]string `yaml:"labels" json:"labels"`
	Annotations map[string]string `yaml:"annotations" json:"annotations"`
}

// Group is a rule group.
type Group struct {
	Name  string `yaml:"name" json:"name"`
	Rules []Rule `yaml:"rules" json:"rules"`
}

// Options are what a cluster may change by regenerating (cmd/alertrules flags).
type Options struct {
	// BackupRPO is the recovery point objective: the oldest a scheduled database's
	// last successful backup may be. A new schedule has this long for its first one.
	BackupRPO time.Duration
	// RotationGrace is how long past its due time a scheduled rotation may still be
	// running before it is overdue.
	RotationGrace time.Duration
	// RunbookBase is where the Alerts section of the README is; each alert's
	// runbook_url is RunbookBase#<alert in lower case>.
	RunbookBase string
}

// Defaults: a daily schedule with an hour's slack; the README beside the rules.
var Defaults = Options{BackupRPO: 25 * time.Hour, RotationGrace: time.Hour, RunbookBase: "README.md"}

// Controllers are the manager's controllers (their Named(...) in internal/controller;
// a test checks the list): controller_runtime_reconcile_errors_total is served by
// every controller-runtime manager, so the alert selects ours.
var Controllers = []string{"backupschedule", "databasebackup", "databaserestore", "incident", "release", "secretrotation"}

// Severities of the alerts' severity label.
const (
	critical = "critical"
	warning  = "warning"
)

// Groups builds the rules.
func Groups(o Options) []Group {
	rpo := promDuration(o.BackupRPO)
	scheduled := `max by (namespace, database) (runbook_backup_schedule_info)`
	rules := []Rule{
		spec{
			Alert: "RunbookBackupTooOld",
			Expr: fmt.Sprintf(`(time() - max by (namespace, database) (runbook_backup_last_success_timestamp_seconds)) > %d and on (namespace, database) %s`,
				int64(o.BackupRPO.Seconds()), scheduled),
			For:         "5m",
			Labels:      map[string]string{"severity": critical},
			Summary:     "The last successful backup of {{ $labels.namespace }}/{{ $labels.database }} is older than the RPO (" + rpo + ")",
			Description: "The newest Completed DatabaseBackup of database {{ $labels.database }} in {{ $labels.namespace }} finished {{ $value | humanizeDuration }} ago; a BackupSchedule expects one at least every " + rpo + ".",
		}.rule(o),
		spec{
			Alert: "RunbookBackupAbsent",
			// absent() per database: a schedule's database with no successful backup at all.
			Expr:        scheduled + ` unless on (namespace, database) runbook_backup_last_success_timestamp_seconds`,
			For:         rpo,
			Labels:      map[string]string{"severity": critical},
			Summary:     "No successful backup of {{ $labels.namespace }}/{{ $labels.database }}, which has a schedule",
			Description: "A BackupSchedule in {{ $labels.namespace }} backs up database {{ $labels.database }}, and for " + rpo + " the manager has known no Completed DatabaseBackup of it.",
		}.rule(o),
		spec{
			Alert:       "RunbookBackupFailing",
			Expr:        `max by (namespace, database) (runbook_backup_failing) == 1`,
			Labels:      map[string]string{"severity": warning},
			Summary:     "The newest backup of {{ $labels.namespace }}/{{ $labels.database }} failed",
			Description: "The newest finished DatabaseBackup of database {{ $labels.database }} in {{ $labels.namespace }} is Failed; the alert clears when a later backup completes.",
		}.rule(o),
		spec{
			Alert:       "RunbookRestoreFailed",
			Expr:        increased(`runbook_restores_total{outcome="failed"}`, "namespace, database", "1h"),
			Labels:      map[string]string{"severity": critical},
			Summary:     "A restore of {{ $labels.namespace }}/{{ $labels.database }} failed",
			Description: "A DatabaseRestore of database {{ $labels.database }} in {{ $labels.namespace }} ended Failed in the last hour; its workloads are back at their recorded replica counts unless quiesce.keepStoppedOnFailure kept them stopped.",
		}.rule(o),
		spec{
			Alert:       "RunbookReleaseRolledBack",
			Expr:        increased(`runbook_release_rollbacks_total`, "namespace, release, step", "1h"),
			Labels:      map[string]string{"severity": warning},
			Summary:     "Release {{ $labels.namespace }}/{{ $labels.release }} was rolled back ({{ $labels.step }} failed)",
			Description: "Release {{ $labels.release }} in {{ $labels.namespace }} was rolled back to its stable revision in the last hour because the {{ $labels.step }} step of the new revision failed.",
		}.rule(o),
		spec{
			Alert: "RunbookReleaseStuck",
			Expr: `time() > max by (namespace, release) (runbook_release_deploy_deadline_timestamp_seconds)` +
				` unless on (namespace, release) runbook_release_phase{phase="Deployed"} == 1`,
			For:         "5m",
			Labels:      map[string]string{"severity": critical},
			Summary:     "Release {{ $labels.namespace }}/{{ $labels.release }} is not Deployed past its progress deadline",
			Description: "The rollout of Release {{ $labels.release }} in {{ $labels.namespace }} began more than verify.progressDeadline + verify.window ago and the revision is still not Deployed, nor rolled back.",
		}.rule(o),
		spec{
			Alert: "RunbookSecretRotationOverdue",
			Expr: fmt.Sprintf(`time() - max by (namespace, secret) (runbook_secret_next_rotation_timestamp_seconds) > %d`,
				int64(o.RotationGrace.Seconds())),
			Labels:      map[string]string{"severity": warning},
			Summary:     "The rotation of Secret {{ $labels.namespace }}/{{ $labels.secret }} is overdue",
			Description: "The scheduled rotation of Secret {{ $labels.secret }} in {{ $labels.namespace }} was due {{ $value | humanizeDuration }} ago and has not completed.",
		}.rule(o),
		spec{
			Alert: "RunbookIncidentUnacknowledged",
			// The incident's own severity (P0…P3) becomes incident_severity: the
			// alert's severity label is the alert's.
			Expr:        `label_replace(time() > max by (namespace, incident, severity) (runbook_incident_response_deadline_timestamp_seconds), "incident_severity", "$1", "severity", "(.*)")`,
			Labels:      map[string]string{"severity": critical},
			Summary:     "Incident {{ $labels.namespace }}/{{ $labels.incident }} ({{ $labels.incident_severity }}) is unacknowledged past its response deadline",
			Description: "Incident {{ $labels.incident }} in {{ $labels.namespace }}, severity {{ $labels.incident_severity }}, is open and nobody acknowledged it by its response deadline.",
		}.rule(o),
		spec{
			Alert: "RunbookReconcileErrors",
			// namespace: the manager's, where prometheus-operator's scrape puts it (an
			// alert-opened Incident goes there); empty under a plain scrape config.
			Expr: fmt.Sprintf(`sum by (namespace, controller) (rate(controller_runtime_reconcile_errors_total{controller=~"%s"}[5m])) > 0`,
				strings.Join(Controllers, "|")),
			For:         "15m",
			Labels:      map[string]string{"severity": warning},
			Summary:     "The runbook-operator {{ $labels.controller }} controller keeps failing to reconcile",
			Description: "The {{ $labels.controller }} controller of the runbook-operator manager has returned reconcile errors for 15 minutes ({{ $value | humanize }} per second).",
		}.rule(o),
	}
	return []Group{{Name: "runbook-operator", Rules: rules}}
}

// spec is a rule with its summary and description apart, and the runbook URL added.
type spec struct {
	Alert, Expr, For     string
	Labels               map[string]string
	Summary, Description string
}

func (s spec) rule(o Options) Rule {
	return Rule{
		Alert: s.Alert, Expr: s.Expr, For: s.For, Labels: s.Labels,
		Annotations: map[string]string{
			"summary":     s.Summary,
			"description": s.Description,
			"runbook_url": o.RunbookBase + "#" + strings.ToLower(s.Alert),
		},
	}
}

// increased is by's sum of counter's increase over window when above zero. increase()
// needs a sample before the first count: the manager creates the series at 0 for each
// unfinished restore and each release (internal/controller/alerting_metrics.go).
func increased(counter, by, window string) string {
	return fmt.Sprintf(`sum by (%s) (increase(%s[%s])) > 0`, by, counter, window)
}

// promDuration writes d as Prometheus does (25h, 90m, 30s).
func promDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
