{{- /* The access-token issuer (JWT_ISSUER): config.jwtIssuer, else https://<ingress.host>, else
https://<first gatewayAPI.hostnames>. It is also the base of /.well-known/openid-configuration, so it must
be the URL clients reach Latchkey at. With none of these the services' own default applies (the local
stack's loopback gateway URL), which NOTES.txt warns about. */ -}}
{{- define "latchkey.jwtIssuer" -}}
{{- $v := .Values -}}
{{- if $v.config.jwtIssuer -}}
{{- $v.config.jwtIssuer -}}
{{- else if and $v.ingress.enabled $v.ingress.host -}}
{{- printf "https://%s" $v.ingress.host -}}
{{- else if and $v.gatewayAPI.enabled $v.gatewayAPI.hostnames -}}
{{- printf "https://%s" (first $v.gatewayAPI.hostnames) -}}
{{- else -}}
http://127.0.0.1:8080
{{- end -}}
{{- end -}}

{{- /* Whether the issuer was given or derived (false: the loopback fallback). */ -}}
{{- define "latchkey.jwtIssuerSet" -}}
{{- $v := .Values -}}
{{- if or $v.config.jwtIssuer (and $v.ingress.enabled $v.ingress.host) (and $v.gatewayAPI.enabled $v.gatewayAPI.hostnames) }}true{{ end -}}
{{- end -}}

{{- /* Where the session service finds its verification-only keys: one file per entry of
services.session.signingKey.verificationKeys, all in one projected volume. */ -}}
{{- define "latchkey.verificationKeyDir" -}}/var/run/secrets/latchkey/verification-keys{{- end -}}

{{- /* The file name of verification key number i (entry {secretName, key}). */ -}}
{{- define "latchkey.verificationKeyFile" -}}{{ .i }}-{{ .ref.key }}{{- end -}}

{{- /* JWT_VERIFICATION_KEY_FILES: the comma-separated paths of the verification-only keys. Call with
the session's values (signingKey). */ -}}
{{- define "latchkey.verificationKeyFiles" -}}
{{- $paths := list -}}
{{- range $i, $ref := .verificationKeys -}}
{{- $paths = append $paths (printf "%s/%s" (include "latchkey.verificationKeyDir" nil) (include "latchkey.verificationKeyFile" (dict "i" $i "ref" $ref))) -}}
{{- end -}}
{{- join "," $paths -}}
{{- end -}}
