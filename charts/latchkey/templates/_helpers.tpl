{{- /*
Names and labels. Every service is an app of its own: app.kubernetes.io/name is the service's name
(identity, session, profile, notification) and selectors use name and instance only, so the four
Deployments never select each other's pods. Objects of the whole release (Ingress, HTTPRoute, shared
Secret, topic Job) carry app.kubernetes.io/name: <chart name>.
*/ -}}

{{- define "latchkey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "latchkey.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "latchkey.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Labels of the release-wide objects. */ -}}
{{- define "latchkey.labels" -}}
helm.sh/chart: {{ include "latchkey.chart" . }}
{{ include "latchkey.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: latchkey
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "latchkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "latchkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* The name of a service's objects: <fullname>-<service>. Call with (dict "root" $ "service" "identity"). */ -}}
{{- define "latchkey.serviceFullname" -}}
{{- printf "%s-%s" (include "latchkey.fullname" .root) .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Labels of one service's objects. Call with (dict "root" $ "service" "identity"). */ -}}
{{- define "latchkey.serviceLabels" -}}
helm.sh/chart: {{ include "latchkey.chart" .root }}
{{ include "latchkey.serviceSelectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: latchkey
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "latchkey.serviceSelectorLabels" -}}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- /* The route table (routes.yaml), shared with the local gateway. */ -}}
{{- define "latchkey.routeTable" -}}
{{- .Files.Get "routes.yaml" -}}
{{- end -}}

{{- /* The Secret the services read their secrets from: the chart's own or the one named in secret.name. */ -}}
{{- define "latchkey.secretName" -}}
{{- default (include "latchkey.fullname" .) .Values.secret.name -}}
{{- end -}}

{{- /* The image of a service. Call with (dict "root" $ "service" "identity" "values" $svcValues). */ -}}
{{- define "latchkey.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := default (printf "%s/%s" $img.registry .service) (dig "image" "repository" "" .values) -}}
{{- $tag := default (default .root.Chart.AppVersion $img.tag) (dig "image" "tag" "" .values) -}}
{{- if hasPrefix "sha256:" $tag -}}{{ printf "%s@%s" $repo $tag }}{{- else -}}{{ printf "%s:%s" $repo $tag }}{{- end -}}
{{- end -}}

{{- /* Kafka topic names with the deployment's prefix. */ -}}
{{- define "latchkey.topics" -}}
{{- $prefix := .Values.config.kafkaTopicPrefix -}}
{{- range .Values.kafka.topics.names }}
- {{ printf "%s%s" $prefix . }}
{{- end }}
{{- end -}}

{{- /* A service's values: serviceDefaults overridden by services.<name>, as YAML (use with fromYaml).
Call with (dict "root" $ "service" "identity"). */ -}}
{{- define "latchkey.serviceValues" -}}
{{- $own := index .root.Values.services .service | default dict -}}
{{- $v := mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $own) -}}
{{- /* A null resource (services.<name>.resources.limits.memory: null) removes the default one. */ -}}
{{- range $kind, $list := ($v.resources | default dict) }}
{{- if kindIs "map" $list }}
{{- range $k := keys $list }}{{ if kindIs "invalid" (index $list $k) }}{{ $_ := unset $list $k }}{{ end }}{{ end }}
{{- end }}
{{- end }}
{{- toYaml $v -}}
{{- end -}}

{{- /* A service's public port, from the route table. */ -}}
{{- define "latchkey.publicPort" -}}
{{- $table := include "latchkey.routeTable" .root | fromYaml -}}
{{- $svc := index $table.services .service | default dict -}}
{{- required (printf "service %q is not in routes.yaml" .service) $svc.port -}}
{{- end -}}

{{- /* A service's entry in the route table: port, internalPort and calls (the service topology). */ -}}
{{- define "latchkey.topology" -}}
{{- $table := include "latchkey.routeTable" .root | fromYaml -}}
{{- toYaml (required (printf "service %q is not in routes.yaml" .service) (index $table.services .service)) -}}
{{- end -}}

{{- /* A service's internal port (/healthz, /readyz, /metrics, /internal/v1), from the route table. */ -}}
{{- define "latchkey.internalPort" -}}
{{- $svc := include "latchkey.topology" . | fromYaml -}}
{{- required (printf "service %q has no internalPort in routes.yaml" .service) $svc.internalPort -}}
{{- end -}}

{{- /* The services whose internal port this service calls, from the route table, as a YAML list. */ -}}
{{- define "latchkey.callees" -}}
{{- $svc := include "latchkey.topology" . | fromYaml -}}
{{- $out := list -}}
{{- range $svc.calls }}{{ $out = append $out .service }}{{ end -}}
{{- toYaml (dict "callees" ($out | uniq | sortAlpha)) -}}
{{- end -}}

{{- /* The services that call this service's internal port, from the route table, as a YAML list. */ -}}
{{- define "latchkey.callers" -}}
{{- $table := include "latchkey.routeTable" .root | fromYaml -}}
{{- $out := list -}}
{{- range $caller, $svc := $table.services }}
{{- range $svc.calls }}{{ if eq .service $.service }}{{ $out = append $out $caller }}{{ end }}{{ end }}
{{- end -}}
{{- toYaml (dict "callers" ($out | uniq | sortAlpha)) -}}
{{- end -}}

{{- /* The internal base URL of a service, e.g. http://latchkey-session:9082. */ -}}
{{- define "latchkey.internalURL" -}}
{{- printf "http://%s:%v" (include "latchkey.serviceFullname" .) (include "latchkey.internalPort" .) -}}
{{- end -}}

{{- /* The plain environment of a service (its ConfigMap's data), as YAML.
Call with (dict "root" $ "service" "identity"). */ -}}
{{- define "latchkey.serviceEnv" -}}
{{- $root := .root -}}
{{- $c := $root.Values.config -}}
{{- $v := include "latchkey.serviceValues" . | fromYaml -}}
{{- $env := dict
  "HTTP_ADDR" (printf ":%v" (include "latchkey.publicPort" .))
  "INTERNAL_ADDR" (printf ":%v" (include "latchkey.internalPort" .))
  "MONGODB_DATABASE" (printf "%s%s" $c.mongodbDatabasePrefix .service)
  "KAFKA_TOPIC_PREFIX" $c.kafkaTopicPrefix
  "KAFKA_CREATE_TOPICS" (toString $c.kafkaCreateTopics)
  "LOG_LEVEL" $c.logLevel
  "OTEL_EXPORTER_OTLP_ENDPOINT" $c.otlpEndpoint
  "JWT_ISSUER" (include "latchkey.jwtIssuer" $root)
  "JWT_AUDIENCE" $c.jwtAudience
  "BODY_LIMIT_BYTES" (toString $c.bodyLimitBytes)
  "SHUTDOWN_TIMEOUT" $c.shutdownTimeout
  "SHUTDOWN_DRAIN_DELAY" $c.shutdownDrainDelay
  "TRUSTED_PROXIES" $c.trustedProxies
-}}
{{- /* The services it calls (routes.yaml): JWKS_URL, *_INTERNAL_URL. */}}
{{- range (include "latchkey.topology" . | fromYaml).calls }}
{{- $_ := set $env .env (printf "%s%s" (include "latchkey.internalURL" (dict "root" $root "service" .service)) (.path | default "")) }}
{{- end }}
{{- if eq .service "session" }}
{{- if $v.signingKey.secretName }}
{{- $_ := set $env "JWT_SIGNING_KEY_FILE" (printf "/var/run/secrets/latchkey/signing-key/%s" $v.signingKey.key) }}
{{- with $v.signingKey.verificationKeys }}
{{- $_ := set $env "JWT_VERIFICATION_KEY_FILES" (include "latchkey.verificationKeyFiles" $v.signingKey) }}
{{- end }}
{{- else if $v.signingKey.verificationKeys }}
{{- fail "services.session.signingKey.verificationKeys needs services.session.signingKey.secretName: verification-only keys accompany a file-based signing key" }}
{{- end }}
{{- end }}
{{- if eq .service "identity" }}
{{- include "latchkey.webauthnEnv" (dict "root" $root "env" $env) }}
{{- end }}
{{- if eq .service "session" }}
{{- /* The session service serves /openapi.json and /docs (apiDocs.enabled). */}}
{{- $_ := set $env "API_DOCS_ENABLED" (toString $root.Values.apiDocs.enabled) }}
{{- end }}
{{- /* identity's argon2id workspaces are mapped outside the Go heap: GOMEMLIMIT does not count them. */}}
{{- $env2 := mergeOverwrite (deepCopy ($c.env | default dict)) (deepCopy ($v.env | default dict)) }}
{{- $offHeap := 0 }}
{{- if eq .service "identity" }}
{{- $offHeap = mul (atoi (toString (dig "ARGON2_MAX_CONCURRENT" "0" $env2))) (atoi (toString (dig "ARGON2_MEMORY_KIB" "19456" $env2))) 1024 }}
{{- end }}
{{- with include "latchkey.goMemLimit" (dict "service" .service "values" $v "offHeap" $offHeap) }}
{{- $_ := set $env "GOMEMLIMIT" . }}
{{- end }}
{{- range $k, $val := $c.env }}{{ $_ := set $env $k (toString $val) }}{{ end }}
{{- range $k, $val := $v.env }}{{ $_ := set $env $k (toString $val) }}{{ end }}
{{- toYaml $env -}}
{{- end -}}

{{- /*
A service's GOMEMLIMIT (the Go heap's soft limit): goMemLimit.value when set, else goMemLimit.percent
of resources.limits.memory less offHeap (bytes the process maps outside the Go runtime's accounting),
floored to whole MiB; empty (no GOMEMLIMIT) without a memory limit or with percent 0. The limit is a Kubernetes quantity in whole bytes, binary (Ki, Mi, Gi, Ti) or
decimal (k, M, G, T) units; any other form fails the render, naming the value to set instead.
*/ -}}
{{- define "latchkey.goMemLimit" -}}
{{- $g := .values.goMemLimit | default dict -}}
{{- $raw := dig "limits" "memory" "" (.values.resources | default dict) -}}
{{- if $g.value -}}
{{- $g.value -}}
{{- else if and $g.percent $raw -}}
{{- $q := kindIs "string" $raw | ternary $raw (printf "%.0f" (float64 $raw)) -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) -}}
{{- fail (printf "services.%s.resources.limits.memory %q: GOMEMLIMIT is derived from whole bytes or Ki/Mi/Gi/Ti/k/M/G/T; write it so, or set services.%s.goMemLimit.value" .service $q .service) -}}
{{- end -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $n := regexReplaceAll "[^0-9]+$" $q "" | atoi -}}
{{- $unit := index $units (regexReplaceAll "^[0-9]+" $q "") -}}
{{- $rest := sub (mul $n $unit) (.offHeap | default 0) -}}
{{- if le $rest 0 -}}
{{- fail (printf "services.%s.resources.limits.memory %q does not even hold the %d bytes the service keeps outside the Go heap" .service $q .offHeap) -}}
{{- end -}}
{{- $bytes := div (mul $rest (int $g.percent)) 100 -}}
{{- if ge $bytes 1048576 -}}
{{- printf "%dMiB" (div $bytes 1048576) -}}
{{- else -}}
{{- printf "%d" $bytes -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The secret environment of a service (shared secretEnv + the service's own), as EnvVar YAML. */ -}}
{{- define "latchkey.secretEnv" -}}
{{- $root := .root -}}
{{- $v := include "latchkey.serviceValues" . | fromYaml -}}
{{- $all := mergeOverwrite (deepCopy $root.Values.secretEnv) (deepCopy ($v.secretEnv | default dict)) -}}
{{- range $name := keys $all | sortAlpha }}
{{- $ref := index $all $name }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "latchkey.secretName" $root) $ref.secretName }}
      key: {{ required (printf "secretEnv %s: key is required" $name) $ref.key }}
      {{- if $ref.optional }}
      optional: true
      {{- end }}
{{- end }}
{{- end -}}
