package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// The attack: verify-registration with a made-up code told "Username already taken" (409) apart
// from "Invalid or expired code", so anyone could probe usernames without an inbox. Now the code is
// checked first: a wrong code gets the same answer whatever the username.
func TestVerifyRegistrationWrongCodeHidesTakenUsernames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := store.NewAccounts(h.db).Create(context.Background(), accountFor("someone@example.com", "taken_name")); err != nil {
		t.Fatal(err)
	}
	h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "new@example.com"})
	code := h.lastCode(t, "new@example.com")

	probe := func(email, username string) response {
		return h.post(t, "/api/v1/auth/verify-registration", map[string]any{
			"email": email, "otp_code": otherCode(code), "password": goodPassword, "username": username})
	}
	taken, free := probe("new@example.com", "taken_name"), probe("new@example.com", "free_name")
	noCode := probe("stranger@example.com", "taken_name") // an address that never asked for a code
	for _, r := range []response{taken, free, noCode} {
		if r.status != http.StatusBadRequest || r.str("detail") != "Invalid or expired code" {
			t.Fatalf("wrong code = %d %s, want 400 Invalid or expired code", r.status, r.raw)
		}
	}
	if !bytes.Equal(taken.raw, free.raw) || !bytes.Equal(taken.raw, noCode.raw) {
		t.Errorf("answers differ: taken %s, free %s, no code %s", taken.raw, free.raw, noCode.raw)
	}

	// The owner of the inbox, with the right code, still learns the name is taken — and keeps the
	// code for a corrected form.
	right := h.post(t, "/api/v1/auth/verify-registration", map[string]any{
		"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "TAKEN_NAME"})
	if right.status != http.StatusConflict || right.str("detail") != "Username already taken" {
		t.Fatalf("right code, taken username = %d %s, want 409", right.status, right.raw)
	}
	again := h.post(t, "/api/v1/auth/verify-registration", map[string]any{
		"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "free_name"})
	if again.status != http.StatusCreated || again.str("user.username") != "free_name" {
		t.Errorf("same code, free username = %d %s, want 201", again.status, again.raw)
	}
}

// Wrong registration codes are throttled per IP, counting failures only: a prober is stopped with
// 429 + Retry-After, another address is not, and successful registrations from one address (a
// shared NAT) never use up its budget.
func TestVerifyRegistrationFailuresThrottledPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *setup) { o.login.CodeVerifyPerIP = throttle.Limit{Max: 3, Window: 24 * time.Hour} })
	verify := func(ip, email, code, username string) response {
		return h.do(t, request{path: "/api/v1/auth/verify-registration", ip: ip, body: jsonBody(t, map[string]any{
			"email": email, "otp_code": code, "password": goodPassword, "username": username})})
	}
	// Successes from the shared address do not count.
	for i := range 4 {
		email := fmt.Sprintf("member%d@example.com", i)
		h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": email})
		if r := verify("203.0.113.9", email, h.lastCode(t, email), ""); r.status != http.StatusCreated {
			t.Fatalf("registration %d from the shared address = %d %s, want 201", i, r.status, r.raw)
		}
	}
	for i := range 3 {
		if r := verify("203.0.113.66", "new@example.com", "123456", fmt.Sprintf("probe_%d", i)); r.status != http.StatusBadRequest {
			t.Fatalf("wrong code %d = %d %s, want 400", i, r.status, r.raw)
		}
	}
	r := verify("203.0.113.66", "new@example.com", "123456", "probe_x")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("wrong code past the limit = %d %s (Retry-After %q), want 429 with Retry-After", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if r := verify("203.0.113.9", "new@example.com", "123456", ""); r.status != http.StatusBadRequest {
		t.Errorf("wrong code from another address = %d %s, want 400", r.status, r.raw)
	}
}
