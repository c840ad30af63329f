{{/* The chart name, shortened to fit label values. */}}
{{- define "wto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: <release>-<chart>, or the release name when it holds the chart name. */}}
{{- define "wto.fullname" -}}
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

{{/* Labels that select the release's pods (both Deployments add app.kubernetes.io/component). Never change across upgrades. */}}
{{- define "wto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource of the chart. */}}
{{- define "wto.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "wto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: witboost-token-operator
{{- end }}

{{/* The Kubernetes ServiceAccount of the controllers. */}}
{{- define "wto.controllersServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controllers" (include "wto.fullname" .)) .Values.serviceAccount.names.controllers }}
{{- else }}
{{- required "serviceAccount.names.controllers is required when serviceAccount.create is false" .Values.serviceAccount.names.controllers }}
{{- end }}
{{- end }}

{{/* The Kubernetes ServiceAccount of the token service. */}}
{{- define "wto.tokenServiceServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-token-service" (include "wto.fullname" .)) .Values.serviceAccount.names.tokenService }}
{{- else }}
{{- required "serviceAccount.names.tokenService is required when serviceAccount.create is false" .Values.serviceAccount.names.tokenService }}
{{- end }}
{{- end }}

{{/* Labels that select the token service's pods. */}}
{{- define "wto.tokenServiceSelectorLabels" -}}
{{ include "wto.selectorLabels" . }}
app.kubernetes.io/component: token-service
{{- end }}

{{/* repository:tag, or repository:tag@digest. */}}
{{- define "wto.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Namespace of the leader Lease. */}}
{{- define "wto.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* Name of the leader Lease: the binary's own choice, one per watched scope. */}}
{{- define "wto.leaseName" -}}
{{- if .Values.watchNamespace }}
{{- printf "witboost-token-operator.%s" .Values.watchNamespace }}
{{- else }}
{{- print "witboost-token-operator" }}
{{- end }}
{{- end }}

{{/* Scheme of the token service. */}}
{{- define "wto.scheme" -}}
{{- if .Values.tokenService.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* The issuer: as set, else the in-cluster URL of the Service. */}}
{{- define "wto.issuer" -}}
{{- if .Values.tokenService.issuer }}
{{- .Values.tokenService.issuer }}
{{- else }}
{{- $scheme := include "wto.scheme" . }}
{{- $port := int .Values.service.port }}
{{- $host := printf "%s.%s.svc" (include "wto.fullname" .) .Release.Namespace }}
{{- if or (and (eq $scheme "http") (eq $port 80)) (and (eq $scheme "https") (eq $port 443)) }}
{{- printf "%s://%s" $scheme $host }}
{{- else }}
{{- printf "%s://%s:%d" $scheme $host $port }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks across values that the schema cannot express. */}}
{{- define "wto.validate" -}}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "serviceMonitor.enabled and podMonitor.enabled are mutually exclusive: enable one of them" }}
{{- end }}
{{- if and (gt (int .Values.controllers.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "leaderElection.enabled must stay true with controllers.replicaCount > 1: only one replica may run the controllers" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.minAvailable .Values.podDisruptionBudget.maxUnavailable }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if and .Values.tokenService.tls.enabled (not .Values.tokenService.tls.secretName) }}
{{- fail "tokenService.tls.secretName is required when tokenService.tls.enabled is true" }}
{{- end }}
{{- if and .Values.basicAuth.enabled (not .Values.basicAuth.namespaces) }}
{{- fail "basicAuth.namespaces must name the namespaces Witboost runs in when basicAuth.enabled is true" }}
{{- end }}
{{- end }}
