package config_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	profileconfig "github.com/latchkey/latchkey/services/profile/internal/config"
)

const token = "0123456789abcdef-internal"

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantWait time.Duration
		wantErrs []string
	}{
		{name: "defaults", env: map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}, wantWait: 1500 * time.Millisecond},
		{name: "wait set", env: map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "PROFILE_WAIT_TIMEOUT": "500ms"}, wantWait: 500 * time.Millisecond},
		{name: "wait too long", env: map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "PROFILE_WAIT_TIMEOUT": "1m"}, wantErrs: []string{"PROFILE_WAIT_TIMEOUT"}},
		{name: "identity URL missing", env: map[string]string{"INTERNAL_API_TOKEN": token, "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}, wantErrs: []string{"IDENTITY_INTERNAL_URL is required"}},
		{name: "JWKS URL missing", env: map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://identity:9081"}, wantErrs: []string{"JWKS_URL is required"}},
		{name: "identity URL not http", env: map[string]string{"INTERNAL_API_TOKEN": token, "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "IDENTITY_INTERNAL_URL": "ftp://identity"}, wantErrs: []string{"IDENTITY_INTERNAL_URL"}},
		{
			name:     "every problem at once",
			env:      map[string]string{"PROFILE_WAIT_TIMEOUT": "soon", "BODY_LIMIT_BYTES": "lots"},
			wantErrs: []string{"INTERNAL_API_TOKEN", "PROFILE_WAIT_TIMEOUT", "BODY_LIMIT_BYTES"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := profileconfig.Load(config.NewLoaderFrom(tc.env))
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatal("Load succeeded, want an error")
				}
				for _, want := range tc.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %s", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.IdentityInternalURL != "http://127.0.0.1:9081" {
				t.Errorf("IdentityInternalURL = %q, want the default", cfg.IdentityInternalURL)
			}
			if cfg.ProfileWait != tc.wantWait {
				t.Errorf("ProfileWait = %s, want %s", cfg.ProfileWait, tc.wantWait)
			}
			if cfg.HTTPAddr != ":8083" || cfg.InternalAddr != ":9083" || cfg.MongoDatabase != "latchkey_profile" {
				t.Errorf("defaults: http %q internal %q database %q", cfg.HTTPAddr, cfg.InternalAddr, cfg.MongoDatabase)
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	const uri = "mongodb://user:hunter2@db:27017"
	cfg, err := profileconfig.Load(config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": token, "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "MONGODB_URI": uri}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg)
	got := buf.String()
	for _, secret := range []string{"hunter2", token} {
		if strings.Contains(got, secret) {
			t.Errorf("log line shows secret %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, `"mongodb_uri":"****"`) {
		t.Errorf("log line lacks the masked URI: %s", got)
	}
}
