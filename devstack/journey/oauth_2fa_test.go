package journey_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// Provider sign-in of an account with 2FA on answers the password login's two_factor challenge; the
// code sent to the owner finishes it through verify-2fa and trusts the new device.
func TestOAuthSignInTwoFactorJourney(t *testing.T) {
	iss := oidctest.New(t)
	c := startStack(t, withOIDC(iss))
	a := register(t, c, "ada")
	c.do("POST", "/api/v1/account/link/oauth", map[string]any{"provider": "GOOGLE", "idToken": googleToken(t, iss, "g-ada", "ada@gmail.com")}, c.stepUp(t, a.access, password)...).want(t, 200, "link Google")
	c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": password}, bearer(a.access)...).want(t, 200, "enable 2FA")

	before := c.outboxCount(t, a.email)
	r := c.do("POST", "/api/v1/auth/oauth/google", map[string]any{
		"id_token": googleToken(t, iss, "g-ada", "ada@gmail.com"), "device_id": "ada-tablet", "device_name": "Tab", "platform": "ANDROID",
	}).want(t, 200, "sign in with Google")
	if str(r.Body, "challenge") != "two_factor" || !strings.HasPrefix(str(r.Body, "two_factor_token"), "tfa_") ||
		str(r.Body, "masked_value") == "" || r.Body["expires_in"] != float64(600) || r.Body["access_token"] != nil {
		t.Fatalf("provider sign-in = %s, want a two_factor challenge and no tokens", r.Raw)
	}
	code := c.latestCode(t, a.email, "two_factor", before)
	c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "otp_code": wrongCode(code)}).want(t, 400, "wrong code")
	r = c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "otp_code": code}).want(t, 200, "verify-2fa")
	access := str(r.Body, "access_token")
	if access == "" || str(r.Body, "user", "id") != a.id {
		t.Fatalf("verify-2fa = %s, want ada's tokens", r.Raw)
	}
	c.do("GET", "/api/v1/auth/session/validate", nil, bearer(access)...).want(t, 200, "the new session is valid")
	trusted := false
	for _, d := range envelopeList(t, c.do("GET", "/api/v1/account/devices", nil, bearer(access)...).want(t, 200, "devices")) {
		trusted = trusted || d["deviceId"] == "ada-tablet"
	}
	if !trusted {
		t.Error("the tablet is not trusted after the second factor")
	}
}
