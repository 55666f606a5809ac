package deploy_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestChartPasskeys: the identity service gets the WebAuthn relying party from passkeys.rpId, else the
// ingress host, else the Gateway API hostname, with https://<RP ID> as the origin unless origins are
// given; without a host (or with passkeys.enabled false) no WEBAUTHN_* variable is set and passkeys are
// off. The other services never get them; the schema refuses values the service would refuse.
func TestChartPasskeys(t *testing.T) {
	for _, tc := range []struct {
		name          string
		files, set    []string
		rpID, origins string
	}{
		{name: "default (no host)"},
		{name: "production", files: valueSets[2].files, rpID: "accounts.example.com", origins: "https://accounts.example.com"},
		{name: "ingress host", set: []string{"ingress.host=ID.Example.org"}, rpID: "id.example.org", origins: "https://id.example.org"},
		{name: "gateway API hostname", set: []string{"ingress.enabled=false", "gatewayAPI.enabled=true", "gatewayAPI.parentRefs[0].name=public",
			"gatewayAPI.hostnames[0]=gw.example.org"}, rpID: "gw.example.org", origins: "https://gw.example.org"},
		{name: "explicit", set: []string{"ingress.host=id.example.org", "passkeys.rpId=example.org", "passkeys.origins[0]=https://id.example.org",
			"passkeys.origins[1]=https://app.example.org"}, rpID: "example.org", origins: "https://id.example.org,https://app.example.org"},
		{name: "disabled", set: []string{"ingress.host=id.example.org", "passkeys.enabled=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render.Chart(chartDir, "latchkey", "latchkey", tc.files, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			cms := byName(render.Of[*corev1.ConfigMap](objs))
			id := cms["latchkey-identity"].Data
			if id["WEBAUTHN_RP_ID"] != tc.rpID || id["WEBAUTHN_RP_ORIGINS"] != tc.origins {
				t.Errorf("identity: WEBAUTHN_RP_ID=%q WEBAUTHN_RP_ORIGINS=%q, want %q %q", id["WEBAUTHN_RP_ID"], id["WEBAUTHN_RP_ORIGINS"], tc.rpID, tc.origins)
			}
			if _, set := id["WEBAUTHN_RP_DISPLAY_NAME"]; set != (tc.rpID != "") {
				t.Errorf("WEBAUTHN_RP_DISPLAY_NAME set = %v", set)
			}
			for _, name := range services {
				if _, set := cms["latchkey-"+name].Data["WEBAUTHN_RP_ID"]; name != "identity" && set {
					t.Errorf("%s got WEBAUTHN_RP_ID", name)
				}
			}
			rel, err := render.Install(chartDir, "latchkey", "latchkey", tc.files, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(strings.Fields(rel.Info.Notes), " ")
			if tc.rpID != "" && !strings.Contains(notes, "Passkeys (WebAuthn): RP ID "+tc.rpID) {
				t.Errorf("NOTES do not show the RP ID:\n%s", rel.Info.Notes)
			}
			if tc.rpID == "" && tc.name != "disabled" && !strings.Contains(notes, "Passkeys are off") {
				t.Errorf("NOTES do not say passkeys are off:\n%s", rel.Info.Notes)
			}
		})
	}
	for _, bad := range []string{"passkeys.rpId=https://example.org", "passkeys.rpId=Example.org", "passkeys.origins[0]=http://example.org", "passkeys.origins[0]=example.org"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{bad}); err == nil || !strings.Contains(err.Error(), "passkeys") {
				t.Fatalf("%s: error %v, want the schema to refuse it", bad, err)
			}
		})
	}
}
