package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// TestTokenAnswersAreNotCached: every answer that carries tokens (and every other API answer) tells
// browsers and proxies not to keep it.
func TestTokenAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	wantNoStore := func(t *testing.T, what string, r response) {
		t.Helper()
		if cc, pragma := r.header.Get("Cache-Control"), r.header.Get("Pragma"); cc != "no-store" || pragma != "no-cache" {
			t.Errorf("%s (%d): Cache-Control %q Pragma %q, want no-store and no-cache", what, r.status, cc, pragma)
		}
	}
	reg := h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
	if reg.str("access_token") == "" {
		t.Fatalf("verify-registration = %s, want tokens", reg.raw)
	}
	wantNoStore(t, "verify-registration", reg)

	r := h.post(t, "/api/v1/auth/login", login("ada@example.com", goodPassword, "laptop"))
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("login = %d %s, want tokens", r.status, r.raw)
	}
	wantNoStore(t, "login", r)
	wantNoStore(t, "failed login", h.post(t, "/api/v1/auth/login", login("ada@example.com", "wrong-password-1", "laptop")))

	r = h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-bob", "bob@example.com"), "device_id": "phone"})
	if r.status != http.StatusOK && r.status != http.StatusCreated || r.str("access_token") == "" {
		t.Fatalf("provider sign-in = %d %s, want tokens", r.status, r.raw)
	}
	wantNoStore(t, "provider sign-in", r)
	wantNoStore(t, "security info", h.callAs(t, "GET", "/api/v1/account/security-info", reg.str("access_token"), nil))
}
