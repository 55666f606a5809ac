package authn_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
)

// The verified-token cache never accepts what a verification from scratch refuses: a token accepted
// (and so cached) is refused once its session is revoked, once it expires and once its key leaves the
// JWKS, with the cache as without it.
func TestVerifiedTokenCacheRefusesWhatVerificationRefuses(t *testing.T) {
	scenarios := []struct {
		name   string
		claims func() jwt.MapClaims
		// change makes the token unacceptable after its first, accepted, use.
		change func(t *testing.T, v *authn.Verifier, deny *authn.DenyList, srv *jwksServer, claims jwt.MapClaims)
	}{
		{
			name:   "session revoked",
			claims: validClaims,
			change: func(_ *testing.T, _ *authn.Verifier, deny *authn.DenyList, _ *jwksServer, c jwt.MapClaims) {
				deny.Deny(c["sid"].(string), time.Now().Add(time.Hour))
			},
		},
		{
			name: "token expired",
			// Expired 28s ago: still within the 30s leeway for a second or two.
			claims: func() jwt.MapClaims {
				return with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-authn.Leeway + 2*time.Second).Unix() })
			},
			change: func(_ *testing.T, _ *authn.Verifier, _ *authn.DenyList, _ *jwksServer, c jwt.MapClaims) {
				past := time.Unix(c["exp"].(int64), 0).Add(authn.Leeway + 100*time.Millisecond)
				time.Sleep(time.Until(past)) // let the token run out
			},
		},
		{
			name:   "key withdrawn from the JWKS",
			claims: validClaims,
			change: func(t *testing.T, v *authn.Verifier, _ *authn.DenyList, srv *jwksServer, _ jwt.MapClaims) {
				srv.set(http.StatusOK, newKey(t, "k2"))
				if err := v.Refresh(context.Background()); err != nil { // the periodic refresh
					t.Fatal(err)
				}
			},
		},
	}
	for _, sc := range scenarios {
		for _, cache := range []struct {
			name string
			size int
		}{{"cached", 0}, {"uncached", -1}} {
			t.Run(sc.name+"/"+cache.name, func(t *testing.T) {
				t.Parallel()
				key := newKey(t, "k1")
				srv := newJWKSServer(t, key)
				v := newVerifier(srv, func(c *authn.VerifierConfig) { c.CacheSize = cache.size })
				deny := authn.NewDenyList()
				app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
				if err != nil {
					t.Fatal(err)
				}
				app.Get("/api/v1/me", authn.Middleware(v, deny), func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) })
				serve := app.Handler()
				get := func(tok string) int {
					var fctx fasthttp.RequestCtx
					fctx.Request.Header.SetMethod(http.MethodGet)
					fctx.Request.SetRequestURI("/api/v1/me")
					fctx.Request.Header.Set("Authorization", "Bearer "+tok)
					serve(&fctx)
					return fctx.Response.StatusCode()
				}

				claims := sc.claims()
				tok := sign(t, key, claims)
				for i := range 2 { // the second time from the cache, when there is one
					if got := get(tok); got != http.StatusNoContent {
						t.Fatalf("request %d before the change = %d, want 204", i+1, got)
					}
				}
				sc.change(t, v, deny, srv, claims)
				if got := get(tok); got != http.StatusUnauthorized {
					t.Errorf("after the change = %d, want 401", got)
				}
			})
		}
	}
}
