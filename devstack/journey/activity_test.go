package journey_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// activityItems reads the owner's activity log (kind "" : every kind) through the gateway.
func activityItems(t *testing.T, c *client, access, kind string) []map[string]any {
	t.Helper()
	path := "/api/v1/account/activity?size=100"
	if kind != "" {
		path += "&kind=" + kind
	}
	r := c.do("GET", path, nil, bearer(access)...).want(t, http.StatusOK, "GET activity")
	data, _ := r.Body["data"].(map[string]any)
	raw, _ := data["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}

// findActivity returns the first (newest) item that matches.
func findActivity(items []map[string]any, match func(map[string]any) bool) (map[string]any, int) {
	for i, it := range items {
		if match(it) {
			return it, i
		}
	}
	return nil, -1
}

// The activity log through the gateway: a failed and a successful sign-in show with the device and
// the client's address, newest first; signing out shows the session ended by its owner; nobody else
// sees them; an API key is refused.
func TestActivityLogJourney(t *testing.T) {
	// Clients with their own addresses (the gateway extends X-Forwarded-For from loopback), and a
	// location from the ingress's geolocation header.
	c := startStack(t, func(cfg *stack.Config) { cfg.TrustForwardedFor = true }, withLocationHeader)
	ada := register(t, c, "actada")
	const failedIP, okIP = "203.0.113.5", "203.0.113.6"
	signIn := func(pw, ip string) response {
		return c.do("POST", "/api/v1/auth/login", map[string]any{
			"identifier": ada.email, "password": pw, "device_id": ada.device, "device_name": "Test laptop", "platform": "WEB",
		}, "X-Forwarded-For", ip, "User-Agent", "journey/1.0", "X-Client-Geo", "Nairobi, KE")
	}
	signIn("wrong-Password-1", failedIP).want(t, http.StatusUnauthorized, "wrong password")
	ok := signIn(password, okIP).want(t, http.StatusOK, "sign-in")
	access, sid := str(ok.Body, "access_token"), str(ok.Body, "session_id")

	var items []map[string]any
	eventually(t, 20*time.Second, "the failed and the successful sign-in in the activity log", func() bool {
		items = activityItems(t, c, access, "sign_in")
		okItem, okAt := findActivity(items, func(m map[string]any) bool { return m["sessionId"] == sid })
		failed, failedAt := findActivity(items, func(m map[string]any) bool { return m["reason"] == "wrong_password" })
		return okItem != nil && failed != nil && okAt < failedAt
	})
	okItem, _ := findActivity(items, func(m map[string]any) bool { return m["sessionId"] == sid })
	failed, _ := findActivity(items, func(m map[string]any) bool { return m["reason"] == "wrong_password" })
	for _, tc := range []struct {
		item    map[string]any
		outcome string
		ip      string
	}{{okItem, "succeeded", okIP}, {failed, "failed", failedIP}} {
		if tc.item["outcome"] != tc.outcome || tc.item["ipAddress"] != tc.ip || str(tc.item, "device", "name") != "Test laptop" ||
			str(tc.item, "device", "platform") != "WEB" || str(tc.item, "device", "id") != ada.device || tc.item["userAgent"] != "journey/1.0" ||
			str(tc.item, "actor", "type") != "owner" || tc.item["location"] != "Nairobi, KE" {
			t.Errorf("sign-in entry = %v, want %s from %s on Test laptop (WEB)", tc.item, tc.outcome, tc.ip)
		}
	}
	if str(okItem, "details", "method") != "password" {
		t.Errorf("successful sign-in details = %v, want method password", okItem["details"])
	}
	for i := 1; i < len(items); i++ {
		if str(items[i-1], "occurredAt") < str(items[i], "occurredAt") {
			t.Errorf("entries not newest first: %v before %v", items[i-1]["occurredAt"], items[i]["occurredAt"])
		}
	}

	// Signing out ends the session: session_ended by the owner, with the session's device.
	c.do("POST", "/api/v1/account/sessions/sign-out", nil, append(bearer(access), "X-Session-Id", sid)...).want(t, http.StatusOK, "sign-out")
	var ended map[string]any
	eventually(t, 20*time.Second, "session_ended of the signed-out session", func() bool {
		ended, _ = findActivity(activityItems(t, c, ada.access, "session_ended"), func(m map[string]any) bool { return m["sessionId"] == sid })
		return ended != nil
	})
	if str(ended, "actor", "type") != "owner" || ended["reason"] != "sign_out" || str(ended, "device", "name") != "Test laptop" || ended["ipAddress"] != okIP {
		t.Errorf("session_ended = %v, want ended by the owner (sign_out) on Test laptop from %s", ended, okIP)
	}

	// Another account sees only its own log.
	bob := register(t, c, "actbob")
	eventually(t, 20*time.Second, "bob's registration sign-in in his log", func() bool {
		_, at := findActivity(activityItems(t, c, bob.access, "sign_in"), func(m map[string]any) bool { return m["sessionId"] == bob.sid })
		return at >= 0
	})
	for _, it := range activityItems(t, c, bob.access, "") {
		if it["sessionId"] == sid || it["sessionId"] == ada.sid || it["ipAddress"] == failedIP {
			t.Errorf("bob sees ada's entry %v", it)
		}
	}

	// An API key (read scope) is refused: the log is for signed-in sessions.
	r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "reader", "scopes": []string{"read"}}, c.stepUp(t, ada.access, password)...).
		want(t, http.StatusCreated, "create api key")
	key := str(r.Body, "key")
	if !strings.HasPrefix(key, "lk_") {
		t.Fatalf("created key = %s", r.Raw)
	}
	c.do("GET", "/api/v1/account/activity", nil, bearer(key)...).want(t, http.StatusForbidden, "activity with an API key")
	c.do("GET", "/api/v1/account/activity", nil, "X-API-Key", key).want(t, http.StatusForbidden, "activity with an API key in X-API-Key")
	eventually(t, 20*time.Second, "the new API key in the activity log", func() bool {
		created, _ := findActivity(activityItems(t, c, ada.access, "api_key_created"), func(m map[string]any) bool { return str(m, "details", "name") == "reader" })
		return created != nil && created["sessionId"] == ada.sid
	})
}
