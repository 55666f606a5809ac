package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestDeletionSettings(t *testing.T) {
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
	if c.Deletion.Grace != 720*time.Hour || c.Deletion.CheckInterval != time.Minute {
		t.Errorf("defaults = %+v, want 720h and 1m", c.Deletion)
	}
	c, err = config.Load(platform.NewLoaderFrom(base(map[string]string{"ACCOUNT_DELETION_GRACE": "2s", "ACCOUNT_DELETION_CHECK_INTERVAL": "200ms"})))
	if err != nil || c.Deletion.Grace != 2*time.Second || c.Deletion.CheckInterval != 200*time.Millisecond {
		t.Errorf("short values for tests = %+v, %v", c.Deletion, err)
	}
	for _, tc := range []struct{ key, value string }{
		{"ACCOUNT_DELETION_GRACE", "0s"},
		{"ACCOUNT_DELETION_GRACE", "-1h"},
		{"ACCOUNT_DELETION_GRACE", "9000h"},
		{"ACCOUNT_DELETION_GRACE", "soon"},
		{"ACCOUNT_DELETION_CHECK_INTERVAL", "1ms"},
		{"ACCOUNT_DELETION_CHECK_INTERVAL", "2h"},
	} {
		if _, err := config.Load(platform.NewLoaderFrom(base(map[string]string{tc.key: tc.value}))); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: err = %v, want it refused", tc.key, tc.value, err)
		}
	}
}
