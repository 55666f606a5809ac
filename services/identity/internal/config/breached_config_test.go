package config_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// breachEnv is the least configuration identity starts with, plus extra.
func breachEnv(extra map[string]string) map[string]string {
	env := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
	maps.Copy(env, extra)
	return env
}

func TestBreachedPasswordsDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(breachEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	got := c.BreachedPasswords
	want := password.BreachConfig{Online: true, APIURL: "https://api.pwnedpasswords.com", Timeout: 1500 * time.Millisecond,
		CacheTTL: time.Hour, CacheSize: 1000, MinCount: 1, UserAgent: password.DefaultBreachConfig.UserAgent}
	if got != want {
		t.Errorf("BreachedPasswords = %+v, want %+v", got, want)
	}
}

func TestBreachedPasswordsSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(breachEnv(map[string]string{
		"BREACHED_PASSWORDS_ONLINE": "false", "BREACHED_PASSWORDS_API_URL": "http://hibp-mirror.internal:8080/", "BREACHED_PASSWORDS_TIMEOUT": "800ms",
		"BREACHED_PASSWORDS_CACHE_TTL": "0s", "BREACHED_PASSWORDS_CACHE_SIZE": "50", "BREACHED_PASSWORDS_MIN_COUNT": "10",
	})))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BreachedPasswords
	if b.Online || b.APIURL != "http://hibp-mirror.internal:8080/" || b.Timeout != 800*time.Millisecond || b.CacheTTL != 0 || b.CacheSize != 50 || b.MinCount != 10 {
		t.Errorf("BreachedPasswords = %+v", b)
	}
}

func TestBreachedPasswordsBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	for key, value := range map[string]string{
		"BREACHED_PASSWORDS_ONLINE":     "maybe",
		"BREACHED_PASSWORDS_API_URL":    "api.pwnedpasswords.com",
		"BREACHED_PASSWORDS_TIMEOUT":    "30s",
		"BREACHED_PASSWORDS_CACHE_TTL":  "48h",
		"BREACHED_PASSWORDS_CACHE_SIZE": "0",
		"BREACHED_PASSWORDS_MIN_COUNT":  "0",
	} {
		for _, v := range []string{value, "nonsense"} {
			if key == "BREACHED_PASSWORDS_API_URL" && v == "nonsense" {
				continue
			}
			_, err := config.Load(platform.NewLoaderFrom(breachEnv(map[string]string{key: v})))
			if err == nil || !strings.Contains(err.Error(), key+"=") {
				t.Errorf("%s=%s: error %v, want one naming the variable", key, v, err)
			}
		}
	}
}
