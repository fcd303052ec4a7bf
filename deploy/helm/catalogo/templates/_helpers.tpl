{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "catalogo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of every object: fullnameOverride, or the release name if it already contains the
chart name, or <release>-<chart>. Truncated to 63 characters (DNS label limit).
*/}}
{{- define "catalogo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Version actually deployed: the image tag, or the chart's appVersion when it is empty.
*/}}
{{- define "catalogo.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Selector labels: they identify the pods of this release and must never change after the
first install (a Deployment's selector is immutable).
*/}}
{{- define "catalogo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catalogo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels for every object.
*/}}
{{- define "catalogo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "catalogo.selectorLabels" . }}
app.kubernetes.io/version: {{ include "catalogo.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
