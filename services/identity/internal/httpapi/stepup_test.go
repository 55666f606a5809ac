package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// stepUp calls a route with an explicit X-Reauth-Token ("" sends none), never with one minted for the
// caller (see withStepUp).
func (h *harness) stepUp(t *testing.T, method, path, token, reauth string, body any) response {
	t.Helper()
	return h.callAs(t, method, path, token, body, "X-Reauth-Token", reauth)
}

// reauthMessage returns the message of an error answer in either wire style.
func reauthMessage(r response) string {
	if m := r.str("message"); m != "" {
		return m
	}
	return r.str("detail")
}

// wantReauthRequired checks the step-up refusal: 401 in the path's style saying re-authentication is
// required, with WWW-Authenticate: ReauthToken.
func wantReauthRequired(t *testing.T, r response, what string) {
	t.Helper()
	if r.status != http.StatusUnauthorized || reauthMessage(r) != "Re-authentication required" || r.header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Errorf("%s = %d %s (WWW-Authenticate %q), want the step-up 401", what, r.status, r.raw, r.header.Get("WWW-Authenticate"))
	}
}

// issueStepUp calls POST /api/v1/auth/reauth and returns the token.
func (h *harness) issueStepUp(t *testing.T, token string, body any) string {
	t.Helper()
	r := h.stepUp(t, "POST", "/api/v1/auth/reauth", token, "", body).wantStatus(t, http.StatusOK, "reauth")
	if !strings.HasPrefix(r.str("reauth_token"), auth.StepUpTokenPrefix) || r.at("expires_in") != float64(300) {
		t.Fatalf("reauth = %s, want a rat_ token valid 300 s", r.raw)
	}
	return r.str("reauth_token")
}

// TestStepUpGate: issue 13 item 1. With only an access token (or a step-up token that is expired, of
// another account, of another session, or made up) every sensitive route answers the step-up 401 and
// changes nothing and sends nothing; with a live step-up token of the caller it goes through.
func TestStepUpGate(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss), noCooldown)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	_, adaOtherSID := h.signIn(t, ada.email, goodPassword)
	// Ada has Google linked already (with a step-up), so the unlink routes have something to remove.
	h.callAs(t, "POST", "/api/v1/auth/account-providers", ada.token, map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-ada", "")}).
		wantStatus(t, http.StatusCreated, "link google")
	alertsBefore := len(h.securityAlerts(t, ada.id))

	routes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/account/link/email/initiate", map[string]any{"email": "attacker@evil.example"}},
		{"POST", "/api/v1/account/link/email/verify", map[string]any{"tempToken": "elt_x", "otp": "123456"}},
		{"DELETE", "/api/v1/account/link/email", nil},
		{"POST", "/api/v1/account/link/oauth", map[string]any{"provider": "GOOGLE", "idToken": idToken(t, iss, "g-attacker", "")}},
		{"DELETE", "/api/v1/account/link/oauth/GOOGLE", nil},
		{"POST", "/api/v1/auth/account-providers", map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-attacker-2", "")}},
		{"DELETE", "/api/v1/auth/account-providers/google", nil},
		{"POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": "+447700900123"}},
		{"POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": "+447700900123", "otp_code": "123456"}},
		{"POST", "/api/v1/auth/api-keys", map[string]any{"name": "attacker"}},
		{"POST", "/api/v1/account/2fa/enable", map[string]any{}},
	}
	proofs := []struct{ name, token string }{
		{"access token only", ""},
		{"made-up step-up token", "rat_made-up"},
		{"expired step-up token", h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, -time.Second)},
		{"another account's step-up token", h.mintStepUp(t, bob.id, bob.sid, auth.MethodOTP, time.Minute)},
		{"a step-up token of another session", h.mintStepUp(t, ada.id, adaOtherSID, auth.MethodOTP, time.Minute)},
	}
	for _, rt := range routes {
		for _, p := range proofs {
			t.Run(rt.method+" "+rt.path+"/"+p.name, func(t *testing.T) {
				wantReauthRequired(t, h.stepUp(t, rt.method, rt.path, ada.token, p.token, rt.body), rt.path)
			})
		}
	}

	t.Run("nothing changed and nothing was sent", func(t *testing.T) {
		a, err := store.NewAccounts(h.db).ByID(context.Background(), ada.id)
		if err != nil || a.Email != "ada@example.com" || !a.EmailVerified || a.Phone != "" || a.TwoFactorEnabled {
			t.Errorf("account = %+v, %v, want it untouched", a, err)
		}
		if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada.token, nil).list(t); len(got) != 1 || got[0]["provider"] != "google" {
			t.Errorf("providers = %v, want only the owner's google", got)
		}
		if got := h.callAs(t, "GET", "/api/v1/auth/api-keys", ada.token, nil).list(t); len(got) != 0 {
			t.Errorf("api keys = %v, want none", got)
		}
		if d := h.dispatches(t, "attacker@evil.example"); len(d) != 0 {
			t.Errorf("codes sent to the attacker's address: %+v", d)
		}
		if d := h.dispatches(t, "+447700900123"); len(d) != 0 {
			t.Errorf("codes sent to the attacker's phone: %+v", d)
		}
		if n := len(h.securityAlerts(t, ada.id)); n != alertsBefore {
			t.Errorf("%d alerts queued by refused requests", n-alertsBefore)
		}
	})

	t.Run("a live step-up token of the caller opens every route", func(t *testing.T) {
		valid := h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, time.Minute)
		for _, rt := range routes {
			r := h.stepUp(t, rt.method, rt.path, ada.token, valid, rt.body)
			if r.status == http.StatusUnauthorized || r.status >= 500 {
				t.Errorf("%s %s with a step-up token = %d %s, want it past the gate", rt.method, rt.path, r.status, r.raw)
			}
		}
		if d := h.dispatches(t, "attacker@evil.example"); len(d) != 1 {
			t.Errorf("with the step-up the code goes out: dispatches = %+v", d)
		}
	})

	t.Run("API keys are refused", func(t *testing.T) {
		key := h.createKey(t, keyUser{id: ada.id, token: ada.token}, `{"name":"ci","scopes":["read","write"]}`)
		for _, path := range []string{"/api/v1/auth/reauth", "/api/v1/account/link/email/initiate"} {
			r := h.callAs(t, "POST", path, "", map[string]any{"password": goodPassword, "email": "x@example.com"}, "X-API-Key", key["key"].(string))
			if r.status != http.StatusForbidden {
				t.Errorf("%s with an API key = %d %s, want 403", path, r.status, r.raw)
			}
		}
	})
}

// TestReauthEndpoint: POST /api/v1/auth/reauth trades a password or a re-authentication code for a
// step-up token bound to the account and session, usable for several changes; wrong passwords count
// against the login's per-account limit.
func TestReauthEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")

	wantPlainError(t, h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{}), 422, "password")
	wantPlainError(t, h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{"password": "Wr0ng-password"}), 400, "Current password is incorrect")
	wantPlainError(t, h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{"otp": "000000"}), 400, "Invalid or expired code")
	wantPlainError(t, h.stepUp(t, "POST", "/api/v1/auth/reauth", "", "", map[string]any{"password": goodPassword}), 401, "Not authenticated")

	r := h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{"password": goodPassword}).wantStatus(t, http.StatusOK, "reauth")
	tok := r.str("reauth_token")
	if !strings.HasPrefix(tok, "rat_") || r.at("expires_in") != float64(300) || r.str("method") != "pwd" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reauth = %s (%v)", r.raw, r.header)
	}
	// Stored hashed only.
	if n, _ := h.db.Collection(store.CollStepUpTokens).CountDocuments(context.Background(), map[string]any{"_id": tok}); n != 0 {
		t.Error("the step-up token is stored in clear")
	}

	t.Run("usable for several changes", func(t *testing.T) {
		for _, name := range []string{"one", "two"} {
			h.stepUp(t, "POST", "/api/v1/auth/api-keys", ada.token, tok, map[string]any{"name": name}).wantStatus(t, http.StatusCreated, "create key "+name)
		}
		if al := h.alertOf(t, ada.id, events.AlertAPIKeyCreated); al.Destination != ada.email || al.Details["name"] != "two" {
			t.Errorf("alert = %+v, want an api_key_created alert at the owner's address", al)
		}
	})
	t.Run("bound to the account and the session", func(t *testing.T) {
		wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/auth/api-keys", bob.token, tok, map[string]any{"name": "b"}), "bob with ada's token")
		other, _ := h.signIn(t, ada.email, goodPassword)
		wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/auth/api-keys", other, tok, map[string]any{"name": "c"}), "ada's other session")
	})
	t.Run("with a code", func(t *testing.T) {
		code := h.reauthCode(t, ada.token, ada.email)
		r := h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{"otp": code}).wantStatus(t, http.StatusOK, "reauth by code")
		if r.str("method") != "otp" {
			t.Errorf("method = %q, want otp", r.str("method"))
		}
		wantPlainError(t, h.stepUp(t, "POST", "/api/v1/auth/reauth", ada.token, "", map[string]any{"otp": code}), 400, "Invalid or expired code")
	})
	t.Run("wrong passwords are throttled like logins", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			h.stepUp(t, "POST", "/api/v1/auth/reauth", bob.token, "", map[string]any{"password": "Wr0ng-password"})
		}
		r := h.stepUp(t, "POST", "/api/v1/auth/reauth", bob.token, "", map[string]any{"password": goodPassword})
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("after 10 wrong passwords = %d %s, want 429", r.status, r.raw)
		}
	})
}

// TestDisableTwoFactorNeedsCode: issue 13 item 3 — the password alone (in the body, or as the way a
// step-up token was obtained) no longer turns 2FA off; a code does.
func TestDisableTwoFactorNeedsCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	ada := h.signUp(t, "ada@example.com")
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).wantStatus(t, http.StatusOK, "enable")
	stillOn := func(what string) {
		t.Helper()
		if a, _ := store.NewAccounts(h.db).ByID(context.Background(), ada.id); !a.TwoFactorEnabled {
			t.Fatalf("%s turned 2FA off", what)
		}
	}
	wantCode := func(r response, what string) {
		t.Helper()
		if r.status != http.StatusUnauthorized || r.str("message") != "Re-authentication with a one-time code required" || r.header.Get("WWW-Authenticate") != `ReauthToken method="otp"` {
			t.Errorf("%s = %d %s, want the 401 asking for a code", what, r.status, r.raw)
		}
		stillOn(what)
	}
	wantCode(h.authed(t, "POST", "/api/v1/account/2fa/disable", ada.token, map[string]any{"password": goodPassword}), "password in the body")
	pwdStepUp := h.issueStepUp(t, ada.token, map[string]any{"password": goodPassword})
	wantCode(h.stepUp(t, "POST", "/api/v1/account/2fa/disable", ada.token, pwdStepUp, map[string]any{}), "step-up by password")
	wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/account/2fa/disable", ada.token, "", map[string]any{}), "no proof")
	stillOn("no proof")

	otpStepUp := h.issueStepUp(t, ada.token, map[string]any{"otp": h.reauthCode(t, ada.token, ada.email)})
	h.stepUp(t, "POST", "/api/v1/account/2fa/disable", ada.token, otpStepUp, map[string]any{"revokeOtherSessions": false}).wantStatus(t, http.StatusOK, "step-up by code")
	if a, _ := store.NewAccounts(h.db).ByID(context.Background(), ada.id); a.TwoFactorEnabled {
		t.Error("2FA still on")
	}
	// Turning it on again: a password step-up is enough.
	h.stepUp(t, "POST", "/api/v1/account/2fa/enable", ada.token, pwdStepUp, map[string]any{}).wantStatus(t, http.StatusOK, "enable with a password step-up")
}

// TestEmailChangeTakeoverAndRevert performs issue 13's takeover at the handler level: with only the
// access token, the attacker can neither move the e-mail, link a provider nor create a key. The owner
// changes the address with a step-up; the previous address is told "changed" with a link, and the
// link undoes the change — also after someone reset the password through the new address.
func TestEmailChangeTakeoverAndRevert(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss), noCooldown)
	ada := h.signUp(t, "ada@example.com")

	wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/account/link/email/initiate", ada.token, "", map[string]any{"email": "mallory@evil.example"}), "initiate")
	if d := h.dispatches(t, "mallory@evil.example"); len(d) != 0 {
		t.Fatalf("a code went to the attacker: %+v", d)
	}
	wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/auth/account-providers", ada.token, "", map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-mallory", "")}), "link provider")
	wantReauthRequired(t, h.stepUp(t, "POST", "/api/v1/auth/api-keys", ada.token, "", map[string]any{"name": "mallory"}), "create key")

	// Someone with the step-up (here: the owner's password) moves the address …
	step := h.issueStepUp(t, ada.token, map[string]any{"password": goodPassword})
	key := h.stepUp(t, "POST", "/api/v1/auth/api-keys", ada.token, step, map[string]any{"name": "k", "scopes": []string{"read"}}).wantStatus(t, http.StatusCreated, "create key")
	h.stepUp(t, "POST", "/api/v1/auth/account-providers", ada.token, step, map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-mallory", "")}).wantStatus(t, http.StatusCreated, "link")
	r := h.stepUp(t, "POST", "/api/v1/account/link/email/initiate", ada.token, step, map[string]any{"email": "mallory@evil.example"}).wantStatus(t, http.StatusOK, "initiate")
	h.stepUp(t, "POST", "/api/v1/account/link/email/verify", ada.token, step, map[string]any{"tempToken": r.str("data.tempToken"), "otp": h.lastCode(t, "mallory@evil.example")}).
		wantStatus(t, http.StatusOK, "verify")
	// … and resets the password through the new address.
	h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "mallory@evil.example"}).wantStatus(t, http.StatusAccepted, "forgot")
	h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": "mallory@evil.example", "otp_code": h.lastCode(t, "mallory@evil.example"), "new_password": "Ev1l-Takes-Over"}).
		wantStatus(t, http.StatusOK, "reset")

	al := h.alertOf(t, ada.id, events.AlertEmailChanged)
	if al.Destination != "ada@example.com" || al.Details["email"] != "ma***@evil.example" || al.Details["revertDays"] != "7" {
		t.Fatalf("alert = %+v, want email_changed at the old address", al)
	}
	_, revert, ok := strings.Cut(al.Details["revertUrl"], "#token=")
	if !ok || !strings.HasPrefix(revert, auth.EmailRevertTokenPrefix) {
		t.Fatalf("revert link = %q", al.Details["revertUrl"])
	}

	wantPlainError(t, h.post(t, "/api/v1/auth/email-change/revert", map[string]any{"token": "ert_forged"}), 400, "Invalid or expired link")
	calls := len(h.sessions.revokeCalls())
	r = h.post(t, "/api/v1/auth/email-change/revert", map[string]any{"token": revert}).wantStatus(t, http.StatusOK, "revert")
	if r.at("password_reset") != true || r.str("email") != "ad***@example.com" {
		t.Errorf("revert = %s", r.raw)
	}
	a, err := store.NewAccounts(h.db).ByID(context.Background(), ada.id)
	if err != nil || a.Email != "ada@example.com" || !a.EmailVerified {
		t.Fatalf("account = %+v, %v, want the old address back, verified", a, err)
	}
	if got := h.sessions.revokeCalls(); len(got) <= calls || got[len(got)-1].Reason != auth.ReasonEmailChangeReverted || got[len(got)-1].ExceptSessionID != "" {
		t.Errorf("revoke calls = %+v, want every session ended", got[calls:])
	}
	if r := h.post(t, "/api/v1/auth/login", login("ada@example.com", "Ev1l-Takes-Over", "laptop")); r.status == http.StatusOK {
		t.Error("the attacker's password still signs in")
	}
	if r := h.post(t, "/api/v1/auth/login", login("mallory@evil.example", "Ev1l-Takes-Over", "laptop")); r.status == http.StatusOK {
		t.Error("the attacker's address still signs in")
	}
	if links, err := store.NewProviders(h.db).ListByAccount(context.Background(), ada.id); err != nil || len(links) != 0 {
		t.Errorf("provider links = %+v, %v, want the one made around the change dropped", links, err)
	}
	if status, _, _ := keyCall(t, h.app, "GET", "/api/v1/auth/whoami", "", "X-API-Key", key.str("key")); status != http.StatusUnauthorized {
		t.Errorf("API key after the revert = %d, want 401", status)
	}
	if al := h.alertOf(t, ada.id, events.AlertEmailChangeReverted); al.Destination != "ada@example.com" || al.Details["passwordReset"] != "true" {
		t.Errorf("alert = %+v", al)
	}
	// The owner recovers through forgot-password on the restored address.
	h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "ada@example.com"}).wantStatus(t, http.StatusAccepted, "forgot")
	h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": "ada@example.com", "otp_code": h.lastCode(t, "ada@example.com"), "new_password": "Back-Home-Orbit-7"}).
		wantStatus(t, http.StatusOK, "owner's reset")
	// Single use.
	wantPlainError(t, h.post(t, "/api/v1/auth/email-change/revert", map[string]any{"token": revert}), 400, "Invalid or expired link")
}

// TestPhoneChangeAlert: verifying a phone number tells the owner at the verified address.
func TestPhoneChangeAlert(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	ada := h.signUp(t, "ada@example.com")
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", ada.token, map[string]any{"phone_number": "+447700900123"}).wantStatus(t, http.StatusOK, "send")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", ada.token, map[string]any{"phone_number": "+447700900123", "otp_code": h.lastCode(t, "+447700900123")}).wantStatus(t, http.StatusOK, "verify")
	if al := h.alertOf(t, ada.id, events.AlertPhoneChanged); al.Destination != "ada@example.com" || !strings.HasSuffix(al.Details["phone"], "123") || strings.Contains(al.Details["phone"], "7700900") {
		t.Errorf("alert = %+v, want a masked phone_changed alert at the e-mail", al)
	}
}

// TestInternalReauthenticateWithStepUp: the session service checks a step-up token through identity's
// internal gate; it must be the account's and the session's.
func TestInternalReauthenticateWithStepUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	tok := h.issueStepUp(t, ada.token, map[string]any{"password": goodPassword})
	for _, tc := range []struct {
		name, account, body string
		want                int
	}{
		{"the account's token of the session", ada.id, `{"reauthToken":"` + tok + `","sessionId":"` + ada.sid + `"}`, 204},
		{"another session", ada.id, `{"reauthToken":"` + tok + `","sessionId":"` + bob.sid + `"}`, 403},
		{"another account", bob.id, `{"reauthToken":"` + tok + `","sessionId":"` + ada.sid + `"}`, 403},
		{"made up", ada.id, `{"reauthToken":"rat_x","sessionId":"` + ada.sid + `"}`, 403},
		{"token and password", ada.id, `{"reauthToken":"` + tok + `","password":"` + goodPassword + `"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := keyCall(t, h.internalAPI, "POST", "/internal/v1/accounts/"+tc.account+"/reauthenticate", tc.body, "Authorization", "Bearer "+internalToken.Value())
			if status != tc.want {
				t.Errorf("status = %d %v, want %d", status, out, tc.want)
			}
		})
	}
}

// TestEmailRemovalRevert: removing a verified e-mail also sends the removed address a link that undoes
// it.
func TestEmailRemovalRevert(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	reg := h.register(t, "ada@example.com", map[string]any{"username": "ada_l", "device_id": "laptop"})
	ada := owner{id: reg.str("user.id"), email: "ada@example.com", token: reg.str("access_token"), sid: reg.str("session_id")}
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", ada.token, map[string]any{"phone_number": "+447700900123"}).wantStatus(t, http.StatusOK, "send")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", ada.token, map[string]any{"phone_number": "+447700900123", "otp_code": h.lastCode(t, "+447700900123")}).wantStatus(t, http.StatusOK, "verify")
	h.callAs(t, "DELETE", "/api/v1/account/link/email", ada.token, nil).wantStatus(t, http.StatusOK, "unlink")
	al := h.alertOf(t, ada.id, events.AlertEmailUnlinked)
	_, revert, ok := strings.Cut(al.Details["revertUrl"], "#token=")
	if al.Destination != "ada@example.com" || !ok {
		t.Fatalf("alert = %+v, want it at the removed address with a revert link", al)
	}
	r := h.post(t, "/api/v1/auth/email-change/revert", map[string]any{"token": revert}).wantStatus(t, http.StatusOK, "revert")
	if r.at("password_reset") != false {
		t.Errorf("revert = %s, want the unchanged password kept", r.raw)
	}
	if a, _ := store.NewAccounts(h.db).ByID(context.Background(), ada.id); a.Email != "ada@example.com" || !a.EmailVerified {
		t.Errorf("account = %+v, want the address back", a)
	}
	if r := h.post(t, "/api/v1/auth/login", login("ada@example.com", goodPassword, "laptop")); r.status != http.StatusOK {
		t.Errorf("login after the revert = %d %s", r.status, r.raw)
	}
}
