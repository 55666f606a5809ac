package httpapi_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// TestIDTokenReplayRefused: a provider ID token is accepted once. Played again — to sign in, or to
// link the provider account to another Latchkey account — it is refused like any invalid token,
// also with its ECDSA signature re-encoded (s replaced by n-s, which verifies as well). Before, a
// captured token signed in as often as anyone liked until it expired.
func TestIDTokenReplayRefused(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	_, mallory := h.signedUp(t, "mallory@example.com", "mallory", "m-laptop")

	tok := idToken(t, iss, "g-ada", "ada.g@gmail.com")
	first := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": tok, "device_id": "phone"})
	if first.status >= 300 || first.str("access_token") == "" {
		t.Fatalf("first sign-in = %d %s, want tokens", first.status, first.raw)
	}
	again := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": tok, "device_id": "phone"})
	if again.status != http.StatusUnauthorized || again.str("detail") != "Invalid ID token" || again.str("access_token") != "" {
		t.Errorf("replayed sign-in = %d %s, want 401 Invalid ID token", again.status, again.raw)
	}

	// A token used to link cannot sign in, and the other way round.
	es := iss.MustSign(t, oidctest.ES256, oidctest.Claims{Subject: "g-bob", Audience: googleClientID})
	h.callAs(t, "POST", "/api/v1/auth/account-providers", mallory, map[string]any{"provider": "google", "id_token": es}).wantStatus(t, http.StatusCreated, "link")
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": es}); r.status != http.StatusUnauthorized {
		t.Errorf("sign-in with a token used to link = %d %s, want 401", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": malleate(t, es)}); r.status != http.StatusUnauthorized || r.str("detail") != "Invalid ID token" {
		t.Errorf("sign-in with the re-signed token = %d %s, want 401 Invalid ID token", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", mallory, map[string]any{"provider": "google", "id_token": tok}); r.status != http.StatusBadRequest || r.str("detail") != "Invalid ID token" {
		t.Errorf("link with a token used to sign in = %d %s, want 400 Invalid ID token", r.status, r.raw)
	}
}

// TestIDTokenNonceMustComeBack: a token issued for a nonce is accepted only with that nonce.
func TestIDTokenNonceMustComeBack(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	withNonce := func() string {
		return iss.MustSign(t, oidctest.RS256, oidctest.Claims{Subject: "g-n", Audience: googleClientID, Email: "n@gmail.com", EmailVerified: true, Nonce: "n-123"})
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": withNonce()}); r.status != http.StatusUnauthorized || r.str("detail") != "Invalid ID token" {
		t.Errorf("token with a nonce, none sent = %d %s, want 401 Invalid ID token", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": withNonce(), "nonce": "n-123"}); r.status >= 300 || r.str("access_token") == "" {
		t.Errorf("token with its nonce = %d %s, want tokens", r.status, r.raw)
	}
}

// malleate returns the ES256 token with its signature (r, s) replaced by (r, n-s): another encoding
// of a signature that verifies just as well.
func malleate(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 signature: %v", err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	out := append([]byte{}, sig[:32]...)
	out = append(out, new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(out)
}
