package config_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

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
			if cfg.ConsumerRetry != 200*time.Millisecond || cfg.ConsumerRetryMax != 5*time.Second {
				t.Errorf("consumer retry %s..%s, want 200ms..5s", cfg.ConsumerRetry, cfg.ConsumerRetryMax)
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

func liveEnv(extra ...string) map[string]string {
	env := map[string]string{
		"INTERNAL_API_TOKEN": token, "DELIVERY_DRIVER": "live",
		"TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "TWILIO_AUTH_TOKEN": "twiliotoken0123456789", "TWILIO_SMS_FROM": "+15005550006",
		"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Latchkey <no-reply@example.com>", "SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "smtp-hunter2",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func TestLoadLive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantErrs []string
	}{
		{name: "twilio and smtp", env: liveEnv()},
		{name: "smtp only", env: liveEnv("TWILIO_ACCOUNT_SID", "")},
		{name: "no provider", env: liveEnv("TWILIO_ACCOUNT_SID", "", "SMTP_HOST", ""), wantErrs: []string{"TWILIO_ACCOUNT_SID or SMTP_HOST"}},
		{name: "twilio without sender", env: liveEnv("TWILIO_SMS_FROM", ""), wantErrs: []string{"TWILIO_"}},
		{name: "smtp without sender", env: liveEnv("SMTP_FROM", ""), wantErrs: []string{"SMTP_"}},
		{name: "bad limits", env: liveEnv("SEND_LIMIT_PER_DESTINATION", "lots", "SEND_LIMIT_COUNTRIES", "+1"), wantErrs: []string{"SEND_LIMIT_PER_DESTINATION", "SEND_LIMIT_COUNTRIES"}},
		{name: "bad retry timing", env: liveEnv("DELIVERY_RETRY_BASE", "10s", "DELIVERY_RETRY_MAX", "1s"), wantErrs: []string{"DELIVERY_RETRY_BASE"}},
		{name: "bad consumer retry timing", env: liveEnv("CONSUMER_RETRY_BASE", "10s", "CONSUMER_RETRY_MAX", "1s"), wantErrs: []string{"CONSUMER_RETRY_BASE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := notificationconfig.Load(config.NewLoaderFrom(tc.env))
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if cfg.DeliveryDriver != notificationconfig.DriverLive || cfg.Limits.PerDestination.Max != 10 {
					t.Errorf("config = %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
}

func TestLogValueMasksProviderSecrets(t *testing.T) {
	cfg, err := notificationconfig.Load(config.NewLoaderFrom(liveEnv()))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg)
	for _, secret := range []string{"twiliotoken0123456789", "smtp-hunter2"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log line shows secret %q: %s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"smtp_host":"smtp.example.com"`) {
		t.Errorf("log line lacks the SMTP host: %s", buf.String())
	}
}
