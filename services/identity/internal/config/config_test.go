package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

const token = "internal-token-0123456789"

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTPAddr, ":8081"},
		{"INTERNAL_ADDR", c.InternalAddr, ":9081"},
		{"MONGODB_DATABASE", c.MongoDatabase, "latchkey_identity"},
		{"SESSION_INTERNAL_URL", c.SessionInternalURL, "http://127.0.0.1:9082"},
		{"ARGON2_MEMORY_KIB", c.Argon2.MemoryKiB, uint32(19456)},
		{"ARGON2_ITERATIONS", c.Argon2.Iterations, uint32(2)},
		{"ARGON2_PARALLELISM", c.Argon2.Parallelism, uint8(1)},
		{"OTP_TTL", c.OTP.TTL, 10 * time.Minute},
		{"OTP_MAX_ATTEMPTS", c.OTP.MaxAttempts, 5},
		{"OTP_RESEND_COOLDOWN", c.OTP.ResendCooldown, time.Minute},
		{"OTP_MAX_PER_DESTINATION_PER_HOUR", c.OTP.MaxPerDestinationPerHour, 5},
		{"OTP_MAX_PER_ACCOUNT_PER_HOUR", c.OTP.MaxPerAccountPerHour, 10},
		{"LOGIN_MAX_FAILURES_PER_ACCOUNT", c.LoginFailuresPerAccount.Max, 100},
		{"LOGIN_FAILURE_WINDOW", c.LoginFailuresPerAccount.Window, time.Hour},
		{"LOGIN_MAX_PER_IP", c.LoginPerIP.Max, 100},
		{"LOGIN_IP_WINDOW", c.LoginPerIP.Window, 24 * time.Hour},
		{"OTP_VERIFY_MAX_PER_IP", c.CodeVerifyPerIP.Max, 100},
		{"OTP_VERIFY_IP_WINDOW", c.CodeVerifyPerIP.Window, time.Hour},
		{"OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT", c.CodeFailuresPerAccount.Max, 10},
		{"OTP_VERIFY_FAILURE_WINDOW", c.CodeFailuresPerAccount.Window, 15 * time.Minute},
		{"OTP_SEND_MAX_PER_IP", c.CodeSendPerIP.Max, 100},
		{"OTP_SEND_IP_WINDOW", c.CodeSendPerIP.Window, time.Hour},
		{"USERNAME_LOOKUP_MAX_PER_IP", c.UsernameLookupsPerIP.Max, 300},
		{"LOGIN_BACKOFF_FREE_FAILURES", c.Throttle.LoginBackoff.Free, 5},
		{"LOGIN_BACKOFF_BASE", c.Throttle.LoginBackoff.Base, time.Second},
		{"LOGIN_BACKOFF_MAX", c.Throttle.LoginBackoff.Max, 15 * time.Minute},
		{"LOGIN_BACKOFF_FORGET", c.Throttle.LoginBackoff.Forget, 24 * time.Hour},
		{"THROTTLE_ALLOW_CIDRS", c.Throttle.AllowIPs.Len(), 0},
		{"REGISTRATION_MAX_PER_IP", c.Throttle.Registration.PerIP.Max, 50},
		{"REGISTRATION_IP_WINDOW", c.Throttle.Registration.PerIP.Window, time.Minute},
		{"REGISTRATION_MAX_PER_EMAIL", c.Throttle.Registration.PerEmail.Max, 10},
		{"REGISTRATION_EMAIL_WINDOW", c.Throttle.Registration.PerEmail.Window, 24 * time.Hour},
		{"REGISTRATION_MAX_PER_DOMAIN", c.Throttle.Registration.PerDomain.Max, 1000},
		{"REGISTRATION_DOMAIN_WINDOW", c.Throttle.Registration.PerDomain.Window, time.Hour},
		{"REGISTRATION_MAX_GLOBAL", c.Throttle.Registration.Global.Max, 10000},
		{"REGISTRATION_GLOBAL_WINDOW", c.Throttle.Registration.Global.Window, time.Hour},
		{"CAPTCHA_AFTER", c.Throttle.Registration.CaptchaAfter.Max, 10},
		{"CAPTCHA_WINDOW", c.Throttle.Registration.CaptchaAfter.Window, time.Hour},
		{"CAPTCHA_PROVIDER", c.Throttle.CaptchaProvider, "none"},
		{"captcha off", c.Throttle.CaptchaEnabled(), false},
		{"USERNAME_LOOKUP_IP_WINDOW", c.UsernameLookupsPerIP.Window, time.Minute},
		{"LOCATION_HEADER", c.LocationHeader, ""},
		{"pepper generated", c.PepperGenerated, true},
		{"generated pepper length", len(c.OTPPepper.Value()) >= 32, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadOverrides(t *testing.T) {
	t.Parallel()
	pepper := strings.Repeat("p", 40)
	c, err := config.Load(platform.NewLoaderFrom(map[string]string{
		"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "OTP_PEPPER": pepper, "OTP_TTL": "5m", "LOGIN_MAX_PER_IP": "7",
		"ARGON2_MEMORY_KIB": "65536", "SESSION_INTERNAL_URL": "https://session.internal:9082",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.OTPPepper.Value() != pepper || c.PepperGenerated || c.OTP.TTL != 5*time.Minute || c.LoginPerIP.Max != 7 ||
		c.Argon2.MemoryKiB != 65536 || c.SessionInternalURL != "https://session.internal:9082" {
		t.Errorf("overrides not applied: %+v", c)
	}
	if strings.Contains(c.OTPPepper.String(), "p") {
		t.Errorf("pepper prints as %q, want it masked", c.OTPPepper.String())
	}
}

func TestLoadThrottleSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := config.Load(platform.NewLoaderFrom(with("THROTTLE_ALLOW_CIDRS", "203.0.113.0/24, 2001:db8::1",
		"CAPTCHA_PROVIDER", "turnstile", "CAPTCHA_SECRET", "0x4AAA-secret")))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Throttle.AllowIPs.Contains("203.0.113.9") || !c.Throttle.AllowIPs.Contains("2001:db8::1") || c.Throttle.AllowIPs.Contains("198.51.100.1") {
		t.Errorf("allow list = %s", c.Throttle.AllowIPs)
	}
	if !c.Throttle.CaptchaEnabled() || c.Throttle.CaptchaVerifyURL != "https://challenges.cloudflare.com/turnstile/v0/siteverify" {
		t.Errorf("turnstile preset: verify URL %q", c.Throttle.CaptchaVerifyURL)
	}
	if strings.Contains(fmt.Sprint(c.LogValue()), "0x4AAA-secret") {
		t.Error("the CAPTCHA secret appears in the start-up log value")
	}
	for name, env := range map[string]map[string]string{
		"bad CIDR":           with("THROTTLE_ALLOW_CIDRS", "10.0.0.0/33"),
		"unknown provider":   with("CAPTCHA_PROVIDER", "captchaco"),
		"provider no secret": with("CAPTCHA_PROVIDER", "hcaptcha"),
		"bad verify URL":     with("CAPTCHA_PROVIDER", "recaptcha", "CAPTCHA_SECRET", "s", "CAPTCHA_VERIFY_URL", "ftp://x"),
		"backoff max < base": with("LOGIN_BACKOFF_BASE", "1m", "LOGIN_BACKOFF_MAX", "1s"),
	} {
		if _, err := config.Load(platform.NewLoaderFrom(env)); err == nil {
			t.Errorf("%s: Load() = nil error, want one", name)
		}
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := config.Load(platform.NewLoaderFrom(map[string]string{
		"OTP_PEPPER": "short", "ARGON2_MEMORY_KIB": "1024", "ARGON2_ITERATIONS": "1", "OTP_MAX_ATTEMPTS": "0",
		"SESSION_INTERNAL_URL": "session:9082", "OTP_TTL": "soon", "OTP_SEND_MAX_PER_IP": "0", "OTP_VERIFY_IP_WINDOW": "10ms",
		"LOCATION_HEADER": "X Geo", "USERNAME_LOOKUP_IP_WINDOW": "10ms",
	}))
	if err == nil {
		t.Fatal("Load() error = nil, want errors")
	}
	for _, want := range []string{"INTERNAL_API_TOKEN", "OTP_PEPPER", "ARGON2_MEMORY_KIB", "ARGON2_ITERATIONS", "OTP_MAX_ATTEMPTS", "SESSION_INTERNAL_URL", "OTP_TTL", "OTP_SEND_MAX_PER_IP", "OTP_VERIFY_IP_WINDOW", "LOCATION_HEADER", "USERNAME_LOOKUP_IP_WINDOW"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("error %q reveals the pepper", err)
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": "internal-secret-0123456789", "SESSION_INTERNAL_URL": "http://s:9082", "PROFILE_INTERNAL_URL": "http://p:9083", "JWKS_URL": "http://s:9082/.well-known/jwks.json", "OTP_PEPPER": strings.Repeat("s3cr3t", 6),
		"MONGODB_URI": "mongodb://user:hunter2@db:27017",
	}
	c, err := config.Load(platform.NewLoaderFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	out := buf.String()
	for _, secret := range []string{"internal-secret", "s3cr3t", "hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line %s contains the secret %q", out, secret)
		}
	}
	for _, want := range []string{`"otp_pepper":"****"`, `"http_addr":":8081"`, `"otp_ttl":600000000000`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %s lacks %s", out, want)
		}
	}
}
