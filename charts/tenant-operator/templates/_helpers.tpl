{{/* Labels of every object: the selector label the manifests in config/ use, and Helm's. */}}
{{- define "tenant-operator.labels" -}}
app.kubernetes.io/name: tenant-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The manager's image reference. */}}
{{- define "tenant-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* A file of files/ with the kustomize placeholder namespace "system" made the release's. */}}
{{- define "tenant-operator.file" -}}
{{ .root.Files.Get .path | replace "namespace: system" (printf "namespace: %s" .root.Release.Namespace) }}
{{- end -}}
