package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/webauthntest"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// The relying party of the handler tests.
const (
	pkRPID   = "example.com"
	pkOrigin = "https://accounts.example.com"
)

// newTestPasskeys is the harness's passkey service (the sign-in flows' auth.Passkeys too).
func newTestPasskeys(t testing.TB, db *mongo.Database, svc *auth.Service) *passkey.Service {
	t.Helper()
	st := store.NewPasskeys(db)
	if err := st.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	pk, err := passkey.NewService(passkey.Config{RPID: pkRPID, RPDisplayName: "Latchkey", RPOrigins: []string{pkOrigin}}, st, store.NewAccounts(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	pk.SetAlerts(svc)
	svc.Passkeys = pk
	return pk
}

// pkCall is a request with the headers the passkey tests need.
type pkCall struct {
	method, path, body, token, reauth string
	ip                                string
}

func (h *harness) pk(t *testing.T, c pkCall) response {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	req.Header.Set("Content-Type", "application/json")
	if c.ip == "" {
		c.ip = "198.51.100.9"
	}
	req.Header.Set("X-Forwarded-For", c.ip)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.reauth != "" {
		req.Header.Set("X-Reauth-Token", c.reauth)
	}
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(c.body), resp.StatusCode, resp.Header, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
	}
	return out
}

// stepUp is a live step-up token of the owner's session.
func (h *harness) pkStepUp(t *testing.T, o owner) string {
	t.Helper()
	return h.mintStepUp(t, o.id, o.sid, auth.MethodOTP, time.Minute)
}

// dataJSON returns the envelope's data (or a plain body's field) as raw JSON.
func dataJSON(t *testing.T, r response, path string) []byte {
	t.Helper()
	raw, err := json.Marshal(r.at(path))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// registerPasskey runs the registration through the API and returns the created passkey's body.
func (h *harness) registerPasskey(t *testing.T, o owner, key *webauthntest.Authenticator, name string) response {
	t.Helper()
	reauth := h.pkStepUp(t, o)
	begin := h.pk(t, pkCall{path: "/api/v1/account/passkeys/register/begin", token: o.token, reauth: reauth})
	if begin.status != http.StatusOK {
		t.Fatalf("register/begin = %d %s", begin.status, begin.raw)
	}
	cred, _, err := key.Create(dataJSON(t, begin, "data"), webauthntest.Options{Origin: pkOrigin})
	if err != nil {
		t.Fatal(err)
	}
	fin := h.pk(t, pkCall{path: "/api/v1/account/passkeys/register/finish", token: o.token, reauth: reauth,
		body: jsonBody(t, map[string]any{"credential": json.RawMessage(cred), "name": name})})
	if fin.status != http.StatusCreated {
		t.Fatalf("register/finish = %d %s", fin.status, fin.raw)
	}
	return fin
}

func alertKindsQueued(t *testing.T, h *harness, accountID string) []string {
	t.Helper()
	var kinds []string
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		if ev.Type != events.TypeSecurityAlert || ev.AccountID != accountID {
			continue
		}
		var a events.SecurityAlert
		if err := ev.Decode(&a); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, a.Kind)
	}
	return kinds
}

func TestPasskeyManagement(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "pk-ada@example.com")
	key := webauthntest.New()
	key.BackupEligible, key.BackedUp = true, true

	created := h.registerPasskey(t, ada, key, "MacBook")
	id := created.str("data.id")
	if created.str("data.name") != "MacBook" || created.at("data.backupEligible") != true || created.at("data.backedUp") != true ||
		created.at("data.lastUsedAt") != nil || created.str("data.aaguid") == "" {
		t.Fatalf("created passkey = %s", created.raw)
	}

	list := h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: ada.token})
	items, _ := list.at("data").([]any)
	if list.status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("list = %d %s", list.status, list.raw)
	}

	if r := h.pk(t, pkCall{method: http.MethodPatch, path: "/api/v1/account/passkeys/" + id, token: ada.token, body: `{"name":"Work laptop"}`}); r.status != http.StatusUnauthorized {
		t.Fatalf("rename without step-up = %d %s", r.status, r.raw)
	}
	renameStepUp := h.pkStepUp(t, ada)
	renamed := h.pk(t, pkCall{method: http.MethodPatch, path: "/api/v1/account/passkeys/" + id, token: ada.token, reauth: renameStepUp, body: `{"name":"Work laptop"}`})
	if renamed.status != http.StatusOK || renamed.str("data.name") != "Work laptop" {
		t.Fatalf("rename = %d %s", renamed.status, renamed.raw)
	}
	if r := h.pk(t, pkCall{method: http.MethodPatch, path: "/api/v1/account/passkeys/" + id, token: ada.token, reauth: renameStepUp, body: `{"name":"  "}`}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("empty name = %d %s", r.status, r.raw)
	}

	del := h.pk(t, pkCall{method: http.MethodDelete, path: "/api/v1/account/passkeys/" + id, token: ada.token, reauth: h.pkStepUp(t, ada)})
	if del.status != http.StatusOK {
		t.Fatalf("delete = %d %s", del.status, del.raw)
	}
	list = h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: ada.token})
	if items, _ := list.at("data").([]any); len(items) != 0 {
		t.Fatalf("list after delete = %s", list.raw)
	}
	if got := alertKindsQueued(t, h, ada.id); !slices.Contains(got, events.AlertPasskeyAdded) || !slices.Contains(got, events.AlertPasskeyRemoved) {
		t.Fatalf("alerts queued = %v, want passkey added and removed", got)
	}
}

// TestPasskeyChangesNeedStepUp: a stolen access token alone can neither add a passkey (begin or
// finish) nor remove one.
func TestPasskeyChangesNeedStepUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "pk-stepup@example.com")
	key := webauthntest.New()
	id := h.registerPasskey(t, ada, key, "Phone").str("data.id")

	if r := h.pk(t, pkCall{path: "/api/v1/account/passkeys/register/begin", token: ada.token}); r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "ReauthToken") {
		t.Fatalf("begin without step-up = %d %s", r.status, r.raw)
	}
	// A ceremony begun with a step-up cannot be finished without one.
	reauth := h.pkStepUp(t, ada)
	begin := h.pk(t, pkCall{path: "/api/v1/account/passkeys/register/begin", token: ada.token, reauth: reauth})
	cred, _, err := webauthntest.New().Create(dataJSON(t, begin, "data"), webauthntest.Options{Origin: pkOrigin})
	if err != nil {
		t.Fatal(err)
	}
	body := jsonBody(t, map[string]any{"credential": json.RawMessage(cred)})
	if r := h.pk(t, pkCall{path: "/api/v1/account/passkeys/register/finish", token: ada.token, body: body}); r.status != http.StatusUnauthorized {
		t.Fatalf("finish without step-up = %d %s", r.status, r.raw)
	}
	// An expired step-up is no proof either.
	expired := h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, -time.Second)
	if r := h.pk(t, pkCall{method: http.MethodDelete, path: "/api/v1/account/passkeys/" + id, token: ada.token, reauth: expired}); r.status != http.StatusUnauthorized {
		t.Fatalf("delete with an expired step-up = %d %s", r.status, r.raw)
	}
	if r := h.pk(t, pkCall{method: http.MethodDelete, path: "/api/v1/account/passkeys/" + id, token: ada.token}); r.status != http.StatusUnauthorized {
		t.Fatalf("delete without step-up = %d %s", r.status, r.raw)
	}
	if n, _ := h.passkeys.Count(context.Background(), ada.id); n != 1 {
		t.Fatalf("passkeys = %d, want the one registered", n)
	}
}

// TestPasskeysOfAnotherAccount: another account's passkey is a 404, never shown, renamed or removed.
func TestPasskeysOfAnotherAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada, bob := h.signUp(t, "pk-own-ada@example.com"), h.signUp(t, "pk-own-bob@example.com")
	id := h.registerPasskey(t, ada, webauthntest.New(), "Ada's key").str("data.id")

	if r := h.pk(t, pkCall{method: http.MethodPatch, path: "/api/v1/account/passkeys/" + id, token: bob.token, reauth: h.pkStepUp(t, bob), body: `{"name":"mine"}`}); r.status != http.StatusNotFound {
		t.Fatalf("rename by bob = %d %s", r.status, r.raw)
	}
	if r := h.pk(t, pkCall{method: http.MethodDelete, path: "/api/v1/account/passkeys/" + id, token: bob.token, reauth: h.pkStepUp(t, bob)}); r.status != http.StatusNotFound {
		t.Fatalf("delete by bob = %d %s", r.status, r.raw)
	}
	list := h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: bob.token})
	if items, _ := list.at("data").([]any); list.status != http.StatusOK || len(items) != 0 {
		t.Fatalf("bob's list = %s", list.raw)
	}
	if r := h.pk(t, pkCall{method: http.MethodDelete, path: "/api/v1/account/passkeys/not-a-uuid", token: ada.token, reauth: h.pkStepUp(t, ada)}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad id = %d %s", r.status, r.raw)
	}
	if n, _ := h.passkeys.Count(context.Background(), ada.id); n != 1 {
		t.Fatal("ada's passkey is gone")
	}
}

// passkeySignIn runs begin + finish of a passwordless sign-in with the authenticator.
func (h *harness) passkeySignIn(t *testing.T, key *webauthntest.Authenticator, o webauthntest.Options, deviceID string) response {
	t.Helper()
	begin := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin"})
	if begin.status != http.StatusOK || begin.str("ceremony_token") == "" {
		t.Fatalf("login/begin = %d %s", begin.status, begin.raw)
	}
	assertion, err := key.Get(dataJSON(t, begin, "options"), o)
	if err != nil {
		t.Fatal(err)
	}
	return h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: jsonBody(t, map[string]any{
		"ceremony_token": begin.str("ceremony_token"), "credential": json.RawMessage(assertion),
		"device_id": deviceID, "device_name": "Pixel", "platform": "android",
	})})
}

func TestPasskeyPasswordlessSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "pk-login@example.com")
	key := webauthntest.New()
	h.registerPasskey(t, ada, key, "YubiKey")

	// Options: discoverable (no allow list), user verification required.
	begin := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", body: `{}`})
	if begin.str("options.publicKey.userVerification") != "required" || begin.at("options.publicKey.allowCredentials") != nil || begin.str("options.publicKey.rpId") != pkRPID {
		t.Fatalf("login/begin = %s", begin.raw)
	}

	r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "pixel-1")
	if r.status != http.StatusOK || r.str("access_token") == "" || r.str("user.id") != ada.id {
		t.Fatalf("passwordless sign-in = %d %s", r.status, r.raw)
	}
	// The session carries the passkey's amr (device-bound key + user verification: aal3).
	reqs := h.sessions.requests()
	last := reqs[len(reqs)-1]
	if last["amr"] != "hwk user mfa" || last["acr"] != auth.ACRHardwareKey {
		t.Fatalf("session request amr=%q acr=%q", last["amr"], last["acr"])
	}
	// The passkey proved the new device: it is trusted, and the owner was told of it.
	if _, err := h.svc.Devices.Find(context.Background(), ada.id, "pixel-1"); err != nil {
		t.Fatalf("device not trusted: %v", err)
	}
	if got := alertKindsQueued(t, h, ada.id); !slices.Contains(got, events.AlertNewDeviceSignIn) {
		t.Fatalf("alerts = %v, want a new device alert", got)
	}
	// The tokens work.
	if who := h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: r.str("access_token")}); who.status != http.StatusOK {
		t.Fatalf("new token = %d", who.status)
	}
	list := h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: ada.token})
	if list.at("data").([]any)[0].(map[string]any)["lastUsedAt"] == nil {
		t.Fatalf("lastUsedAt not set: %s", list.raw)
	}

	refused := []struct {
		name string
		o    webauthntest.Options
	}{
		{"user not verified", webauthntest.Options{Origin: pkOrigin, NoUserVerification: true}},
		{"wrong RP ID", webauthntest.Options{Origin: pkOrigin, RPID: "attacker.example"}},
		{"wrong origin", webauthntest.Options{Origin: "https://accounts.attacker.example"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := h.passkeySignIn(t, key, tc.o, "pixel-1")
			if r.status != http.StatusUnauthorized || r.str("detail") != "Invalid credentials" {
				t.Fatalf("sign-in = %d %s, want 401", r.status, r.raw)
			}
		})
	}

	t.Run("ceremony used twice", func(t *testing.T) {
		begin := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin"})
		assertion, _ := key.Get(dataJSON(t, begin, "options"), webauthntest.Options{Origin: pkOrigin})
		body := jsonBody(t, map[string]any{"ceremony_token": begin.str("ceremony_token"), "credential": json.RawMessage(assertion), "device_id": "pixel-1"})
		if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: body}); r.status != http.StatusOK {
			t.Fatalf("first finish = %d %s", r.status, r.raw)
		}
		if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: body}); r.status != http.StatusUnauthorized {
			t.Fatalf("second finish = %d %s", r.status, r.raw)
		}
	})

	t.Run("cloned credential", func(t *testing.T) {
		key.Credentials()[0].SignCount -= 2 // a copy of the key, behind the original's counter
		if r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "pixel-1"); r.status != http.StatusUnauthorized {
			t.Fatalf("cloned = %d %s", r.status, r.raw)
		}
		list := h.pk(t, pkCall{method: http.MethodGet, path: "/api/v1/account/passkeys", token: ada.token})
		if list.at("data").([]any)[0].(map[string]any)["cloneDetected"] != true {
			t.Fatalf("clone not shown: %s", list.raw)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"ceremony_token":"pkl_x","credential":"nope","device_id":"d"}`, `{"ceremony_token":"pkl_x","credential":{}}`} {
			if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: body}); r.status != http.StatusUnprocessableEntity {
				t.Fatalf("%s = %d %s", body, r.status, r.raw)
			}
		}
		if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: `{"ceremony_token":"pkl_x","credential":{"id":"x"},"device_id":"d"}`}); r.status != http.StatusUnauthorized {
			t.Fatalf("garbage credential = %d %s", r.status, r.raw)
		}
	})
}

// TestPasskeySignInRefusesDeactivatedAccount: a verified passkey of an account that may not sign in
// answers like any failure.
func TestPasskeySignInRefusesDeactivatedAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "pk-gone@example.com")
	key := webauthntest.New()
	h.registerPasskey(t, ada, key, "Key")
	if _, err := store.NewAccounts(h.db).Deactivate(context.Background(), ada.id, "test", time.Now(), account.Revocation{ID: "deact-1", Reason: "account_deactivated", OrderedAt: time.Now(), APIKeys: true}); err != nil {
		t.Fatal(err)
	}
	if r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "laptop"); r.status != http.StatusUnauthorized {
		t.Fatalf("deactivated = %d %s", r.status, r.raw)
	}
}

// TestPasskeySignInThrottledPerIP: failed passwordless sign-ins count against the address's failed
// logins; past the limit the address is refused (429) before any ceremony, other addresses are not.
func TestPasskeySignInThrottledPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.login.LoginPerIP = throttle.Limit{Max: 2, Window: time.Hour} })
	bad := `{"ceremony_token":"pkl_x","credential":{"id":"x"},"device_id":"d"}`
	for i := range 2 {
		if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: bad, ip: "203.0.113.5"}); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d %s", i+1, r.status, r.raw)
		}
	}
	r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", ip: "203.0.113.5"})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("begin from the throttled address = %d %s", r.status, r.raw)
	}
	if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/finish", body: bad, ip: "203.0.113.5"}); r.status != http.StatusTooManyRequests {
		t.Fatalf("finish from the throttled address = %d %s", r.status, r.raw)
	}
	if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", ip: "203.0.113.6"}); r.status != http.StatusOK {
		t.Fatalf("begin from another address = %d %s", r.status, r.raw)
	}
}

// TestPasskeyBeginsLimitedPerIP: every passwordless begin stores a ceremony, so one address cannot
// begin without end: over PasskeyBeginsPerIP it gets 429 with Retry-After and nothing is stored, while
// another address still begins.
func TestPasskeyBeginsLimitedPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.login.PasskeyBeginsPerIP = throttle.Limit{Max: 3, Window: time.Hour} })
	ceremonies := func() int64 {
		n, err := h.db.Collection(store.CollPasskeyCeremonies).CountDocuments(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", ip: "198.51.100.7"}); r.status != http.StatusOK {
			t.Fatalf("begin %d = %d %s", i+1, r.status, r.raw)
		}
	}
	before := ceremonies()
	r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", ip: "198.51.100.7"})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth begin = %d %s, want 429 with Retry-After", r.status, r.raw)
	}
	if after := ceremonies(); after != before {
		t.Errorf("a refused begin stored a ceremony (%d → %d)", before, after)
	}
	if r := h.pk(t, pkCall{path: "/api/v1/auth/passkeys/login/begin", ip: "198.51.100.8"}); r.status != http.StatusOK {
		t.Fatalf("begin from another address = %d %s", r.status, r.raw)
	}
}
