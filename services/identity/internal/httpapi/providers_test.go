package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestIDTokenVerification(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	_, token := h.signedUp(t, "ada@example.com", "ada", "laptop")

	foreign, err := iss.SignForeign(oidctest.Claims{Subject: "g-1", Audience: googleClientID})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		token string
		nonce string
	}{
		{"expired", idToken(t, iss, "g-1", "", func(c *oidctest.Claims) {
			c.IssuedAt, c.ExpiresAt = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), ""},
		{"issued in the future", idToken(t, iss, "g-1", "", func(c *oidctest.Claims) { c.IssuedAt = time.Now().Add(time.Hour) }), ""},
		{"other audience", idToken(t, iss, "g-1", "", func(c *oidctest.Claims) { c.Audience = "someone-else" }), ""},
		{"other issuer", idToken(t, iss, "g-1", "", func(c *oidctest.Claims) { c.Issuer = "https://evil.example" }), ""},
		{"no subject", idToken(t, iss, "", ""), ""},
		{"signature by another key", foreign, ""},
		{"alg none", iss.Unsigned(oidctest.Claims{Subject: "g-1", Audience: googleClientID}), ""},
		{"nonce mismatch", idToken(t, iss, "g-1", "", func(c *oidctest.Claims) { c.Nonce = "n-1" }), "n-2"},
		{"nonce expected but absent", idToken(t, iss, "g-1", ""), "n-1"},
		{"tampered payload", tamper(idToken(t, iss, "g-1", "")), ""},
		{"not a JWT", "ya29.a0AfH6SMC", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/auth/account-providers", token, map[string]any{"provider": "google", "id_token": tc.token, "nonce": tc.nonce})
			if r.status != http.StatusBadRequest || r.str("detail") != "Invalid ID token" {
				t.Errorf("link = %d %s, want 400 Invalid ID token", r.status, r.raw)
			}
			r = h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": tc.token, "nonce": tc.nonce})
			if r.status != http.StatusUnauthorized || r.str("detail") != "Invalid ID token" {
				t.Errorf("sign-in = %d %s, want 401 Invalid ID token", r.status, r.raw)
			}
		})
	}
	// ES256 tokens and a matching nonce verify; the JWKS was fetched once for all of the above.
	es := iss.MustSign(t, oidctest.ES256, oidctest.Claims{Subject: "g-es", Audience: googleClientID, Nonce: "n-ok"})
	h.callAs(t, "POST", "/api/v1/auth/account-providers", token, map[string]any{"provider": "google", "id_token": es, "nonce": "n-ok"}).wantStatus(t, http.StatusCreated, "link with ES256")
	if n := iss.JWKSRequests(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (cached)", n)
	}
	// A disabled provider.
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/apple", "", map[string]any{"id_token": es}); r.status != http.StatusBadRequest || r.str("detail") != "This sign-in provider is not enabled" {
		t.Errorf("apple sign-in = %d %s, want 400", r.status, r.raw)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	return strings.Join(parts, ".")
}

func TestAccountProviders(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	adaID, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bob := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")

	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).wantStatus(t, http.StatusOK, "list").list(t); len(got) != 0 {
		t.Errorf("providers = %v, want none", got)
	}
	validation := []struct {
		name string
		body any
	}{
		{"no body", nil},
		{"provider missing", map[string]any{"id_token": "x"}},
		{"provider unknown", map[string]any{"provider": "facebook", "id_token": "x"}},
		{"token missing", map[string]any{"provider": "google"}},
		{"token too long", map[string]any{"provider": "google", "id_token": strings.Repeat("a", 9000)}},
	}
	for _, tc := range validation {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, tc.body); r.status != http.StatusUnprocessableEntity {
				t.Errorf("status = %d %s, want 422", r.status, r.raw)
			}
		})
	}

	r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, map[string]any{"provider": "Google", "id_token": idToken(t, iss, "g-ada", "ada.g@gmail.com")}).wantStatus(t, http.StatusCreated, "link")
	if r.str("provider") != "google" || r.str("email") != "ada.g@gmail.com" || r.str("linked_at") == "" {
		t.Errorf("link = %s", r.raw)
	}
	if al := h.alertOf(t, adaID, events.AlertProviderLinked); al.Details["provider"] != "google" || al.Destination != "ada@example.com" {
		t.Errorf("alert = %+v", al)
	}
	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 1 || got[0]["provider"] != "google" {
		t.Errorf("providers = %v, want google", got)
	}
	if n, err := store.NewProviders(h.db).CountByAccount(context.Background(), adaID); err != nil || n != 1 {
		t.Errorf("CountByAccount = %d, %v, want 1", n, err)
	}
	conflicts := []struct {
		name, token, sub string
	}{
		{"same provider account again", ada, "g-ada"},
		{"another google account on the same account", ada, "g-ada-2"},
		{"provider account of another account", bob, "g-ada"},
	}
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/auth/account-providers", tc.token, map[string]any{"provider": "google", "id_token": idToken(t, iss, tc.sub, "")})
			if r.status != http.StatusConflict {
				t.Errorf("status = %d %s, want 409", r.status, r.raw)
			}
		})
	}
	// Bob sees none of ada's providers and cannot unlink them.
	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", bob, nil).list(t); len(got) != 0 {
		t.Errorf("bob's providers = %v, want none", got)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/auth/account-providers/google", bob, nil); r.status != http.StatusNotFound {
		t.Errorf("bob unlinking = %d %s, want 404", r.status, r.raw)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/auth/account-providers/github", ada, nil); r.status != http.StatusNotFound {
		t.Errorf("unlink github = %d %s, want 404", r.status, r.raw)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/auth/account-providers/myspace", ada, nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("unlink unknown = %d %s, want 422", r.status, r.raw)
	}
	h.callAs(t, "DELETE", "/api/v1/auth/account-providers/GOOGLE", ada, nil).wantStatus(t, http.StatusOK, "unlink")
	if al := h.alertOf(t, adaID, events.AlertProviderUnlinked); al.Details["provider"] != "google" {
		t.Errorf("alert = %+v", al)
	}
	// Free again: bob may link it now.
	h.callAs(t, "POST", "/api/v1/auth/account-providers", bob, map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-ada", "")}).wantStatus(t, http.StatusCreated, "bob links")
	if r := h.callAs(t, "GET", "/api/v1/auth/account-providers", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without token = %d, want 401", r.status)
	}
}

func TestAccountAPIOAuthLinking(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")

	validation := []struct {
		name  string
		body  any
		field string
	}{
		{"provider missing", map[string]any{"idToken": "x"}, "provider"},
		{"provider not in the enum", map[string]any{"provider": "GITHUB", "idToken": "x"}, "provider"},
		{"token blank", map[string]any{"provider": "GOOGLE", "idToken": " "}, "idToken"},
	}
	for _, tc := range validation {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/account/link/oauth", ada, tc.body)
			if r.status != http.StatusUnprocessableEntity || r.str("data."+tc.field) == "" {
				t.Errorf("status = %d %s, want 422 naming %s", r.status, r.raw, tc.field)
			}
		})
	}
	r := h.callAs(t, "POST", "/api/v1/account/link/oauth", ada, map[string]any{"provider": "GOOGLE", "idToken": idToken(t, iss, "g-ada", "ada@example.com")}).wantStatus(t, http.StatusOK, "link")
	if r.str("message") != "GOOGLE linked successfully" || r.at("data.linked") != true || r.str("data.message") != "GOOGLE linked successfully" {
		t.Errorf("link = %s", r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/account/link/oauth", ada, map[string]any{"provider": "GOOGLE", "idToken": "garbage"}); r.status != http.StatusBadRequest || r.str("message") != "Invalid ID token" {
		t.Errorf("bad token = %d %s, want 400", r.status, r.raw)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/account/link/oauth/apple", ada, nil); r.status != http.StatusNotFound || r.at("success") != false {
		t.Errorf("unlink apple = %d %s, want 404", r.status, r.raw)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/account/link/oauth/github", ada, nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("unlink github = %d %s, want 422", r.status, r.raw)
	}
	r = h.callAs(t, "DELETE", "/api/v1/account/link/oauth/gOoGlE", ada, nil).wantStatus(t, http.StatusOK, "unlink")
	if r.str("message") != "GOOGLE unlinked" || r.at("data.unlinked") != true || r.str("data.message") != "GOOGLE unlinked successfully" {
		t.Errorf("unlink = %s", r.raw)
	}

	// A passwordless account made by Google sign-in cannot drop Google.
	signIn := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-new", "new@gmail.com")}).wantStatus(t, http.StatusCreated, "sign-in")
	r = h.callAs(t, "DELETE", "/api/v1/account/link/oauth/GOOGLE", signIn.str("access_token"), nil)
	if r.status != http.StatusBadRequest || r.str("message") != "Cannot unlink last auth provider" || r.str("data") != "Cannot unlink last auth provider" {
		t.Errorf("unlink last = %d %s, want the documented 400", r.status, r.raw)
	}
	// Nor its e-mail (its only contact), nor is it left without a way in.
	if r := h.callAs(t, "DELETE", "/api/v1/account/link/email", signIn.str("access_token"), nil); r.status != http.StatusBadRequest {
		t.Errorf("unlink email of passwordless account = %d %s, want 400", r.status, r.raw)
	}
}

func TestOAuthSignIn(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	adaID, _ := h.signedUp(t, "ada@example.com", "ada", "laptop")

	// New provider account with a verified e-mail: a new passwordless account, 201 with tokens.
	r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{
		"id_token": idToken(t, iss, "g-zoe", "Zoe@Gmail.com"), "device_id": "zoe-phone", "device_name": "Pixel", "platform": "android",
	}).wantStatus(t, http.StatusCreated, "first sign-in")
	zoeID := r.str("user.id")
	if zoeID == "" || r.str("user.email") != "zoe@gmail.com" || r.str("access_token") == "" || r.str("refresh_token") == "" || r.str("token_type") != "Bearer" || r.str("session_id") == "" {
		t.Fatalf("sign-in = %s, want tokens for a new account", r.raw)
	}
	a, err := store.NewAccounts(h.db).ByID(context.Background(), zoeID)
	if err != nil || a.PasswordHash != "" || !a.EmailVerified {
		t.Errorf("account = %+v, %v, want passwordless with the verified e-mail", a, err)
	}
	created := false
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		created = created || (ev.Type == events.TypeAccountCreated && ev.AccountID == zoeID)
	}
	if !created {
		t.Error("no account.created for the new account")
	}
	// Again: the same account, 200, the device is trusted now.
	r = h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"}).wantStatus(t, http.StatusOK, "second sign-in")
	if r.str("user.id") != zoeID {
		t.Errorf("user = %v, want %s", r.at("user"), zoeID)
	}
	if _, err := store.NewDevices(h.db).Find(context.Background(), zoeID, "zoe-phone"); err != nil {
		t.Errorf("device not trusted: %v", err)
	}

	refusals := []struct {
		name   string
		token  string
		want   int
		detail string
	}{
		{"e-mail of an existing account", idToken(t, iss, "g-other", "ADA@example.com"), http.StatusConflict, msgEmailExists},
		{"unverified e-mail", idToken(t, iss, "g-unv", "unv@gmail.com", func(c *oidctest.Claims) { c.EmailVerified = false }), http.StatusBadRequest, "The provider account has no verified email address"},
		{"no e-mail", idToken(t, iss, "g-none", ""), http.StatusBadRequest, "The provider account has no verified email address"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": tc.token})
			if r.status != tc.want || r.str("detail") != tc.detail {
				t.Errorf("status = %d %s, want %d %q", r.status, r.raw, tc.want, tc.detail)
			}
		})
	}
	// Ada's account was not touched: no link, still one way in.
	if n, _ := store.NewProviders(h.db).CountByAccount(context.Background(), adaID); n != 0 {
		t.Errorf("ada has %d providers, want 0", n)
	}
	validation := []struct {
		name, path string
		body       any
	}{
		{"unknown provider", "/api/v1/auth/oauth/facebook", map[string]any{"id_token": "x"}},
		{"no body", "/api/v1/auth/oauth/google", nil},
		{"token missing", "/api/v1/auth/oauth/google", map[string]any{}},
		{"bad platform", "/api/v1/auth/oauth/google", map[string]any{"id_token": "x", "platform": "i os!"}},
	}
	for _, tc := range validation {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.callAs(t, "POST", tc.path, "", tc.body); r.status != http.StatusUnprocessableEntity {
				t.Errorf("status = %d %s, want 422", r.status, r.raw)
			}
		})
	}
}

// Provider sign-ins count against the per-IP login limit when their ID token fails; good ones
// never do (many people sign in from one address).
func TestOAuthSignInThrottled(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss), func(s *setup) { s.login.LoginPerIP.Max = 3 })
	for i := range 5 {
		tok := idToken(t, iss, "g-1", "one@gmail.com") // each ID token signs in once
		if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": tok}); r.status >= 400 {
			t.Fatalf("good sign-in %d = %d %s, want it through (successes are not counted)", i+1, r.status, r.raw)
		}
	}
	for i := range 3 {
		if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-1", "one@gmail.com") + "x"}); r.status != http.StatusUnauthorized && r.status != http.StatusBadRequest {
			t.Fatalf("forged sign-in %d = %d %s, want it refused", i+1, r.status, r.raw)
		}
	}
	r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-1", "one@gmail.com")})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Limit") != "3" {
		t.Errorf("sign-in after 3 forged tokens = %d %s (headers %v), want 429 with Retry-After and X-RateLimit-Limit 3", r.status, r.raw, r.header)
	}
}

const msgEmailExists = "An account with this email address already exists. Sign in to it and link the provider from your account settings."
