{{- define "portcullis.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.labels" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "portcullis.selector" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portcullis.secretName" -}}
{{- .Values.adminTokens.existingSecret | default (printf "%s-admin-tokens" (include "portcullis.name" .)) -}}
{{- end -}}

{{- define "portcullis.scheme" -}}
{{- if .Values.tls.secretName }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{/* The drain: preStop, then SHUTDOWN_TIMEOUT_MS of draining, then a margin for closing. */}}
{{- define "portcullis.terminationGracePeriodSeconds" -}}
{{- add .Values.preStopSeconds (div (add .Values.shutdownTimeoutMs 999) 1000) 5 -}}
{{- end -}}

{{/* The portcullis container, the same in both modes. */}}
{{- define "portcullis.container" -}}
- name: portcullis
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve"]
  env:
    - {name: HOST, value: "0.0.0.0"}
    - {name: PORT, value: {{ .Values.ports.http | quote }}}
    - {name: GRPC_PORT, value: {{ .Values.ports.grpc | quote }}}
    - {name: ADMIN_PORT, value: {{ .Values.ports.admin | quote }}}
    - {name: PORTCULLIS_PROFILE, value: {{ .Values.profile | quote }}}
    - {name: PORTCULLIS_ALLOW_UNSAFE, value: {{ .Values.allowUnsafe | quote }}}
    - {name: PORTCULLIS_CONFIG, value: /etc/portcullis/config.yaml}
    - {name: SHUTDOWN_TIMEOUT_MS, value: {{ .Values.shutdownTimeoutMs | quote }}}
    {{- with .Values.redis.url }}
    - {name: REDIS_URL, value: {{ . | quote }}}
    {{- end }}
    {{- with .Values.redis.clusterNodes }}
    - {name: REDIS_CLUSTER_NODES, value: {{ . | quote }}}
    {{- end }}
    {{- if .Values.redis.passwordSecret.name }}
    - name: REDIS_PASSWORD
      valueFrom:
        secretKeyRef: {name: {{ .Values.redis.passwordSecret.name }}, key: {{ .Values.redis.passwordSecret.key }}}
    {{- end }}
    - name: ADMIN_TOKEN
      valueFrom:
        secretKeyRef: {name: {{ include "portcullis.secretName" . }}, key: adminToken, optional: true}
    {{- if .Values.routes }}
    - {name: GATEWAY_ROUTES_FILE, value: /etc/portcullis/routes.yaml}
    {{- end }}
    {{- if .Values.settings }}
    - {name: SETTINGS_FILE, value: /etc/portcullis/settings.yaml}
    {{- end }}
    {{- if .Values.tls.secretName }}
    - {name: TLS_CERT_FILE, value: /etc/portcullis/tls/tls.crt}
    - {name: TLS_KEY_FILE, value: /etc/portcullis/tls/tls.key}
    {{- if .Values.tls.admin }}
    - {name: ADMIN_TLS_CERT_FILE, value: /etc/portcullis/tls/tls.crt}
    - {name: ADMIN_TLS_KEY_FILE, value: /etc/portcullis/tls/tls.key}
    {{- end }}
    {{- end }}
  ports:
    - {name: http, containerPort: {{ .Values.ports.http }}, protocol: TCP}
    {{- if gt (int .Values.ports.grpc) 0 }}
    - {name: grpc, containerPort: {{ .Values.ports.grpc }}, protocol: TCP}
    {{- end }}
    {{- if gt (int .Values.ports.admin) 0 }}
    - {name: admin, containerPort: {{ .Values.ports.admin }}, protocol: TCP}
    {{- end }}
  # Started: the bundle is active. Live: it still is (OPA's /health). Ready: the engine
  # answers and the settings store answers a round trip now.
  startupProbe:
    httpGet: {path: /health, port: http, scheme: {{ include "portcullis.scheme" . }}}
    periodSeconds: 2
    failureThreshold: 30
  livenessProbe:
    httpGet: {path: /health, port: http, scheme: {{ include "portcullis.scheme" . }}}
    periodSeconds: 10
    timeoutSeconds: 3
  readinessProbe:
    httpGet: {path: /health/ready, port: http, scheme: {{ include "portcullis.scheme" . }}}
    periodSeconds: 5
    timeoutSeconds: 3
  lifecycle:
    preStop:
      sleep: {seconds: {{ .Values.preStopSeconds }}}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
    seccompProfile: {type: RuntimeDefault}
  volumeMounts:
    - {name: portcullis-config, mountPath: /etc/portcullis, readOnly: true}
    - {name: portcullis-state, mountPath: /var/lib/portcullis}
    {{- if .Values.tls.secretName }}
    - {name: portcullis-tls, mountPath: /etc/portcullis/tls, readOnly: true}
    {{- end }}
{{- end -}}

{{- define "portcullis.volumes" -}}
- name: portcullis-config
  configMap: {name: {{ include "portcullis.name" . }}}
# The audit and decision-log spill files: kept across container restarts in the pod.
- name: portcullis-state
  emptyDir: {}
{{- if .Values.tls.secretName }}
- name: portcullis-tls
  secret: {secretName: {{ .Values.tls.secretName }}}
{{- end }}
{{- end -}}
