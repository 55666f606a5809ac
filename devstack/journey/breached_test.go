package journey_test

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
)

// The breached-password check of issue 16: a password that appeared in a breach is refused at
// registration, with the range API up (a local Pwned Passwords range server) and down (the offline
// list still refuses the common ones; the rest are accepted: the check fails open to the list).

// apiOnlyBreached passes the password policy and is not on the offline list: only the range server
// knows it as breached.
const apiOnlyBreached = "Lantern-Quarry-58"

// registerWith runs initiate + verify registration for email with pw and returns the verify answer.
func registerWith(t *testing.T, c *client, email, pw string) response {
	t.Helper()
	c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": email}).want(t, 202, "initiate registration")
	code := c.latestCode(t, email, "registration", 0)
	return c.do("POST", "/api/v1/auth/verify-registration", map[string]any{"email": email, "otp_code": code, "password": pw})
}

// wantPasswordRefused checks the plain-style 422 on body.password with message msg.
func wantPasswordRefused(t *testing.T, r response, msg, what string) {
	t.Helper()
	r.want(t, 422, what)
	detail, _ := r.Body["detail"].([]any)
	var entry map[string]any
	if len(detail) == 1 {
		entry, _ = detail[0].(map[string]any)
	}
	if entry == nil || !reflect.DeepEqual(entry["loc"], []any{"body", "password"}) || entry["msg"] != msg {
		t.Fatalf("%s: %s, want one detail at body.password saying %q", what, r.Raw, msg)
	}
}

func TestBreachedPasswordJourney(t *testing.T) {
	hibp := hibptest.New(t, apiOnlyBreached)
	s := startFullStack(t, withServiceEnv(stack.Identity, hibp.Env()))
	c := s.client

	t.Run("range API up: a password breached per the API is refused", func(t *testing.T) {
		wantPasswordRefused(t, registerWith(t, c, "pwned@example.com", apiOnlyBreached),
			"This password has appeared in a data breach; choose another", "breached password at registration")
		reqs := hibp.Requests()
		if len(reqs) == 0 {
			t.Fatal("identity never asked the range server")
		}
		prefix := regexp.MustCompile(`^/range/[0-9A-F]{5}$`)
		for _, r := range reqs {
			if !prefix.MatchString(r.Path) || !r.Padding {
				t.Errorf("range request %+v: want only a five-character prefix, with Add-Padding", r)
			}
		}
		// The same code still registers the account with another password.
		r := c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
			"email": "pwned@example.com", "otp_code": c.latestCode(t, "pwned@example.com", "registration", 0), "password": password,
		})
		r.want(t, 201, "registration with an ordinary password")
	})

	t.Run("range API down: the offline list still refuses, ordinary passwords pass", func(t *testing.T) {
		hibp.Close()
		wantPasswordRefused(t, registerWith(t, c, "common@example.com", "Password123"),
			"Password is too common; choose a less predictable one", "offline-list password with the API down")
		registerWith(t, c, "strong@example.com", "Mauve-Orbit-Thimble-91").want(t, 201, "ordinary password with the API down")
		got := scrapeService(t, s.stack, stack.Identity)
		if n, _ := got.Value("latchkey_identity_breached_password_api_failures_total", nil); n < 1 {
			t.Errorf("latchkey_identity_breached_password_api_failures_total = %v, want the outage counted", n)
		}
		if n, _ := got.Value("latchkey_identity_breached_password_checks_total", map[string]string{"source": "offline"}); n < 1 {
			t.Errorf("checks answered by the offline list = %v, want at least 1", n)
		}
	})
}
