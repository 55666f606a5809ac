package journey_test

import (
	"strings"
	"testing"
	"time"
)

// TestExportJourney: an owner with a session, a profile name and a code delivered asks for an export
// with a step-up; identity gathers the parts of every service over Kafka, the export completes, the
// owner is alerted, and the document holds facts from all four services and no token, code or hash.
// Another account cannot read it.
func TestExportJourney(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "exportada")
	s := login(t, c, a, firefoxOnLinux)
	c.do("PATCH", "/api/v1/me", map[string]any{"display_name": "Countess Ada"}, bearer(s.access)...).want(t, 200, "set the display name")

	const path = "/api/v1/account/export"
	r := c.do("POST", path, nil, bearer(s.access)...).want(t, 401, "export without step-up")
	if r.Header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Fatalf("export without step-up = %s, want the step-up 401", r.Raw)
	}
	// The step-up by an e-mailed code leaves a delivery record in the notification service.
	before := c.outboxCount(t, a.email)
	c.do("POST", "/api/v1/auth/reauth/send-otp", map[string]any{"channel": "EMAIL"}, bearer(s.access)...).want(t, 200, "reauth code")
	code := c.latestCode(t, a.email, "reauthentication", before)
	rr := c.do("POST", "/api/v1/auth/reauth", map[string]any{"otp": code}, bearer(s.access)...).want(t, 200, "step-up by code")
	h := append(bearer(s.access), "X-Reauth-Token", str(rr.Body, "reauth_token"))

	started := c.do("POST", path, nil, h...).want(t, 202, "start export")
	id := str(started.Body, "data", "exportId")
	if id == "" || str(started.Body, "data", "status") != "pending" {
		t.Fatalf("start = %s", started.Raw)
	}
	c.do("POST", path, nil, h...).want(t, 429, "a second export within the hour")

	var doc response
	eventually(t, 30*time.Second, "the export complete", func() bool {
		doc = c.do("GET", path+"/"+id, nil, h...)
		if doc.Status != 200 && doc.Status != 202 {
			t.Fatalf("GET export = %d %s", doc.Status, doc.Raw)
		}
		return doc.Status == 200
	})
	if doc.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", doc.Header.Get("Cache-Control"))
	}
	data, _ := doc.Body["data"].(map[string]any)
	if str(data, "identity", "account", "email") != a.email || str(data, "identity", "account", "id") != a.id {
		t.Errorf("identity part = %v", data["identity"])
	}
	if str(data, "profile", "profile", "displayName") != "Countess Ada" {
		t.Errorf("profile part = %v", data["profile"])
	}
	hasSession := false
	for _, x := range exportList(data, "session", "sessions") {
		hasSession = hasSession || str(x, "id") == s.sid && str(x, "userAgent") == firefoxOnLinux
	}
	if !hasSession {
		t.Errorf("session part has no session %s: %v", s.sid, data["session"])
	}
	hasDelivery := false
	for _, x := range exportList(data, "notification", "deliveries") {
		hasDelivery = hasDelivery || str(x, "channel") == "EMAIL" && str(x, "destination") == a.email && str(x, "purpose") == "reauthentication"
	}
	if !hasDelivery {
		t.Errorf("notification part has no e-mail delivery of the reauthentication code: %v", data["notification"])
	}
	raw := string(doc.Raw)
	for name, secret := range map[string]string{
		"registration refresh token": a.refresh, "sign-in refresh token": s.refresh, "access token": s.access,
		"reauthentication code": `"` + code + `"`, "password hash": "$argon2id", "hash field": "Hash\"",
		"reauth token": str(rr.Body, "reauth_token"),
	} {
		if strings.Contains(raw, secret) {
			t.Errorf("the export contains the %s", name)
		}
	}
	if text := c.latestAlert(t, a.email, "export_ready"); !strings.Contains(text, "export") || strings.Contains(text, id) {
		t.Errorf("export_ready alert = %q", text)
	}

	// Reading it needs the step-up too (the export id is in the activity log an access token reads).
	c.do("GET", path+"/"+id, nil, bearer(s.access)...).want(t, 401, "read the export without step-up")
	b := register(t, c, "exporteve")
	c.do("GET", path+"/"+id, nil, c.stepUp(t, b.access, password)...).want(t, 404, "another account reads the export")
}

// exportList returns the objects of the array at path.
func exportList(m map[string]any, path ...string) []map[string]any {
	var cur any = m
	for _, p := range path {
		obj, _ := cur.(map[string]any)
		cur = obj[p]
	}
	arr, _ := cur.([]any)
	var out []map[string]any
	for _, x := range arr {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}
