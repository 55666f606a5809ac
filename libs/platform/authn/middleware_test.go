package authn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
)

func TestMiddleware(t *testing.T) {
	key := newKey(t, "k1")
	srv := newJWKSServer(t, key)
	v := newVerifier(srv, nil)
	deny := authn.NewDenyList()
	deny.Deny("sess-revoked", time.Now().Add(time.Hour))

	app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	whoami := func(c *fiber.Ctx) error {
		p := authn.MustPrincipal(c)
		fromCtx, ok := authn.FromContext(c.UserContext())
		if !ok || fromCtx.AccountID != p.AccountID || fromCtx.SessionID != p.SessionID || fromCtx.TokenID != p.TokenID {
			return fiber.NewError(http.StatusInternalServerError, "context principal missing")
		}
		return c.JSON(fiber.Map{"account": p.AccountID, "session": p.SessionID})
	}
	app.Get("/api/v1/auth/whoami", authn.Middleware(v, deny), whoami)
	app.Get("/api/v1/account/whoami", authn.Middleware(v, deny), whoami)

	valid := sign(t, key, validClaims())
	revoked := sign(t, key, with(func(c jwt.MapClaims) { c["sid"] = "sess-revoked" }))
	expired := sign(t, key, with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))

	tests := []struct {
		name        string
		path        string
		auth        string
		wantStatus  int
		wantDetail  string // plain style
		wantMessage string // envelope style
		wantAccount string
		wantWWWAuth string
	}{
		{name: "valid", path: "/api/v1/auth/whoami", auth: "Bearer " + valid, wantStatus: 200, wantAccount: "acc-1"},
		{name: "lower-case scheme", path: "/api/v1/auth/whoami", auth: "bearer " + valid, wantStatus: 200, wantAccount: "acc-1"},
		{name: "missing", path: "/api/v1/auth/whoami", wantStatus: 401, wantDetail: "Not authenticated", wantWWWAuth: "Bearer"},
		{name: "empty bearer", path: "/api/v1/auth/whoami", auth: "Bearer   ", wantStatus: 401, wantDetail: "Not authenticated", wantWWWAuth: "Bearer"},
		{name: "basic scheme", path: "/api/v1/auth/whoami", auth: "Basic dXNlcjpwYXNz", wantStatus: 401, wantDetail: "Not authenticated", wantWWWAuth: "Bearer"},
		{name: "garbage", path: "/api/v1/auth/whoami", auth: "Bearer not-a-token", wantStatus: 401, wantDetail: "Invalid or expired token", wantWWWAuth: `Bearer error="invalid_token"`},
		{name: "expired", path: "/api/v1/auth/whoami", auth: "Bearer " + expired, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "revoked session", path: "/api/v1/auth/whoami", auth: "Bearer " + revoked, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "envelope path missing", path: "/api/v1/account/whoami", wantStatus: 401, wantMessage: "Not authenticated", wantWWWAuth: "Bearer"},
		{name: "envelope path revoked", path: "/api/v1/account/whoami", auth: "Bearer " + revoked, wantStatus: 401, wantMessage: "Invalid or expired token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tc.wantStatus, raw)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			if tc.wantAccount != "" && body["account"] != tc.wantAccount {
				t.Errorf("account = %v, want %q", body["account"], tc.wantAccount)
			}
			if tc.wantDetail != "" && body["detail"] != tc.wantDetail {
				t.Errorf("detail = %v, want %q", body["detail"], tc.wantDetail)
			}
			if tc.wantMessage != "" && (body["message"] != tc.wantMessage || body["success"] != false) {
				t.Errorf("envelope = %v, want success=false message %q", body, tc.wantMessage)
			}
			if tc.wantWWWAuth != "" {
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantWWWAuth {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantWWWAuth)
				}
			}
		})
	}
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	key := newKey(t, "k1")
	srv := newJWKSServer(t, key)
	srv.set(http.StatusBadGateway)
	app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	app.Get("/api/v1/auth/whoami", authn.Middleware(newVerifier(srv, nil), nil), func(c *fiber.Ctx) error { return c.SendString("ok") })

	req := httptest.NewRequest(http.MethodGet, "/api/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, key, validClaims()))
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}

func TestPrincipalFromWithoutMiddleware(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error {
		_, ok := authn.PrincipalFrom(c)
		return c.JSON(fiber.Map{"ok": ok})
	})
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ OK bool }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.OK {
		t.Error("PrincipalFrom reported a principal on an unauthenticated route")
	}
}

// BenchmarkMiddleware measures what every protected request pays to authenticate: the Bearer header
// parsed, the access token verified (cached: a client repeats its token until it expires) and checked
// against the revocation deny-list, and the principal stored for the handler. The deny-list holds
// 10,000 revoked sessions, a busy day's worth. The request goes through Fiber's router to a no-op
// handler; BenchmarkMiddlewareBaseline is the same route without the middleware, so the difference is
// the middleware's own cost.
func BenchmarkMiddleware(b *testing.B) { benchmarkMiddleware(b, true, 0) }

// BenchmarkMiddlewareUncached is BenchmarkMiddleware for a token seen for the first time: a full
// Ed25519 verification and claims decoding on every request.
func BenchmarkMiddlewareUncached(b *testing.B) { benchmarkMiddleware(b, true, -1) }

// BenchmarkMiddlewareBaseline is the route of BenchmarkMiddleware without authentication.
func BenchmarkMiddlewareBaseline(b *testing.B) { benchmarkMiddleware(b, false, 0) }

func benchmarkMiddleware(b *testing.B, authenticate bool, cacheSize int) {
	k := newKey(b, "k1")
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Logger: quietLogger(), CacheSize: cacheSize,
		Source: func(context.Context) (authn.JWKSet, error) {
			return authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, k.pub)}}, nil
		},
	})
	deny := authn.NewDenyList()
	for i := range 10_000 {
		deny.Deny(fmt.Sprintf("revoked-%d", i), time.Now().Add(time.Hour))
	}
	app := fiber.New()
	handlers := []fiber.Handler{func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) }}
	if authenticate {
		handlers = append([]fiber.Handler{authn.Middleware(v, deny)}, handlers...)
	}
	app.Get("/api/v1/me", handlers...)
	serve := app.Handler()

	var fctx fasthttp.RequestCtx
	tok := sign(b, k, validClaims())
	run := func() {
		fctx.Request.Reset()
		fctx.Response.Reset()
		fctx.Request.Header.SetMethod(http.MethodGet)
		fctx.Request.SetRequestURI("/api/v1/me")
		fctx.Request.Header.Set("Authorization", "Bearer "+tok)
		serve(&fctx)
		if got := fctx.Response.StatusCode(); got != http.StatusNoContent {
			b.Fatalf("status %d: %s", got, fctx.Response.Body())
		}
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}
