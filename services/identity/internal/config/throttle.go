package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/captcha"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Throttle are the settings added to the brute-force limits of Config: the backoff of one client's
// failed logins, the addresses exempt from per-IP limits, the registration limits and the CAPTCHA.
type Throttle struct {
	LoginBackoff throttle.Backoff
	AllowIPs     throttle.AllowList
	Registration auth.RegistrationLimits
	// CaptchaProvider is none, turnstile, hcaptcha or recaptcha; CaptchaVerifyURL the siteverify URL
	// (the provider's by default; a test points it at a fake).
	CaptchaProvider  string
	CaptchaVerifyURL string
	CaptchaSecret    config.Secret
}

// CaptchaEnabled reports whether CAPTCHA tokens are verified.
func (t Throttle) CaptchaEnabled() bool { return t.CaptchaVerifyURL != "" }

func loadThrottle(l *config.Loader, positive func(string, int) int) (Throttle, []error) {
	var errs []error
	t := Throttle{
		LoginBackoff: throttle.Backoff{
			Free:   positive("LOGIN_BACKOFF_FREE_FAILURES", 5),
			Base:   l.Duration("LOGIN_BACKOFF_BASE", time.Second),
			Max:    l.Duration("LOGIN_BACKOFF_MAX", 15*time.Minute),
			Forget: l.Duration("LOGIN_BACKOFF_FORGET", 24*time.Hour),
		},
		Registration: auth.RegistrationLimits{
			PerIP:        throttle.Limit{Max: positive("REGISTRATION_MAX_PER_IP", 50), Window: l.Duration("REGISTRATION_IP_WINDOW", time.Minute)},
			PerEmail:     throttle.Limit{Max: positive("REGISTRATION_MAX_PER_EMAIL", 10), Window: l.Duration("REGISTRATION_EMAIL_WINDOW", 24*time.Hour)},
			PerDomain:    throttle.Limit{Max: positive("REGISTRATION_MAX_PER_DOMAIN", 1000), Window: l.Duration("REGISTRATION_DOMAIN_WINDOW", time.Hour)},
			Global:       throttle.Limit{Max: positive("REGISTRATION_MAX_GLOBAL", 10000), Window: l.Duration("REGISTRATION_GLOBAL_WINDOW", time.Hour)},
			CaptchaAfter: throttle.Limit{Max: positive("CAPTCHA_AFTER", 10), Window: l.Duration("CAPTCHA_WINDOW", time.Hour)},
		},
		CaptchaProvider: strings.ToLower(l.String("CAPTCHA_PROVIDER", "none")),
		CaptchaSecret:   l.Secret("CAPTCHA_SECRET", ""),
	}
	allow, err := throttle.ParseAllowList(l.List("THROTTLE_ALLOW_CIDRS", nil))
	if err != nil {
		errs = append(errs, fmt.Errorf("THROTTLE_ALLOW_CIDRS: %w", err))
	}
	t.AllowIPs = allow
	b := t.LoginBackoff
	if b.Base < time.Millisecond || b.Max < b.Base || b.Forget < b.Max {
		errs = append(errs, fmt.Errorf("LOGIN_BACKOFF_BASE=%s, LOGIN_BACKOFF_MAX=%s, LOGIN_BACKOFF_FORGET=%s: want 1ms ≤ base ≤ max ≤ forget", b.Base, b.Max, b.Forget))
	}
	for name, d := range map[string]time.Duration{
		"REGISTRATION_IP_WINDOW": t.Registration.PerIP.Window, "REGISTRATION_EMAIL_WINDOW": t.Registration.PerEmail.Window,
		"REGISTRATION_DOMAIN_WINDOW": t.Registration.PerDomain.Window, "REGISTRATION_GLOBAL_WINDOW": t.Registration.Global.Window,
		"CAPTCHA_WINDOW": t.Registration.CaptchaAfter.Window,
	} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s=%s: want at least 1s", name, d))
		}
	}
	switch preset, known := captcha.Providers[t.CaptchaProvider]; {
	case t.CaptchaProvider == "none" || t.CaptchaProvider == "":
		t.CaptchaProvider = "none"
	case !known:
		errs = append(errs, fmt.Errorf("CAPTCHA_PROVIDER=%q: want none, turnstile, hcaptcha or recaptcha", t.CaptchaProvider))
	default:
		t.CaptchaVerifyURL = l.String("CAPTCHA_VERIFY_URL", preset)
		if u, err := url.Parse(t.CaptchaVerifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("CAPTCHA_VERIFY_URL=%q: want an http(s) URL", t.CaptchaVerifyURL))
		}
		if t.CaptchaSecret == "" {
			errs = append(errs, fmt.Errorf("CAPTCHA_SECRET: required when CAPTCHA_PROVIDER is %s", t.CaptchaProvider))
		}
	}
	return t, errs
}

// logValue lists the throttle settings for the start-up log line (the CAPTCHA secret masked).
func (t Throttle) logValue() slog.Attr {
	r := t.Registration
	lim := func(l throttle.Limit) string { return fmt.Sprintf("%d per %s", l.Max, l.Window) }
	return slog.Group("throttle",
		slog.String("login_backoff", fmt.Sprintf("%d free, %s doubling to %s, forgotten after %s", t.LoginBackoff.Free, t.LoginBackoff.Base, t.LoginBackoff.Max, t.LoginBackoff.Forget)),
		slog.String("allow_cidrs", t.AllowIPs.String()),
		slog.String("registration_ip_limit", lim(r.PerIP)),
		slog.String("registration_email_limit", lim(r.PerEmail)),
		slog.String("registration_domain_limit", lim(r.PerDomain)),
		slog.String("registration_global_limit", lim(r.Global)),
		slog.String("captcha_after", lim(r.CaptchaAfter)),
		slog.String("captcha_provider", t.CaptchaProvider),
		slog.String("captcha_verify_url", t.CaptchaVerifyURL),
		slog.Any("captcha_secret", t.CaptchaSecret),
	)
}
