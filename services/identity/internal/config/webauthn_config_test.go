package config_test

import (
	"slices"
	"strings"
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func webAuthnEnv(kv ...string) map[string]string {
	env := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082",
		"PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func TestWebAuthnSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(webAuthnEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.WebAuthn.Enabled() {
		t.Errorf("passkeys on without WEBAUTHN_RP_ID: %+v", c.WebAuthn)
	}
	c, err = config.Load(platform.NewLoaderFrom(webAuthnEnv("WEBAUTHN_RP_ID", "example.com")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.WebAuthn.RPOrigins, []string{"https://example.com"}) || c.WebAuthn.RPDisplayName != "Latchkey" || c.WebAuthn.MaxPerAccount != 20 {
		t.Errorf("defaults = %+v", c.WebAuthn)
	}
	c, err = config.Load(platform.NewLoaderFrom(webAuthnEnv("WEBAUTHN_RP_ID", "localhost", "WEBAUTHN_RP_ORIGINS", "http://localhost:8080, http://localhost:5173")))
	if err != nil || len(c.WebAuthn.RPOrigins) != 2 {
		t.Fatalf("local stack settings: %v %+v", err, c.WebAuthn)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"WEBAUTHN_RP_ID", "127.0.0.1"}, "WEBAUTHN_RP_ID"},
		{[]string{"WEBAUTHN_RP_ID", "https://example.com"}, "WEBAUTHN_RP_ID"},
		{[]string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_RP_ORIGINS", "http://example.com"}, "WEBAUTHN_RP_ORIGINS"},
		{[]string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_RP_ORIGINS", "https://example.net"}, "WEBAUTHN_RP_ORIGINS"},
		{[]string{"WEBAUTHN_RP_ORIGINS", "https://example.com"}, "WEBAUTHN_RP_ID"},
		{[]string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_MAX_PER_ACCOUNT", "0"}, "WEBAUTHN_MAX_PER_ACCOUNT"},
		{[]string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_CEREMONY_TTL", "2h"}, "WEBAUTHN_CEREMONY_TTL"},
	} {
		if _, err := config.Load(platform.NewLoaderFrom(webAuthnEnv(tc.env...))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
