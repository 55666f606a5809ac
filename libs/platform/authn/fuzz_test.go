package authn_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
)

// FuzzVerify feeds the verifier arbitrary token strings, seeded with real tokens and their forgeries:
// nothing but the genuine token may verify, and nothing may panic.
func FuzzVerify(f *testing.F) {
	k := newKey(f, "k1")
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Logger: quietLogger(),
		Source: func(context.Context) (authn.JWKSet, error) {
			return authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, k.pub)}}, nil
		},
	})
	genuine := sign(f, k, validClaims())
	parts := strings.Split(genuine, ".")
	for _, seed := range []string{
		genuine, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".", parts[0] + ".." + parts[2],
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", parts[0] + "." + parts[1] + "." + flip(parts[2]),
		strings.Repeat("A", 9000), genuine + genuine,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err == nil && token != genuine {
			t.Fatalf("a token other than the genuine one verified: %q -> %+v", token, p)
		}
	})
}

// FuzzMiddleware sends arbitrary Authorization and X-API-Key headers through the middleware: the
// answer is 204 for the genuine token only and otherwise a 401 in the path's style, never a 5xx.
func FuzzMiddleware(f *testing.F) {
	k := newKey(f, "k1")
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Logger: quietLogger(),
		Source: func(context.Context) (authn.JWKSet, error) {
			return authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, k.pub)}}, nil
		},
	})
	app := fiber.New(fiber.Config{ErrorHandler: wire.Render})
	ok := func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) }
	mw := authn.Middleware(v, authn.NewDenyList())
	app.Get("/api/v1/me", mw, ok)
	app.Get("/api/v1/account/security-info", mw, ok)
	serve := app.Handler()
	genuine := sign(f, k, validClaims())
	for _, seed := range [][2]string{
		{"Bearer " + genuine, ""}, {"bearer " + genuine, ""}, {"Bearer", ""}, {"Basic dXNlcjpwYXNz", ""},
		{"", "lk_live_0000000000000000000000000000000000"}, {"Bearer lk_test_abc", ""}, {"Bearer  " + genuine, ""},
		{"", ""}, {"Bearer \x00", ""},
	} {
		f.Add(seed[0], seed[1], false)
		f.Add(seed[0], seed[1], true)
	}
	f.Fuzz(func(t *testing.T, authorization, apiKey string, envelope bool) {
		var fctx fasthttp.RequestCtx
		fctx.Request.Header.SetMethod(http.MethodGet)
		path := "/api/v1/me"
		if envelope {
			path = "/api/v1/account/security-info"
		}
		fctx.Request.SetRequestURI(path)
		if authorization != "" {
			fctx.Request.Header.Set("Authorization", authorization)
		}
		if apiKey != "" {
			fctx.Request.Header.Set(authn.HeaderAPIKey, apiKey)
		}
		serve(&fctx)
		status := fctx.Response.StatusCode()
		switch {
		case status >= 500:
			t.Fatalf("status %d for Authorization %q X-API-Key %q: %s", status, authorization, apiKey, fctx.Response.Body())
		case status == http.StatusNoContent:
			got := string(fctx.Request.Header.Peek("Authorization"))
			if !strings.Contains(got, genuine) {
				t.Fatalf("accepted Authorization %q X-API-Key %q", authorization, apiKey)
			}
		case status != http.StatusUnauthorized && status != http.StatusBadRequest:
			t.Fatalf("status %d, want 401 (or 400): %s", status, fctx.Response.Body())
		}
	})
}

// FuzzAPIKeyParsing checks the API key shape and scope parsers on arbitrary input: a key that is
// well formed keeps its prefix and length, and a parsed scope set names only known scopes.
func FuzzAPIKeyParsing(f *testing.F) {
	for _, seed := range []string{"lk_live_", "lk_test_0123456789abcdefghijABCDEFGHIJ01234", "read", "write", "read,write", "admin", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if authn.WellFormedAPIKey(s) && (len(s) != authn.APIKeyLen || !authn.IsAPIKeyShaped(s)) {
			t.Fatalf("%q is well formed but not key-shaped", s)
		}
		scopes, err := authn.ParseScopes(strings.Split(s, ","))
		if err == nil && scopes&^(authn.ScopeRead|authn.ScopeWrite) != 0 {
			t.Fatalf("ParseScopes(%q) = %b: unknown bits", s, scopes)
		}
	})
}

// FuzzParseJWKS parses arbitrary JWKS documents: an error or only Ed25519 keys of the right size.
func FuzzParseJWKS(f *testing.F) {
	k := newKey(f, "k1")
	set := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"` + authn.NewJWK("k1", k.pub).X + `","use":"sig","alg":"EdDSA"}]}`
	for _, seed := range []string{set, `{"keys":[]}`, `{}`, `[]`, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}`, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AA"}]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		keys, err := authn.ParseJWKS(raw)
		if err != nil {
			return
		}
		for kid, key := range keys {
			if len(key) != 32 {
				t.Fatalf("kid %q: key of %d bytes", kid, len(key))
			}
		}
	})
}
