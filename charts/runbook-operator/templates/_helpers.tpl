{{/* The chart's name, or nameOverride. */}}
{{- define "runbook-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else the release name when it
holds the chart's name (release runbook-operator gives dist/install.yaml's names),
else release-chart.
*/}}
{{- /* At most 28 characters: the longest suffix, -controller-manager-metrics-service, leaves a Service name of at most 63. */}}
{{- define "runbook-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 28 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "runbook-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: install.yaml's (control-plane, app.kubernetes.io/name) and the
release's instance, so that two releases in one namespace select their own pods.
*/}}
{{- define "runbook-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "runbook-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "runbook-operator.labels" -}}
{{ include "runbook-operator.selectorLabels" . }}
helm.sh/chart: {{ include "runbook-operator.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "runbook-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "runbook-operator.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace of the leader election Lease and of its Role. */}}
{{- define "runbook-operator.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* The manager's image: repository@digest, or repository:tag (default appVersion). */}}
{{- define "runbook-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
