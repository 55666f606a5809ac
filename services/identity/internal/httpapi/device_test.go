package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// challenge logs in from an untrusted device and returns the token and the code that was sent.
func (h *harness) challenge(t *testing.T, email, deviceID string) (token, code string) {
	t.Helper()
	r := h.post(t, "/api/v1/auth/login", login(email, goodPassword, deviceID))
	if r.status != http.StatusOK || r.str("challenge") != "device_verification" {
		t.Fatalf("login from %s = %d %s, want a device challenge", deviceID, r.status, r.raw)
	}
	return r.str("device_verification_token"), h.lastCode(t, email)
}

func verifyBody(token, code, deviceID string) map[string]any {
	return map[string]any{"deviceVerificationToken": token, "otp": code, "deviceId": deviceID, "deviceName": "iPhone 15 Pro", "platform": "ios"}
}

func TestDeviceVerificationJourney(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := h.register(t, "ada@example.com", map[string]any{"username": "ada", "first_name": "Ada", "device_id": "laptop"})
	token, code := h.challenge(t, "ada@example.com", "phone")
	if !strings.HasPrefix(token, "dvt_") {
		t.Errorf("token %q, want the dvt_ prefix", token)
	}

	r := h.do(t, request{path: "/api/v1/account/device/verify", body: jsonBody(t, verifyBody(token, code, "phone")), userAgent: "LatchkeyApp/1.0 iOS"})
	if r.status != http.StatusOK || r.at("success") != true || r.str("httpStatus") != "OK" ||
		r.str("message") != "Device verified. Login successful." || r.str("action_time") == "" {
		t.Fatalf("verify = %d %s, want the 200 envelope", r.status, r.raw)
	}
	checks := []struct {
		path string
		want any
	}{
		{"data.tokenType", "Bearer"},
		{"data.expiresIn", float64(900)},
		{"data.user.id", reg.str("user.id")},
		{"data.user.userName", "ada"},
		{"data.user.firstName", "Ada"},
		{"data.onboarding.isPrimaryComplete", true},
		{"data.onboarding.hasUsername", true},
	}
	for _, c := range checks {
		if got := r.at(c.path); got != c.want {
			t.Errorf("%s = %v, want %v", c.path, got, c.want)
		}
	}
	if r.str("data.accessToken") == "" || r.str("data.refreshToken") == "" || r.str("data.sessionId") == "" {
		t.Errorf("data = %v, want access and refresh tokens and the session id", r.at("data"))
	}
	reqs := h.sessions.requests()
	last := reqs[len(reqs)-1]
	if last["deviceId"] != "phone" || last["deviceName"] != "iPhone 15 Pro" || last["platform"] != "IOS" || last["userAgent"] != "LatchkeyApp/1.0 iOS" {
		t.Errorf("session request = %v, want the verified device and its user agent", last)
	}

	// The device is trusted now, and the token is spent.
	if r := h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "phone")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login from the verified device = %d %s, want tokens", r.status, r.raw)
	}
	if r := h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone")); r.status != http.StatusForbidden {
		t.Errorf("token reused = %d %s, want 403", r.status, r.raw)
	}
}

func TestDeviceVerificationOnboardingIncomplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "bob@example.com", nil)
	token, code := h.challenge(t, "bob@example.com", "phone")
	r := h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone"))
	if r.status != http.StatusOK {
		t.Fatalf("verify = %d %s", r.status, r.raw)
	}
	if r.at("data.onboarding.isPrimaryComplete") != false || r.at("data.onboarding.hasUsername") != false ||
		r.at("data.user.userName") != nil || r.at("data.user.firstName") != nil {
		t.Errorf("data = %s, want onboarding incomplete and null names", r.raw)
	}
}

func TestDeviceVerificationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       func(token, code string) string
		wantStatus int
		wantData   any // the envelope's data
	}{
		{"wrong code", func(tok, code string) string {
			return mustJSON(verifyBody(tok, otherCode(code), "phone"))
		}, 403, "Invalid or expired code"},
		{"other device", func(tok, code string) string { return mustJSON(verifyBody(tok, code, "tablet")) }, 403, "Invalid or expired code"},
		{"forged token", func(tok, code string) string {
			return mustJSON(verifyBody("dvt_"+strings.Repeat("A", 43), code, "phone"))
		}, 403, "Invalid or expired code"},
		{"otp too short", func(tok, code string) string { return mustJSON(verifyBody(tok, code[:5], "phone")) }, 422,
			map[string]any{"otp": "OTP must be exactly 6 digits"}},
		{"otp not digits", func(tok, code string) string { return mustJSON(verifyBody(tok, "12ab56", "phone")) }, 422,
			map[string]any{"otp": "OTP must be exactly 6 digits"}},
		{"otp as a number", func(tok, code string) string {
			return `{"deviceVerificationToken":"` + tok + `","otp":123456,"deviceId":"phone"}`
		}, 422, map[string]any{"otp": "Input should be a valid string"}},
		{"missing fields", func(tok, code string) string { return `{}` }, 422,
			map[string]any{"deviceVerificationToken": "Field required", "otp": "Field required", "deviceId": "Field required"}},
		{"malformed JSON", func(tok, code string) string { return `{"otp":` }, 400, "Malformed JSON request body"},
		{"empty body", func(tok, code string) string { return `` }, 400, "Request body is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.register(t, "ada@example.com", nil)
			token, code := h.challenge(t, "ada@example.com", "phone")
			r := h.do(t, request{path: "/api/v1/account/device/verify", body: tc.body(token, code)})
			if r.status != tc.wantStatus || r.at("success") != false || r.str("httpStatus") != statusName(tc.wantStatus) {
				t.Fatalf("answer = %d %s, want the %d envelope", r.status, r.raw, tc.wantStatus)
			}
			if !equalJSON(r.at("data"), tc.wantData) {
				t.Errorf("data = %v, want %v", r.at("data"), tc.wantData)
			}
			// A failed verification trusts nothing.
			a, err := store.NewAccounts(h.db).ByEmail(context.Background(), "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.NewDevices(h.db).Find(context.Background(), a.ID, "phone"); !errors.Is(err, device.ErrNotFound) {
				t.Errorf("trusted device lookup after a failed verification = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestDeviceVerificationAttemptLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "ada@example.com", nil)
	token, code := h.challenge(t, "ada@example.com", "phone")
	for i := range 5 {
		if r := h.post(t, "/api/v1/account/device/verify", verifyBody(token, otherCode(code), "phone")); r.status != http.StatusForbidden {
			t.Fatalf("wrong code %d = %d, want 403", i+1, r.status)
		}
	}
	if r := h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone")); r.status != http.StatusForbidden {
		t.Errorf("right code after 5 wrong ones = %d %s, want 403 (the challenge is dead)", r.status, r.raw)
	}
	d := h.dispatches(t, "ada@example.com")
	if last := d[len(d)-1]; last.Purpose != events.PurposeDeviceVerification {
		t.Errorf("last dispatch = %+v, want the device verification code", last)
	}
}
