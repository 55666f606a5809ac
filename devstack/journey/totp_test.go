package journey_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpAt is the authenticator code of secret for the step of at, as an authenticator app shows it.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// purposeCount counts the dev outbox's messages to `to` with the purpose.
func (c *client) purposeCount(t *testing.T, to, purpose string) int {
	t.Helper()
	r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil).want(t, 200, "dev outbox")
	msgs, _ := r.Body["messages"].([]any)
	n := 0
	for _, m := range msgs {
		if msg, _ := m.(map[string]any); msg["purpose"] == purpose {
			n++
		}
	}
	return n
}

// TestTOTPJourney enrols an authenticator app through the gateway and signs in with it from a new
// device: the two_factor challenge lists totp and sends no code, the authenticator's code finishes the
// sign-in, a replayed code is refused, and removing the app needs a step-up.
func TestTOTPJourney(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "totpada")

	// Steps are 30 s; keep the previous, current and next one inside the ±1 window while this runs.
	if rem := 30 - time.Now().Unix()%30; rem <= 10 {
		time.Sleep(time.Duration(rem)*time.Second + 200*time.Millisecond)
	}
	at := time.Now()

	c.do("POST", "/api/v1/account/2fa/totp/setup", nil, bearer(a.access)...).want(t, 401, "setup without step-up")
	headers := c.stepUp(t, a.access, password)
	r := c.do("POST", "/api/v1/account/2fa/totp/setup", nil, headers...).want(t, 200, "totp setup")
	secret := str(r.Body, "data", "secret")
	if secret == "" || !strings.HasPrefix(str(r.Body, "data", "otpauthUri"), "otpauth://totp/") || !strings.HasPrefix(str(r.Body, "data", "qrCodePng"), "data:image/png;base64,") {
		t.Fatalf("setup = %s", r.Raw)
	}
	c.do("POST", "/api/v1/account/2fa/totp/confirm", map[string]any{"code": totpAt(t, secret, at.Add(-30*time.Second))}, headers...).want(t, 200, "totp confirm")
	r = c.do("GET", "/api/v1/account/security-info", nil, bearer(a.access)...).want(t, 200, "security-info")
	if r.Body["data"].(map[string]any)["isTwoFactorEnabled"] != true || r.Body["data"].(map[string]any)["totpEnrolled"] != true {
		t.Fatalf("security-info = %s, want 2FA on by TOTP", r.Raw)
	}

	// A new device: the challenge lists totp, no code goes out.
	r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "new-phone", "device_name": "Phone", "platform": "IOS"}).
		want(t, 200, "login from a new device")
	methods, _ := r.Body["methods"].([]any)
	if str(r.Body, "challenge") != "two_factor" || len(methods) != 1 || methods[0] != "totp" || str(r.Body, "masked_value") != "" || r.Body["access_token"] != nil {
		t.Fatalf("login = %s, want a two_factor challenge offering totp", r.Raw)
	}
	code := totpAt(t, secret, at)
	ok := c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "method": "totp", "otp_code": code}).
		want(t, 200, "verify-2fa with totp")
	if str(ok.Body, "access_token") == "" || str(ok.Body, "user", "id") != a.id {
		t.Fatalf("verify-2fa = %s, want tokens", ok.Raw)
	}
	wantAssurance(t, str(ok.Body, "access_token"), []string{"pwd", "otp", "mfa"}, "aal2")
	// The new-device alert arrives; no two-factor code went out (it would have been queued earlier).
	c.latestAlert(t, a.email, "new_device_sign_in")
	if n := c.purposeCount(t, a.email, "two_factor"); n != 0 {
		t.Errorf("%d two-factor codes sent with an authenticator app on, want none", n)
	}

	// The same code again, in a new sign-in: refused.
	r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "new-phone"}).want(t, 200, "login again")
	c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "method": "totp", "otp_code": code}).
		want(t, 400, "a replayed authenticator code")

	// Removing the app: refused without a step-up, done with one; sign-in needs no second factor then.
	r = c.do("DELETE", "/api/v1/account/2fa/totp", nil, bearer(a.access)...).want(t, 401, "remove without step-up")
	if r.Header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	c.do("DELETE", "/api/v1/account/2fa/totp", nil, c.stepUp(t, a.access, password)...).want(t, 200, "remove with step-up")
	r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "new-phone"}).want(t, 200, "login after removal")
	if str(r.Body, "access_token") == "" {
		t.Fatalf("login after removing the authenticator = %s, want tokens (new-phone is trusted)", r.Raw)
	}
}
