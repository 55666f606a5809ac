package authn_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newAPIKey builds a well-formed key the way identity does.
func newAPIKey(prefix string) string {
	b := make([]byte, authn.APIKeyRandomLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%62]
	}
	body := prefix + string(b)
	return body + authn.APIKeyChecksum(body)
}

func TestWellFormedAPIKey(t *testing.T) {
	good := newAPIKey(authn.APIKeyPrefixLive)
	typo := []byte(good)
	if typo[20] == 'a' {
		typo[20] = 'b'
	} else {
		typo[20] = 'a'
	}
	tests := []struct {
		name string
		key  string
		want bool
	}{
		{"live key", good, true},
		{"test key", newAPIKey(authn.APIKeyPrefixTest), true},
		{"one character changed", string(typo), false},
		{"truncated", good[:len(good)-1], false},
		{"extended", good + "0", false},
		{"unknown prefix", "lk_prod_" + good[8:], false},
		{"not base62", good[:20] + "-" + good[21:], false},
		{"jwt", "eyJhbGciOiJFZERTQSJ9.e30.sig", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := authn.WellFormedAPIKey(tc.key); got != tc.want {
				t.Errorf("WellFormedAPIKey(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
	if got := len(good); got != authn.APIKeyLen || authn.APIKeyLen != 54 {
		t.Errorf("key length %d, APIKeyLen %d, want 54", got, authn.APIKeyLen)
	}
}

// TestAPIKeyRoutePolicy checks the per-route decisions: the default (safe methods only), SignedInOnly,
// KeysMayWrite and its refused fields, the scopes, and that no spelling of a path escapes its route's
// decision.
func TestAPIKeyRoutePolicy(t *testing.T) {
	key := newKey(t, "k1")
	srv := newJWKSServer(t, key)
	rwKey, readKey := newAPIKey(authn.APIKeyPrefixLive), newAPIKey(authn.APIKeyPrefixLive)
	writeKey := newAPIKey(authn.APIKeyPrefixLive)
	ident := &fakeIdentity{keys: map[string]authn.APIKeyInfo{
		rwKey:    {KeyID: "key-rw", AccountID: "acc-1", Scopes: authn.ScopeRead | authn.ScopeWrite},
		readKey:  {KeyID: "key-r", AccountID: "acc-1", Scopes: authn.ScopeRead},
		writeKey: {KeyID: "key-w", AccountID: "acc-1", Scopes: authn.ScopeWrite},
	}}
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.APIKeys = ident.lookup })
	app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) }
	mw := authn.Middleware(v, authn.NewDenyList())
	app.Get("/api/v1/me", mw, ok)
	app.Patch("/api/v1/me", authn.KeysMayWrite(mw, "phone", "phone_number"), ok)
	app.Post("/api/v1/account/2fa/enable", mw, ok)                       // no decision: closed to keys
	app.Delete("/api/v1/account/deactivate", authn.SignedInOnly(mw), ok) // closed to keys
	app.Get("/api/v1/auth/api-keys", authn.SignedInOnly(mw), ok)         // closed to keys, reads too
	app.Delete("/api/v1/account/sessions/:sessionId", mw, ok)            // no decision: closed to keys
	a := apiKeyApp{app: app}
	jwt := sign(t, key, validClaims())

	tests := []struct {
		name, method, path, body, cred string
		want                           int
		wantDetail                     string
	}{
		{"read with a read key", "GET", "/api/v1/me", "", readKey, 200, ""},
		{"HEAD with a read key", "HEAD", "/api/v1/me", "", readKey, 200, ""},
		{"read without the read scope", "GET", "/api/v1/me", "", writeKey, 403, "This API key lacks the read scope"},
		{"opened write with a write key", "PATCH", "/api/v1/me", `{"first_name":"Ada"}`, writeKey, 200, ""},
		{"opened write without the write scope", "PATCH", "/api/v1/me", `{"first_name":"Ada"}`, readKey, 403, "This API key lacks the write scope"},
		{"refused field", "PATCH", "/api/v1/me", `{"first_name":"Ada","phone":"+14155550100"}`, rwKey, 403, "API keys cannot change this field; sign in instead: phone"},
		{"refused field in capitals", "PATCH", "/api/v1/me", `{"PHONE_NUMBER":"4155550100"}`, rwKey, 403, "API keys cannot change this field; sign in instead: phone_number"},
		{"refused field escaped", "PATCH", "/api/v1/me", `{"ph\u006fne":"+14155550100"}`, rwKey, 403, ""},
		{"refused field null", "PATCH", "/api/v1/me", `{"phone":null}`, rwKey, 403, ""},
		{"refused field with an access token", "PATCH", "/api/v1/me", `{"phone":"+14155550100"}`, jwt, 200, ""},
		{"write without a decision", "POST", "/api/v1/account/2fa/enable", `{}`, rwKey, 403, "API keys cannot be used for this operation; sign in instead"},
		{"DELETE without a decision", "DELETE", "/api/v1/account/sessions/123e4567-e89b-12d3-a456-426614174000", "", rwKey, 403, ""},
		{"signed-in only", "DELETE", "/api/v1/account/deactivate", "", rwKey, 403, ""},
		{"signed-in only read", "GET", "/api/v1/auth/api-keys", "", rwKey, 403, ""},
		{"signed-in only with an access token", "DELETE", "/api/v1/account/deactivate", "", jwt, 200, ""},
		{"write without a decision, access token", "POST", "/api/v1/account/2fa/enable", `{}`, jwt, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.callBody(t, tc.method, tc.path, tc.body, "Authorization", "Bearer "+tc.cred)
			if got.status != tc.want {
				t.Fatalf("status = %d %v, want %d", got.status, got.body, tc.want)
			}
			if tc.wantDetail != "" && got.body["detail"] != tc.wantDetail && got.body["message"] != tc.wantDetail {
				t.Errorf("answer = %v, want %q", got.body, tc.wantDetail)
			}
		})
	}

	// Another spelling of a closed route either reaches that route (and its decision) or no route.
	spellings := [][2]string{
		{"DELETE", "/API/V1/Account/Deactivate"},
		{"DELETE", "/api/v1/account/deactivate/"},
		{"DELETE", "/api/v1//account/deactivate"},
		{"DELETE", "/api/v1/account/%64eactivate"},
		{"POST", "/api/v1/account/%32fa/enable"},
		{"POST", "/API/v1/account/2FA/enable/"},
		{"GET", "/api/v1/auth/API-KEYS"},
		{"GET", "/api/v1/auth/api-keys/"},
	}
	for _, sp := range spellings {
		t.Run("spelling "+sp[0]+" "+sp[1], func(t *testing.T) {
			got := a.callBody(t, sp[0], sp[1], "", "X-API-Key", rwKey)
			if got.status != 403 && got.status != 404 {
				t.Errorf("status = %d %v, want 403 or 404", got.status, got.body)
			}
		})
	}
}

// fakeIdentity answers API-key lookups the way identity's internal API does and counts them.
type fakeIdentity struct {
	mu    sync.Mutex
	keys  map[string]authn.APIKeyInfo
	calls atomic.Int32
	down  atomic.Bool
}

func (f *fakeIdentity) lookup(_ context.Context, key string) (authn.APIKeyInfo, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return authn.APIKeyInfo{}, errors.New("connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.keys[key]
	if !ok {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	return info, nil
}

func (f *fakeIdentity) remove(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, key)
}

type apiKeyApp struct {
	app *fiber.App
}

func newAPIKeyApp(t *testing.T, v *authn.Verifier, d *authn.DenyList) apiKeyApp {
	t.Helper()
	app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: quietLogger(), BodyLimit: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	whoami := func(c *fiber.Ctx) error {
		p := authn.MustPrincipal(c)
		return c.JSON(fiber.Map{"account": p.AccountID, "key": p.APIKeyID, "scopes": p.Scopes.Names(), "session": p.SessionID})
	}
	mw := authn.Middleware(v, d)
	app.Get("/api/v1/me", mw, whoami)
	app.Patch("/api/v1/me", authn.KeysMayWrite(mw), whoami)
	app.Delete("/api/v1/account/deactivate", authn.SignedInOnly(mw), whoami)
	app.Get("/api/v1/account/devices", mw, whoami)
	return apiKeyApp{app: app}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a apiKeyApp) call(t *testing.T, method, path string, headers ...string) answer {
	t.Helper()
	return a.callBody(t, method, path, "", headers...)
}

func (a apiKeyApp) callBody(t *testing.T, method, path, body string, headers ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := answer{status: resp.StatusCode, header: resp.Header}
	if method == http.MethodHead {
		return out
	}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
	}
	return out
}

func TestMiddlewareAPIKeys(t *testing.T) {
	key := newKey(t, "k1")
	srv := newJWKSServer(t, key)
	rwKey, readKey, writeKey := newAPIKey(authn.APIKeyPrefixLive), newAPIKey(authn.APIKeyPrefixLive), newAPIKey(authn.APIKeyPrefixTest)
	expiredKey, unknownKey := newAPIKey(authn.APIKeyPrefixLive), newAPIKey(authn.APIKeyPrefixLive)
	ident := &fakeIdentity{keys: map[string]authn.APIKeyInfo{
		rwKey:      {KeyID: "key-rw", AccountID: "acc-1", Scopes: authn.ScopeRead | authn.ScopeWrite, ExpiresAt: time.Now().Add(time.Hour)},
		readKey:    {KeyID: "key-r", AccountID: "acc-1", Scopes: authn.ScopeRead},
		writeKey:   {KeyID: "key-w", AccountID: "acc-2", Scopes: authn.ScopeWrite},
		expiredKey: {KeyID: "key-old", AccountID: "acc-1", Scopes: authn.ScopeRead, ExpiresAt: time.Now().Add(-time.Minute)},
	}}
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.APIKeys = ident.lookup })
	d := authn.NewDenyList()
	a := newAPIKeyApp(t, v, d)
	malformed := rwKey[:len(rwKey)-1] + "x"
	if malformed == rwKey {
		malformed = rwKey[:len(rwKey)-1] + "y"
	}

	tests := []struct {
		name        string
		method      string
		path        string
		headers     []string
		wantStatus  int
		wantAccount string
		wantKey     string
		wantDetail  string
	}{
		{name: "bearer key", method: "GET", path: "/api/v1/me", headers: []string{"Authorization", "Bearer " + rwKey}, wantStatus: 200, wantAccount: "acc-1", wantKey: "key-rw"},
		{name: "X-API-Key", method: "GET", path: "/api/v1/me", headers: []string{"X-API-Key", rwKey}, wantStatus: 200, wantAccount: "acc-1", wantKey: "key-rw"},
		{name: "write with read-only key", method: "PATCH", path: "/api/v1/me", headers: []string{"X-API-Key", readKey}, wantStatus: 403, wantDetail: "This API key lacks the write scope"},
		{name: "read with write-only key", method: "GET", path: "/api/v1/me", headers: []string{"X-API-Key", writeKey}, wantStatus: 403, wantDetail: "This API key lacks the read scope"},
		{name: "write with write key", method: "PATCH", path: "/api/v1/me", headers: []string{"X-API-Key", writeKey}, wantStatus: 200, wantAccount: "acc-2", wantKey: "key-w"},
		{name: "sensitive path", method: "DELETE", path: "/api/v1/account/deactivate", headers: []string{"Authorization", "Bearer " + rwKey}, wantStatus: 403},
		{name: "expired key", method: "GET", path: "/api/v1/me", headers: []string{"X-API-Key", expiredKey}, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "unknown key", method: "GET", path: "/api/v1/me", headers: []string{"Authorization", "Bearer " + unknownKey}, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "malformed key", method: "GET", path: "/api/v1/me", headers: []string{"Authorization", "Bearer " + malformed}, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "JWT in X-API-Key", method: "GET", path: "/api/v1/me", headers: []string{"X-API-Key", sign(t, key, validClaims())}, wantStatus: 401, wantDetail: "Invalid or expired token"},
		{name: "access token still works", method: "GET", path: "/api/v1/me", headers: []string{"Authorization", "Bearer " + sign(t, key, validClaims())}, wantStatus: 200, wantAccount: "acc-1"},
		{name: "access token on a sensitive path", method: "DELETE", path: "/api/v1/account/deactivate", headers: []string{"Authorization", "Bearer " + sign(t, key, validClaims())}, wantStatus: 200, wantAccount: "acc-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.call(t, tc.method, tc.path, tc.headers...)
			if got.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %v)", got.status, tc.wantStatus, got.body)
			}
			if tc.wantAccount != "" && got.body["account"] != tc.wantAccount {
				t.Errorf("account = %v, want %s", got.body["account"], tc.wantAccount)
			}
			if tc.wantKey != "" && got.body["key"] != tc.wantKey {
				t.Errorf("key = %v, want %s", got.body["key"], tc.wantKey)
			}
			if tc.wantDetail != "" && got.body["detail"] != tc.wantDetail {
				t.Errorf("detail = %v, want %q", got.body["detail"], tc.wantDetail)
			}
			if got.status == 401 && got.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q, want the bad-token challenge", got.header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("envelope path answers in the envelope", func(t *testing.T) {
		got := a.call(t, "DELETE", "/api/v1/account/deactivate", "X-API-Key", rwKey)
		if got.status != 403 || got.body["success"] != false || !strings.Contains(got.body["message"].(string), "API keys cannot") {
			t.Errorf("answer = %d %v, want a 403 envelope", got.status, got.body)
		}
	})

	t.Run("answers are cached", func(t *testing.T) {
		before := ident.calls.Load()
		for range 5 {
			a.call(t, "GET", "/api/v1/me", "X-API-Key", rwKey)
			a.call(t, "GET", "/api/v1/me", "X-API-Key", unknownKey)
			a.call(t, "GET", "/api/v1/me", "X-API-Key", malformed)
		}
		if got := ident.calls.Load() - before; got != 0 {
			t.Errorf("%d lookups for repeated keys, want 0 (cached, malformed never looked up)", got)
		}
	})

	t.Run("revoked on the deny-list", func(t *testing.T) {
		d.DenyAPIKey("key-r", time.Now().Add(authn.APIKeyDenyWindow))
		if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", readKey); got.status != 401 {
			t.Errorf("status = %d, want 401 for a revoked key", got.status)
		}
		if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", rwKey); got.status != 200 {
			t.Errorf("status = %d, want 200 for another key", got.status)
		}
	})

	t.Run("inactive account", func(t *testing.T) {
		d.DenyInactiveAccount("acc-2", 7, time.Now().Add(authn.APIKeyDenyWindow))
		if got := a.call(t, "PATCH", "/api/v1/me", "X-API-Key", writeKey); got.status != 401 {
			t.Errorf("status = %d, want 401 for a deactivated account's key", got.status)
		}
		d.AllowActiveAccount("acc-2", 6) // older snapshot: no effect
		if got := a.call(t, "PATCH", "/api/v1/me", "X-API-Key", writeKey); got.status != 401 {
			t.Errorf("status = %d after an older ACTIVE snapshot, want 401", got.status)
		}
		d.AllowActiveAccount("acc-2", 8)
		if got := a.call(t, "PATCH", "/api/v1/me", "X-API-Key", writeKey); got.status != 200 {
			t.Errorf("status = %d after reactivation, want 200", got.status)
		}
	})

	t.Run("identity down", func(t *testing.T) {
		ident.down.Store(true)
		defer ident.down.Store(false)
		fresh := newAPIKey(authn.APIKeyPrefixLive)
		if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", fresh); got.status != 503 {
			t.Errorf("status = %d, want 503 when identity cannot answer", got.status)
		}
	})
}

func TestMiddlewareAPIKeyRateLimit(t *testing.T) {
	srv := newJWKSServer(t, newKey(t, "k1"))
	k1, k2 := newAPIKey(authn.APIKeyPrefixLive), newAPIKey(authn.APIKeyPrefixLive)
	ident := &fakeIdentity{keys: map[string]authn.APIKeyInfo{
		k1: {KeyID: "key-1", AccountID: "acc-1", Scopes: authn.ScopeRead},
		k2: {KeyID: "key-2", AccountID: "acc-1", Scopes: authn.ScopeRead},
	}}
	// 60 a minute: one a second with a burst of 6.
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.APIKeys = ident.lookup; c.APIKeyRatePerMinute = 60 })
	a := newAPIKeyApp(t, v, nil)
	limited := answer{}
	for range 20 {
		if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", k1); got.status == 429 {
			limited = got
			break
		}
	}
	if limited.status != 429 {
		t.Fatal("20 quick requests with one key were never limited")
	}
	if ra := limited.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
	}
	if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", k2); got.status != 200 {
		t.Errorf("another key got %d, want 200: limits are per key", got.status)
	}
}

func TestAPIKeyClient(t *testing.T) {
	good := newAPIKey(authn.APIKeyPrefixLive)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/internal/v1/api-keys/verify" || r.Header.Get("Authorization") != "Bearer internal-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req authn.VerifyAPIKeyRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Key != good {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"invalid_api_key"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(authn.VerifyAPIKeyResponse{KeyID: "k", AccountID: "a", Scopes: []string{"read", "write"}, ExpiresAt: &exp})
	}))
	defer srv.Close()

	lookup := authn.NewAPIKeyClient(srv.URL+"/", "internal-token", nil)
	info, err := lookup(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	want := authn.APIKeyInfo{KeyID: "k", AccountID: "a", Scopes: authn.ScopeRead | authn.ScopeWrite, ExpiresAt: exp}
	if !info.ExpiresAt.Equal(want.ExpiresAt) || info.KeyID != want.KeyID || info.AccountID != want.AccountID || info.Scopes != want.Scopes {
		t.Errorf("info = %+v, want %+v", info, want)
	}
	if _, err := lookup(context.Background(), newAPIKey(authn.APIKeyPrefixLive)); !errors.Is(err, authn.ErrUnknownAPIKey) {
		t.Errorf("unknown key: err = %v, want ErrUnknownAPIKey", err)
	}
	wrongToken := authn.NewAPIKeyClient(srv.URL, "other", nil)
	if _, err := wrongToken(context.Background(), good); err == nil || errors.Is(err, authn.ErrUnknownAPIKey) {
		t.Errorf("refused internal token: err = %v, want an outage error (503), not an unknown key", err)
	}
}

// TestFollowAPIKeyEvents publishes api_key.revoked and a DEACTIVATED account snapshot on
// account.events.v1 and expects a following deny-list to refuse the key and the account's keys.
func TestFollowAPIKeyEvents(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 3, events.TopicSessionEvents, events.TopicAccountEvents); err != nil {
		t.Fatal(err)
	}
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	defer producer.Close()
	publish := func(typ, accountID string, payload any) {
		t.Helper()
		ev, err := events.New(typ, accountID, payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(ctx, kafkax.Topic(env.TopicPrefix, events.TopicAccountEvents), ev); err != nil {
			t.Fatal(err)
		}
	}
	d := authn.NewDenyList()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Follow(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, authn.DefaultLookback, quietLogger())
	}()
	defer func() { cancel(); <-done }()

	publish(events.TypeAPIKeyRevoked, "acc-1", events.APIKeyRevoked{KeyID: "key-1", Reason: "revoked_by_owner"})
	publish(events.TypeAccountUpdated, "acc-2", events.AccountSnapshot{Version: 3, Status: events.AccountStatusDeactivated})
	publish(events.TypeAPIKeyRevoked, "acc-3", events.APIKeyRevoked{AllKeys: true, Reason: "test"})
	checks := []struct{ key, account string }{{"key-1", "acc-1"}, {"key-9", "acc-2"}, {"key-8", "acc-3"}}
	for _, c := range checks {
		deadline := time.Now().Add(10 * time.Second)
		for !d.APIKeyDenied(c.key, c.account, time.Time{}) {
			if time.Now().After(deadline) {
				t.Fatalf("key %s of %s not denied within 10s", c.key, c.account)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if d.APIKeyDenied("key-2", "acc-1", time.Time{}) {
		t.Error("another key of acc-1 was denied")
	}
	publish(events.TypeAccountUpdated, "acc-2", events.AccountSnapshot{Version: 4, Status: events.AccountStatusActive})
	deadline := time.Now().Add(10 * time.Second)
	for d.APIKeyDenied("key-9", "acc-2", time.Time{}) {
		if time.Now().After(deadline) {
			t.Fatal("reactivated account's keys still denied after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		names   []string
		want    authn.Scope
		wantErr bool
	}{
		{[]string{"read"}, authn.ScopeRead, false},
		{[]string{"write", "read", "read"}, authn.ScopeRead | authn.ScopeWrite, false},
		{[]string{}, 0, false},
		{[]string{"admin"}, 0, true},
		{[]string{"READ"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			got, err := authn.ParseScopes(tc.names)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseScopes(%v) = %v, %v; want %v, error %v", tc.names, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if got := (authn.ScopeRead | authn.ScopeWrite).Names(); strings.Join(got, ",") != "read,write" {
		t.Errorf("Names = %v, want [read write]", got)
	}
}

// TestAuthntestAPIKeys checks the stand-in other services' handler tests use.
func TestAuthntestAPIKeys(t *testing.T) {
	keys := authntest.NewAPIKeys()
	srv := newJWKSServer(t, newKey(t, "k1"))
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.APIKeys = keys.Lookup })
	a := newAPIKeyApp(t, v, nil)
	key := keys.Issue(t, "acc-7", authn.ScopeRead)
	if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", key); got.status != 200 || got.body["account"] != "acc-7" {
		t.Errorf("issued key = %d %v, want 200 as acc-7", got.status, got.body)
	}
	revoked := keys.Issue(t, "acc-7", authn.ScopeRead)
	keys.Revoke(revoked)
	if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", revoked); got.status != 401 {
		t.Errorf("revoked key = %d, want 401", got.status)
	}
}

// Two replicas sharing one database: once one has spent a key's window budget, the other refuses the
// key as soon as it has counted, with the same 429 answer the per-replica limit gives.
func TestMiddlewareAPIKeySharedLimit(t *testing.T) {
	srv := newJWKSServer(t, newKey(t, "k1"))
	k1 := newAPIKey(authn.APIKeyPrefixLive)
	ident := &fakeIdentity{keys: map[string]authn.APIKeyInfo{k1: {KeyID: "key-1", AccountID: "acc-1", Scopes: authn.ScopeRead}}}
	db := testenv.New(t).Database("keylimit")
	// 60 a minute: 6 per 6 s window, which is also each replica's burst.
	budget, window := authn.APIKeyWindow(60)
	shared := func(c *authn.VerifierConfig) {
		c.APIKeys = ident.lookup
		c.APIKeyRatePerMinute = 60
		c.APIKeyLimitDB = db
	}
	va, vb := newVerifier(srv, shared), newVerifier(srv, shared)
	a, b := newAPIKeyApp(t, va, nil), newAPIKeyApp(t, vb, nil)
	// Start early in a window, so the whole test runs in one (it takes milliseconds).
	if into := time.Duration(time.Now().UnixNano() % int64(window)); into > window/3 {
		time.Sleep(window - into + 10*time.Millisecond)
	}
	ctx := context.Background()
	for i := range budget {
		if got := a.call(t, "GET", "/api/v1/me", "X-API-Key", k1); got.status != 200 {
			t.Fatalf("request %d on replica a: %d, want 200", i+1, got.status)
		}
	}
	local := a.call(t, "GET", "/api/v1/me", "X-API-Key", k1)
	if local.status != 429 {
		t.Fatalf("replica a over the budget: %d, want 429", local.status)
	}
	if err := authn.FlushAPIKeyLimits(ctx, va); err != nil {
		t.Fatal(err)
	}
	// b has not counted yet: its first request goes through (the stated overshoot) and it counts.
	if got := b.call(t, "GET", "/api/v1/me", "X-API-Key", k1); got.status != 200 {
		t.Fatalf("first request on replica b: %d, want 200", got.status)
	}
	if err := authn.FlushAPIKeyLimits(ctx, vb); err != nil {
		t.Fatal(err)
	}
	got := b.call(t, "GET", "/api/v1/me", "X-API-Key", k1)
	if got.status != 429 {
		t.Fatalf("replica b, with budget left on its own limiter, answered %d after the shared budget was spent, want 429", got.status)
	}
	if ra, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || ra <= 0 || ra > int(window.Seconds())+1 {
		t.Errorf("Retry-After = %q, want the seconds until the next window (at most %s)", got.header.Get("Retry-After"), window)
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining"} {
		if got.header.Get(h) != local.header.Get(h) || got.header.Get(h) == "" {
			t.Errorf("%s = %q, want %q as the per-replica limit answers", h, got.header.Get(h), local.header.Get(h))
		}
	}
	delete(got.body, "action_time")
	delete(local.body, "action_time")
	if !reflect.DeepEqual(got.body, local.body) {
		t.Errorf("body %v, want the per-replica limit's %v", got.body, local.body)
	}
}
