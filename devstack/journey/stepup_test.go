package journey_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// stepUp trades the account's password for a step-up token (POST /api/v1/auth/reauth) and returns the
// headers a sensitive change needs: the access token and X-Reauth-Token.
func (c *client) stepUp(t *testing.T, access, pw string) []string {
	t.Helper()
	r := c.do("POST", "/api/v1/auth/reauth", map[string]any{"password": pw}, bearer(access)...).want(t, 200, "step-up by password")
	tok := str(r.Body, "reauth_token")
	if !strings.HasPrefix(tok, "rat_") {
		t.Fatalf("reauth = %s, want a rat_ token", r.Raw)
	}
	return append(bearer(access), "X-Reauth-Token", tok)
}

// stepUpByCode is stepUp with a re-authentication code sent to email (for passwordless accounts, and
// for turning 2FA off).
func (c *client) stepUpByCode(t *testing.T, access, email string) []string {
	t.Helper()
	before := c.outboxCount(t, email)
	c.do("POST", "/api/v1/auth/reauth/send-otp", map[string]any{"channel": "EMAIL"}, bearer(access)...).want(t, 200, "reauth code")
	code := c.latestCode(t, email, "reauthentication", before)
	r := c.do("POST", "/api/v1/auth/reauth", map[string]any{"otp": code}, bearer(access)...).want(t, 200, "step-up by code")
	return append(bearer(access), "X-Reauth-Token", str(r.Body, "reauth_token"))
}

// latestAlert waits for the newest message to `to` with the alert purpose (kind) and returns its text.
func (c *client) latestAlert(t *testing.T, to, kind string) string {
	t.Helper()
	var body string
	eventually(t, 10*time.Second, "a "+kind+" alert to "+to, func() bool {
		r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil).want(t, 200, "dev outbox")
		msgs, _ := r.Body["messages"].([]any)
		for _, m := range msgs {
			msg, _ := m.(map[string]any)
			if msg["purpose"] == kind {
				body, _ = msg["body"].(string)
				return true
			}
		}
		return false
	})
	return body
}

// TestStepUpTakeoverJourney replays issue 13's takeover through the gateway. With only the owner's
// access token the attacker tries to move the e-mail to an address of theirs, to link their Google
// account and to create an API key: each is refused with the step-up 401 and no code goes out. The
// owner, with a step-up, changes the address; the old address receives the "changed" alert with a
// link, and the link restores it and signs every session out.
func TestStepUpTakeoverJourney(t *testing.T) {
	iss := oidctest.New(t)
	c := startStack(t, withOIDC(iss))
	a := register(t, c, "stepada")
	attacker := "mallory@evil.example"

	// The attacker: only the access token.
	r := c.do("POST", "/api/v1/account/link/email/initiate", map[string]any{"email": attacker}, bearer(a.access)...).want(t, 401, "email initiate without step-up")
	if str(r.Body, "message") != "Re-authentication required" || r.Header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Fatalf("initiate = %s (%v), want the step-up 401", r.Raw, r.Header)
	}
	r = c.do("POST", "/api/v1/auth/account-providers", map[string]any{"provider": "google", "id_token": googleToken(t, iss, "g-mallory", attacker)}, bearer(a.access)...).
		want(t, 401, "provider link without step-up")
	if str(r.Body, "detail") != "Re-authentication required" {
		t.Fatalf("link = %s", r.Raw)
	}
	c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "mallory"}, bearer(a.access)...).want(t, 401, "key creation without step-up")
	c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"revoke_all_others": true}, bearer(a.access)...).want(t, 401, "revoke_all_others without proof")
	c.do("POST", "/api/v1/auth/reauth", map[string]any{"password": "wrong-Horse-1"}, bearer(a.access)...).want(t, 400, "step-up with a wrong password")
	time.Sleep(500 * time.Millisecond) // give a wrongly sent code time to show up
	if n := c.outboxCount(t, attacker); n != 0 {
		t.Fatalf("%d messages went to the attacker's address", n)
	}
	if keys := jsonList(t, c.do("GET", "/api/v1/auth/api-keys", nil, bearer(a.access)...).want(t, 200, "keys")); len(keys) != 0 {
		t.Fatalf("keys = %v, want none", keys)
	}
	if links := jsonList(t, c.do("GET", "/api/v1/auth/account-providers", nil, bearer(a.access)...).want(t, 200, "providers")); len(links) != 0 {
		t.Fatalf("providers = %v, want none", links)
	}

	// The owner, with a step-up, can do all of it; one token serves several changes.
	h := c.stepUp(t, a.access, password)
	c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "ci", "scopes": []string{"read"}}, h...).want(t, 201, "key creation with step-up")
	c.latestAlert(t, a.email, "api_key_created")
	// The session service checks the same step-up token with identity (bound to this session).
	other := c.login(t, a.email, password, a.device).want(t, 200, "a second session")
	r = c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"revoke_all_others": true}, h...).want(t, 200, "revoke_all_others with step-up")
	if r.Body["revoked_count"] != float64(1) {
		t.Errorf("revoke_all_others = %s, want the second session ended", r.Raw)
	}
	eventually(t, 10*time.Second, "the second session ended", func() bool {
		return c.do("GET", "/api/v1/auth/token-health", nil, bearer(str(other.Body, "access_token"))...).Status == 401
	})
	third := c.login(t, a.email, password, a.device).want(t, 200, "a third session")
	r = c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"revoke_all_others": true},
		append(bearer(str(third.Body, "access_token")), "X-Reauth-Token", h[len(h)-1])...).want(t, 401, "the step-up token of another session")
	if str(r.Body, "detail") != "Re-authentication required" {
		t.Errorf("revoke with another session's step-up = %s", r.Raw)
	}
	newEmail := "stepada.new@example.com"
	r = c.do("POST", "/api/v1/account/link/email/initiate", map[string]any{"email": newEmail}, h...).want(t, 200, "initiate with step-up")
	code := c.latestCode(t, newEmail, "email_verification", 0)
	c.do("POST", "/api/v1/account/link/email/verify", map[string]any{"tempToken": str(r.Body, "data", "tempToken"), "otp": code}, h...).want(t, 200, "verify with step-up")

	// The old address is told the address was changed, to which one, with a link to undo it.
	text := c.latestAlert(t, a.email, "email_changed")
	if !strings.Contains(text, "changed to st***@example.com") || strings.Contains(text, "was added") {
		t.Fatalf("alert = %q, want an accurate 'changed' alert", text)
	}
	i := strings.Index(text, "#token=")
	if i < 0 {
		t.Fatalf("alert = %q, want a revert link", text)
	}
	token := strings.Fields(text[i+len("#token="):])[0]
	c.login(t, newEmail, password, a.device).want(t, 200, "login with the new address")

	// The link restores the old address, verified, and signs every session out.
	r = c.do("POST", "/api/v1/auth/email-change/revert", map[string]any{"token": token}).want(t, 200, "revert")
	if r.Body["password_reset"] != false {
		t.Errorf("revert = %s, want the password kept (it did not change)", r.Raw)
	}
	eventually(t, 10*time.Second, "the owner's session ended", func() bool {
		return c.do("GET", "/api/v1/auth/token-health", nil, bearer(a.access)...).Status == 401
	})
	c.login(t, newEmail, password, a.device).want(t, 401, "login with the reverted-away address")
	c.login(t, a.email, password, a.device).want(t, 200, "login with the restored address")
	c.latestAlert(t, a.email, "email_change_reverted")
	c.do("POST", "/api/v1/auth/email-change/revert", map[string]any{"token": token}).want(t, 400, "revert link used twice")
}
