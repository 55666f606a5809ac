package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestAPIKeyLifetimes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		env                map[string]string
		defaultTTL, maxTTL time.Duration
		wantErr            string
	}{
		{"defaults", nil, 90 * 24 * time.Hour, 365 * 24 * time.Hour, ""},
		{"set", map[string]string{"API_KEY_DEFAULT_TTL": "720h", "API_KEY_MAX_TTL": "2160h"}, 720 * time.Hour, 2160 * time.Hour, ""},
		{"default beyond the maximum", map[string]string{"API_KEY_DEFAULT_TTL": "9000h"}, 0, 0, "API_KEY_DEFAULT_TTL"},
		{"maximum under a day", map[string]string{"API_KEY_MAX_TTL": "1h", "API_KEY_DEFAULT_TTL": "1h"}, 0, 0, "API_KEY_MAX_TTL"},
		{"not a duration", map[string]string{"API_KEY_MAX_TTL": "a year"}, 0, 0, "API_KEY_MAX_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := config.Load(platform.NewLoaderFrom(env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load() error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.APIKeyDefaultTTL != tc.defaultTTL || c.APIKeyMaxTTL != tc.maxTTL {
				t.Errorf("lifetimes = %s, %s; want %s, %s", c.APIKeyDefaultTTL, c.APIKeyMaxTTL, tc.defaultTTL, tc.maxTTL)
			}
		})
	}
}
