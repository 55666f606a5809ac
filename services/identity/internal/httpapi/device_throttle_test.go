package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
)

// Answers to device-verification codes count against the same limits as the other codes: wrong
// ones per account from one address (across challenges), wrong ones per IP; both answer the 429
// envelope with the X-RateLimit-* headers.
func TestDeviceVerificationThrottled(t *testing.T) {
	t.Parallel()
	t.Run("wrong codes per account and address", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, noCooldown, func(s *setup) { s.login.CodeFailuresPerAccount.Max = 3 })
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		token, code := h.challenge(t, "ada@example.com", "phone")
		for i := range 3 {
			r := h.do(t, request{path: "/api/v1/account/device/verify", ip: "203.0.113.1", body: jsonBody(t, verifyBody(token, otherCode(code), "phone"))})
			if r.status != http.StatusForbidden {
				t.Fatalf("wrong code %d = %d %s, want 403", i+1, r.status, r.raw)
			}
		}
		// A fresh challenge does not help that address: the account's codes are held back there.
		token, code = h.challenge(t, "ada@example.com", "phone")
		r := h.do(t, request{path: "/api/v1/account/device/verify", ip: "203.0.113.1", body: jsonBody(t, verifyBody(token, code, "phone"))})
		wantTooManyEnvelope(t, r, "right code after 3 wrong ones from the address")
		// Somebody else's wrong codes do not lock the owner out.
		r = h.do(t, request{path: "/api/v1/account/device/verify", ip: "192.0.2.9", body: jsonBody(t, verifyBody(token, code, "phone"))})
		if r.status != http.StatusOK || r.str("data.accessToken") == "" {
			t.Errorf("right code from the owner's address = %d %s, want 200 with tokens", r.status, r.raw)
		}
	})
	t.Run("answers per IP, shared with the other code answers", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, noCooldown, func(s *setup) { s.login.CodeVerifyPerIP.Max = 2 })
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		token, code := h.challenge(t, "ada@example.com", "phone")
		h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": "tfa_unknown", "otp_code": "123456"}).wantStatus(t, http.StatusBadRequest, "a 2FA answer")
		h.post(t, "/api/v1/account/device/verify", verifyBody(token, otherCode(code), "phone")).wantStatus(t, http.StatusForbidden, "a wrong device code")
		wantTooManyEnvelope(t, h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone")), "answer after two wrong ones from one IP")
		// Another IP is not affected.
		r := h.do(t, request{path: "/api/v1/account/device/verify", ip: "192.0.2.9", body: jsonBody(t, verifyBody(token, code, "phone"))})
		if r.status != http.StatusOK || r.str("data.accessToken") == "" {
			t.Errorf("from another IP = %d %s, want 200 with tokens", r.status, r.raw)
		}
	})
}

func wantTooManyEnvelope(t *testing.T, r response, what string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.at("success") != false || r.str("httpStatus") != "TOO_MANY_REQUESTS" {
		t.Errorf("%s = %d %s (Retry-After %q), want the 429 envelope with Retry-After", what, r.status, r.raw, r.header.Get("Retry-After"))
	}
	wantRateLimitHeaders(t, r, what)
}

// wantRateLimitHeaders checks the X-RateLimit-* headers of a 429: a limit, nothing remaining, and a
// reset in delta seconds no sooner than Retry-After.
func wantRateLimitHeaders(t *testing.T, r response, what string) {
	t.Helper()
	limit, errL := strconv.Atoi(r.header.Get("X-RateLimit-Limit"))
	reset, errR := strconv.Atoi(r.header.Get("X-RateLimit-Reset"))
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if errL != nil || limit < 1 || r.header.Get("X-RateLimit-Remaining") != "0" || errR != nil || reset < retry {
		t.Errorf("%s: X-RateLimit-Limit %q, -Remaining %q, -Reset %q (Retry-After %d), want a limit, 0 remaining and a reset of at least Retry-After",
			what, r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"), r.header.Get("X-RateLimit-Reset"), retry)
	}
}
