package journey_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// TestAssuranceInAccessTokens: access tokens say how their session was signed in. A password from a
// trusted device is one factor (amr ["pwd"], acr aal1); a password and an e-mailed code from a new
// device are two (amr pwd, otp and mfa, acr aal2). auth_time is the sign-in, and a refresh, which
// proves no factor, keeps all three unchanged. The tokens are read as every service reads them: a
// verifier configured from the discovery document, which announces the claims.
func TestAssuranceInAccessTokens(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "amr")

	doc := c.do("GET", "/.well-known/openid-configuration", nil).want(t, 200, "discovery document")
	claims, _ := doc.Body["claims_supported"].([]any)
	for _, claim := range []string{"amr", "acr", "auth_time"} {
		if !slices.Contains(claims, any(claim)) {
			t.Errorf("claims_supported = %v lacks %s", claims, claim)
		}
	}
	if acrs, _ := doc.Body["acr_values_supported"].([]any); !slices.Equal(acrs, []any{"aal1", "aal2", "aal3"}) {
		t.Errorf("acr_values_supported = %v, want [aal1 aal2 aal3]", doc.Body["acr_values_supported"])
	}
	v := authn.NewVerifier(authn.VerifierConfig{JWKSURL: str(doc.Body, "jwks_uri"), Issuer: str(doc.Body, "issuer"), Audience: "latchkey", CacheSize: -1})
	principal := func(t *testing.T, access string) authn.Principal {
		t.Helper()
		p, err := v.Verify(context.Background(), access)
		if err != nil {
			t.Fatalf("access token refused: %v", err)
		}
		return p
	}
	// signedInBetween checks the token's amr, acr and that auth_time lies within the sign-in request.
	check := func(t *testing.T, p authn.Principal, wantAMR []string, wantACR string, from, to time.Time) {
		t.Helper()
		if !slices.Equal(p.AMR, wantAMR) || p.ACR != wantACR {
			t.Errorf("amr/acr = %v/%q, want %v/%q", p.AMR, p.ACR, wantAMR, wantACR)
		}
		if p.AuthTime.Before(from.Truncate(time.Second)) || p.AuthTime.After(to) {
			t.Errorf("auth_time = %v, want the sign-in, between %v and %v", p.AuthTime, from, to)
		}
	}
	// refreshKeeps waits until a refresh would be issued in a later second than the sign-in (so that a
	// refresh resetting auth_time would show), refreshes, and checks the new token keeps p's assurance.
	refreshKeeps := func(t *testing.T, p authn.Principal, refresh string) {
		t.Helper()
		for !time.Now().After(p.AuthTime.Add(1100 * time.Millisecond)) {
			time.Sleep(50 * time.Millisecond)
		}
		r := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": refresh}).want(t, 200, "refresh")
		q := principal(t, str(r.Body, "access_token"))
		if q.TokenID == p.TokenID || q.SessionID != p.SessionID {
			t.Fatalf("refresh gave token %s of session %s, want a new token of session %s", q.TokenID, q.SessionID, p.SessionID)
		}
		if !slices.Equal(q.AMR, p.AMR) || q.ACR != p.ACR || !q.AuthTime.Equal(p.AuthTime) {
			t.Errorf("after refresh amr/acr/auth_time = %v/%q/%v, want unchanged %v/%q/%v", q.AMR, q.ACR, q.AuthTime, p.AMR, p.ACR, p.AuthTime)
		}
	}
	stepUp := authn.Assurance{MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute}

	t.Run("password from a trusted device: one factor", func(t *testing.T) {
		from := time.Now()
		r := c.login(t, a.email, password, a.device).want(t, 200, "login from the registering device")
		to := time.Now()
		p := principal(t, str(r.Body, "access_token"))
		check(t, p, []string{"pwd"}, "aal1", from, to)
		if stepUp.SatisfiedBy(p, time.Now()) {
			t.Error("a password alone satisfies a step-up requirement of aal2")
		}
		refreshKeeps(t, p, str(r.Body, "refresh_token"))
	})

	t.Run("password and an e-mailed code from a new device: two factors", func(t *testing.T) {
		before := c.outboxCount(t, a.email)
		from := time.Now()
		r := c.login(t, a.email, password, "amr-phone").want(t, 200, "login from a new device")
		if str(r.Body, "challenge") != "device_verification" {
			t.Fatalf("login body = %s, want a device_verification challenge", r.Raw)
		}
		code := c.latestCode(t, a.email, "device_verification", before)
		ok := c.do("POST", "/api/v1/account/device/verify", map[string]any{
			"deviceVerificationToken": str(r.Body, "device_verification_token"), "otp": code, "deviceId": "amr-phone",
		}).want(t, 200, "device verify")
		to := time.Now()
		p := principal(t, str(ok.Body, "data", "accessToken"))
		check(t, p, []string{"pwd", "otp", "mfa"}, "aal2", from, to)
		if !stepUp.SatisfiedBy(p, time.Now()) {
			t.Errorf("a fresh two-factor sign-in (%v, %s, %v) does not satisfy a step-up requirement of aal2 within 15m", p.AMR, p.ACR, p.AuthTime)
		}
		refreshKeeps(t, p, str(ok.Body, "data", "refreshToken"))
	})
}
