{{- define "fixture.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: witboost
{{- end }}
{{- define "fixture.appConfig" -}}
{{ toYaml .Values.ui.appConfig }}
{{- end }}
