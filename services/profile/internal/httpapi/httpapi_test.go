package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/profile/internal/httpapi"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	app      *fiber.App
	keys     *authntest.Keys
	service  *profile.Service
	profiles *store.Profiles
	deny     *authn.DenyList
	apiKeys  *authntest.APIKeys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := testenv.New(t)
	log := slog.New(slog.DiscardHandler)
	f := &fixture{keys: authntest.New(t), profiles: store.NewProfiles(env.Database("profile")), deny: authn.NewDenyList(), apiKeys: authntest.NewAPIKeys()}
	f.service = profile.NewService(f.profiles, profile.Options{Wait: 300 * time.Millisecond})
	app, err := httpx.NewApp(httpx.Options{Service: "profile", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: f.keys.JWKSURL, Issuer: authntest.Issuer, Audience: authntest.Audience, Logger: log, APIKeys: f.apiKeys.Lookup})
	httpapi.Routes(app, authn.Middleware(verifier, f.deny), httpapi.NewHandler(f.service, log))
	f.app = app
	return f
}

func (f *fixture) do(t *testing.T, method, path, token string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, nil, resp.StatusCode, resp.Header, raw)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return resp.StatusCode, body
}

func TestGetMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	occurred := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := f.service.ApplyAccountCreated(ctx, profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", OccurredAt: occurred, Email: "jane@example.com", Username: "jane", FirstName: "Jane",
	}); err != nil {
		t.Fatal(err)
	}

	status, body := f.do(t, http.MethodGet, "/api/v1/me", f.keys.Token(t, "acc-1", "sess-1", nil))
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %v", status, body)
	}
	want := map[string]any{
		"id": "acc-1", "email": "jane@example.com", "username": "jane", "first_name": "Jane",
		"last_name": nil, "display_name": nil, "phone": nil, "phone_verified": false, "locale": nil, "timezone": nil, "avatar_url": nil, "bio": nil, "location": nil,
		"created_at": "2025-02-03T04:05:06Z",
	}
	for field, w := range want {
		got, present := body[field]
		if !present || got != w {
			t.Errorf("%s = %#v (present %v), want %#v", field, got, present, w)
		}
	}
	updated, _ := body["updated_at"].(string)
	if ts, err := time.Parse(time.RFC3339, updated); err != nil || ts.Location() != time.UTC || updated[len(updated)-1] != 'Z' {
		t.Errorf("updated_at = %q, want an RFC 3339 UTC timestamp", updated)
	}
	if len(body) != 15 {
		t.Errorf("body has %d fields, want 15: %v", len(body), body)
	}
}

func TestGetMeMissingProfileAnsweredFromToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.keys.Token(t, "acc-new", "sess-1", nil)

	status, body := f.do(t, http.MethodGet, "/api/v1/me", token)
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (never 404 for a valid token); body %v", status, body)
	}
	if body["id"] != "acc-new" || body["email"] != nil || body["first_name"] != nil {
		t.Errorf("body = %v, want the id alone", body)
	}

	// The account.created event arrives later and fills the rest in.
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-late", AccountID: "acc-new", OccurredAt: time.Now().Add(-2 * time.Second),
		Email: "new@example.com", Username: "newbie", FirstName: "New", LastName: "Person",
	}); err != nil {
		t.Fatal(err)
	}
	status, body = f.do(t, http.MethodGet, "/api/v1/me", token)
	if status != http.StatusOK || body["email"] != "new@example.com" || body["last_name"] != "Person" {
		t.Errorf("after the event: %d %v", status, body)
	}
}

func TestGetMeUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := authntest.New(t)
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"no authorization header", ""},
		{"not a bearer token", "Basic YWxpY2U6c2VjcmV0"},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"expired", "Bearer " + f.keys.Token(t, "acc-1", "s", func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Hour).Unix(), time.Now().Add(-30*time.Minute).Unix()
		})},
		{"wrong audience", "Bearer " + f.keys.Token(t, "acc-1", "s", func(c jwt.MapClaims) { c["aud"] = "someone-else" })},
		{"wrong issuer", "Bearer " + f.keys.Token(t, "acc-1", "s", func(c jwt.MapClaims) { c["iss"] = "evil" })},
		{"no session id", "Bearer " + f.keys.Token(t, "acc-1", "s", func(c jwt.MapClaims) { delete(c, "sid") })},
		{"signed by an unknown key", "Bearer " + other.Token(t, "acc-1", "s", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := f.app.Test(req, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
			if detail, ok := body["detail"].(string); !ok || detail == "" || len(body) != 1 {
				t.Errorf("body = %v, want the plain {\"detail\": \"...\"}", body)
			}
		})
	}
}

func TestGetMeRevokedSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.keys.Token(t, "acc-1", "sess-revoked", nil)
	if status, body := f.do(t, http.MethodGet, "/api/v1/me", token); status != http.StatusOK {
		t.Fatalf("before revocation: %d %v", status, body)
	}
	f.deny.Deny("sess-revoked", time.Now().Add(time.Hour))
	if status, body := f.do(t, http.MethodGet, "/api/v1/me", token); status != http.StatusUnauthorized || body["detail"] == nil {
		t.Errorf("after revocation: %d %v, want 401 with detail", status, body)
	}
	if status, _ := f.do(t, http.MethodGet, "/api/v1/me", f.keys.Token(t, "acc-1", "sess-other", nil)); status != http.StatusOK {
		t.Errorf("another session's token: %d, want 200", status)
	}
}

func TestUnservedPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.keys.Token(t, "acc-1", "sess-1", nil)
	for _, path := range []string{"/api/v1/me/avatar", "/api/v1/me/settings/x", "/api/v1/meh"} {
		t.Run(path, func(t *testing.T) {
			status, body := f.do(t, http.MethodGet, path, token)
			if status != http.StatusNotFound {
				t.Errorf("status = %d, want 404", status)
			}
			if body["detail"] != "Not Found" {
				t.Errorf("body = %v, want the plain 404", body)
			}
		})
	}
}

func TestGetMeMongoDown(t *testing.T) {
	t.Parallel()
	// A client of a MongoDB that is not there: every operation fails server selection.
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	log := slog.New(slog.DiscardHandler)
	keys := authntest.New(t)
	app, err := httpx.NewApp(httpx.Options{Service: "profile", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	service := profile.NewService(store.NewProfiles(client.Database("profile")), profile.Options{})
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: keys.JWKSURL, Issuer: authntest.Issuer, Audience: authntest.Audience, Logger: log})
	httpapi.Routes(app, authn.Middleware(verifier, nil), httpapi.NewHandler(service, log))

	req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+keys.Token(t, "acc-1", "sess-1", nil))
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || body["detail"] == nil {
		t.Errorf("got %d %v, want 503 with a detail", resp.StatusCode, body)
	}
}
