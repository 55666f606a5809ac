package journey_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// The journeys of issue 3 part B: trusted devices, e-mail and phone verification and linking,
// provider linking and provider sign-in, through the gateway to the real services.

const journeyClientID = "latchkey-journey.apps.googleusercontent.com"

// withOIDC points identity's Google provider at a local OIDC issuer.
func withOIDC(iss *oidctest.Issuer) func(*stack.Config) {
	return withServiceEnv("identity", iss.Env("google", journeyClientID))
}

func googleToken(t *testing.T, iss *oidctest.Issuer, sub, email string) string {
	t.Helper()
	return iss.MustSign(t, oidctest.RS256, oidctest.Claims{Subject: sub, Audience: journeyClientID, Email: email, EmailVerified: true})
}

func jsonList(t *testing.T, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(r.Raw, &out); err != nil {
		t.Fatalf("answer is not a list: %s", r.Raw)
	}
	return out
}

func envelopeList(t *testing.T, r response) []map[string]any { return envelopeField(t, r, "data") }

// envelopeField returns the answer's field as a list of objects.
func envelopeField(t *testing.T, r response, field string) []map[string]any {
	t.Helper()
	raw, _ := json.Marshal(r.Body[field])
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		t.Fatalf("data is not a list: %s", r.Raw)
	}
	return out
}

func TestDevicesAndContactsJourney(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "ada")
	b := register(t, c, "bob")

	t.Run("trusted devices: list, current, revoke, another account's is 404", func(t *testing.T) {
		// A second device, verified with the code e-mailed to ada.
		before := c.outboxCount(t, a.email)
		r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "ada-phone"}).want(t, 200, "login from phone")
		code := c.latestCode(t, a.email, "device_verification", before)
		c.do("POST", "/api/v1/account/device/verify", map[string]any{
			"deviceVerificationToken": str(r.Body, "device_verification_token"), "otp": code, "deviceId": "ada-phone", "deviceName": "Pixel", "platform": "ANDROID",
		}).want(t, 200, "device verify")

		devices := envelopeList(t, c.do("GET", "/api/v1/account/devices", nil, bearer(a.access)...).want(t, 200, "account devices"))
		if len(devices) != 2 {
			t.Fatalf("devices = %v, want 2", devices)
		}
		var phoneKey string
		for _, d := range devices {
			if d["deviceId"] == "ada-phone" {
				phoneKey, _ = d["id"].(string)
			}
			if want := d["deviceId"] == a.device; d["isCurrent"] != want {
				t.Errorf("%v isCurrent = %v, want %v", d["deviceId"], d["isCurrent"], want)
			}
		}
		plain := envelopeField(t, c.do("GET", "/api/v1/auth/devices", nil, bearer(a.access)...).want(t, 200, "auth devices"), "devices")
		for _, d := range plain {
			if want := d["device_fingerprint"] == a.device; d["is_current_session"] != want || d["is_trusted"] != true {
				t.Errorf("device = %v, want is_current_session %v", d, want)
			}
		}
		c.do("DELETE", "/api/v1/account/devices/"+phoneKey, nil, bearer(b.access)...).want(t, 404, "bob revokes ada's device")
		c.do("DELETE", "/api/v1/account/devices/nope", nil, bearer(a.access)...).want(t, 422, "malformed key")
		c.do("DELETE", "/api/v1/account/devices/"+phoneKey, nil, bearer(a.access)...).want(t, 200, "revoke")
		// The new challenge's code may wait for the 1 s resend cooldown of the first one.
		eventually(t, 10*time.Second, "a device challenge for the revoked device", func() bool {
			r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "ada-phone"})
			if r.Status == 429 {
				return false
			}
			r.want(t, 200, "login after revoke")
			if str(r.Body, "challenge") != "device_verification" {
				t.Fatalf("login from revoked device = %s, want a challenge", r.Raw)
			}
			return true
		})
	})

	const phone = "+447700900123"
	t.Run("phone verification by SMS code", func(t *testing.T) {
		ha, hb := c.stepUp(t, a.access, password), c.stepUp(t, b.access, password)
		c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": "07700 900123"}, ha...).want(t, 400, "national number")
		r := c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": "07700 900123", "country_code": "+44"}, ha...).want(t, 200, "send")
		if r.Body["expires_in_minutes"] != float64(10) {
			t.Errorf("send = %s", r.Raw)
		}
		code := c.latestCode(t, phone, "phone_verification", 0)
		c.do("POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": phone, "otp_code": "000000"}, hb...).want(t, 400, "bob answers")
		r = c.do("POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": phone, "otp_code": code}, ha...).want(t, 200, "verify")
		if r.Body["verified"] != true {
			t.Errorf("verify = %s", r.Raw)
		}
	})

	newEmail := "ada.lovelace@example.com"
	t.Run("email link: code to the new address, then unlink", func(t *testing.T) {
		ha, hb := c.stepUp(t, a.access, password), c.stepUp(t, b.access, password)
		r := c.do("POST", "/api/v1/account/link/email/initiate", map[string]any{"email": newEmail}, ha...).want(t, 200, "initiate")
		data, _ := r.Body["data"].(map[string]any)
		code := c.latestCode(t, newEmail, "email_verification", 0)
		c.do("POST", "/api/v1/account/link/email/verify", map[string]any{"tempToken": data["tempToken"], "otp": code}, hb...).want(t, 403, "bob uses ada's token")
		c.do("POST", "/api/v1/account/link/email/verify", map[string]any{"tempToken": data["tempToken"], "otp": code}, ha...).want(t, 200, "verify")
		c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": newEmail, "password": password, "device_id": a.device}).want(t, 200, "login with the new address")
		c.do("POST", "/api/v1/me/verify-email", nil, bearer(a.access)...).want(t, 400, "already verified")
		// The confirm path reaches identity too (the gateway's longest-prefix rule), not the profile service.
		r = c.do("POST", "/api/v1/me/verify-email/confirm", map[string]any{"code": "12"}, bearer(a.access)...).want(t, 422, "confirm with a malformed code")
		if detail, _ := r.Body["detail"].([]any); len(detail) != 1 {
			t.Errorf("confirm = %s, want one field error", r.Raw)
		}

		// Ada has a username, a password and the verified phone: the e-mail may go.
		r = c.do("DELETE", "/api/v1/account/link/email", nil, ha...).want(t, 200, "unlink")
		if d, _ := r.Body["data"].(map[string]any); d["unlinked"] != true {
			t.Errorf("unlink = %s", r.Raw)
		}
		// Bob has no phone: his only contact stays.
		r = c.do("DELETE", "/api/v1/account/link/email", nil, hb...).want(t, 400, "bob unlinks his only contact")
		if r.Body["success"] != false {
			t.Errorf("unlink = %s", r.Raw)
		}
	})

	t.Run("codes per account are limited", func(t *testing.T) {
		hb := c.stepUp(t, b.access, password)
		// 10 codes per account per hour (OTP_MAX_PER_ACCOUNT_PER_HOUR), whatever the number.
		for i := range 10 {
			c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": fmt.Sprintf("+4477009002%02d", i)}, hb...).want(t, 200, "send")
		}
		r := c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": "+447700900299"}, hb...).want(t, 429, "11th code within the hour")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
}

func TestOAuthJourney(t *testing.T) {
	iss := oidctest.New(t)
	c := startStack(t, withOIDC(iss))
	a := register(t, c, "ada")

	t.Run("sign-in with a new Google account creates a passwordless account", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": googleToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"}).want(t, 201, "first sign-in")
		zoe, id := str(r.Body, "access_token"), str(r.Body, "user", "id")
		eventually(t, 10*time.Second, "the new account's profile from account.created", func() bool {
			p := c.do("GET", "/api/v1/me", nil, bearer(zoe)...).want(t, 200, "profile")
			return str(p.Body, "id") == id && str(p.Body, "email") == "zoe@gmail.com"
		})
		r = c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": googleToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"}).want(t, 200, "second sign-in")
		if str(r.Body, "user", "id") != id {
			t.Errorf("second sign-in user = %v, want %s", r.Body["user"], id)
		}
		providers := jsonList(t, c.do("GET", "/api/v1/auth/account-providers", nil, bearer(zoe)...).want(t, 200, "providers"))
		if len(providers) != 1 || providers[0]["provider"] != "google" {
			t.Errorf("providers = %v", providers)
		}
		r = c.do("DELETE", "/api/v1/account/link/oauth/GOOGLE", nil, c.stepUpByCode(t, zoe, "zoe@gmail.com")...).want(t, 400, "unlink the only way in")
		if str(r.Body, "message") != "Cannot unlink last auth provider" {
			t.Errorf("unlink = %s", r.Raw)
		}
	})

	t.Run("an existing account's email is never taken over", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": googleToken(t, iss, "g-mallory", a.email)}).want(t, 409, "sign-in with ada's email")
		if str(r.Body, "detail") == "" || r.Body["access_token"] != nil {
			t.Errorf("answer = %s, want a 409 detail and no tokens", r.Raw)
		}
	})

	t.Run("link, sign in with, and unlink Google", func(t *testing.T) {
		ha := c.stepUp(t, a.access, password)
		c.do("POST", "/api/v1/account/link/oauth", map[string]any{"provider": "GOOGLE", "idToken": googleToken(t, iss, "g-zoe", "zoe@gmail.com")}, ha...).want(t, 409, "zoe's Google account")
		c.do("POST", "/api/v1/account/link/oauth", map[string]any{"provider": "GOOGLE", "idToken": "not-a-token"}, ha...).want(t, 400, "garbage token")
		r := c.do("POST", "/api/v1/account/link/oauth", map[string]any{"provider": "GOOGLE", "idToken": googleToken(t, iss, "g-ada", "ada@gmail.com")}, ha...).want(t, 200, "link")
		if str(r.Body, "message") != "GOOGLE linked successfully" {
			t.Errorf("link = %s", r.Raw)
		}
		c.do("POST", "/api/v1/auth/account-providers", map[string]any{"provider": "google", "id_token": googleToken(t, iss, "g-ada", "ada@gmail.com")}, ha...).want(t, 409, "link again")
		r = c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": googleToken(t, iss, "g-ada", "ada@gmail.com"), "device_id": a.device}).want(t, 200, "sign in with Google")
		if str(r.Body, "user", "id") != a.id {
			t.Errorf("user = %v, want ada", r.Body["user"])
		}
		c.do("DELETE", "/api/v1/auth/account-providers/google", nil, ha...).want(t, 200, "unlink")
		c.do("DELETE", "/api/v1/account/link/oauth/google", nil, ha...).want(t, 404, "unlink again")
	})

	t.Run("a disabled provider and a bad token", func(t *testing.T) {
		c.do("POST", "/api/v1/auth/oauth/apple", map[string]any{"id_token": googleToken(t, iss, "x", "")}).want(t, 400, "apple is not configured")
		c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": iss.Unsigned(oidctest.Claims{Subject: "x", Audience: journeyClientID})}).want(t, 401, "alg none")
		c.do("POST", "/api/v1/auth/oauth/google", map[string]any{"id_token": "x"}).want(t, 401, "garbage")
	})
}
