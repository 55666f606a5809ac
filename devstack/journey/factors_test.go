package journey_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/webauthntest"
)

// assuranceOf reads the amr and acr claims of an access token (its signature is the gateway's and the
// services' business; TestAssuranceInAccessTokens verifies it).
func assuranceOf(t *testing.T, access string) ([]string, string) {
	t.Helper()
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWT", access)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.AMR, claims.ACR
}

func wantAssurance(t *testing.T, access string, amr []string, acr string) {
	t.Helper()
	gotAMR, gotACR := assuranceOf(t, access)
	if !slices.Equal(gotAMR, amr) || gotACR != acr {
		t.Errorf("amr/acr = %v/%q, want %v/%q", gotAMR, gotACR, amr, acr)
	}
}

// TestRecoveryCodeSignsInOnce: with codes by e-mail as the second factor and a set of recovery codes,
// a sign-in from a new device lists recovery_code; one code finishes it (amr pwd+otp+mfa, the owner is
// alerted, security-info counts nine left), and the same code is refused in the next sign-in while
// another, typed in capitals without the dash, works.
func TestRecoveryCodeSignsInOnce(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "recoverylogin")
	envelopeOK(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": password}, bearer(a.access)...), "Two-factor authentication enabled successfully")
	codes := generatedCodes(t, c.do("POST", "/api/v1/account/2fa/recovery-codes", nil, c.stepUp(t, a.access, password)...).want(t, 200, "recovery codes"))

	login := func(deviceID string) string {
		t.Helper()
		r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": deviceID}).
			want(t, 200, "login from a new device")
		methods, _ := r.Body["methods"].([]any)
		if str(r.Body, "challenge") != "two_factor" || !slices.Contains(methods, any("recovery_code")) || !slices.Contains(methods, any("email")) {
			t.Fatalf("login = %s, want a two_factor challenge offering recovery_code and email", r.Raw)
		}
		return str(r.Body, "two_factor_token")
	}
	verify := func(token, code string) response {
		return c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "recovery_code", "otp_code": code})
	}

	ok := verify(login("lost-phone-1"), codes[0]).want(t, 200, "verify-2fa with a recovery code")
	if str(ok.Body, "user", "id") != a.id {
		t.Fatalf("verify-2fa = %s", ok.Raw)
	}
	wantAssurance(t, str(ok.Body, "access_token"), []string{"pwd", "otp", "mfa"}, "aal2")
	if text := c.latestAlert(t, a.email, "recovery_code_used"); !strings.Contains(text, "recovery code") {
		t.Errorf("recovery_code_used alert = %q", text)
	}
	info := c.do("GET", "/api/v1/account/security-info", nil, bearer(a.access)...).want(t, 200, "security-info")
	if n, _ := info.Body["data"].(map[string]any)["recoveryCodesRemaining"].(float64); n != 9 {
		t.Errorf("security-info = %s, want 9 recovery codes left", info.Raw)
	}

	verify(login("lost-phone-2"), codes[0]).want(t, 400, "the same recovery code a second time")
	other := strings.ToUpper(strings.ReplaceAll(codes[1], "-", ""))
	verify(login("lost-phone-3"), other).want(t, 200, "another recovery code, in capitals without the dash")
}

// TestPasskeyAsSecondFactorAndStepUp: a registered passkey turns on the second factor; a password
// sign-in from a new device offers webauthn first with the request options in the challenge, the
// software authenticator's assertion finishes it (amr pwd+hwk+user+mfa, acr aal3), and the passkey
// also re-authenticates for a step-up, which then removes it.
func TestPasskeyAsSecondFactorAndStepUp(t *testing.T) {
	fs := startFullStack(t)
	c := fs.client
	a := register(t, c, "passkey2fa")
	origin := fs.stack.WebAuthnOrigin()
	key := webauthntest.New()

	hdr := c.stepUp(t, a.access, password)
	begin := c.do("POST", "/api/v1/account/passkeys/register/begin", nil, hdr...).want(t, 200, "register/begin")
	options, _ := json.Marshal(begin.Body["data"])
	attestation, _, err := key.Create(options, webauthntest.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	id := str(c.do("POST", "/api/v1/account/passkeys/register/finish", map[string]any{"credential": json.RawMessage(attestation), "name": "Laptop"}, hdr...).
		want(t, 201, "register/finish").Body, "data", "id")

	r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "new-laptop"}).want(t, 200, "login from a new device")
	methods, _ := r.Body["methods"].([]any)
	if str(r.Body, "challenge") != "two_factor" || len(methods) == 0 || methods[0] != "webauthn" || r.Body["webauthn"] == nil {
		t.Fatalf("login = %s, want a two_factor challenge offering webauthn first, with its options", r.Raw)
	}
	requestOptions, _ := json.Marshal(r.Body["webauthn"])
	assertion, err := key.Get(requestOptions, webauthntest.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	token := str(r.Body, "two_factor_token")
	ok := c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "webauthn", "assertion": json.RawMessage(assertion)}).
		want(t, 200, "verify-2fa with the passkey")
	wantAssurance(t, str(ok.Body, "access_token"), []string{"pwd", "hwk", "user", "mfa"}, "aal3")
	// whoami tells the client the same.
	who := c.do("GET", "/api/v1/auth/whoami", nil, bearer(str(ok.Body, "access_token"))...).want(t, 200, "whoami")
	if amr, _ := who.Body["amr"].([]any); len(amr) != 4 || amr[1] != "hwk" || str(who.Body, "acr") != "aal3" || str(who.Body, "auth_time") == "" {
		t.Errorf("whoami = %s, want amr [pwd hwk user mfa], acr aal3 and auth_time", who.Raw)
	}
	// The assertion answered its ceremony: replaying it is refused.
	c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "webauthn", "assertion": json.RawMessage(assertion)}).
		want(t, 400, "a replayed assertion")

	// Step-up with the passkey, then remove it with that step-up.
	access := str(ok.Body, "access_token")
	sb := c.do("POST", "/api/v1/auth/reauth/passkey/begin", nil, bearer(access)...).want(t, 200, "reauth/passkey/begin")
	stepOptions, _ := json.Marshal(sb.Body)
	stepAssertion, err := key.Get(stepOptions, webauthntest.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	su := c.do("POST", "/api/v1/auth/reauth", map[string]any{"assertion": json.RawMessage(stepAssertion)}, bearer(access)...).want(t, 200, "step-up with the passkey")
	if !strings.HasPrefix(str(su.Body, "reauth_token"), "rat_") {
		t.Fatalf("reauth = %s", su.Raw)
	}
	c.do("DELETE", "/api/v1/account/passkeys/"+id, nil, bearer(access)...).want(t, 401, "remove without step-up")
	c.do("DELETE", "/api/v1/account/passkeys/"+id, nil, append(bearer(access), "X-Reauth-Token", str(su.Body, "reauth_token"))...).want(t, 200, "remove with the passkey's step-up")
}
