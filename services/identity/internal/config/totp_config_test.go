package config_test

import (
	"strings"
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

// testTOTPKeys is a TOTP_ENCRYPTION_KEYS value for tests (32 zero bytes: public, never for real use).
const testTOTPKeys = "test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestTOTPSettings(t *testing.T) {
	t.Parallel()
	base := func(kv ...string) map[string]string {
		m := map[string]string{"INTERNAL_API_TOKEN": "internal-token-0123456789", "SESSION_INTERNAL_URL": "http://s:9082", "PROFILE_INTERNAL_URL": "http://p:9083", "JWKS_URL": "http://s:9082/.well-known/jwks.json"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	key2 := "k2:" + strings.Repeat("B", 43) + "="
	c, err := config.Load(platform.NewLoaderFrom(base("TOTP_ENCRYPTION_KEYS", testTOTPKeys+","+key2, "TOTP_ENCRYPTION_KEY_ID", "k2", "TOTP_ISSUER", "Acme")))
	if err != nil {
		t.Fatal(err)
	}
	if c.TOTP.Keys.CurrentID() != "k2" || c.TOTP.Issuer != "Acme" {
		t.Errorf("TOTP = %q %q", c.TOTP.Keys.CurrentID(), c.TOTP.Issuer)
	}
	if s := c.LogValue().String(); strings.Contains(s, "AAAAAAAA") || strings.Contains(s, "BBBBBBBB") {
		t.Errorf("log value shows a TOTP key: %s", s)
	}
	for _, tc := range []struct{ name, keys, id, want string }{
		{"missing", "", "", "TOTP_ENCRYPTION_KEYS is required"},
		{"bad key", "k1:not-base64!", "", "TOTP_ENCRYPTION_KEYS"},
		{"unknown id", testTOTPKeys, "nope", "TOTP_ENCRYPTION_KEY_ID"},
	} {
		_, err := config.Load(platform.NewLoaderFrom(base("TOTP_ENCRYPTION_KEYS", tc.keys, "TOTP_ENCRYPTION_KEY_ID", tc.id)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to name %s", tc.name, err, tc.want)
		}
	}
}
