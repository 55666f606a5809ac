{{- /* Kafka TLS and SASL (values kafka.tls, kafka.sasl) for every Deployment and the topics Job: the
KAFKA_TLS_* and KAFKA_SASL_* environment, and the CA bundle and client certificate mounted as files.
Call each with (dict "root" $ "service" "<name>"), service "" for the topics Job. */ -}}

{{- define "latchkey.kafkaCADir" -}}/etc/latchkey/kafka/ca{{- end -}}
{{- define "latchkey.kafkaClientDir" -}}/etc/latchkey/kafka/client{{- end -}}

{{- /* The Secret with the SASL username and password of a service (or of the topics Job). */ -}}
{{- define "latchkey.kafkaSASLSecret" -}}
{{- $s := .root.Values.kafka.sasl -}}
{{- $name := $s.existingSecret -}}
{{- if .service -}}
{{- $name = default $name (index ($s.serviceSecrets | default dict) .service) -}}
{{- else -}}
{{- $name = default $name $s.topicsSecret -}}
{{- end -}}
{{- required (printf "kafka.sasl.mechanism %s needs kafka.sasl.existingSecret (a Secret with the keys %s and %s)" $s.mechanism $s.usernameKey $s.passwordKey) $name -}}
{{- end -}}

{{- /* Refuses combinations that cannot work. */ -}}
{{- define "latchkey.kafkaValidate" -}}
{{- $t := .root.Values.kafka.tls -}}
{{- if and $t.ca.secretName $t.ca.configMapName -}}
{{- fail "kafka.tls.ca: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if and (not $t.enabled) (or $t.ca.secretName $t.ca.configMapName $t.clientCert.secretName $t.serverName) -}}
{{- fail "kafka.tls.ca, kafka.tls.clientCert and kafka.tls.serverName need kafka.tls.enabled=true" -}}
{{- end -}}
{{- end -}}

{{- /* KAFKA_TLS_* and KAFKA_SASL_* as EnvVar YAML (nothing when both are off). */ -}}
{{- define "latchkey.kafkaEnv" -}}
{{- include "latchkey.kafkaValidate" . -}}
{{- $k := .root.Values.kafka -}}
{{- if $k.tls.enabled }}
- name: KAFKA_TLS_ENABLED
  value: "true"
{{- if or $k.tls.ca.secretName $k.tls.ca.configMapName }}
- name: KAFKA_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "latchkey.kafkaCADir" .) $k.tls.ca.key | quote }}
{{- end }}
{{- if $k.tls.clientCert.secretName }}
- name: KAFKA_TLS_CERT_FILE
  value: {{ printf "%s/%s" (include "latchkey.kafkaClientDir" .) $k.tls.clientCert.certKey | quote }}
- name: KAFKA_TLS_KEY_FILE
  value: {{ printf "%s/%s" (include "latchkey.kafkaClientDir" .) $k.tls.clientCert.keyKey | quote }}
{{- end }}
{{- with $k.tls.serverName }}
- name: KAFKA_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $k.sasl.mechanism }}
{{- $secret := include "latchkey.kafkaSASLSecret" . }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $k.sasl.usernameKey }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $k.sasl.passwordKey }}
{{- end }}
{{- end -}}

{{- /* The volumeMounts of the CA bundle and the client certificate, as YAML list items. */ -}}
{{- define "latchkey.kafkaVolumeMounts" -}}
{{- $t := .root.Values.kafka.tls -}}
{{- if and $t.enabled (or $t.ca.secretName $t.ca.configMapName) }}
- name: kafka-ca
  mountPath: {{ include "latchkey.kafkaCADir" . }}
  readOnly: true
{{- end }}
{{- if and $t.enabled $t.clientCert.secretName }}
- name: kafka-client-cert
  mountPath: {{ include "latchkey.kafkaClientDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- /* The volumes of the CA bundle and the client certificate, as YAML list items. */ -}}
{{- define "latchkey.kafkaVolumes" -}}
{{- $t := .root.Values.kafka.tls -}}
{{- if and $t.enabled $t.ca.secretName }}
- name: kafka-ca
  secret:
    secretName: {{ $t.ca.secretName }}
    defaultMode: 0444
    items:
      - key: {{ $t.ca.key }}
        path: {{ $t.ca.key }}
{{- else if and $t.enabled $t.ca.configMapName }}
- name: kafka-ca
  configMap:
    name: {{ $t.ca.configMapName }}
    defaultMode: 0444
    items:
      - key: {{ $t.ca.key }}
        path: {{ $t.ca.key }}
{{- end }}
{{- if and $t.enabled $t.clientCert.secretName }}
- name: kafka-client-cert
  secret:
    secretName: {{ $t.clientCert.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $t.clientCert.certKey }}
        path: {{ $t.clientCert.certKey }}
      - key: {{ $t.clientCert.keyKey }}
        path: {{ $t.clientCert.keyKey }}
{{- end }}
{{- end -}}
