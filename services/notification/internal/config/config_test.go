package config_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
	notificationconfig "github.com/latchkey/latchkey/services/notification/internal/config"
)

const token = "0123456789abcdef-internal"

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		wantDevOutbox bool
		wantErrs      []string
	}{
		{name: "defaults", env: map[string]string{"INTERNAL_API_TOKEN": token}},
		{name: "dev outbox on", env: map[string]string{"INTERNAL_API_TOKEN": token, "DEV_OUTBOX_ENABLED": "true", "DELIVERY_DRIVER": "outbox"}, wantDevOutbox: true},
		{name: "unknown driver", env: map[string]string{"INTERNAL_API_TOKEN": token, "DELIVERY_DRIVER": "twilio"}, wantErrs: []string{"DELIVERY_DRIVER"}},
		{
			name:     "every problem at once",
			env:      map[string]string{"DEV_OUTBOX_ENABLED": "maybe", "DELIVERY_DRIVER": "smtp", "DELIVERY_MAX_ATTEMPTS": "0"},
			wantErrs: []string{"INTERNAL_API_TOKEN", "DEV_OUTBOX_ENABLED", "DELIVERY_DRIVER", "DELIVERY_MAX_ATTEMPTS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := notificationconfig.Load(config.NewLoaderFrom(tc.env))
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
			if cfg.DeliveryDriver != notificationconfig.DriverOutbox || cfg.DevOutboxEnabled != tc.wantDevOutbox {
				t.Errorf("driver %q, dev outbox %v; want outbox, %v", cfg.DeliveryDriver, cfg.DevOutboxEnabled, tc.wantDevOutbox)
			}
			if cfg.HTTPAddr != ":8084" || cfg.InternalAddr != ":9084" || cfg.MongoDatabase != "latchkey_notification" {
				t.Errorf("defaults: http %q internal %q database %q", cfg.HTTPAddr, cfg.InternalAddr, cfg.MongoDatabase)
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	const uri = "mongodb://user:hunter2@db:27017"
	cfg, err := notificationconfig.Load(config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": token, "MONGODB_URI": uri}))
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
	if !strings.Contains(got, `"delivery_driver":"outbox"`) {
		t.Errorf("log line lacks the delivery driver: %s", got)
	}
}
