package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestNotMeSettings(t *testing.T) {
	t.Parallel()
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082",
			"PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c, err := config.Load(platform.NewLoaderFrom(env(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.NotMe.URL != "" || c.NotMe.LinkTTL != 7*24*time.Hour {
		t.Errorf("defaults = %+v, want no link and 168h", c.NotMe)
	}
	c, err = config.Load(platform.NewLoaderFrom(env(map[string]string{"NOT_ME_URL": "https://accounts.example.com/not-me", "NOT_ME_LINK_TTL": "24h"})))
	if err != nil || c.NotMe.URL != "https://accounts.example.com/not-me" || c.NotMe.LinkTTL != 24*time.Hour {
		t.Errorf("set = %+v, %v", c.NotMe, err)
	}
	for _, tc := range []struct{ key, value string }{
		{"NOT_ME_URL", "javascript:alert(1)"},
		{"NOT_ME_URL", "/relative"},
		{"NOT_ME_URL", "https://user:pw@example.com/not-me"},
		{"NOT_ME_LINK_TTL", "10m"},
		{"NOT_ME_LINK_TTL", "2000h"},
		{"NOT_ME_LINK_TTL", "soon"},
	} {
		if _, err := config.Load(platform.NewLoaderFrom(env(map[string]string{tc.key: tc.value}))); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: err = %v, want it refused naming the variable", tc.key, tc.value, err)
		}
	}
}
