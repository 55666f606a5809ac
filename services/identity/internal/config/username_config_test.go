package config_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func TestUsernamePolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		env                   map[string]string
		interval, reservation time.Duration
		wantErr               string
	}{
		{"defaults", nil, 30 * 24 * time.Hour, 90 * 24 * time.Hour, ""},
		{"set", map[string]string{"USERNAME_CHANGE_INTERVAL": "1h", "USERNAME_RESERVATION_PERIOD": "0s"}, time.Hour, 0, ""},
		{"negative", map[string]string{"USERNAME_CHANGE_INTERVAL": "-1h"}, 0, 0, "USERNAME_CHANGE_INTERVAL"},
		{"not a duration", map[string]string{"USERNAME_RESERVATION_PERIOD": "a while"}, 0, 0, "USERNAME_RESERVATION_PERIOD"},
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
			if c.Usernames.ChangeInterval != tc.interval || c.Usernames.Reservation != tc.reservation {
				t.Errorf("Usernames = %+v", c.Usernames)
			}
		})
	}
}
