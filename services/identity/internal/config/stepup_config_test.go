package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestStepUpSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReauthTokenTTL != 5*time.Minute || c.EmailRevertPeriod != 7*24*time.Hour || !strings.HasPrefix(c.EmailRevertURL, "http") {
		t.Errorf("defaults = %s, %s, %q", c.ReauthTokenTTL, c.EmailRevertPeriod, c.EmailRevertURL)
	}
	for _, tc := range []struct{ key, value string }{
		{"REAUTH_TOKEN_TTL", "1s"},
		{"REAUTH_TOKEN_TTL", "2h"},
		{"EMAIL_CHANGE_REVERT_PERIOD", "10m"},
		{"EMAIL_CHANGE_REVERT_PERIOD", "2000h"},
		{"EMAIL_CHANGE_REVERT_URL", "javascript:alert(1)"},
		{"EMAIL_CHANGE_REVERT_URL", "/relative"},
	} {
		if _, err := config.Load(platform.NewLoaderFrom(map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", tc.key: tc.value})); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: err = %v, want it refused", tc.key, tc.value, err)
		}
	}
}
