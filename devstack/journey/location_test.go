package journey_test

import (
	"testing"

	"github.com/latchkey/latchkey/devstack/stack"
)

// withLocationHeader makes identity and the session service read the client's location from
// X-Client-Geo; the gateway is a trusted proxy of both (TRUSTED_PROXIES: loopback).
func withLocationHeader(c *stack.Config) {
	for _, svc := range []string{"identity", "session"} {
		withServiceEnv(svc, map[string]string{"LOCATION_HEADER": "X-Client-Geo"})(c)
	}
}

// A session identity starts at sign-in carries the location the ingress put in LOCATION_HEADER, and
// the session list shows it.
func TestSignInLocationJourney(t *testing.T) {
	c := startStack(t, withLocationHeader)
	a := register(t, c, "ada")
	r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device},
		"X-Client-Geo", "Nairobi, KE").want(t, 200, "login")
	access, sid := str(r.Body, "access_token"), str(r.Body, "session_id")
	if access == "" || sid == "" {
		t.Fatalf("login = %s, want tokens", r.Raw)
	}
	list := c.do("GET", "/api/v1/account/sessions", nil, bearer(access)...).want(t, 200, "sessions")
	data, _ := list.Body["data"].(map[string]any)
	sessions, _ := data["sessions"].([]any)
	found := false
	for _, s := range sessions {
		m := s.(map[string]any)
		switch m["id"] {
		case sid:
			found = true
			if m["location"] != "Nairobi, KE" {
				t.Errorf("signed-in session location = %v, want Nairobi, KE", m["location"])
			}
		case a.sid:
			if m["location"] != nil {
				t.Errorf("registration session (no header) location = %v, want null", m["location"])
			}
		}
	}
	if !found {
		t.Fatalf("session %s not in %s", sid, list.Raw)
	}
}
