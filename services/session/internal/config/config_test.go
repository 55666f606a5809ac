package config_test

import (
	"strings"
	"testing"
	"time"

	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/session/internal/config"
)

func TestLoad(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		name     string
		env      map[string]string
		wantErrs []string // substrings of the error; none means success
		check    func(t *testing.T, c config.Config)
	}{
		{
			name: "defaults",
			env:  map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081"},
			check: func(t *testing.T, c config.Config) {
				if c.HTTPAddr != ":8082" || c.InternalAddr != ":9082" {
					t.Errorf("addrs = %q %q, want :8082 :9082", c.HTTPAddr, c.InternalAddr)
				}
				if c.MongoDatabase != "latchkey_session" {
					t.Errorf("MongoDatabase = %q, want latchkey_session", c.MongoDatabase)
				}
				if c.AccessTokenTTL != 15*time.Minute || c.SessionIdleTTL != 720*time.Hour || c.SessionAbsoluteTTL != 2160*time.Hour {
					t.Errorf("TTLs = %s %s %s, want 15m 720h 2160h", c.AccessTokenTTL, c.SessionIdleTTL, c.SessionAbsoluteTTL)
				}
				if c.SigningKeyFile != "" {
					t.Errorf("SigningKeyFile = %q, want empty", c.SigningKeyFile)
				}
				if c.TouchInterval != 5*time.Minute || c.RefreshWindow != 5*time.Minute {
					t.Errorf("TouchInterval/RefreshWindow = %s %s, want 5m 5m", c.TouchInterval, c.RefreshWindow)
				}
				if c.RefreshGrace != 10*time.Second {
					t.Errorf("RefreshGrace = %s, want 10s", c.RefreshGrace)
				}
				if c.IdentityInternalURL != "http://127.0.0.1:9081" || c.LocationHeader != "" {
					t.Errorf("IdentityURL/LocationHeader = %q %q, want http://127.0.0.1:9081 and off", c.IdentityInternalURL, c.LocationHeader)
				}
			},
		},
		{
			name: "overrides",
			env: map[string]string{"INTERNAL_API_TOKEN": token, "ACCESS_TOKEN_TTL": "5m", "SESSION_IDLE_TTL": "24h",
				"SESSION_ABSOLUTE_TTL": "48h", "JWT_SIGNING_KEY_FILE": "/run/secrets/jwt.pem", "SESSION_TOUCH_INTERVAL": "1m",
				"TOKEN_REFRESH_WINDOW": "2m", "REFRESH_TOKEN_GRACE": "0s", "IDENTITY_INTERNAL_URL": "http://identity:9081", "LOCATION_HEADER": "X-Client-Geo",
				"JWT_VERIFICATION_KEY_FILES": "/run/secrets/old.pem, /run/secrets/next/"},
			check: func(t *testing.T, c config.Config) {
				if c.AccessTokenTTL != 5*time.Minute || c.SessionIdleTTL != 24*time.Hour || c.SessionAbsoluteTTL != 48*time.Hour {
					t.Errorf("TTLs = %s %s %s, want 5m 24h 48h", c.AccessTokenTTL, c.SessionIdleTTL, c.SessionAbsoluteTTL)
				}
				if c.RefreshGrace != 0 {
					t.Errorf("RefreshGrace = %s, want 0 (off)", c.RefreshGrace)
				}
				if c.SigningKeyFile != "/run/secrets/jwt.pem" {
					t.Errorf("SigningKeyFile = %q", c.SigningKeyFile)
				}
				if got := strings.Join(c.VerificationKeyFiles, "|"); got != "/run/secrets/old.pem|/run/secrets/next/" {
					t.Errorf("VerificationKeyFiles = %q", c.VerificationKeyFiles)
				}
				if c.TouchInterval != time.Minute || c.RefreshWindow != 2*time.Minute || c.IdentityInternalURL != "http://identity:9081" || c.LocationHeader != "X-Client-Geo" {
					t.Errorf("touch/window/identity/location = %s %s %q %q", c.TouchInterval, c.RefreshWindow, c.IdentityInternalURL, c.LocationHeader)
				}
			},
		},
		{
			name:     "every problem at once",
			env:      map[string]string{"ACCESS_TOKEN_TTL": "forever", "SESSION_IDLE_TTL": "0s", "SESSION_ABSOLUTE_TTL": "1h"},
			wantErrs: []string{"INTERNAL_API_TOKEN is required", "ACCESS_TOKEN_TTL=\"forever\"", "SESSION_IDLE_TTL=0s"},
		},
		{
			name:     "access tokens longer than the deny-list lookback",
			env:      map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "ACCESS_TOKEN_TTL": "1h"},
			wantErrs: []string{"ACCESS_TOKEN_TTL=1h0m0s"},
		},
		{
			name: "bad identity URL, location header and touch interval",
			env: map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "identity:9081",
				"LOCATION_HEADER": "X Geo", "SESSION_TOUCH_INTERVAL": "0s"},
			wantErrs: []string{"IDENTITY_INTERNAL_URL=", "LOCATION_HEADER=", "SESSION_TOUCH_INTERVAL=0s"},
		},
		{
			name:     "verification keys without a signing key file",
			env:      map[string]string{"INTERNAL_API_TOKEN": token, "JWT_VERIFICATION_KEY_FILES": "/run/secrets/old.pem"},
			wantErrs: []string{"JWT_VERIFICATION_KEY_FILES needs JWT_SIGNING_KEY_FILE"},
		},
		{
			name:     "refresh grace too long",
			env:      map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "REFRESH_TOKEN_GRACE": "5m"},
			wantErrs: []string{"REFRESH_TOKEN_GRACE=5m0s"},
		},
		{
			name:     "idle longer than absolute",
			env:      map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "SESSION_IDLE_TTL": "100h", "SESSION_ABSOLUTE_TTL": "10h"},
			wantErrs: []string{"SESSION_IDLE_TTL=100h0m0s: want at most SESSION_ABSOLUTE_TTL"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(platformconfig.NewLoaderFrom(tc.env))
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := config.Load(platformconfig.NewLoaderFrom(map[string]string{
		"INTERNAL_API_TOKEN": "very-secret-internal-token", "IDENTITY_INTERNAL_URL": "http://identity:9081", "MONGODB_URI": "mongodb://user:hunter2@db:27017",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.LogValue().String()
	for _, secret := range []string{"very-secret-internal-token", "hunter2"} {
		if strings.Contains(got, secret) {
			t.Errorf("log value %q contains the secret %q", got, secret)
		}
	}
	if !strings.Contains(got, "access_token_ttl") {
		t.Errorf("log value %q does not list access_token_ttl", got)
	}
}
