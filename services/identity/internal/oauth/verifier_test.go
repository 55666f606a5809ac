package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

func TestVerifier(t *testing.T) {
	iss := oidctest.New(t)
	v := NewVerifier([]ProviderConfig{
		{Name: Apple, Issuers: []string{iss.URL}, JWKSURL: iss.JWKSURL, ClientIDs: []string{"web-client", "ios-client"}},
		{Name: GitHub}, // no client ids: disabled
	}, nil)
	ctx := context.Background()

	t.Run("Apple's string email_verified, second client id, ES256", func(t *testing.T) {
		tok := iss.MustSign(t, oidctest.ES256, oidctest.Claims{Subject: "a-1", Audience: "ios-client", Email: "X@privaterelay.appleid.com",
			Extra: map[string]any{"email_verified": "true"}})
		id, err := v.Verify(ctx, Apple, tok, "")
		if err != nil || id.TokenKey == "" || id.ExpiresAt.IsZero() {
			t.Fatalf("Verify = %+v, %v; want a token key and expiry", id, err)
		}
		id.TokenKey, id.ExpiresAt = "", time.Time{}
		if id != (Identity{Provider: Apple, Subject: "a-1", Email: "x@privaterelay.appleid.com", EmailVerified: true}) {
			t.Errorf("Verify = %+v, %v", id, err)
		}
	})
	t.Run("disabled provider", func(t *testing.T) {
		if _, err := v.Verify(ctx, GitHub, "x", ""); !errors.Is(err, ErrProviderDisabled) || v.Enabled(GitHub) {
			t.Errorf("Verify = %v, want ErrProviderDisabled", err)
		}
	})
	t.Run("keys cached, fetched again when old", func(t *testing.T) {
		before := iss.JWKSRequests()
		tok := iss.MustSign(t, oidctest.RS256, oidctest.Claims{Subject: "a-2", Audience: "web-client"})
		for range 3 {
			if _, err := v.Verify(ctx, Apple, tok, ""); err != nil {
				t.Fatal(err)
			}
		}
		if got := iss.JWKSRequests() - before; got != 0 {
			t.Errorf("%d fetches for cached keys, want 0", got)
		}
		later := *v
		later.now = func() time.Time { return time.Now().Add(KeysMaxAge + time.Minute) }
		tok = iss.MustSign(t, oidctest.RS256, oidctest.Claims{Subject: "a-2", Audience: "web-client",
			IssuedAt: later.now(), ExpiresAt: later.now().Add(time.Hour)})
		if _, err := later.Verify(ctx, Apple, tok, ""); err != nil {
			t.Fatal(err)
		}
		if got := iss.JWKSRequests() - before; got != 1 {
			t.Errorf("%d fetches after KeysMaxAge, want 1", got)
		}
	})
	t.Run("keys unavailable", func(t *testing.T) {
		down := oidctest.New(t)
		tok := down.MustSign(t, oidctest.RS256, oidctest.Claims{Subject: "a-3", Audience: "c"})
		down.Close()
		dv := NewVerifier([]ProviderConfig{{Name: Google, Issuers: []string{down.URL}, JWKSURL: down.JWKSURL, ClientIDs: []string{"c"}}}, nil)
		if _, err := dv.Verify(ctx, Google, tok, ""); !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("Verify = %v, want ErrKeysUnavailable", err)
		}
	})
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"GOOGLE": Google, " Apple ": Apple, "github": GitHub, "facebook": "", "": ""} {
		got, ok := Normalize(in)
		if got != want || ok != (want != "") {
			t.Errorf("Normalize(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
}
