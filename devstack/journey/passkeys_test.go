package journey_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/webauthntest"
)

// TestPasskeyJourney (issue 16): through the gateway, the owner registers a passkey (with a step-up)
// from a software authenticator and is told of it; a stolen access token alone can neither add nor
// remove one; then the passkey signs in passwordless from a new device, and the tokens it gets work
// on /api/v1/me. An assertion without user verification is refused. Removed with a step-up, the
// passkey no longer signs in.
func TestPasskeyJourney(t *testing.T) {
	fs := startFullStack(t)
	c := fs.client
	a := register(t, c, "passkey_ada")
	origin := fs.stack.WebAuthnOrigin()
	key := webauthntest.New()

	// Without a step-up: no ceremony.
	c.do("POST", "/api/v1/account/passkeys/register/begin", nil, bearer(a.access)...).want(t, 401, "register/begin without step-up")

	hdr := c.stepUp(t, a.access, password)
	begin := c.do("POST", "/api/v1/account/passkeys/register/begin", nil, hdr...).want(t, 200, "register/begin")
	options, err := json.Marshal(begin.Body["data"])
	if err != nil {
		t.Fatal(err)
	}
	if str(begin.Body, "data", "publicKey", "rp", "id") != "localhost" {
		t.Fatalf("creation options = %s, want RP ID localhost", begin.Raw)
	}
	attestation, _, err := key.Create(options, webauthntest.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	fin := c.do("POST", "/api/v1/account/passkeys/register/finish", map[string]any{
		"credential": json.RawMessage(attestation), "name": "Journey key",
	}, hdr...).want(t, 201, "register/finish")
	id := str(fin.Body, "data", "id")
	if id == "" || str(fin.Body, "data", "name") != "Journey key" {
		t.Fatalf("register/finish = %s", fin.Raw)
	}
	if alert := c.latestAlert(t, a.email, "passkey_added"); !strings.Contains(alert, "Journey key") {
		t.Fatalf("passkey_added alert = %q, want the passkey's name", alert)
	}
	list := c.do("GET", "/api/v1/account/passkeys", nil, bearer(a.access)...).want(t, 200, "list passkeys")
	if items, _ := list.Body["data"].([]any); len(items) != 1 {
		t.Fatalf("passkeys = %s, want the one registered", list.Raw)
	}
	// Removing it needs a step-up too.
	c.do("DELETE", "/api/v1/account/passkeys/"+id, nil, bearer(a.access)...).want(t, 401, "delete without step-up")

	// Passwordless sign-in from a new device, through the gateway.
	signIn := func(o webauthntest.Options) response {
		t.Helper()
		b := c.do("POST", "/api/v1/auth/passkeys/login/begin", nil).want(t, 200, "login/begin")
		opts, err := json.Marshal(b.Body["options"])
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := key.Get(opts, o)
		if err != nil {
			t.Fatal(err)
		}
		return c.do("POST", "/api/v1/auth/passkeys/login/finish", map[string]any{
			"ceremony_token": str(b.Body, "ceremony_token"), "credential": json.RawMessage(assertion),
			"device_id": "passkey-phone", "device_name": "Phone", "platform": "ANDROID",
		})
	}
	signIn(webauthntest.Options{Origin: origin, NoUserVerification: true}).want(t, 401, "passwordless sign-in without user verification")
	r := signIn(webauthntest.Options{Origin: origin}).want(t, 200, "passwordless sign-in")
	access := str(r.Body, "access_token")
	if access == "" || str(r.Body, "refresh_token") == "" || str(r.Body, "user", "id") != a.id {
		t.Fatalf("passwordless sign-in = %s, want tokens of %s", r.Raw, a.id)
	}
	wantAssurance(t, access, []string{"hwk", "user", "mfa"}, "aal3")
	me := c.do("GET", "/api/v1/me", nil, bearer(access)...).want(t, 200, "GET /api/v1/me with the passkey session")
	if str(me.Body, "email") != a.email {
		t.Fatalf("/api/v1/me = %s, want %s", me.Raw, a.email)
	}

	// With a step-up the owner removes it (and is told); it no longer signs in.
	c.do("DELETE", "/api/v1/account/passkeys/"+id, nil, c.stepUp(t, a.access, password)...).want(t, 200, "delete with step-up")
	if alert := c.latestAlert(t, a.email, "passkey_removed"); !strings.Contains(alert, "Journey key") {
		t.Fatalf("passkey_removed alert = %q", alert)
	}
	signIn(webauthntest.Options{Origin: origin}).want(t, 401, "passwordless sign-in with a removed passkey")
}
