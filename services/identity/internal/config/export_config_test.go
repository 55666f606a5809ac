package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestExportSettings(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082",
			"PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c, err := config.Load(platform.NewLoaderFrom(base(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Export.TTL != 24*time.Hour || c.Export.Interval != time.Hour {
		t.Errorf("defaults = %+v, want 24h and 1h", c.Export)
	}
	c, err = config.Load(platform.NewLoaderFrom(base(map[string]string{"ACCOUNT_EXPORT_TTL": "2h", "ACCOUNT_EXPORT_INTERVAL": "5m"})))
	if err != nil || c.Export.TTL != 2*time.Hour || c.Export.Interval != 5*time.Minute {
		t.Errorf("set = %+v, %v", c.Export, err)
	}
	for _, tc := range []struct{ key, value string }{
		{"ACCOUNT_EXPORT_TTL", "0s"},
		{"ACCOUNT_EXPORT_TTL", "1000h"},
		{"ACCOUNT_EXPORT_TTL", "soon"},
		{"ACCOUNT_EXPORT_INTERVAL", "1s"},
		{"ACCOUNT_EXPORT_INTERVAL", "-1h"},
	} {
		if _, err := config.Load(platform.NewLoaderFrom(base(map[string]string{tc.key: tc.value}))); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: err = %v, want it refused", tc.key, tc.value, err)
		}
	}
}
