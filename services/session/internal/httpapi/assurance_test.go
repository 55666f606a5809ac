package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestCreateSessionSignsAssurance: the amr, acr and authTime identity sends with the start request
// are in the access token, as its verifiers (the JWKS over HTTP) read them, before and after a
// refresh through the public API.
func TestCreateSessionSignsAssurance(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	signedIn := time.Now().Add(-time.Minute).Truncate(time.Second)
	r := do(t, s.internal, http.MethodPost, "/internal/v1/sessions", "Bearer "+internalToken,
		`{"accountId":"acc-1","deviceId":"dev-1","amr":["pwd","sms","mfa"],"acr":"aal2","authTime":`+jsonInt(signedIn.Unix())+`}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status = %d: %s", r.status, r.raw)
	}
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: s.internalURL + "/.well-known/jwks.json", Issuer: authntest.Issuer, Audience: "latchkey"})
	check := func(what, access string) {
		t.Helper()
		p, err := verifier.Verify(context.Background(), access)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(p.AMR, []string{"pwd", "sms", "mfa"}) || p.ACR != "aal2" || !p.AuthTime.Equal(signedIn) {
			t.Errorf("%s: amr/acr/auth_time = %v/%q/%v, want [pwd sms mfa]/aal2/%v", what, p.AMR, p.ACR, p.AuthTime, signedIn)
		}
	}
	check("first token", r.body["accessToken"].(string))

	refreshed := s.refresh(t, r.body["refreshToken"].(string))
	if refreshed.status != http.StatusOK {
		t.Fatalf("refresh: status %d: %s", refreshed.status, refreshed.raw)
	}
	check("refreshed token", refreshed.body["access_token"].(string))
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
