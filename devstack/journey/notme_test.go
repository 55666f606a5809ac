package journey_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// "This wasn't me" through the gateway: the owner (session A, its registering device) reports the
// sign-in of an "attacker" (session B, from another device, with the right password). B's access
// token is then refused by every service, its refresh token too, its device needs verification
// again, password login needs a reset (which clears it); A keeps working.

// attackerSignIn signs a in from device with the password: a new device, answered with the e-mailed
// code. It returns the new session.
func attackerSignIn(t *testing.T, c *client, a account, device string) signedIn {
	t.Helper()
	before := c.outboxCount(t, a.email)
	r := c.login(t, a.email, password, device).want(t, 200, "login from a new device")
	if str(r.Body, "challenge") != "device_verification" {
		t.Fatalf("login body = %s, want a device_verification challenge", r.Raw)
	}
	code := c.latestCode(t, a.email, "device_verification", before)
	ok := c.do("POST", "/api/v1/account/device/verify", map[string]any{
		"deviceVerificationToken": str(r.Body, "device_verification_token"), "otp": code, "deviceId": device, "deviceName": "Unknown phone",
	}).want(t, 200, "device verify")
	s := signedIn{access: str(ok.Body, "data", "accessToken"), refresh: str(ok.Body, "data", "refreshToken"), sid: str(ok.Body, "data", "sessionId")}
	if s.access == "" || s.refresh == "" || s.sid == "" {
		t.Fatalf("device verify body = %s, want tokens and the session id", ok.Raw)
	}
	return s
}

// wantReported checks what every report leaves behind: the reported session refused everywhere
// (access and refresh token), its device untrusted, password login closed until a reset, and the
// owner's session A working.
func wantReported(t *testing.T, c *client, a account, attacker signedIn, device string) {
	t.Helper()
	refusedEverywhere(t, c, attacker.access, "this wasn't me")
	c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": attacker.refresh}).want(t, 401, "refresh of the reported session")
	acceptedEverywhere(t, c, a.access, "the owner's session")
	devices := c.do("GET", "/api/v1/account/devices", nil, bearer(a.access)...).want(t, 200, "trusted devices")
	if strings.Contains(string(devices.Raw), `"`+device+`"`) || !strings.Contains(string(devices.Raw), `"`+a.device+`"`) {
		t.Fatalf("trusted devices = %s, want %s forgotten and %s kept", devices.Raw, device, a.device)
	}

	r := c.login(t, a.email, password, a.device).want(t, 403, "password login after the report")
	if str(r.Body, "detail") != "A password reset is required for this account; use forgot password" {
		t.Fatalf("login body = %s, want the reset-required refusal", r.Raw)
	}
	before := c.outboxCount(t, a.email)
	c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": a.email}).want(t, 202, "forgot password")
	code := c.latestCode(t, a.email, "password_reset", before)
	const newPassword = "Fresh-Meadow-Lantern-31"
	c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": code, "new_password": newPassword}).want(t, 200, "reset")
	// The reset signed every session out; the owner signs in again from the trusted device.
	ok := c.login(t, a.email, newPassword, a.device).want(t, 200, "login after the reset")
	if str(ok.Body, "access_token") == "" {
		t.Fatalf("login after the reset = %s, want tokens", ok.Raw)
	}
	again := c.login(t, a.email, newPassword, device).want(t, 200, "login from the reported device")
	if str(again.Body, "challenge") != "device_verification" {
		t.Fatalf("login from the reported device = %s, want a device_verification challenge (the device was forgotten)", again.Raw)
	}
}

// withNoCodeCooldown lets a journey send the next code to the same address at once (device code,
// reset code, device code again).
var withNoCodeCooldown = withServiceEnv("identity", map[string]string{"OTP_RESEND_COOLDOWN": "0s"})

var notMeToken = regexp.MustCompile(`nmt_[A-Za-z0-9_-]{43}`)

// TestNotMeLinkJourney: the new-device alert carries a one-time link (NOT_ME_URL, set by the local
// stack); posting its token to /api/v1/auth/not-me, without signing in, does the report.
func TestNotMeLinkJourney(t *testing.T) {
	c := startStack(t, withNoCodeCooldown)
	a := register(t, c, "notmelink")
	attacker := attackerSignIn(t, c, a, "stranger-phone")

	body := c.latestAlert(t, a.email, "new_device_sign_in")
	token := notMeToken.FindString(body)
	if token == "" {
		t.Fatalf("new-device alert %q carries no this-wasn't-me link", body)
	}
	r := c.do("POST", "/api/v1/auth/not-me", map[string]any{"token": token}).want(t, 200, "not-me link")
	if r.Body["session_ended"] != true || r.Body["device_forgotten"] != true || r.Body["password_reset_required"] != true {
		t.Fatalf("not-me body = %s", r.Raw)
	}
	c.do("POST", "/api/v1/auth/not-me", map[string]any{"token": token}).want(t, 400, "the link a second time")
	if alert := c.latestAlert(t, a.email, "not_me_reported"); alert == "" {
		t.Fatal("no not_me_reported alert")
	}
	wantReported(t, c, a, attacker, "stranger-phone")
}

// TestNotMeActivityJourney reports the attacker's sign-in from the owner's activity log (GET
// /api/v1/account/activity) with a step-up token.
func TestNotMeActivityJourney(t *testing.T) {
	c := startStack(t, withNoCodeCooldown)
	a := register(t, c, "notmeactivity")
	attacker := attackerSignIn(t, c, a, "stranger-laptop")

	// The sign-in reaches the log over Kafka: find the entry of the attacker's session.
	entryID := ""
	eventually(t, 10*time.Second, "the attacker's sign-in in the activity log", func() bool {
		r := c.do("GET", "/api/v1/account/activity?kind=sign_in&size=100", nil, bearer(a.access)...).want(t, 200, "activity")
		entryID = findEntry(r.Body, attacker.sid)
		return entryID != ""
	})
	// Without a step-up token the report is refused: a stolen access token alone cannot sign the owner out.
	c.do("POST", "/api/v1/account/activity/"+url.PathEscape(entryID)+"/not-me", nil, bearer(a.access)...).want(t, 401, "report without step-up")
	proof := c.stepUp(t, a.access, password)
	r := c.do("POST", "/api/v1/account/activity/"+url.PathEscape(entryID)+"/not-me", nil, proof...).want(t, 200, "report")
	data, _ := r.Body["data"].(map[string]any)
	if data["sessionEnded"] != true || data["deviceForgotten"] != true || data["passwordResetRequired"] != true {
		t.Fatalf("report = %s", r.Raw)
	}
	// Reporting again answers the same.
	again := c.do("POST", "/api/v1/account/activity/"+url.PathEscape(entryID)+"/not-me", nil, proof...).want(t, 200, "report again")
	if d, _ := again.Body["data"].(map[string]any); d["sessionEnded"] != true || d["apiKeysRevoked"] != data["apiKeysRevoked"] {
		t.Fatalf("second report = %s, want the first one's answer %s", again.Raw, r.Raw)
	}
	wantReported(t, c, a, attacker, "stranger-laptop")
}

// findEntry returns the id of the successful sign-in entry of session sid anywhere in an activity
// page (the page's exact shape is the activity log's; an entry is an object with id, kind and
// sessionId).
func findEntry(v any, sid string) string {
	switch x := v.(type) {
	case map[string]any:
		if x["sessionId"] == sid && x["kind"] == "sign_in" && (x["outcome"] == nil || x["outcome"] == "succeeded") {
			if id, _ := x["id"].(string); id != "" {
				return id
			}
		}
		for _, e := range x {
			if id := findEntry(e, sid); id != "" {
				return id
			}
		}
	case []any:
		for _, e := range x {
			if id := findEntry(e, sid); id != "" {
				return id
			}
		}
	}
	return ""
}
