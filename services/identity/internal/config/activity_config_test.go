package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestActivityRetention(t *testing.T) {
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
	if c.ActivityRetention != 90*24*time.Hour {
		t.Errorf("default ACTIVITY_RETENTION = %s, want 2160h", c.ActivityRetention)
	}
	if c, err := config.Load(platform.NewLoaderFrom(env(map[string]string{"ACTIVITY_RETENTION": "720h"}))); err != nil || c.ActivityRetention != 720*time.Hour {
		t.Errorf("ACTIVITY_RETENTION=720h: %s, %v", c.ActivityRetention, err)
	}
	for _, v := range []string{"1h", "20000h", "-5h", "ninety days"} {
		if _, err := config.Load(platform.NewLoaderFrom(env(map[string]string{"ACTIVITY_RETENTION": v}))); err == nil || !strings.Contains(err.Error(), "ACTIVITY_RETENTION") {
			t.Errorf("ACTIVITY_RETENTION=%s: err = %v, want it refused naming the variable", v, err)
		}
	}
}
