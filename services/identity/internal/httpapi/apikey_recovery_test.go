package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// issueKey makes a read-write API key for the account straight through the API-key service (the
// create endpoint's own proof rules are tested elsewhere) and returns its secret and id.
func (h *harness) issueKey(t *testing.T, accountID string) (secret, id string) {
	t.Helper()
	keys := apikey.NewService(apikey.Config{}, store.NewAPIKeys(h.db), store.NewAccounts(h.db), h.outbox, quiet)
	c, err := keys.Create(context.Background(), accountID, apikey.NewKey{Name: "script", Scopes: authn.ScopeRead | authn.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	return c.Secret, c.Key.ID
}

// keyWorks reports whether identity accepts the key (whoami), failing on anything but 200 and 401.
func (h *harness) keyWorks(t *testing.T, key string) bool {
	t.Helper()
	r := h.do(t, request{method: http.MethodGet, path: "/api/v1/auth/whoami", token: key})
	switch r.status {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("whoami with a key = %d %s", r.status, r.raw)
	return false
}

// allKeysRevoked reports whether an api_key.revoked for every key of the account was queued.
func (h *harness) allKeysRevoked(t *testing.T, accountID, reason string) bool {
	t.Helper()
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		var p events.APIKeyRevoked
		if ev.Type == events.TypeAPIKeyRevoked && ev.AccountID == accountID && ev.Decode(&p) == nil && p.AllKeys && p.Reason == reason {
			return true
		}
	}
	return false
}

// TestAPIKeysEndWithAccountRecovery performs the attack of issue 13 item 2: a key created with a
// stolen token kept working after the owner reset the password. A password reset, a deactivation and
// (on request) a password change now revoke every key of the account: identity refuses them at once,
// and the api_key.revoked event carries the revocation to every other service.
func TestAPIKeysEndWithAccountRecovery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	t.Run("password reset", func(t *testing.T) {
		ada := h.signUp(t, "reset@example.com")
		stolen, _ := h.issueKey(t, ada.id)
		if !h.keyWorks(t, stolen) {
			t.Fatal("key refused before the reset")
		}
		if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": ada.email}); r.status != http.StatusAccepted {
			t.Fatalf("forgot-password = %d %s", r.status, r.raw)
		}
		r := h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": h.lastCode(t, ada.email), "new_password": "Quiet-Harbor-77"})
		if r.status != http.StatusOK {
			t.Fatalf("reset = %d %s", r.status, r.raw)
		}
		if h.keyWorks(t, stolen) {
			t.Error("a key created before the password reset still works")
		}
		if !h.allKeysRevoked(t, ada.id, apikey.ReasonPasswordReset) {
			t.Error("no api_key.revoked for every key queued for the other services")
		}
		if status, _, _ := keyCall(t, h.internal, "POST", "/internal/v1/api-keys/verify", jsonBody(t, map[string]string{"key": stolen}), "Authorization", "Bearer "+internalToken.Value()); status != http.StatusNotFound {
			t.Errorf("internal verify after the reset = %d, want 404", status)
		}
		// A key made after the recovery works at once.
		h.signIn(t, ada.email, "Quiet-Harbor-77")
		fresh, _ := h.issueKey(t, ada.id)
		if !h.keyWorks(t, fresh) {
			t.Error("a key created after the reset is refused")
		}
	})

	t.Run("deactivation", func(t *testing.T) {
		bob := h.signUp(t, "deactivate@example.com")
		stolen, _ := h.issueKey(t, bob.id)
		r := h.authed(t, "DELETE", "/api/v1/account/deactivate", bob.token, map[string]any{"password": goodPassword, "reason": "leaving"})
		if r.status != http.StatusOK {
			t.Fatalf("deactivate = %d %s", r.status, r.raw)
		}
		if h.keyWorks(t, stolen) {
			t.Error("a key of a deactivated account still works")
		}
		var doc struct {
			RevokedAt *time.Time `bson:"revokedAt"`
		}
		if err := h.db.Collection(store.CollAPIKeys).FindOne(context.Background(), bson.M{"accountId": bob.id}).Decode(&doc); err != nil || doc.RevokedAt == nil {
			t.Errorf("stored key after deactivation: revokedAt %v (%v), want set, so that reactivation does not revive it", doc.RevokedAt, err)
		}
		if !h.allKeysRevoked(t, bob.id, apikey.ReasonAccountDeactivated) {
			t.Error("no api_key.revoked for every key queued")
		}
	})

	t.Run("password change keeps keys unless asked", func(t *testing.T) {
		cy := h.signUp(t, "change@example.com")
		kept, _ := h.issueKey(t, cy.id)
		r := h.authed(t, "POST", "/api/v1/me/password", cy.token, map[string]any{"current_password": goodPassword, "new_password": "Quiet-Harbor-77"})
		if r.status != http.StatusOK {
			t.Fatalf("change = %d %s", r.status, r.raw)
		}
		if !h.keyWorks(t, kept) {
			t.Error("a plain password change revoked the keys")
		}
		r = h.authed(t, "POST", "/api/v1/me/password", cy.token, map[string]any{"current_password": "Quiet-Harbor-77", "new_password": "Other-Harbor-78", "revoke_api_keys": true, "revoke_other_sessions": false})
		if r.status != http.StatusOK {
			t.Fatalf("change with revoke_api_keys = %d %s", r.status, r.raw)
		}
		if h.keyWorks(t, kept) {
			t.Error("revoke_api_keys left a key working")
		}
		if !h.keyWorks(t, cy.token) {
			t.Error("revoke_other_sessions false ended the caller's session")
		}
		var mine int
		for _, c := range h.sessions.revokeCalls() {
			if c.AccountID == cy.id {
				mine++
			}
		}
		if mine != 1 {
			t.Errorf("%d session revocations for the account, want only the first change's", mine)
		}

		envelope, _ := h.issueKey(t, cy.id)
		r = h.authed(t, "POST", "/api/v1/account/password/change", cy.token, map[string]any{"currentPassword": "Other-Harbor-78", "newPassword": "Third-Harbor-79", "confirmPassword": "Third-Harbor-79", "revokeApiKeys": true})
		if r.status != http.StatusOK {
			t.Fatalf("envelope change with revokeApiKeys = %d %s", r.status, r.raw)
		}
		if h.keyWorks(t, envelope) {
			t.Error("revokeApiKeys left a key working")
		}
	})

	t.Run("sign-out of every session (internal API)", func(t *testing.T) {
		di := h.signUp(t, "signout@example.com")
		stolen, _ := h.issueKey(t, di.id)
		call := func(body string, token string) int {
			status, _, _ := keyCall(t, h.internal, "POST", "/internal/v1/accounts/"+di.id+"/api-keys/revoke", body, "Authorization", "Bearer "+token)
			return status
		}
		if got := call(`{"reason":"sign_out_all"}`, "not-the-token"); got != http.StatusUnauthorized {
			t.Errorf("without the internal token = %d, want 401", got)
		}
		if got := call(`{"reason":"Sign Out!"}`, internalToken.Value()); got != http.StatusBadRequest {
			t.Errorf("bad reason = %d, want 400", got)
		}
		if !h.keyWorks(t, stolen) {
			t.Fatal("refused requests revoked the key")
		}
		if got := call(`{"reason":"sign_out_all"}`, internalToken.Value()); got != http.StatusNoContent {
			t.Fatalf("revoke = %d, want 204", got)
		}
		if h.keyWorks(t, stolen) {
			t.Error("a key still works after a sign-out of every session")
		}
		if got := call(`{"reason":"sign_out_all"}`, internalToken.Value()); got != http.StatusNoContent {
			t.Errorf("revoking again = %d, want 204", got)
		}
	})
}

// TestAPIKeysCannotTouchAccountSecurity performs the attacks of issue 13 item 2: a key changed the
// username and deleted a trusted device. Both, and every other write of identity, answer 403 to a
// key and change nothing.
func TestAPIKeysCannotTouchAccountSecurity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	key, _ := h.issueKey(t, ada.id)
	devices := h.authed(t, "GET", "/api/v1/account/devices", ada.token, nil)
	list, _ := devices.at("data").([]any)
	if devices.status != http.StatusOK || len(list) == 0 {
		t.Fatalf("devices = %d %s, want the trusted laptop", devices.status, devices.raw)
	}
	deviceID := fmt.Sprint(list[0].(map[string]any)["id"])

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/account/username/change", `{"newUsername":"eve_was_here"}`},
		{"DELETE", "/api/v1/account/devices/" + deviceID, ""},
		{"DELETE", "/API/V1/ACCOUNT/DEVICES/" + deviceID + "/", ""},
		{"POST", "/api/v1/auth/api-keys", `{"name":"more"}`},
		{"GET", "/api/v1/auth/api-keys", ""},
		{"POST", "/api/v1/auth/send-phone-verification", `{"phone_number":"4155550100","country_code":"+1"}`},
		{"POST", "/api/v1/account/link/email/initiate", `{"email":"eve@example.com"}`},
	} {
		r := h.do(t, request{method: tc.method, path: tc.path, body: tc.body, token: key})
		if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "API keys cannot") {
			t.Errorf("%s %s with a key = %d %s, want 403", tc.method, tc.path, r.status, r.raw)
		}
	}
	after := h.authed(t, "GET", "/api/v1/account/devices", ada.token, nil)
	if got, _ := after.at("data").([]any); len(got) != len(list) {
		t.Errorf("devices after the key's attempts = %s, want %d", after.raw, len(list))
	}
	var doc struct {
		Username string `bson:"username"`
	}
	if err := h.db.Collection(store.CollAccounts).FindOne(context.Background(), bson.M{"_id": ada.id}).Decode(&doc); err != nil || doc.Username == "eve_was_here" {
		t.Errorf("username = %q (%v), want unchanged", doc.Username, err)
	}
}

// identityKeyPolicy is the decision for every public route of identity. A route missing here fails
// the test: whoever adds a route decides what API keys may do on it.
var identityKeyPolicy = map[string]authntest.KeyDecision{
	"POST /api/v1/auth/initiate-registration":                authntest.KeysPublic,
	"POST /api/v1/auth/verify-registration":                  authntest.KeysPublic,
	"POST /api/v1/auth/login":                                authntest.KeysPublic,
	"POST /api/v1/auth/verify-2fa":                           authntest.KeysPublic,
	"POST /api/v1/auth/verify-2fa/send-code":                 authntest.KeysPublic,
	"POST /api/v1/auth/reauth/passkey/begin":                 authntest.KeysSignedIn,
	"POST /api/v1/auth/forgot-password":                      authntest.KeysPublic,
	"POST /api/v1/auth/reset-password":                       authntest.KeysPublic,
	"POST /api/v1/auth/oauth/:provider":                      authntest.KeysPublic,
	"POST /api/v1/account/device/verify":                     authntest.KeysPublic,
	"GET /api/v1/account/username/check":                     authntest.KeysPublic,
	"GET /api/v1/account/username/search":                    authntest.KeysPublic,
	"GET /api/v1/account/username/:username":                 authntest.KeysPublic,
	"GET /api/v1/auth/whoami":                                authntest.KeysAllowed,
	"GET /api/v1/account/security-info":                      authntest.KeysAllowed,
	"GET /api/v1/account/devices":                            authntest.KeysAllowed,
	"GET /api/v1/auth/devices":                               authntest.KeysAllowed,
	"GET /api/v1/account/username/can-change":                authntest.KeysAllowed,
	"POST /api/v1/auth/api-keys":                             authntest.KeysSignedIn,
	"GET /api/v1/auth/api-keys":                              authntest.KeysSignedIn,
	"DELETE /api/v1/auth/api-keys/:id":                       authntest.KeysSignedIn,
	"POST /api/v1/auth/reauth/send-otp":                      authntest.KeysSignedIn,
	"POST /api/v1/auth/reauth":                               authntest.KeysSignedIn,
	"POST /api/v1/auth/email-change/revert":                  authntest.KeysPublic,
	"POST /api/v1/auth/change-password":                      authntest.KeysSignedIn,
	"POST /api/v1/me/password":                               authntest.KeysSignedIn,
	"POST /api/v1/account/2fa/enable":                        authntest.KeysSignedIn,
	"POST /api/v1/account/2fa/disable":                       authntest.KeysSignedIn,
	"POST /api/v1/account/2fa/recovery-codes":                authntest.KeysSignedIn,
	"POST /api/v1/account/2fa/totp/setup":                    authntest.KeysSignedIn,
	"POST /api/v1/account/2fa/totp/confirm":                  authntest.KeysSignedIn,
	"DELETE /api/v1/account/2fa/totp":                        authntest.KeysSignedIn,
	"DELETE /api/v1/account/deactivate":                      authntest.KeysSignedIn,
	"DELETE /api/v1/account":                                 authntest.KeysSignedIn,
	"GET /api/v1/account/deletion":                           authntest.KeysSignedIn,
	"POST /api/v1/account/deletion/cancel":                   authntest.KeysSignedIn,
	"POST /api/v1/account/password/change":                   authntest.KeysSignedIn,
	"POST /api/v1/account/password/change-with-otp/send-otp": authntest.KeysSignedIn,
	"POST /api/v1/account/password/change-with-otp/verify":   authntest.KeysSignedIn,
	"GET /api/v1/account/password/can-set":                   authntest.KeysSignedIn,
	"POST /api/v1/account/password/set":                      authntest.KeysSignedIn,
	"DELETE /api/v1/account/devices/:deviceKeyId":            authntest.KeysSignedIn,
	"POST /api/v1/account/link/email/initiate":               authntest.KeysSignedIn,
	"POST /api/v1/account/link/email/verify":                 authntest.KeysSignedIn,
	"DELETE /api/v1/account/link/email":                      authntest.KeysSignedIn,
	"POST /api/v1/account/link/oauth":                        authntest.KeysSignedIn,
	"DELETE /api/v1/account/link/oauth/:provider":            authntest.KeysSignedIn,
	"POST /api/v1/me/verify-email":                           authntest.KeysSignedIn,
	"POST /api/v1/me/verify-email/confirm":                   authntest.KeysSignedIn,
	"POST /api/v1/auth/send-phone-verification":              authntest.KeysSignedIn,
	"POST /api/v1/auth/verify-phone":                         authntest.KeysSignedIn,
	"GET /api/v1/auth/account-providers":                     authntest.KeysSignedIn,
	"POST /api/v1/auth/account-providers":                    authntest.KeysSignedIn,
	"DELETE /api/v1/auth/account-providers/:provider":        authntest.KeysSignedIn,
	"POST /api/v1/account/username/change":                   authntest.KeysSignedIn,
	"POST /api/v1/account/passkeys/register/begin":           authntest.KeysSignedIn,
	"POST /api/v1/account/passkeys/register/finish":          authntest.KeysSignedIn,
	"GET /api/v1/account/passkeys":                           authntest.KeysSignedIn,
	"PATCH /api/v1/account/passkeys/:id":                     authntest.KeysSignedIn,
	"DELETE /api/v1/account/passkeys/:id":                    authntest.KeysSignedIn,
	"POST /api/v1/auth/passkeys/login/begin":                 authntest.KeysPublic,
	"POST /api/v1/auth/passkeys/login/finish":                authntest.KeysPublic,
	"GET /api/v1/account/activity":                           authntest.KeysSignedIn,
	// The admin API: operators sign in; a key (even an admin's) is refused on every route.
	"GET /api/v1/admin/accounts":                        authntest.KeysSignedIn,
	"GET /api/v1/admin/accounts/:id":                    authntest.KeysSignedIn,
	"POST /api/v1/admin/accounts/:id/lock":              authntest.KeysSignedIn,
	"POST /api/v1/admin/accounts/:id/unlock":            authntest.KeysSignedIn,
	"POST /api/v1/admin/accounts/:id/reactivate":        authntest.KeysSignedIn,
	"POST /api/v1/admin/accounts/:id/sign-out":          authntest.KeysSignedIn,
	"POST /api/v1/admin/accounts/:id/reset-2fa":         authntest.KeysSignedIn,
	"PUT /api/v1/admin/accounts/:id/roles":              authntest.KeysSignedIn,
	"DELETE /api/v1/admin/accounts/:id/api-keys/:keyId": authntest.KeysSignedIn,
	"DELETE /api/v1/admin/accounts/:id":                 authntest.KeysSignedIn,
	"POST /api/v1/account/activity/:id/not-me":          authntest.KeysSignedIn,
	"POST /api/v1/auth/not-me":                          authntest.KeysPublic,
	"POST /api/v1/account/export":                       authntest.KeysSignedIn,
	"GET /api/v1/account/export/:id":                    authntest.KeysSignedIn,
}

// TestAPIKeyRoutePolicy asks every route of the real app what it decides about API keys.
func TestAPIKeyRoutePolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "policy@example.com")
	key, _ := h.issueKey(t, ada.id)
	authntest.CheckKeyPolicy(t, h.app, key, identityKeyPolicy)
}

// TestAPIKeyCapUnderConcurrency performs the race of issue 13 item 8: 30 parallel creations passed
// the 25-key cap. Against the real store, exactly 25 succeed; a revoked key frees its place.
func TestAPIKeyCapUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.newKeyUser(t, "racer")
	keys := apikey.NewService(apikey.Config{}, store.NewAPIKeys(h.db), store.NewAccounts(h.db), h.outbox, quiet)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		created   []string
		tooMany   int
		otherErrs []error
	)
	start := make(chan struct{})
	for i := range 30 {
		wg.Go(func() {
			<-start
			c, err := keys.Create(context.Background(), u.id, apikey.NewKey{Name: fmt.Sprintf("k%d", i), Scopes: authn.ScopeRead})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created = append(created, c.Key.ID)
			case err == apikey.ErrTooMany:
				tooMany++
			default:
				otherErrs = append(otherErrs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(otherErrs) > 0 {
		t.Fatalf("errors: %v", otherErrs)
	}
	if len(created) != apikey.DefaultMaxPerAccount || tooMany != 30-apikey.DefaultMaxPerAccount {
		t.Fatalf("%d created, %d refused; want %d and %d", len(created), tooMany, apikey.DefaultMaxPerAccount, 30-apikey.DefaultMaxPerAccount)
	}
	stored, err := h.db.Collection(store.CollAPIKeys).CountDocuments(context.Background(), bson.M{"accountId": u.id})
	if err != nil || stored != int64(apikey.DefaultMaxPerAccount) {
		t.Errorf("stored keys = %d (%v), want %d", stored, err, apikey.DefaultMaxPerAccount)
	}
	if err := keys.Revoke(context.Background(), u.id, created[3]); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Create(context.Background(), u.id, apikey.NewKey{Name: "again", Scopes: authn.ScopeRead}); err != nil {
		t.Errorf("create after a revocation = %v, want a free place", err)
	}
	if _, err := keys.Create(context.Background(), u.id, apikey.NewKey{Name: "over", Scopes: authn.ScopeRead}); err != apikey.ErrTooMany {
		t.Errorf("create at the cap = %v, want ErrTooMany", err)
	}
}

// TestAPIKeyLifetimes: every key expires — by default after 90 days, at most after 365 — and a key
// stored without an expiry (before keys had one) expires a year after its creation.
func TestAPIKeyLifetimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.newKeyUser(t, "life")
	k := h.createKey(t, u, `{"name":"default"}`)
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(k["expires_at"]))
	if err != nil || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 90*24*time.Hour+time.Minute {
		t.Errorf("default expires_at = %v, want 90 days ahead", k["expires_at"])
	}
	status, _, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", `{"name":"long","expires_in_days":366}`, "Authorization", "Bearer "+u.token)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out), "expires_in_days") {
		t.Errorf("366 days = %d %v, want 422 on expires_in_days", status, out)
	}

	short := apikey.NewService(apikey.Config{DefaultLifetime: time.Hour, MaxLifetime: 30 * 24 * time.Hour}, store.NewAPIKeys(h.db), store.NewAccounts(h.db), h.outbox, quiet)
	if _, err := short.Create(context.Background(), u.id, apikey.NewKey{Name: "x", Scopes: authn.ScopeRead, ExpiresInDays: 31}); err == nil {
		t.Error("31 days accepted with a 30-day maximum")
	}

	// Keys stored by an older version, without expiry.
	legacy := func(name string, age time.Duration) string {
		secret := newLegacyKey(t)
		created := time.Now().Add(-age).UTC().Truncate(time.Millisecond)
		if err := store.NewAPIKeys(h.db).Insert(context.Background(), apikey.Key{
			ID: events.NewID(), AccountID: u.id, Name: name, Prefix: secret[:16], Hash: apikey.Hash(secret), Scopes: authn.ScopeRead, CreatedAt: created,
		}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	old, recent := legacy("old", 366*24*time.Hour), legacy("recent", 24*time.Hour)
	verify := func(key string) (int, map[string]any) {
		status, _, out := keyCall(t, h.internal, "POST", "/internal/v1/api-keys/verify", jsonBody(t, map[string]string{"key": key}), "Authorization", "Bearer "+internalToken.Value())
		return status, keyObj(out)
	}
	if status, _ := verify(old); status != http.StatusNotFound {
		t.Errorf("key without expiry created 366 days ago = %d, want 404 (expired)", status)
	}
	status, info := verify(recent)
	if status != http.StatusOK {
		t.Fatalf("key without expiry created yesterday = %d, want 200", status)
	}
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(info["expiresAt"])); err != nil || time.Until(exp) > 364*24*time.Hour+time.Minute || time.Until(exp) < 363*24*time.Hour {
		t.Errorf("its expiresAt = %v, want its creation + 365 days", info["expiresAt"])
	}
	if h.keyWorks(t, old) {
		t.Error("identity accepts a key without expiry older than the longest lifetime")
	}
}

var quiet = slog.New(slog.DiscardHandler)

// newLegacyKey returns a well-formed key as an older version would have stored.
func newLegacyKey(t *testing.T) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(events.NewID() + events.NewID())
	out := make([]byte, 0, authn.APIKeyRandomLen)
	for _, c := range b {
		if strings.IndexByte(base62, c) >= 0 && len(out) < authn.APIKeyRandomLen {
			out = append(out, c)
		}
	}
	for len(out) < authn.APIKeyRandomLen {
		out = append(out, 'Z')
	}
	body := authn.APIKeyPrefixLive + string(out)
	return body + authn.APIKeyChecksum(body)
}
