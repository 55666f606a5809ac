package authn_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/httpx"
)

func TestVerifyReadsAssurance(t *testing.T) {
	key := newKey(t, "k1")
	v := newVerifier(newJWKSServer(t, key), nil)
	signedIn := time.Now().Add(-10 * time.Minute).Truncate(time.Second)

	p, err := v.Verify(context.Background(), sign(t, key, with(func(c jwt.MapClaims) {
		c["amr"] = []string{"pwd", "otp", "mfa"}
		c["acr"] = "aal2"
		c["auth_time"] = signedIn.Unix()
	})))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.AMR, []string{"pwd", "otp", "mfa"}) || p.ACR != "aal2" || !p.AuthTime.Equal(signedIn) {
		t.Errorf("principal amr/acr/auth_time = %v/%q/%v, want [pwd otp mfa]/aal2/%v", p.AMR, p.ACR, p.AuthTime, signedIn)
	}

	// A token without them (signed before sessions recorded them) still verifies, with none.
	p, err = v.Verify(context.Background(), sign(t, key, validClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if p.AMR != nil || p.ACR != "" || !p.AuthTime.IsZero() {
		t.Errorf("principal of a token without assurance = %v/%q/%v, want none", p.AMR, p.ACR, p.AuthTime)
	}

	// amr of the wrong type is a malformed token, refused.
	if _, err := v.Verify(context.Background(), sign(t, key, with(func(c jwt.MapClaims) { c["amr"] = "pwd" }))); err == nil {
		t.Error("a token whose amr is a string verified")
	}
}

func TestAssuranceSatisfiedBy(t *testing.T) {
	now := time.Now()
	token := func(acr string, age time.Duration) authn.Principal {
		return authn.Principal{AccountID: "acc-1", SessionID: "sess-1", ACR: acr, AuthTime: now.Add(-age)}
	}
	recentStrong := authn.Assurance{MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute}
	tests := []struct {
		name string
		a    authn.Assurance
		p    authn.Principal
		want bool
	}{
		{"fresh aal2", recentStrong, token("aal2", time.Minute), true},
		{"fresh aal3 is above aal2", recentStrong, token("aal3", time.Minute), true},
		{"exactly at the limit", recentStrong, token("aal2", 15*time.Minute), true},
		{"aal2 too old", recentStrong, token("aal2", 16*time.Minute), false},
		{"fresh aal1", recentStrong, token("aal1", time.Minute), false},
		{"no acr", recentStrong, token("", time.Minute), false},
		{"unknown acr", recentStrong, token("aal9", time.Minute), false},
		{"no auth_time", recentStrong, authn.Principal{SessionID: "sess-1", ACR: "aal2"}, false},
		{"api key", authn.Assurance{}, authn.Principal{AccountID: "acc-1", APIKeyID: "key-1"}, false},
		{"zero assurance takes any token", authn.Assurance{}, authn.Principal{AccountID: "acc-1", SessionID: "sess-1"}, true},
		{"age only", authn.Assurance{MaxAge: time.Hour}, token("aal1", time.Minute), true},
		{"level only", authn.Assurance{MinACR: authn.ACRHardwareKey}, token("aal3", 24*time.Hour), true},
		{"level only, too low", authn.Assurance{MinACR: authn.ACRHardwareKey}, token("aal2", 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.SatisfiedBy(tc.p, now); got != tc.want {
				t.Errorf("SatisfiedBy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequireAssurance(t *testing.T) {
	key := newKey(t, "k1")
	rwKey := newAPIKey(authn.APIKeyPrefixLive)
	ident := &fakeIdentity{keys: map[string]authn.APIKeyInfo{
		rwKey: {KeyID: "key-rw", AccountID: "acc-1", Scopes: authn.ScopeRead | authn.ScopeWrite},
	}}
	v := newVerifier(newJWKSServer(t, key), func(c *authn.VerifierConfig) { c.APIKeys = ident.lookup })
	app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mw := authn.Middleware(v, nil)
	step := authn.RequireAssurance(authn.Assurance{MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute})
	done := func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"done": true}) }
	app.Get("/api/v1/things", mw, step, done)
	app.Get("/api/v1/account/things", mw, step, done)
	app.Get("/api/v1/recent", mw, authn.RequireAssurance(authn.Assurance{MaxAge: 5 * time.Minute}), done)

	tok := func(acr string, age time.Duration) string {
		return sign(t, key, with(func(c jwt.MapClaims) {
			c["amr"], c["acr"], c["auth_time"] = []string{"pwd", "otp", "mfa"}, acr, time.Now().Add(-age).Unix()
		}))
	}
	const challenge = `Bearer error="insufficient_user_authentication", error_description="A more recent or stronger sign-in is required for this operation"`
	tests := []struct {
		name        string
		path        string
		headers     []string
		wantStatus  int
		wantWWWAuth string
		wantEnvelop bool
	}{
		{name: "fresh strong token", path: "/api/v1/things", headers: []string{"Authorization", "Bearer " + tok("aal2", time.Minute)}, wantStatus: 200},
		{name: "fresh aal3 token", path: "/api/v1/things", headers: []string{"Authorization", "Bearer " + tok("aal3", 0)}, wantStatus: 200},
		{name: "old sign-in", path: "/api/v1/things", headers: []string{"Authorization", "Bearer " + tok("aal2", time.Hour)}, wantStatus: 401,
			wantWWWAuth: challenge + `, acr_values="aal2 aal3", max_age="900"`},
		{name: "one factor", path: "/api/v1/things", headers: []string{"Authorization", "Bearer " + tok("aal1", time.Minute)}, wantStatus: 401,
			wantWWWAuth: challenge + `, acr_values="aal2 aal3", max_age="900"`},
		{name: "token without assurance", path: "/api/v1/things", headers: []string{"Authorization", "Bearer " + sign(t, key, validClaims())}, wantStatus: 401,
			wantWWWAuth: challenge + `, acr_values="aal2 aal3", max_age="900"`},
		{name: "envelope path", path: "/api/v1/account/things", headers: []string{"Authorization", "Bearer " + tok("aal1", time.Minute)}, wantStatus: 401,
			wantWWWAuth: challenge + `, acr_values="aal2 aal3", max_age="900"`, wantEnvelop: true},
		{name: "age only: old", path: "/api/v1/recent", headers: []string{"Authorization", "Bearer " + tok("aal3", 10*time.Minute)}, wantStatus: 401,
			wantWWWAuth: challenge + `, max_age="300"`},
		{name: "age only: fresh aal1", path: "/api/v1/recent", headers: []string{"Authorization", "Bearer " + tok("aal1", time.Minute)}, wantStatus: 200},
		{name: "api key", path: "/api/v1/things", headers: []string{"X-API-Key", rwKey}, wantStatus: 403},
		{name: "api key, age only", path: "/api/v1/recent", headers: []string{"Authorization", "Bearer " + rwKey}, wantStatus: 403},
		{name: "no credential", path: "/api/v1/things", wantStatus: 401, wantWWWAuth: "Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.wantStatus, raw)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantWWWAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantWWWAuth)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			switch {
			case tc.wantStatus == 200:
				if body["done"] != true {
					t.Errorf("body = %s, want the handler's", raw)
				}
			case tc.wantEnvelop:
				if body["success"] != false || body["httpStatus"] != "UNAUTHORIZED" {
					t.Errorf("body = %s, want the error envelope", raw)
				}
			case tc.wantStatus == 403:
				if body["detail"] != "API keys cannot be used for this operation; sign in instead" {
					t.Errorf("body = %s, want the API-key refusal", raw)
				}
			case tc.wantWWWAuth != "Bearer":
				if body["detail"] != "A more recent or stronger sign-in is required for this operation" {
					t.Errorf("body = %s, want the step-up refusal", raw)
				}
			}
		})
	}
}

func TestRequireAssuranceRefusesBadRequirements(t *testing.T) {
	for name, a := range map[string]authn.Assurance{
		"unknown level": {MinACR: "AAL2"},
		"negative age":  {MaxAge: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("RequireAssurance accepted it")
				}
			}()
			authn.RequireAssurance(a)
		})
	}
}

func TestAuthntestWithAssurance(t *testing.T) {
	keys := authntest.New(t)
	v := authn.NewVerifier(authn.VerifierConfig{JWKSURL: keys.JWKSURL, Issuer: authntest.Issuer, Audience: authntest.Audience})
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	p, err := v.Verify(context.Background(), keys.Token(t, "acc-1", "sess-1", authntest.WithAssurance([]string{"pwd", "hwk", "user", "mfa"}, authn.ACRHardwareKey, at)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.AMR, []string{"pwd", "hwk", "user", "mfa"}) || p.ACR != "aal3" || !p.AuthTime.Equal(at) {
		t.Errorf("principal amr/acr/auth_time = %v/%q/%v", p.AMR, p.ACR, p.AuthTime)
	}
}
