{{- define "guestgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "guestgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "guestgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: guestgate
{{- end -}}

{{- define "guestgate.selectorLabels" -}}
app.kubernetes.io/name: guestgate-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "guestgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "guestgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's permissions: read its resources, write their status, own their children. */}}
{{- define "guestgate.rules" -}}
- apiGroups: ["guestgate.io"]
  resources: ["guestclusters", "siptrunks", "guestlinks"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["guestgate.io"]
  resources: ["guestclusters/status", "siptrunks/status", "guestlinks/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["configmaps", "serviceaccounts"]
  verbs: ["get", "create", "patch"]
- apiGroups: [""]
  # watch: a TURN Service's load balancer address; delete: the TURN children when spec.turn is off.
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["delete"]
- apiGroups: [""]
  # get: trunk credentials are copied from the Secret a SipTrunk names; create/patch: the
  # cluster's own generated Secrets.
  resources: ["secrets"]
  verbs: ["get", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  # the managed TURN server (coturn)
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "create", "patch", "delete"]
{{- end -}}
