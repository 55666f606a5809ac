package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func TestCreateSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	valid := `{"accountId":"acc-1","deviceId":"dev-1","deviceName":"Pixel 8","platform":"android","ipAddress":"2001:db8::1","userAgent":"app/2.1"}`

	tests := []struct {
		name       string
		auth       string
		body       string
		wantStatus int
		wantDetail string   // plain error detail
		wantLoc    []string // loc of the first 422 entry
		wantType   string   // type of the first 422 entry
	}{
		{name: "created", auth: "Bearer " + internalToken, body: valid, wantStatus: 201},
		{name: "no internal token", body: valid, wantStatus: 401, wantDetail: "Invalid internal token"},
		{name: "wrong internal token", auth: "Bearer not-the-internal-token-at-all", body: valid, wantStatus: 401, wantDetail: "Invalid internal token"},
		{name: "user access token is not an internal token", auth: "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln", body: valid, wantStatus: 401, wantDetail: "Invalid internal token"},
		{name: "missing accountId", auth: "Bearer " + internalToken, body: `{"deviceId":"dev-1"}`, wantStatus: 422, wantLoc: []string{"body", "accountId"}, wantType: "missing"},
		{name: "blank accountId", auth: "Bearer " + internalToken, body: `{"accountId":"   "}`, wantStatus: 422, wantLoc: []string{"body", "accountId"}, wantType: "missing"},
		{name: "accountId of the wrong type", auth: "Bearer " + internalToken, body: `{"accountId":42}`, wantStatus: 422, wantLoc: []string{"body", "accountId"}, wantType: "string_type"},
		{name: "invalid ipAddress", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","ipAddress":"300.1.1.1"}`, wantStatus: 422, wantLoc: []string{"body", "ipAddress"}},
		{name: "overlong deviceName", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","deviceName":"` + strings.Repeat("x", 201) + `"}`, wantStatus: 422, wantLoc: []string{"body", "deviceName"}, wantType: "string_too_long"},
		{name: "malformed JSON", auth: "Bearer " + internalToken, body: `{"accountId":`, wantStatus: 422, wantType: "json_invalid"},
		{name: "not an object", auth: "Bearer " + internalToken, body: `["acc-1"]`, wantStatus: 422},
		{name: "empty body", auth: "Bearer " + internalToken, wantStatus: 422, wantLoc: []string{"body"}, wantType: "missing"},
		{name: "with assurance", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd","otp","mfa"],"acr":"aal2","authTime":1700000000}`, wantStatus: 201},
		{name: "unknown amr", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd","retina"]}`, wantStatus: 422, wantLoc: []string{"body", "amr"}, wantType: "value_error"},
		{name: "too many amr", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd","pwd","pwd","pwd","pwd","pwd","pwd","pwd","pwd"]}`, wantStatus: 422, wantLoc: []string{"body", "amr"}, wantType: "value_error"},
		{name: "amr not a list", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":"pwd"}`, wantStatus: 422, wantLoc: []string{"body", "amr"}},
		{name: "unknown acr", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd"],"acr":"gold"}`, wantStatus: 422, wantLoc: []string{"body", "acr"}, wantType: "value_error"},
		{name: "aal2 without mfa", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd"],"acr":"aal2"}`, wantStatus: 422, wantLoc: []string{"body", "acr"}, wantType: "value_error"},
		{name: "authTime in the future", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","amr":["pwd"],"authTime":4102444800}`, wantStatus: 422, wantLoc: []string{"body", "authTime"}, wantType: "value_error"},
		{name: "negative authTime", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","authTime":-1}`, wantStatus: 422, wantLoc: []string{"body", "authTime"}, wantType: "greater_than_equal"},
		{name: "authTime not a number", auth: "Bearer " + internalToken, body: `{"accountId":"acc-1","authTime":"now"}`, wantStatus: 422, wantLoc: []string{"body", "authTime"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.internal, http.MethodPost, "/internal/v1/sessions", tc.auth, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tc.wantStatus, r.raw)
			}
			switch {
			case tc.wantStatus == 201:
				for _, field := range []string{"sessionId", "accessToken", "refreshToken"} {
					if v, _ := r.body[field].(string); v == "" {
						t.Errorf("%s missing in %s", field, r.raw)
					}
				}
				if r.body["tokenType"] != "Bearer" || r.body["expiresIn"] != float64(900) {
					t.Errorf("tokenType/expiresIn = %v/%v, want Bearer/900", r.body["tokenType"], r.body["expiresIn"])
				}
				if got := r.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
			case tc.wantDetail != "":
				if r.body["detail"] != tc.wantDetail {
					t.Errorf("detail = %v, want %q", r.body["detail"], tc.wantDetail)
				}
			case tc.wantStatus == 422:
				assertValidation(t, r, tc.wantLoc, tc.wantType)
			}
		})
	}
}

// assertValidation checks a FastAPI-style 422: {"detail":[{"loc":[...],"msg":...,"type":...}]}.
func assertValidation(t *testing.T, r response, wantLoc []string, wantType string) {
	t.Helper()
	detail, ok := r.body["detail"].([]any)
	if !ok || len(detail) == 0 {
		t.Fatalf("detail = %v, want a list of errors", r.body["detail"])
	}
	first := detail[0].(map[string]any)
	if msg, _ := first["msg"].(string); msg == "" {
		t.Errorf("first error has no msg: %v", first)
	}
	if wantType != "" && first["type"] != wantType {
		t.Errorf("type = %v, want %q", first["type"], wantType)
	}
	if wantLoc != nil {
		loc, _ := json.Marshal(first["loc"])
		want, _ := json.Marshal(wantLoc)
		if string(loc) != string(want) {
			t.Errorf("loc = %s, want %s", loc, want)
		}
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	created := s.createSession(t, "acc-1")

	for _, app := range []struct {
		name string
		do   func() response
	}{
		{"public", func() response { return do(t, s.public, http.MethodGet, "/.well-known/jwks.json", "", "") }},
		{"internal", func() response { return do(t, s.internal, http.MethodGet, "/.well-known/jwks.json", "", "") }},
	} {
		t.Run(app.name, func(t *testing.T) {
			r := app.do()
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200", r.status)
			}
			if got := r.header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control = %q, want public, max-age=300", got)
			}
			keys, _ := r.body["keys"].([]any)
			if len(keys) != 1 {
				t.Fatalf("keys = %v, want one key", r.body["keys"])
			}
			k := keys[0].(map[string]any)
			for field, want := range map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"} {
				if k[field] != want {
					t.Errorf("%s = %v, want %q", field, k[field], want)
				}
			}
		})
	}

	// Another service verifies the token with nothing but the served JWKS.
	v := authn.NewVerifier(authn.VerifierConfig{JWKSURL: s.internalURL + "/.well-known/jwks.json", Issuer: authntest.Issuer, Audience: "latchkey"})
	p, err := v.Verify(context.Background(), created.AccessToken)
	if err != nil {
		t.Fatalf("verify the issued access token against the served JWKS: %v", err)
	}
	if p.AccountID != "acc-1" || p.SessionID != created.SessionID {
		t.Errorf("principal = %+v, want acc-1 / %s", p, created.SessionID)
	}
	if d := time.Until(p.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("token expires in %s, want about 15m", d)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	created := s.createSession(t, "acc-1")

	first := s.refresh(t, created.RefreshToken)
	if first.status != http.StatusOK {
		t.Fatalf("refresh: status %d, body %s", first.status, first.raw)
	}
	if first.body["token_type"] != "Bearer" || first.body["expires_in"] != float64(900) || first.body["session_id"] != created.SessionID {
		t.Errorf("refresh body = %s", first.raw)
	}
	rotated, _ := first.body["refresh_token"].(string)
	access, _ := first.body["access_token"].(string)
	if rotated == "" || rotated == created.RefreshToken || access == "" {
		t.Fatalf("refresh gave refresh_token %q access_token %q; want new tokens", rotated, access)
	}
	if got := first.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	// The new refresh token works once more; the new access token is accepted by authn.Middleware.
	if second := s.refresh(t, rotated); second.status != http.StatusOK {
		t.Fatalf("refresh with the rotated token: status %d, body %s", second.status, second.raw)
	}
	if r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", "Bearer "+access, ""); r.status != http.StatusOK {
		t.Errorf("logout with the refreshed access token: status %d, body %s", r.status, r.raw)
	}
}

func TestRefreshTokenReuseRevokesSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	created := s.createSession(t, "acc-1")

	first := s.refresh(t, created.RefreshToken)
	if first.status != http.StatusOK {
		t.Fatalf("refresh: status %d", first.status)
	}
	rotated := first.body["refresh_token"].(string)
	access := first.body["access_token"].(string)

	replay := s.refresh(t, created.RefreshToken) // the spent token: stolen, or a broken client
	if replay.status != http.StatusUnauthorized || replay.body["detail"] != "Invalid refresh token" {
		t.Fatalf("replayed token: status %d body %s, want 401 Invalid refresh token", replay.status, replay.raw)
	}
	if r := s.refresh(t, rotated); r.status != http.StatusUnauthorized {
		t.Errorf("current token after reuse: status %d, want 401 (session revoked)", r.status)
	}
	if r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", "Bearer "+access, ""); r.status != http.StatusUnauthorized {
		t.Errorf("access token of the revoked session: status %d, want 401", r.status)
	}

	ev := s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool { return ev.Type == events.TypeSessionRevoked })
	var p events.SessionRevoked
	if err := ev.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.SessionID != created.SessionID || p.Reason != session.ReasonRefreshTokenReused || ev.AccountID != "acc-1" {
		t.Errorf("session.revoked = %+v %+v", ev, p)
	}
}

func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	loggedOut := s.createSession(t, "acc-1")
	if r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", "Bearer "+loggedOut.AccessToken, ""); r.status != http.StatusOK {
		t.Fatalf("logout: status %d", r.status)
	}
	live := s.createSession(t, "acc-2")

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantLoc    []string
		wantType   string
	}{
		{"revoked session", `{"refresh_token":"` + loggedOut.RefreshToken + `"}`, 401, nil, ""},
		{"wrong secret", `{"refresh_token":"` + live.SessionID + `.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, 401, nil, ""},
		{"access token instead", `{"refresh_token":"` + live.AccessToken + `"}`, 401, nil, ""},
		{"garbage", `{"refresh_token":"garbage"}`, 401, nil, ""},
		{"missing field", `{}`, 422, []string{"body", "refresh_token"}, "missing"},
		{"camelCase field", `{"refreshToken":"` + live.RefreshToken + `"}`, 422, []string{"body", "refresh_token"}, "missing"},
		{"wrong type", `{"refresh_token":123}`, 422, []string{"body", "refresh_token"}, "string_type"},
		{"null", `{"refresh_token":null}`, 422, []string{"body", "refresh_token"}, "missing"},
		{"malformed JSON", `{"refresh_token":"abc"`, 422, nil, "json_invalid"},
		{"empty body", ``, 422, []string{"body"}, "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.public, http.MethodPost, "/api/v1/auth/refresh", "", tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tc.wantStatus, r.raw)
			}
			if tc.wantStatus == 401 {
				if r.body["detail"] != "Invalid refresh token" {
					t.Errorf("detail = %v, want Invalid refresh token", r.body["detail"])
				}
				return
			}
			assertValidation(t, r, tc.wantLoc, tc.wantType)
		})
	}
	// None of the refused attempts touched the live session.
	if r := s.refresh(t, live.RefreshToken); r.status != http.StatusOK {
		t.Errorf("live session after refused attempts: status %d, body %s", r.status, r.raw)
	}
}

func TestRefreshExpiredSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{IdleTTL: time.Second, AbsoluteTTL: time.Hour})
	created := s.createSession(t, "acc-1")
	time.Sleep(1200 * time.Millisecond)
	if r := s.refresh(t, created.RefreshToken); r.status != http.StatusUnauthorized {
		t.Errorf("refresh after the idle TTL: status %d, want 401", r.status)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	created := s.createSession(t, "acc-1")
	other := s.createSession(t, "acc-1") // the same account on another device
	auth := "Bearer " + created.AccessToken

	// Another service (or replica) follows the deny-list from Kafka.
	ctx, cancel := context.WithCancel(context.Background())
	followDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-followDone })
	remote := authn.NewDenyList()
	go func() {
		defer close(followDone)
		_ = remote.Follow(ctx, kafkax.Cluster{Brokers: s.env.Brokers}, s.env.TopicPrefix, authn.DefaultLookback, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", auth, "")
	if r.status != http.StatusOK || r.body["message"] != "Logged out" {
		t.Fatalf("logout: status %d body %s, want 200 Logged out", r.status, r.raw)
	}
	loggedOutAt := time.Now()

	// This process refuses the token at once: a second logout is a 401, as is any other use.
	again := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", auth, "")
	if again.status != http.StatusUnauthorized || again.body["detail"] != "Invalid or expired token" {
		t.Errorf("second logout: status %d body %s, want 401 Invalid or expired token", again.status, again.raw)
	}
	if r := s.refresh(t, created.RefreshToken); r.status != http.StatusUnauthorized {
		t.Errorf("refresh after logout: status %d, want 401", r.status)
	}
	// The account's other session is untouched.
	if r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", "Bearer "+other.AccessToken, ""); r.status != http.StatusOK {
		t.Errorf("logout of the other session: status %d, want 200", r.status)
	}

	// The event is on Kafka with the account as key ...
	ev := s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool {
		var p events.SessionRevoked
		return ev.Type == events.TypeSessionRevoked && ev.Decode(&p) == nil && p.SessionID == created.SessionID
	})
	var p events.SessionRevoked
	if err := ev.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Reason != session.ReasonLogout || ev.AccountID != "acc-1" {
		t.Errorf("session.revoked = %+v %+v", ev, p)
	}
	if d := p.DenyUntil.Sub(loggedOutAt); d < 15*time.Minute-time.Second || d > 16*time.Minute {
		t.Errorf("denyUntil is %s after logout, want the access-token TTL (plus leeway)", d)
	}

	// ... and the other service's deny-list has it within a second of it being there.
	deadline := time.Now().Add(time.Second)
	for !remote.Denied(created.SessionID) {
		if time.Now().After(deadline) {
			t.Fatal("the following deny-list did not learn the revocation within a second")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// So the other service's middleware refuses the token.
	app, err := httpx.NewApp(httpx.Options{Service: "other", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: s.internalURL + "/.well-known/jwks.json", Issuer: authntest.Issuer, Audience: "latchkey"})
	app.Get("/api/v1/me", authn.Middleware(verifier, remote), func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) })
	if r := do(t, app, http.MethodGet, "/api/v1/me", auth, ""); r.status != http.StatusUnauthorized {
		t.Errorf("other service with the logged-out token: status %d, want 401", r.status)
	}
}

func TestLogoutNeedsAToken(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	tests := []struct {
		name       string
		auth       string
		wantDetail string
	}{
		{"no header", "", "Not authenticated"},
		{"refresh token as bearer", "Bearer " + s.createSession(t, "acc-1").RefreshToken, "Invalid or expired token"},
		{"garbage", "Bearer x.y.z", "Invalid or expired token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", tc.auth, "")
			if r.status != http.StatusUnauthorized || r.body["detail"] != tc.wantDetail {
				t.Errorf("status %d body %s, want 401 %q", r.status, r.raw, tc.wantDetail)
			}
			if tc.auth == "" && r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestMongoDBOutage: with the database unreachable, the endpoints answer 503, not 500.
func TestMongoDBOutage(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	// A MongoDB that is not there: nothing listens on the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURI := "mongodb://" + ln.Addr().String() + "/?connect=direct"
	_ = ln.Close()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(deadURI).SetServerSelectionTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database("session")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, err := token.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	issuer := token.NewIssuer(keys, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: 15 * time.Minute})
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = producer.Close() })
	outbox := kafkax.NewOutbox(db, producer, log)
	service := session.NewService(store.NewSessions(db), issuer, outbox, authn.NewDenyList(),
		session.Options{AccessTokenTTL: 15 * time.Minute, IdleTTL: time.Hour, AbsoluteTTL: time.Hour, Logger: log})
	appOpts := httpx.Options{Service: "session", Logger: log, BodyLimit: 64 << 10}
	public, err := httpx.NewApp(appOpts)
	if err != nil {
		t.Fatal(err)
	}
	internal, err := httpx.NewInternalApp(appOpts)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Routes(public, internal, httpapi.NewHandler(service, keys.JWKSJSON, log, httpapi.Config{}),
		authn.Middleware(authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: "latchkey", Source: keys.Source}), nil),
		httpx.RequireToken(config.Secret(internalToken)))

	tests := []struct {
		name string
		app  *fiber.App
		path string
		auth string
		body string
	}{
		{"create session", internal, "/internal/v1/sessions", "Bearer " + internalToken, `{"accountId":"acc-1"}`},
		{"refresh", public, "/api/v1/auth/refresh", "", `{"refresh_token":"0b6f1d7e-2f0a-4c53-9a51-3c1d3f0e8a11.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.app, http.MethodPost, tc.path, tc.auth, tc.body)
			if r.status != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503 (body %s)", r.status, r.raw)
			}
		})
	}
	// The JWKS needs no database.
	if r := do(t, public, http.MethodGet, "/.well-known/jwks.json", "", ""); r.status != http.StatusOK {
		t.Errorf("JWKS during the outage: status %d, want 200", r.status)
	}
}
