package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/devinfra/webauthntest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/admin"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// adminOf maps each harness's app to its admin service, for tests that wire a Deletions.
var adminOf sync.Map

// registerAdmin mounts the admin API on a harness's app as main does.
func registerAdmin(t testing.TB, app *fiber.App, requireAuth fiber.Handler, svc *auth.Service, keys *apikey.Service, sessions *sessionService, db *mongo.Database, deny *authn.DenyList) {
	t.Helper()
	adm := admin.NewService(admin.Deps{
		Auth: svc, Accounts: store.NewAccounts(db), Devices: store.NewDevices(db), Providers: store.NewProviders(db), APIKeys: keys,
		Sessions:       sessionclient.New(sessions.srv.URL, internalToken, nil),
		Authenticators: totp.New(store.NewAuthenticators(db), testTOTPKeyring(t), ""),
		RecoveryCodes:  recovery.New(recovery.KeyFrom("pepper-for-tests-0123456789abcdef"), store.NewRecoveryCodes(db)),
		Passkeys:       store.NewPasskeys(db),
		Deny:           deny,
	})
	httpapi.RegisterAdmin(app, requireAuth, svc, adm, quiet)
	adminOf.Store(app, adm)
}

// list implements GET /internal/v1/accounts/{accountId}/sessions of the session service.
func (s *sessionService) list(w http.ResponseWriter, r *http.Request) {
	accountID := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/internal/v1/accounts/"), "/sessions")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for sid, acc := range s.live {
		if acc == accountID {
			out = append(out, map[string]any{"sessionId": sid, "deviceName": "laptop", "ipAddress": "198.51.100.7",
				"createdAt": time.Now().UTC(), "lastActiveAt": time.Now().UTC(), "expiresAt": time.Now().Add(time.Hour).UTC()})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sessions": out})
}

// operatorOf signs up an account and gives it roles (nil: an ordinary user).
func (h *harness) operator(t *testing.T, email string, roles ...string) owner {
	t.Helper()
	o := h.signUp(t, email)
	if len(roles) > 0 {
		if _, err := store.NewAccounts(h.db).SetRoles(context.Background(), o.id, account.NormalizeRoles(roles)); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// adminCall calls an admin path as o; stepUp adds a live step-up token of o's session.
func (h *harness) adminCall(t *testing.T, o owner, method, path string, body any, stepUp bool) response {
	t.Helper()
	var headers []string
	if stepUp {
		headers = []string{"X-Reauth-Token", h.mintStepUp(t, o.id, o.sid, auth.MethodOTP, time.Minute)}
	}
	return h.callAs(t, method, path, o.token, body, headers...)
}

func wantAdminStatus(t *testing.T, r response, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Errorf("%s = %d %s, want %d", what, r.status, r.raw, want)
	}
}

// adminRoute is one admin route with a path to try it on.
type adminRoute struct {
	method, path string
	body         any
	write        bool
	supportMay   bool // support may call it on an ordinary account
}

func adminRoutes(target, keyID string) []adminRoute {
	base := "/api/v1/admin/accounts/" + target
	return []adminRoute{
		{http.MethodGet, "/api/v1/admin/accounts?q=someone", nil, false, true},
		{http.MethodGet, base, nil, false, true},
		{http.MethodPost, base + "/lock", nil, true, true},
		{http.MethodPost, base + "/unlock", nil, true, true},
		{http.MethodPost, base + "/reactivate", nil, true, false},
		{http.MethodPost, base + "/sign-out", nil, true, false},
		{http.MethodPost, base + "/reset-2fa", nil, true, false},
		{http.MethodPut, base + "/roles", map[string]any{"roles": []string{"ROLE_USER"}}, true, false},
		{http.MethodDelete, base + "/api-keys/" + keyID, nil, true, false},
		{http.MethodDelete, base, nil, true, false},
	}
}

// TestAdminAuthorization: who may call what. No one but an operator gets past the gate, and the gate
// answers 403 before any id is looked up; API keys never reach the admin API; every write needs a
// step-up; support reads and locks but cannot escalate or touch an operator's account.
func TestAdminAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	helper := h.operator(t, "helper@example.com", account.RoleSupport)
	user := h.operator(t, "user@example.com")
	rootKey, _ := h.issueKey(t, root.id)
	_, userKeyID := h.issueKey(t, user.id)

	for _, target := range []string{user.id, "no-such-account"} {
		for _, r := range adminRoutes(target, userKeyID) {
			what := r.method + " " + r.path
			// An ordinary user: 403 with or without step-up, for existing and unknown ids alike.
			wantAdminStatus(t, h.adminCall(t, user, r.method, r.path, r.body, true), http.StatusForbidden, "user: "+what)
			// An admin's API key: refused as a key.
			if k := h.callAs(t, r.method, r.path, rootKey, r.body); k.status != http.StatusForbidden || !strings.Contains(k.str("detail"), "API keys cannot") {
				t.Errorf("api key: %s = %d %s, want the API-key 403", what, k.status, k.raw)
			}
			// No credential at all.
			wantAdminStatus(t, h.callAs(t, r.method, r.path, "", r.body), http.StatusUnauthorized, "anonymous: "+what)
			if r.write {
				// An admin without step-up.
				wantReauthRequired(t, h.adminCall(t, root, r.method, r.path, r.body, false), "admin without step-up: "+what)
				if !r.supportMay {
					// Support is refused admin-only routes before step-up is even asked for.
					wantAdminStatus(t, h.adminCall(t, helper, r.method, r.path, r.body, true), http.StatusForbidden, "support: "+what)
					wantAdminStatus(t, h.adminCall(t, helper, r.method, r.path, r.body, false), http.StatusForbidden, "support without step-up: "+what)
				}
			}
		}
	}

	// Unknown ids are 404 for operators only.
	wantAdminStatus(t, h.adminCall(t, root, http.MethodGet, "/api/v1/admin/accounts/no-such-account", nil, false), http.StatusNotFound, "admin reads an unknown id")
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/no-such-account/lock", nil, true), http.StatusNotFound, "support locks an unknown id")

	// Support reads anyone, but writes to no operator's account.
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodGet, "/api/v1/admin/accounts/"+root.id, nil, false), http.StatusOK, "support reads an admin")
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+root.id+"/lock", nil, true), http.StatusForbidden, "support locks an admin")
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPut, "/api/v1/admin/accounts/"+helper.id+"/roles",
		map[string]any{"roles": []string{"ROLE_ADMIN"}}, true), http.StatusForbidden, "support makes itself admin")

	// Operators cannot lock, reset or delete their own account, nor drop their own admin role.
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, "/lock"}, {http.MethodPost, "/reset-2fa"}, {http.MethodDelete, ""},
	} {
		wantAdminStatus(t, h.adminCall(t, root, p.method, "/api/v1/admin/accounts/"+root.id+p.path, nil, true), http.StatusConflict, "admin on itself: "+p.method+" "+p.path)
	}
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+helper.id+"/lock", nil, true), http.StatusConflict, "support locks itself")
	r := h.adminCall(t, root, http.MethodPut, "/api/v1/admin/accounts/"+root.id+"/roles", map[string]any{"roles": []string{"ROLE_USER"}}, true)
	wantAdminStatus(t, r, http.StatusConflict, "admin drops its own admin role")
	if a, _ := store.NewAccounts(h.db).ByID(context.Background(), root.id); !a.HasRole(account.RoleAdmin) {
		t.Error("the refused role change was stored")
	}

	// A revoked role takes effect on the next request: roles are read from the account, not the token.
	if _, err := store.NewAccounts(h.db).SetRoles(context.Background(), helper.id, account.DefaultRoles()); err != nil {
		t.Fatal(err)
	}
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodGet, "/api/v1/admin/accounts/"+user.id, nil, false), http.StatusForbidden, "former support reads")

	// Bad input is a 422, never a 500.
	wantAdminStatus(t, h.adminCall(t, root, http.MethodGet, "/api/v1/admin/accounts?q=", nil, false), http.StatusUnprocessableEntity, "empty query")
	wantAdminStatus(t, h.adminCall(t, root, http.MethodGet, "/api/v1/admin/accounts?q=x&size=1000", nil, false), http.StatusUnprocessableEntity, "huge page")
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/lock", map[string]any{"reason": strings.Repeat("x", 201)}, true), http.StatusUnprocessableEntity, "long reason")
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPut, "/api/v1/admin/accounts/"+user.id+"/roles", map[string]any{"roles": []string{"ROLE_ROOT"}}, true), http.StatusUnprocessableEntity, "unknown role")
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/lock", "not json", true), http.StatusUnprocessableEntity, "malformed body")
}

// adminActions returns the admin_action activity entries queued for accountID.
func (h *harness) adminActions(t *testing.T, accountID string) []events.Activity {
	t.Helper()
	var out []events.Activity
	for _, ev := range h.queued(t, events.TopicActivity) {
		var a events.Activity
		if ev.AccountID != accountID || ev.Decode(&a) != nil || a.Kind != events.ActivityAdminAction {
			continue
		}
		out = append(out, a)
	}
	return out
}

// alerts returns the kinds of the security alerts queued for accountID.
func (h *harness) alertKinds(t *testing.T, accountID string) []string {
	t.Helper()
	var out []string
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		var a events.SecurityAlert
		if ev.Type == events.TypeSecurityAlert && ev.AccountID == accountID && ev.Decode(&a) == nil {
			out = append(out, a.Kind)
		}
	}
	return out
}

func hasAction(acts []events.Activity, action string, actor events.Actor) bool {
	for _, a := range acts {
		if a.Details["action"] == action && a.Actor == actor {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAdminLockUnlock: support locks an account — its sessions end, every sign-in answers 423 once
// the password is right (a wrong one still answers 401, so the lock reveals nothing), its API key is
// refused, its owner is alerted and the action is in both logs — and unlocks it: sign-in works again.
func TestAdminLockUnlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	helper := h.operator(t, "helper@example.com", account.RoleSupport)
	user := h.operator(t, "user@example.com")
	key, _ := h.issueKey(t, user.id)
	if !h.keyWorks(t, key) || len(h.sessions.liveSessions(user.id)) == 0 {
		t.Fatal("the user's key or session does not work before the lock")
	}

	r := h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/lock", map[string]any{"reason": "ticket 42: compromised"}, true)
	wantAdminStatus(t, r, http.StatusOK, "lock")
	if n := len(h.sessions.liveSessions(user.id)); n != 0 {
		t.Errorf("%d sessions live after the lock, want none", n)
	}
	if calls := h.sessions.revokeCalls(); len(calls) == 0 || calls[len(calls)-1].Reason != auth.ReasonAccountLocked || calls[len(calls)-1].ExceptSessionID != "" {
		t.Errorf("revoke calls %+v, want every session ended with reason account_locked", calls)
	}
	if h.keyWorks(t, key) {
		t.Error("the locked account's API key still works")
	}
	locked := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop"))
	if locked.status != http.StatusLocked || locked.str("detail") != "This account is locked; contact support" {
		t.Errorf("login of a locked account = %d %s, want the 423", locked.status, locked.raw)
	}
	if wrong := h.post(t, "/api/v1/auth/login", map[string]any{"identifier": user.email, "password": "Wrong-pass-123", "device_id": "laptop"}); wrong.status != http.StatusUnauthorized {
		t.Errorf("wrong password on a locked account = %d %s, want the usual 401", wrong.status, wrong.raw)
	}
	a, _ := store.NewAccounts(h.db).ByID(context.Background(), user.id)
	if a.Status != account.StatusLocked || a.PendingRevocation != nil {
		t.Errorf("stored status %s, pending revocation %+v; want LOCKED with the revocation carried out", a.Status, a.PendingRevocation)
	}
	if !snapshotQueued(t, h, user.id, events.AccountStatusLocked) {
		t.Error("no account.updated with status LOCKED queued")
	}
	if !contains(h.alertKinds(t, user.id), events.AlertAccountLocked) {
		t.Error("the owner was not alerted of the lock")
	}
	supportActor := events.Actor{Type: events.ActorSupport, ID: helper.id}
	if acts := h.adminActions(t, user.id); !hasAction(acts, admin.ActionLock, supportActor) || acts[len(acts)-1].Details["reason"] != "ticket 42: compromised" {
		t.Errorf("target's log %+v, want the lock by support with its reason", acts)
	}
	if !hasAction(h.adminActions(t, helper.id), admin.ActionLock, supportActor) {
		t.Error("the operator's own log lacks the lock")
	}
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/lock", nil, true), http.StatusConflict, "lock twice")

	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/unlock", nil, true), http.StatusOK, "unlock")
	if again := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop")); again.status != http.StatusOK || again.str("access_token") == "" {
		t.Errorf("login after unlock = %d %s, want tokens", again.status, again.raw)
	}
	if !contains(h.alertKinds(t, user.id), events.AlertAccountUnlocked) {
		t.Error("the owner was not alerted of the unlock")
	}
	wantAdminStatus(t, h.adminCall(t, helper, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/unlock", nil, true), http.StatusConflict, "unlock an active account")
}

func snapshotQueued(t *testing.T, h *harness, accountID, status string) bool {
	t.Helper()
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		var s events.AccountSnapshot
		if ev.Type == events.TypeAccountUpdated && ev.AccountID == accountID && ev.Decode(&s) == nil && s.Status == status {
			return true
		}
	}
	return false
}

// TestAdminReactivateSignOutResetRoles: the admin-only actions do what they say.
func TestAdminReactivateSignOutResetRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	user := h.operator(t, "user@example.com")
	accounts := store.NewAccounts(h.db)
	base := "/api/v1/admin/accounts/" + user.id

	// Reactivate: only a deactivated account; afterwards it signs in.
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/reactivate", nil, true), http.StatusConflict, "reactivate an active account")
	if ok, err := accounts.Deactivate(ctx, user.id, "moving on", time.Now(), account.Revocation{ID: events.NewID(), Reason: "account_deactivated", OrderedAt: time.Now()}); !ok || err != nil {
		t.Fatalf("deactivate: %v %v", ok, err)
	}
	if r := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop")); r.status == http.StatusOK {
		t.Fatal("a deactivated account signed in")
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/reactivate", nil, true), http.StatusOK, "reactivate")
	a, _ := accounts.ByID(ctx, user.id)
	if a.Status != account.StatusActive || !a.DeactivatedAt.IsZero() || a.DeactivationReason != "" {
		t.Errorf("after reactivation: %s %v %q, want active with the deactivation forgotten", a.Status, a.DeactivatedAt, a.DeactivationReason)
	}
	tok, _ := h.signIn(t, user.email, goodPassword)

	// Sign-out: every session ends.
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/sign-out", nil, true), http.StatusOK, "sign-out")
	if n := len(h.sessions.liveSessions(user.id)); n != 0 {
		t.Errorf("%d sessions live after sign-out", n)
	}
	if calls := h.sessions.revokeCalls(); calls[len(calls)-1].Reason != auth.ReasonAdminSignOut {
		t.Errorf("last revoke %+v, want admin_sign_out", calls[len(calls)-1])
	}
	_ = tok

	// Reset 2FA: with codes 2FA and recovery codes on, sign-in asks a second factor; after the reset
	// the password alone signs in.
	if ok, err := accounts.SetTwoFactor(ctx, user.id, true, nil); !ok || err != nil {
		t.Fatalf("enable 2fa: %v %v", ok, err)
	}
	codes := recovery.New(recovery.KeyFrom("pepper-for-tests-0123456789abcdef"), store.NewRecoveryCodes(h.db))
	if _, err := codes.Replace(ctx, user.id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop")); r.str("access_token") != "" {
		t.Fatalf("login with 2FA on = %s, want a challenge", r.raw)
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/reset-2fa", nil, true), http.StatusOK, "reset-2fa")
	if r := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login after the reset = %d %s, want tokens on the password alone", r.status, r.raw)
	}
	if n, _ := codes.Remaining(ctx, user.id); n != 0 {
		t.Errorf("%d recovery codes left after the reset", n)
	}
	if !contains(h.alertKinds(t, user.id), events.AlertTwoFactorResetBySupport) {
		t.Error("the owner was not alerted of the reset")
	}

	// Roles: ROLE_USER is always kept; the new role works at once.
	r := h.adminCall(t, root, http.MethodPut, base+"/roles", map[string]any{"roles": []string{"ROLE_SUPPORT"}}, true)
	if r.status != http.StatusOK || mustJSON(r.body["roles"]) != `["ROLE_USER","ROLE_SUPPORT"]` {
		t.Errorf("set roles = %d %s", r.status, r.raw)
	}
	userTok, userSid := h.signIn(t, user.email, goodPassword)
	wantAdminStatus(t, h.adminCall(t, owner{id: user.id, token: userTok, sid: userSid}, http.MethodGet, "/api/v1/admin/accounts/"+root.id, nil, false), http.StatusOK, "new support reads")

	adminActor := events.Actor{Type: events.ActorAdmin, ID: root.id}
	acts := h.adminActions(t, user.id)
	for _, want := range []string{admin.ActionReactivate, admin.ActionSignOut, admin.ActionReset2FA, admin.ActionRoles} {
		if !hasAction(acts, want, adminActor) {
			t.Errorf("target's log lacks %s by the admin", want)
		}
	}
}

// TestAdminAPIKeysSearchDetailDelete: revoking a key is per account (404 for another's), search finds
// by every identifier, the detail shows sessions, devices, keys and factors without secrets, and
// deletion is 501 until a Deletions is wired, then 202 with the date.
func TestAdminAPIKeysSearchDetailDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	user := h.register(t, "grace.hopper@example.com", map[string]any{"username": "grace", "device_id": "laptop"})
	userID := user.str("user.id")
	if ok, err := store.NewAccounts(h.db).SetVerifiedPhone(ctx, userID, "+14155550123"); !ok || err != nil {
		t.Fatalf("set phone: %v %v", ok, err)
	}
	key, keyID := h.issueKey(t, userID)
	_, rootKeyID := h.issueKey(t, root.id)
	base := "/api/v1/admin/accounts/" + userID

	wantAdminStatus(t, h.adminCall(t, root, http.MethodDelete, base+"/api-keys/"+rootKeyID, nil, true), http.StatusNotFound, "revoke another account's key")
	wantAdminStatus(t, h.adminCall(t, root, http.MethodDelete, base+"/api-keys/"+keyID, nil, true), http.StatusNoContent, "revoke key")
	if h.keyWorks(t, key) {
		t.Error("the revoked key still works")
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodDelete, base+"/api-keys/"+keyID, nil, true), http.StatusNotFound, "revoke twice")
	_, keyID2 := h.issueKey(t, userID)

	for _, q := range []string{"grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM", "grace", "+1 415 555 0123", userID, "grace.ho"} {
		r := h.adminCall(t, root, http.MethodGet, "/api/v1/admin/accounts?q="+urlQuery(q), nil, false)
		list, _ := r.body["accounts"].([]any)
		if r.status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["id"] != userID {
			t.Errorf("search %q = %d %s, want grace", q, r.status, r.raw)
		}
	}
	// Every account a search showed has the view in its log; the operator's log has the searches.
	viewed := 0
	for _, a := range h.adminActions(t, userID) {
		if a.Details["action"] == admin.ActionView && a.Details["via"] == admin.ActionSearch && a.Actor.ID == root.id {
			viewed++
		}
	}
	if viewed != 6 {
		t.Errorf("%d search views in the account's log, want 6", viewed)
	}
	searches := 0
	for _, a := range h.adminActions(t, root.id) {
		if a.Details["action"] == admin.ActionSearch && a.Details["results"] == "1" {
			searches++
		}
		if _, ok := a.Details["query"]; ok {
			t.Errorf("the operator's log keeps a search query (an address that must go with its account): %v", a.Details)
		}
	}
	if searches != 6 {
		t.Errorf("%d searches in the operator's log, want 6", searches)
	}
	if r := h.adminCall(t, root, http.MethodGet, "/api/v1/admin/accounts?q=nobody-at-all", nil, false); r.status != 200 || r.body["total"] != float64(0) {
		t.Errorf("search for nobody = %d %s", r.status, r.raw)
	}

	r := h.adminCall(t, root, http.MethodGet, base, nil, false)
	if r.status != http.StatusOK {
		t.Fatalf("detail = %d %s", r.status, r.raw)
	}
	if r.str("email") != "grace.hopper@example.com" || r.str("username") != "grace" || r.str("phone") != "+14155550123" || r.str("status") != "ACTIVE" {
		t.Errorf("detail facts = %s", r.raw)
	}
	sessions, _ := r.body["sessions"].([]any)
	devices, _ := r.body["trusted_devices"].([]any)
	keys, _ := r.body["api_keys"].([]any)
	if len(sessions) == 0 || len(devices) == 0 || len(keys) != 1 || keys[0].(map[string]any)["id"] != keyID2 || r.body["sessions_known"] != true {
		t.Errorf("detail lists: sessions %d, devices %d, keys %v", len(sessions), len(devices), keys)
	}
	if strings.Contains(string(r.raw), key) || strings.Contains(string(r.raw), "passwordHash") || strings.Contains(string(r.raw), "$argon2") {
		t.Error("the detail carries a secret")
	}
	if !hasAction(h.adminActions(t, userID), admin.ActionView, events.Actor{Type: events.ActorAdmin, ID: root.id}) {
		t.Error("the read is not in the account's log")
	}

	r = h.adminCall(t, root, http.MethodDelete, base, nil, true)
	if r.status != http.StatusNotImplemented || r.str("detail") != "Account deletion is not available" {
		t.Errorf("delete without deletions = %d %s, want 501", r.status, r.raw)
	}
	v, _ := adminOf.Load(h.app)
	deleteAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := &fakeDeletions{at: deleteAt}
	v.(*admin.Service).Deletions = fake
	r = h.adminCall(t, root, http.MethodDelete, base, nil, true)
	if r.status != http.StatusAccepted || r.str("delete_at") != "2030-01-02T03:04:05Z" {
		t.Errorf("delete = %d %s, want 202 with deleteAt", r.status, r.raw)
	}
	if fake.accountID != userID || fake.by != (events.Actor{Type: events.ActorAdmin, ID: root.id}) {
		t.Errorf("ScheduleDeletion(%q, %+v), want the user by the admin", fake.accountID, fake.by)
	}
}

type fakeDeletions struct {
	at        time.Time
	accountID string
	by        events.Actor
}

func (f *fakeDeletions) ScheduleDeletion(_ context.Context, accountID string, by events.Actor) (time.Time, error) {
	f.accountID, f.by = accountID, by
	return f.at, nil
}

func urlQuery(s string) string {
	r := strings.NewReplacer("+", "%2B", " ", "%20", "@", "%40")
	return r.Replace(s)
}

// TestLockedAccountSignInPaths: a lock placed while a sign-in is half done still stops it — the code
// of a new-device verification (envelope 423) and the answer to a two-factor challenge (plain 423).
func TestLockedAccountSignInPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	user := h.operator(t, "user@example.com")
	lock := func() {
		t.Helper()
		wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/lock", nil, true), http.StatusOK, "lock")
	}
	unlock := func() {
		t.Helper()
		wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/unlock", nil, true), http.StatusOK, "unlock")
	}

	// New device: the code was sent before the lock.
	r := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "phone"))
	token := r.str("device_verification_token")
	if token == "" {
		t.Fatalf("login from a new device = %d %s, want a device challenge", r.status, r.raw)
	}
	code := h.lastCode(t, user.email)
	lock()
	r = h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone"))
	if r.status != http.StatusLocked || r.body["success"] != false || r.str("data") != "This account is locked; contact support" {
		t.Errorf("device verification of a locked account = %d %s, want the envelope 423", r.status, r.raw)
	}
	unlock()

	// Two-factor: the challenge was issued before the lock.
	if ok, err := store.NewAccounts(h.db).SetTwoFactor(ctx, user.id, true, nil); !ok || err != nil {
		t.Fatalf("enable 2fa: %v %v", ok, err)
	}
	r = h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop"))
	tfa := r.str("two_factor_token")
	if tfa == "" {
		t.Fatalf("login with 2FA = %d %s, want a challenge", r.status, r.raw)
	}
	code = h.lastCode(t, user.email)
	lock()
	r = h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "otp_code": code})
	if r.status != http.StatusLocked || r.str("detail") != "This account is locked; contact support" {
		t.Errorf("verify-2fa of a locked account = %d %s, want the plain 423", r.status, r.raw)
	}

	// A reset while locked turns the factors off too: once unlocked, the password alone signs in.
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+user.id+"/reset-2fa", nil, true), http.StatusOK, "reset-2fa while locked")
	unlock()
	if r := h.post(t, "/api/v1/auth/login", login(user.email, goodPassword, "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login after reset and unlock = %d %s, want tokens", r.status, r.raw)
	}
}

// TestLockedAccountProviderSignIn: a provider sign-in of a locked account answers the plain 423 once
// the provider proved the identity, and works again after the unlock.
func TestLockedAccountProviderSignIn(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"})
	zoeID := r.str("user.id")
	if r.status != http.StatusCreated || zoeID == "" {
		t.Fatalf("first sign-in = %d %s", r.status, r.raw)
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+zoeID+"/lock", nil, true), http.StatusOK, "lock")
	r = h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"})
	if r.status != http.StatusLocked || r.str("detail") != "This account is locked; contact support" {
		t.Errorf("provider sign-in of a locked account = %d %s, want the plain 423", r.status, r.raw)
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, "/api/v1/admin/accounts/"+zoeID+"/unlock", nil, true), http.StatusOK, "unlock")
	r = h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-zoe", "zoe@gmail.com"), "device_id": "zoe-phone"})
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("provider sign-in after the unlock = %d %s, want tokens", r.status, r.raw)
	}
}

// TestLockedAccountPasskeySignIn: a passwordless passkey sign-in of a locked account answers the
// plain 423 once the assertion verified; after the unlock it works, and a second-factor reset removes
// the passkey (its sign-in then fails).
func TestLockedAccountPasskeySignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	root := h.operator(t, "root@example.com", account.RoleAdmin)
	ada := h.signUp(t, "pk-locked@example.com")
	key := webauthntest.New()
	h.registerPasskey(t, ada, key, "YubiKey")
	base := "/api/v1/admin/accounts/" + ada.id

	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/lock", nil, true), http.StatusOK, "lock")
	if r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "pixel-1"); r.status != http.StatusLocked || r.str("detail") != "This account is locked; contact support" {
		t.Errorf("passkey sign-in of a locked account = %d %s, want the plain 423", r.status, r.raw)
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/unlock", nil, true), http.StatusOK, "unlock")
	if r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "pixel-1"); r.status != http.StatusOK {
		t.Errorf("passkey sign-in after the unlock = %d %s", r.status, r.raw)
	}
	d := h.adminCall(t, root, http.MethodGet, base, nil, false)
	if d.at("factors.passkeys") != float64(1) {
		t.Errorf("detail factors = %v, want one passkey", d.at("factors"))
	}
	wantAdminStatus(t, h.adminCall(t, root, http.MethodPost, base+"/reset-2fa", nil, true), http.StatusOK, "reset-2fa")
	if n, _ := h.passkeys.Count(context.Background(), ada.id); n != 0 {
		t.Errorf("%d passkeys left after the reset", n)
	}
	if r := h.passkeySignIn(t, key, webauthntest.Options{Origin: pkOrigin}, "pixel-1"); r.status != http.StatusUnauthorized {
		t.Errorf("sign-in with the removed passkey = %d %s, want 401", r.status, r.raw)
	}
}
