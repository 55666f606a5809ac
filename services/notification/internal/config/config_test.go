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

// devEnv is the local stack's notification environment: the dev outbox, allowed by DEVELOPMENT_MODE.
func devEnv(extra ...string) map[string]string {
	env := map[string]string{"INTERNAL_API_TOKEN": token, "DELIVERY_DRIVER": "outbox", "DEVELOPMENT_MODE": "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		wantDevOutbox bool
		wantErrs      []string
	}{
		{name: "development outbox", env: devEnv()},
		{name: "dev outbox on", env: devEnv("DEV_OUTBOX_ENABLED", "true"), wantDevOutbox: true},
		{name: "unknown driver", env: devEnv("DELIVERY_DRIVER", "twilio"), wantErrs: []string{"DELIVERY_DRIVER"}},
		{
			name:     "every problem at once",
			env:      map[string]string{"DEV_OUTBOX_ENABLED": "maybe", "DELIVERY_DRIVER": "smtp", "DELIVERY_MAX_ATTEMPTS": "0"},
			wantErrs: []string{"INTERNAL_API_TOKEN", "DEV_OUTBOX_ENABLED", "DELIVERY_DRIVER", "DELIVERY_MAX_ATTEMPTS"},
		},
		{name: "bad development mode", env: devEnv("DEVELOPMENT_MODE", "yes please"), wantErrs: []string{"DEVELOPMENT_MODE"}},
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
			if cfg.DeliveryDriver != notificationconfig.DriverOutbox || cfg.DevOutboxEnabled != tc.wantDevOutbox || !cfg.DevelopmentMode {
				t.Errorf("driver %q, dev outbox %v, development %v; want outbox, %v, true", cfg.DeliveryDriver, cfg.DevOutboxEnabled, cfg.DevelopmentMode, tc.wantDevOutbox)
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

// TestOutboxNeedsDevelopmentMode: the outbox driver stores one-time codes in plain text and never
// sends them, and the dev outbox route serves them over HTTP. Neither starts without
// DEVELOPMENT_MODE=true, and the default driver, with no other setting, is live delivery, which refuses
// to start without a provider instead of falling back to the outbox.
func TestOutboxNeedsDevelopmentMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "outbox driver", env: devEnv("DEVELOPMENT_MODE", ""), wantErr: "DELIVERY_DRIVER=outbox"},
		{name: "outbox driver, development off", env: devEnv("DEVELOPMENT_MODE", "false"), wantErr: "DEVELOPMENT_MODE=true"},
		{name: "dev outbox route on live delivery", env: liveEnv("DEV_OUTBOX_ENABLED", "true"), wantErr: "DEV_OUTBOX_ENABLED"},
		{name: "default driver without provider", env: map[string]string{"INTERNAL_API_TOKEN": token}, wantErr: "DELIVERY_DRIVER=live needs TWILIO_ACCOUNT_SID or SMTP_HOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notificationconfig.Load(config.NewLoaderFrom(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
	cfg, err := notificationconfig.Load(config.NewLoaderFrom(liveEnv("DEVELOPMENT_MODE", "")))
	if err != nil {
		t.Fatalf("live delivery without DEVELOPMENT_MODE: %v", err)
	}
	if cfg.DeliveryDriver != notificationconfig.DriverLive || cfg.DevelopmentMode {
		t.Errorf("driver %q, development %v; want live, false", cfg.DeliveryDriver, cfg.DevelopmentMode)
	}
	// Development mode alone changes nothing: the driver is still chosen by DELIVERY_DRIVER.
	cfg, err = notificationconfig.Load(config.NewLoaderFrom(liveEnv("DEVELOPMENT_MODE", "true")))
	if err != nil || cfg.DeliveryDriver != notificationconfig.DriverLive {
		t.Errorf("live delivery with DEVELOPMENT_MODE: driver %q, err %v", cfg.DeliveryDriver, err)
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	const uri = "mongodb://user:hunter2@db:27017"
	cfg, err := notificationconfig.Load(config.NewLoaderFrom(devEnv("MONGODB_URI", uri)))
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
