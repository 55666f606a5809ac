{{- /* The passkey relying party (WEBAUTHN_RP_ID): passkeys.rpId, else ingress.host, else the first
gatewayAPI hostname; empty (passkeys off) with none of these or with passkeys.enabled false. */ -}}
{{- define "latchkey.webauthnRPID" -}}
{{- $v := .Values -}}
{{- if $v.passkeys.enabled -}}
{{- if $v.passkeys.rpId -}}
{{- $v.passkeys.rpId -}}
{{- else if and $v.ingress.enabled $v.ingress.host -}}
{{- $v.ingress.host | lower -}}
{{- else if and $v.gatewayAPI.enabled $v.gatewayAPI.hostnames -}}
{{- first $v.gatewayAPI.hostnames | lower -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The identity service's WEBAUTHN_* variables into the dict $env (nothing when passkeys are off):
the RP ID, the display name and the origins (passkeys.origins, else https://<RP ID>). */ -}}
{{- define "latchkey.webauthnEnv" -}}
{{- $rpID := include "latchkey.webauthnRPID" .root -}}
{{- if $rpID -}}
{{- $p := .root.Values.passkeys -}}
{{- $_ := set .env "WEBAUTHN_RP_ID" $rpID -}}
{{- $_ := set .env "WEBAUTHN_RP_DISPLAY_NAME" $p.rpDisplayName -}}
{{- $_ := set .env "WEBAUTHN_RP_ORIGINS" (join "," (default (list (printf "https://%s" $rpID)) $p.origins)) -}}
{{- end -}}
{{- end -}}
