package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// owner is a registered, signed-in account.
type owner struct {
	id, email, token, sid string
}

// signUp registers email (trusting device "laptop") and returns its first session.
func (h *harness) signUp(t *testing.T, email string) owner {
	t.Helper()
	r := h.register(t, email, map[string]any{"device_id": "laptop"})
	return owner{id: r.str("user.id"), email: email, token: r.str("access_token"), sid: r.str("session_id")}
}

// signIn logs in again from the trusted laptop and returns the new session's token and id.
func (h *harness) signIn(t *testing.T, email, pw string) (token, sid string) {
	t.Helper()
	r := h.post(t, "/api/v1/auth/login", login(email, pw, "laptop"))
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("login %s = %d %s, want tokens", email, r.status, r.raw)
	}
	return r.str("access_token"), r.str("session_id")
}

func (h *harness) authed(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	raw := ""
	if body != nil {
		raw = jsonBody(t, body)
	}
	return h.do(t, request{method: method, path: path, body: raw, token: token})
}

// hasAlert reports whether a security.alert of kind is queued for the account.
func (h *harness) hasAlert(t *testing.T, accountID, kind string) bool {
	t.Helper()
	return countAlerts(h.securityAlerts(t, accountID), kind) > 0
}

// wantEnvelopeError checks an envelope error answer.
func wantEnvelopeError(t *testing.T, r response, status int, message string) {
	t.Helper()
	if r.status != status || r.at("success") != false || r.str("httpStatus") != statusName(status) || r.str("action_time") == "" {
		t.Fatalf("answer = %d %s, want the %d error envelope", r.status, r.raw, status)
	}
	if message != "" && (r.str("message") != message || r.str("data") != message) {
		t.Fatalf("answer = %s, want message and data %q", r.raw, message)
	}
}

// wantFieldError checks a 422 envelope naming field.
func wantFieldError(t *testing.T, r response, field string) {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity || r.at("success") != false {
		t.Fatalf("answer = %d %s, want a 422 envelope", r.status, r.raw)
	}
	if msg := r.str("data." + field); msg == "" {
		t.Fatalf("answer = %s, want a message for %s in data", r.raw, field)
	}
}

// wantPlainError checks a plain answer: a detail string, or a 422 whose first entry is at loc.
func wantPlainError(t *testing.T, r response, status int, detail string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("answer = %d %s, want %d", r.status, r.raw, status)
	}
	if status == http.StatusUnprocessableEntity {
		list, _ := r.at("detail").([]any)
		if len(list) == 0 {
			t.Fatalf("answer = %s, want a detail list", r.raw)
		}
		first, _ := list[0].(map[string]any)
		loc, _ := first["loc"].([]any)
		if len(loc) != 2 || loc[1] != detail {
			t.Fatalf("answer = %s, want the first error at body.%s", r.raw, detail)
		}
		return
	}
	if r.str("detail") != detail {
		t.Fatalf("answer = %s, want detail %q", r.raw, detail)
	}
}

func TestSecurityInfo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")

	r := h.authed(t, "GET", "/api/v1/account/security-info", ada.token, nil)
	if r.status != http.StatusOK || r.at("success") != true || r.str("message") != "Security information retrieved successfully" {
		t.Fatalf("security-info = %d %s", r.status, r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	checks := []struct {
		path string
		want any
	}{
		{"data.isEmailVerified", true},
		{"data.isPhoneVerified", false},
		{"data.isTwoFactorEnabled", false},
		{"data.isAccountLocked", false},
		// email 15 + password 15 + fresh password 5 + one trusted device 10.
		{"data.securityStrength.score", float64(45)},
		{"data.securityStrength.level", "WEAK"},
		{"data.securityStrength.description", "Your account security is weak and should be improved"},
	}
	for _, c := range checks {
		if got := r.at(c.path); got != c.want {
			t.Errorf("%s = %v, want %v", c.path, got, c.want)
		}
	}
	if r.str("data.lastPasswordChange") == "" || r.str("data.accountCreatedAt") == "" {
		t.Errorf("body = %s, want lastPasswordChange and accountCreatedAt", r.raw)
	}
	if !equalJSON(r.at("data.roles"), []string{"ROLE_USER"}) {
		t.Errorf("roles = %v, want [ROLE_USER]", r.at("data.roles"))
	}
	wantRecs := []string{"Enable two-factor authentication", "Add and verify a phone number", "Link a Google or Apple account as a second way to sign in"}
	if !equalJSON(r.at("data.securityStrength.recommendations"), wantRecs) {
		t.Errorf("recommendations = %v, want %v (largest gain first)", r.at("data.securityStrength.recommendations"), wantRecs)
	}
	improvements, _ := r.at("data.securityStrength.improvements").([]any)
	if len(improvements) != 3 || improvements[0].(map[string]any)["points"] != float64(35) {
		t.Errorf("improvements = %v, want three, 2FA first with 35 points", improvements)
	}
	factors, _ := r.at("data.securityStrength.factors").([]any)
	total, earned := 0.0, 0.0
	names := map[string]bool{}
	for _, f := range factors {
		m := f.(map[string]any)
		total += m["weight"].(float64)
		earned += m["points"].(float64)
		names[m["factor"].(string)] = true
		if m["state"] == "" {
			t.Errorf("factor %v has no state", m)
		}
	}
	for _, want := range []string{"email_verified", "phone_verified", "two_factor", "password_set", "password_age", "linked_providers", "trusted_devices"} {
		if !names[want] {
			t.Errorf("factor %s missing from %v", want, factors)
		}
	}
	if total != 100 || earned != 45 {
		t.Errorf("factor weights add to %v and points to %v, want 100 and the score 45", total, earned)
	}

	t.Run("without a token", func(t *testing.T) {
		r := h.authed(t, "GET", "/api/v1/account/security-info", "", nil)
		wantEnvelopeError(t, r, http.StatusUnauthorized, "Not authenticated")
	})
	t.Run("locked after many failed logins, while they last", func(t *testing.T) {
		for i := range 100 { // the per-account ceiling, from as many addresses
			h.do(t, request{path: "/api/v1/auth/login", ip: "203.0.113." + strconv.Itoa(i), body: jsonBody(t, login(ada.email, "Wr0ng-password", "phone"))})
		}
		r := h.authed(t, "GET", "/api/v1/account/security-info", ada.token, nil)
		if r.at("data.isAccountLocked") != true {
			t.Errorf("isAccountLocked = %v after 100 failed logins, want true", r.at("data.isAccountLocked"))
		}
		other := h.signUp(t, "bob@example.com")
		if r := h.authed(t, "GET", "/api/v1/account/security-info", other.token, nil); r.at("data.isAccountLocked") != false {
			t.Errorf("another account isAccountLocked = %v, want false", r.at("data.isAccountLocked"))
		}
	})
}

func TestTwoFactor(t *testing.T) {
	t.Parallel()
	// No resend cooldown: the journey signs in with 2FA several times within a minute.
	h := newHarness(t, func(s *setup) { s.otp.ResendCooldown = 0 })
	ada := h.signUp(t, "ada@example.com")
	_, otherSID := h.signIn(t, ada.email, goodPassword)

	t.Run("validation and gate", func(t *testing.T) {
		// No proof at all (no body proof, no X-Reauth-Token): the step-up 401, not a 422.
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{}), http.StatusUnauthorized, "Re-authentication required")
		wantFieldError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"otp": "12ab"}), "otp")
		wantEnvelopeError(t, h.do(t, request{path: "/api/v1/account/2fa/enable", body: `{"password":`, token: ada.token}), http.StatusBadRequest, "")
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": "Wr0ng-password"}), http.StatusForbidden, "Password is incorrect")
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", "", map[string]any{"password": goodPassword}), http.StatusUnauthorized, "")
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/disable", ada.token, map[string]any{"password": goodPassword}), http.StatusBadRequest, "Two-factor authentication is not enabled")
	})

	t.Run("enable", func(t *testing.T) {
		r := h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword})
		if r.status != http.StatusOK || r.str("message") != "Two-factor authentication enabled successfully" || r.at("data") != nil {
			t.Fatalf("enable = %d %s", r.status, r.raw)
		}
		if snap := h.lastSnapshot(t, ada.id); !snap.TwoFactorEnabled {
			t.Errorf("snapshot = %+v, want twoFactorEnabled", snap)
		}
		if !h.hasAlert(t, ada.id, events.AlertTwoFactorEnabled) {
			t.Error("no two_factor_enabled alert queued")
		}
		calls := h.sessions.revokeCalls()
		if len(calls) != 1 || calls[0] != (revokeCall{AccountID: ada.id, ExceptSessionID: ada.sid, Reason: "two_factor_changed", Revoked: 1}) {
			t.Errorf("revoke calls = %+v, want the other session ended and %s kept", calls, ada.sid)
		}
		live := h.sessions.liveSessions(ada.id)
		if !live[ada.sid] || live[otherSID] {
			t.Errorf("live sessions = %v, want only the caller's %s", live, ada.sid)
		}
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}), http.StatusBadRequest, "Two-factor authentication is already enabled")
	})

	t.Run("login asks for the second factor, one code also trusts the new device", func(t *testing.T) {
		r := h.post(t, "/api/v1/auth/login", map[string]any{"identifier": ada.email, "password": goodPassword, "device_id": "tablet"})
		if r.status != http.StatusOK || r.str("challenge") != "two_factor" || r.str("masked_value") != "ad***@example.com" ||
			r.at("expires_in") != float64(600) || !strings.HasPrefix(r.str("two_factor_token"), "tfa_") || r.at("access_token") != nil {
			t.Fatalf("login = %d %s, want a two_factor challenge", r.status, r.raw)
		}
		token := r.str("two_factor_token")
		code := h.lastCode(t, ada.email)
		if d := h.dispatches(t, ada.email); d[len(d)-1].Purpose != events.PurposeTwoFactor {
			t.Errorf("last dispatch purpose = %s, want two_factor", d[len(d)-1].Purpose)
		}
		bad := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": otherCode(code)})
		wantPlainError(t, bad, http.StatusBadRequest, "Invalid or expired code")
		wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": "12"}), http.StatusUnprocessableEntity, "otp_code")
		wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"otp_code": code}), http.StatusUnprocessableEntity, "two_factor_token")
		wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": code, "device_id": "other"}), http.StatusBadRequest, "Invalid or expired code")

		// The wrong-device try counted; the code still has tries left.
		ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": code, "device_name": "Galaxy Tab", "platform": "android"})
		if ok.status != http.StatusOK || ok.str("access_token") == "" || ok.str("user.id") != ada.id || ok.str("token_type") != "Bearer" {
			t.Fatalf("verify-2fa = %d %s, want the login token response", ok.status, ok.raw)
		}
		wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": code}), http.StatusBadRequest, "Invalid or expired code")
		if _, err := store.NewDevices(h.db).Find(context.Background(), ada.id, "tablet"); err != nil {
			t.Errorf("tablet not trusted after verify-2fa: %v", err)
		}
		if !h.hasAlert(t, ada.id, events.AlertNewDeviceSignIn) {
			t.Error("no new_device_sign_in alert queued")
		}
		// A trusted device still needs the second factor.
		r = h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop"))
		if r.str("challenge") != "two_factor" {
			t.Errorf("login from the trusted laptop = %s, want a two_factor challenge", r.raw)
		}
	})

	t.Run("disable keeping the other sessions", func(t *testing.T) {
		before := len(h.sessions.revokeCalls())
		// Turning 2FA off needs a code (issue 13 item 3), not the password alone.
		code := h.reauthCode(t, ada.token, ada.email)
		r := h.authed(t, "POST", "/api/v1/account/2fa/disable", ada.token, map[string]any{"otp": code, "revokeOtherSessions": false})
		if r.status != http.StatusOK || r.str("message") != "Two-factor authentication disabled successfully" {
			t.Fatalf("disable = %d %s", r.status, r.raw)
		}
		if got := len(h.sessions.revokeCalls()); got != before {
			t.Errorf("revoke calls = %d, want none with revokeOtherSessions false", got-before)
		}
		if h.lastSnapshot(t, ada.id).TwoFactorEnabled || !h.hasAlert(t, ada.id, events.AlertTwoFactorDisabled) {
			t.Error("want a snapshot with 2FA off and a two_factor_disabled alert")
		}
		if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.str("access_token") == "" {
			t.Errorf("login after disabling 2FA = %s, want tokens", r.raw)
		}
	})

	t.Run("an account without a verified channel cannot enable it", func(t *testing.T) {
		a := accountFor("unverified@example.com", "")
		a.EmailVerified = false
		a.PasswordHash, _ = h.hasher.Hash(goodPassword)
		if err := store.NewAccounts(h.db).Create(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		tok := h.sessions.keys.Token(t, a.ID, events.NewID(), nil)
		wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]any{"password": goodPassword}), http.StatusBadRequest,
			"Verify your email or phone number before enabling two-factor authentication")
	})
}

func TestDeactivate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")

	wantFieldError(t, h.authed(t, "DELETE", "/api/v1/account/deactivate", ada.token, map[string]any{"password": goodPassword, "reason": strings.Repeat("x", 501)}), "reason")
	wantFieldError(t, h.authed(t, "DELETE", "/api/v1/account/deactivate", ada.token, map[string]any{"reason": "bye"}), "password")
	wantEnvelopeError(t, h.authed(t, "DELETE", "/api/v1/account/deactivate", ada.token, nil), http.StatusBadRequest, "Request body is required")
	wantEnvelopeError(t, h.authed(t, "DELETE", "/api/v1/account/deactivate", ada.token, map[string]any{"password": "Wr0ng-password"}), http.StatusForbidden, "Password is incorrect")

	r := h.authed(t, "DELETE", "/api/v1/account/deactivate", ada.token, map[string]any{"password": goodPassword, "reason": "Taking a break from the platform"})
	if r.status != http.StatusOK || r.str("message") != "Account deactivated successfully" {
		t.Fatalf("deactivate = %d %s", r.status, r.raw)
	}
	calls := h.sessions.revokeCalls()
	if len(calls) != 1 || calls[0].ExceptSessionID != "" || calls[0].Reason != "account_deactivated" || len(h.sessions.liveSessions(ada.id)) != 0 {
		t.Errorf("revoke calls = %+v, want every session ended", calls)
	}
	if snap := h.lastSnapshot(t, ada.id); snap.Status != events.AccountStatusDeactivated {
		t.Errorf("snapshot status = %s, want DEACTIVATED", snap.Status)
	}
	if !h.hasAlert(t, ada.id, events.AlertAccountDeactivated) {
		t.Error("no account_deactivated alert queued")
	}
	stored, _ := store.NewAccounts(h.db).ByID(context.Background(), ada.id)
	if stored.Status != account.StatusDeactivated || stored.DeactivationReason != "Taking a break from the platform" || stored.Email != ada.email || stored.PasswordHash == "" {
		t.Errorf("stored account = %+v, want deactivated with its data kept", stored)
	}
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.status != http.StatusUnauthorized || r.str("detail") != "Invalid credentials" {
		t.Errorf("login after deactivation = %d %s, want the wrong-password 401", r.status, r.raw)
	}
	// A token that is still unexpired cannot act for the deactivated account.
	wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}), http.StatusUnauthorized, "Invalid or expired token")
	if r := h.authed(t, "GET", "/api/v1/account/security-info", ada.token, nil); r.at("data.isAccountLocked") != true {
		t.Errorf("security-info after deactivation = %s, want isAccountLocked", r.raw)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	const newPassword = "Quiet-Harbor-77"

	invalid := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"neither current password nor otp", map[string]any{"newPassword": newPassword, "confirmPassword": newPassword}, "currentPassword"},
		{"confirmation differs", map[string]any{"currentPassword": goodPassword, "newPassword": newPassword, "confirmPassword": newPassword + "x"}, "confirmPassword"},
		{"missing confirmation", map[string]any{"currentPassword": goodPassword, "newPassword": newPassword}, "confirmPassword"},
		{"too short", map[string]any{"currentPassword": goodPassword, "newPassword": "ab1", "confirmPassword": "ab1"}, "newPassword"},
		{"contains the email (policy)", map[string]any{"currentPassword": goodPassword, "newPassword": "lantern-ada-lamp", "confirmPassword": "lantern-ada-lamp"}, "newPassword"},
		{"common password (policy)", map[string]any{"currentPassword": goodPassword, "newPassword": "password1", "confirmPassword": "password1"}, "newPassword"},
		{"same as current", map[string]any{"currentPassword": goodPassword, "newPassword": goodPassword, "confirmPassword": goodPassword}, "newPassword"},
		{"otp not 6 digits", map[string]any{"otp": "abc", "newPassword": newPassword, "confirmPassword": newPassword}, "otp"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/change", ada.token, tc.body), tc.field)
		})
	}
	t.Run("wrong current password", func(t *testing.T) {
		r := h.authed(t, "POST", "/api/v1/account/password/change", ada.token, map[string]any{"currentPassword": "Wr0ng-password", "newPassword": newPassword, "confirmPassword": newPassword})
		wantEnvelopeError(t, r, http.StatusForbidden, "Password is incorrect")
	})
	t.Run("wrong otp", func(t *testing.T) {
		r := h.authed(t, "POST", "/api/v1/account/password/change", ada.token, map[string]any{"otp": "123456", "newPassword": newPassword, "confirmPassword": newPassword})
		wantEnvelopeError(t, r, http.StatusForbidden, "Invalid or expired code")
	})

	_, otherSID := h.signIn(t, ada.email, goodPassword)
	r := h.authed(t, "POST", "/api/v1/account/password/change", ada.token, map[string]any{"currentPassword": goodPassword, "newPassword": newPassword, "confirmPassword": newPassword})
	if r.status != http.StatusOK || r.str("message") != "Password changed" || r.at("data.success") != true || r.at("data.hadPassword") != true ||
		r.str("data.message") != "Password changed successfully" {
		t.Fatalf("change = %d %s", r.status, r.raw)
	}
	if live := h.sessions.liveSessions(ada.id); !live[ada.sid] || live[otherSID] {
		t.Errorf("live sessions = %v, want only the caller's", live)
	}
	if calls := h.sessions.revokeCalls(); len(calls) != 1 || calls[0].Reason != "password_changed" || calls[0].ExceptSessionID != ada.sid {
		t.Errorf("revoke calls = %+v", calls)
	}
	if !h.hasAlert(t, ada.id, events.AlertPasswordChanged) {
		t.Error("no password_changed alert queued")
	}
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.status != http.StatusUnauthorized {
		t.Errorf("login with the old password = %d, want 401", r.status)
	}
	h.signIn(t, ada.email, newPassword)

	t.Run("with a re-authentication code instead of the password", func(t *testing.T) {
		s := h.authed(t, "POST", "/api/v1/auth/reauth/send-otp", ada.token, map[string]any{"channel": "EMAIL"})
		if s.status != http.StatusOK || s.str("masked_value") != "ad***@example.com" || s.at("expires_in") != float64(600) {
			t.Fatalf("reauth send = %d %s", s.status, s.raw)
		}
		code := h.lastCode(t, ada.email)
		third := "Velvet-Canyon-31"
		r := h.authed(t, "POST", "/api/v1/account/password/change", ada.token, map[string]any{"otp": code, "newPassword": third, "confirmPassword": third, "revokeOtherSessions": false})
		if r.status != http.StatusOK || r.at("data.hadPassword") != true {
			t.Fatalf("change with otp = %d %s", r.status, r.raw)
		}
		if calls := h.sessions.revokeCalls(); len(calls) != 1 {
			t.Errorf("revoke calls = %d, want none more with revokeOtherSessions false", len(calls))
		}
		// Single use.
		r = h.authed(t, "POST", "/api/v1/account/password/change", ada.token, map[string]any{"otp": code, "newPassword": newPassword, "confirmPassword": newPassword})
		wantEnvelopeError(t, r, http.StatusForbidden, "Invalid or expired code")
		h.signIn(t, ada.email, third)
	})
}

func TestChangePasswordWithCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	const newPassword = "Quiet-Harbor-77"

	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{"channel": "PIGEON"}), "channel")
	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{}), "channel")
	wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{"channel": "SMS"}),
		http.StatusBadRequest, "No verified destination for this channel")

	s := h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{"channel": "email"})
	if s.status != http.StatusOK || s.str("message") != "OTP sent" || !strings.HasPrefix(s.str("data.tempToken"), "pct_") ||
		s.str("data.maskedValue") != "ad***@example.com" || s.at("data.expiresIn") != float64(600) {
		t.Fatalf("send-otp = %d %s", s.status, s.raw)
	}
	token, code := s.str("data.tempToken"), h.lastCode(t, ada.email)
	verify := func(tok, bearerToken, otpCode string) response {
		return h.authed(t, "POST", "/api/v1/account/password/change-with-otp/verify", bearerToken,
			map[string]any{"tempToken": tok, "otp": otpCode, "newPassword": newPassword, "confirmPassword": newPassword})
	}
	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/verify", ada.token, map[string]any{"otp": code, "newPassword": newPassword, "confirmPassword": newPassword}), "tempToken")
	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/verify", ada.token, map[string]any{"tempToken": token, "otp": "1234567", "newPassword": newPassword, "confirmPassword": newPassword}), "otp")
	wantEnvelopeError(t, verify(token, ada.token, otherCode(code)), http.StatusForbidden, "Invalid or expired code")
	// Another account cannot use ada's token and code, and its attempt spends them.
	wantEnvelopeError(t, verify(token, bob.token, code), http.StatusForbidden, "Invalid or expired code")
	// Neither attempt changed anything.
	h.signIn(t, ada.email, goodPassword)
	h.signIn(t, bob.email, goodPassword)
}

func TestChangePasswordWithCodeSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	const newPassword = "Quiet-Harbor-77"
	s := h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{"channel": "EMAIL"})
	token, code := s.str("data.tempToken"), h.lastCode(t, ada.email)
	r := h.authed(t, "POST", "/api/v1/account/password/change-with-otp/verify", ada.token,
		map[string]any{"tempToken": token, "otp": code, "newPassword": newPassword, "confirmPassword": newPassword})
	if r.status != http.StatusOK || r.str("message") != "Password changed successfully" || r.at("data.hadPassword") != true || r.at("data.success") != true {
		t.Fatalf("verify = %d %s", r.status, r.raw)
	}
	h.signIn(t, ada.email, newPassword)
	if !h.hasAlert(t, ada.id, events.AlertPasswordChanged) {
		t.Error("no password_changed alert queued")
	}
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")

	r := h.authed(t, "GET", "/api/v1/account/password/can-set", ada.token, nil)
	if r.status != http.StatusOK || r.at("data.canSetPassword") != false || r.str("data.authProvider") != "EMAIL" {
		t.Errorf("can-set with a password = %d %s", r.status, r.raw)
	}
	wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/password/set", ada.token, map[string]any{"newPassword": "Quiet-Harbor-77", "confirmPassword": "Quiet-Harbor-77"}),
		http.StatusBadRequest, "Password already set")

	// A passwordless account (as a provider sign-in creates them).
	a := accountFor("oauth@example.com", "oauth_user")
	if err := store.NewAccounts(h.db).Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	tok := h.sessions.keys.Token(t, a.ID, events.NewID(), nil)
	r = h.authed(t, "GET", "/api/v1/account/password/can-set", tok, nil)
	if r.status != http.StatusOK || r.str("message") != "You can set a password" || r.at("data.canSetPassword") != true {
		t.Fatalf("can-set without a password = %d %s", r.status, r.raw)
	}
	if r := h.authed(t, "GET", "/api/v1/account/security-info", tok, nil); r.at("data.lastPasswordChange") != nil {
		t.Errorf("lastPasswordChange = %v without a password, want null", r.at("data.lastPasswordChange"))
	}
	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/set", tok, map[string]any{"newPassword": "oauth_user1", "confirmPassword": "oauth_user1"}), "newPassword")
	wantFieldError(t, h.authed(t, "POST", "/api/v1/account/password/set", tok, map[string]any{"newPassword": "Quiet-Harbor-77", "confirmPassword": "other"}), "confirmPassword")
	r = h.authed(t, "POST", "/api/v1/account/password/set", tok, map[string]any{"newPassword": "Quiet-Harbor-77", "confirmPassword": "Quiet-Harbor-77"})
	if r.status != http.StatusOK || r.str("message") != "Password set successfully" || r.at("data.hadPassword") != false || r.at("data.success") != true {
		t.Fatalf("set = %d %s", r.status, r.raw)
	}
	if r := h.post(t, "/api/v1/auth/login", login(a.Email, "Quiet-Harbor-77", "laptop")); r.status != http.StatusOK {
		t.Errorf("login with the set password = %d %s", r.status, r.raw)
	}
	wantEnvelopeError(t, h.authed(t, "POST", "/api/v1/account/password/set", tok, map[string]any{"newPassword": "Other-Harbor-78", "confirmPassword": "Other-Harbor-78"}),
		http.StatusBadRequest, "Password already set")
}

func TestPlainChangePassword(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/api/v1/me/password", "/api/v1/auth/change-password"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ada := h.signUp(t, "ada@example.com")
			cases := []struct {
				name   string
				body   map[string]any
				status int
				detail string
			}{
				{"missing current", map[string]any{"new_password": "Quiet-Harbor-77"}, 422, "current_password"},
				{"missing new", map[string]any{"current_password": goodPassword}, 422, "new_password"},
				{"policy", map[string]any{"current_password": goodPassword, "new_password": "short1"}, 422, "new_password"},
				{"wrong current", map[string]any{"current_password": "Wr0ng-password", "new_password": "Quiet-Harbor-77"}, 400, "Current password is incorrect"},
				{"no token", nil, 401, "Not authenticated"},
			}
			for _, tc := range cases {
				tok := ada.token
				if tc.body == nil {
					tok = ""
				}
				wantPlainError(t, h.authed(t, "POST", path, tok, tc.body), tc.status, tc.detail)
			}
			r := h.authed(t, "POST", path, ada.token, map[string]any{"current_password": goodPassword, "new_password": "Quiet-Harbor-77"})
			if r.status != http.StatusOK || r.str("message") != "Password changed successfully" {
				t.Fatalf("change = %d %s", r.status, r.raw)
			}
			h.signIn(t, ada.email, "Quiet-Harbor-77")
			if calls := h.sessions.revokeCalls(); len(calls) != 1 || calls[0].ExceptSessionID != ada.sid {
				t.Errorf("revoke calls = %+v, want the other sessions ended", calls)
			}
		})
	}
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	const newPassword = "Quiet-Harbor-77"

	known := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "ADA@example.com"})
	unknown := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "nobody@example.com"})
	if known.status != http.StatusAccepted || string(known.raw) != string(unknown.raw) || known.at("expires_in") != float64(600) {
		t.Fatalf("forgot-password: known %d %s, unknown %d %s; want the same 202", known.status, known.raw, unknown.status, unknown.raw)
	}
	if d := h.dispatches(t, "nobody@example.com"); len(d) != 0 {
		t.Errorf("dispatches to an unknown address = %+v, want none", d)
	}
	wantPlainError(t, h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "not-an-email"}), 422, "email")
	// The resend cooldown applies alike to both.
	again := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "ada@example.com"})
	againUnknown := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "nobody@example.com"})
	if again.status != http.StatusTooManyRequests || againUnknown.status != http.StatusTooManyRequests || string(again.raw) != string(againUnknown.raw) {
		t.Errorf("second request: known %d %s, unknown %d %s; want the same 429", again.status, again.raw, againUnknown.status, againUnknown.raw)
	}

	code := h.lastCode(t, ada.email)
	if d := h.dispatches(t, ada.email); d[len(d)-1].Purpose != events.PurposePasswordReset {
		t.Fatalf("last dispatch = %+v, want a password_reset code", d[len(d)-1])
	}
	reset := func(email, otpCode, pw string) response {
		return h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": email, "otp_code": otpCode, "new_password": pw})
	}
	wantPlainError(t, reset(ada.email, "12", newPassword), 422, "otp_code")
	wantPlainError(t, reset(ada.email, code, "weak"), 422, "new_password")
	wantPlainError(t, reset(ada.email, otherCode(code), newPassword), 400, "Invalid or expired code")
	wantPlainError(t, reset("nobody@example.com", code, newPassword), 400, "Invalid or expired code")

	_, otherSID := h.signIn(t, ada.email, goodPassword)
	r := reset(ada.email, code, newPassword)
	if r.status != http.StatusOK || r.str("message") == "" {
		t.Fatalf("reset = %d %s", r.status, r.raw)
	}
	if live := h.sessions.liveSessions(ada.id); len(live) != 0 {
		t.Errorf("live sessions after reset = %v (had %s and %s), want none", live, ada.sid, otherSID)
	}
	if calls := h.sessions.revokeCalls(); len(calls) != 1 || calls[0].ExceptSessionID != "" || calls[0].Reason != "password_reset" {
		t.Errorf("revoke calls = %+v, want every session ended for password_reset", calls)
	}
	if !h.hasAlert(t, ada.id, events.AlertPasswordReset) {
		t.Error("no password_reset alert queued")
	}
	wantPlainError(t, reset(ada.email, code, "Other-Harbor-78"), 400, "Invalid or expired code")
	h.signIn(t, ada.email, newPassword)
}

func TestCodeThrottling(t *testing.T) {
	t.Parallel()
	t.Run("wrong reset codes with no reset pending lock nothing", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, noCooldown)
		ada := h.signUp(t, "ada@example.com")
		for i := range 20 {
			r := h.do(t, request{path: "/api/v1/auth/reset-password", ip: "203.0.113.66",
				body: jsonBody(t, map[string]any{"email": ada.email, "otp_code": fmt.Sprintf("%06d", i), "new_password": "Quiet-Harbor-77"})})
			if r.status != http.StatusBadRequest {
				t.Fatalf("wrong code %d with no reset pending = %d %s, want 400", i+1, r.status, r.raw)
			}
		}
		if r := h.authed(t, "GET", "/api/v1/account/security-info", ada.token, nil); r.at("data.isAccountLocked") != false {
			t.Errorf("isAccountLocked = %v, want false", r.at("data.isAccountLocked"))
		}
		// The owner's device verification and reset work as before.
		token, code := h.challenge(t, ada.email, "phone")
		if r := h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone")); r.status != http.StatusOK {
			t.Errorf("device verification after 20 wrong reset codes = %d %s, want 200", r.status, r.raw)
		}
		h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": ada.email}).wantStatus(t, http.StatusAccepted, "forgot-password")
		r := h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": h.lastCode(t, ada.email), "new_password": "Quiet-Harbor-77"})
		if r.status != http.StatusOK {
			t.Errorf("reset with the right code = %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("wrong reset codes while a reset is pending hold back their address", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, noCooldown)
		ada := h.signUp(t, "ada@example.com")
		for _, email := range []string{ada.email, "ghost@example.com"} {
			h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": email}).wantStatus(t, http.StatusAccepted, "forgot-password")
			for i := range 10 {
				r := h.do(t, request{path: "/api/v1/auth/reset-password", ip: "203.0.113.66",
					body: jsonBody(t, map[string]any{"email": email, "otp_code": "000000", "new_password": "Quiet-Harbor-77"})})
				if r.status != http.StatusBadRequest {
					t.Fatalf("%s: wrong code %d = %d %s, want 400", email, i+1, r.status, r.raw)
				}
			}
			// An unknown address is throttled alike, so the 429 tells nothing.
			r := h.do(t, request{path: "/api/v1/auth/reset-password", ip: "203.0.113.66",
				body: jsonBody(t, map[string]any{"email": email, "otp_code": "000000", "new_password": "Quiet-Harbor-77"})})
			if retry, _ := strconv.Atoi(r.header.Get("Retry-After")); r.status != http.StatusTooManyRequests || retry < 1 {
				t.Fatalf("%s: 11th code = %d %s (Retry-After %q), want 429", email, r.status, r.raw, r.header.Get("Retry-After"))
			}
			wantRateLimitHeaders(t, r, "reset-password past the account's wrong codes")
		}
		// The owner, from their own address, still resets.
		h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": ada.email}).wantStatus(t, http.StatusAccepted, "forgot-password")
		r := h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": h.lastCode(t, ada.email), "new_password": "Quiet-Harbor-77"})
		if r.status != http.StatusOK {
			t.Errorf("the owner's reset = %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("codes answered per IP", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.CodeVerifyPerIP = throttle.Limit{Max: 3, Window: 15 * time.Minute} })
		for i := range 3 {
			r := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": "tfa_x" + strconv.Itoa(i), "otp_code": "123456"})
			if r.status != http.StatusBadRequest {
				t.Fatalf("attempt %d = %d, want 400", i+1, r.status)
			}
		}
		r := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": "tfa_y", "otp_code": "123456"})
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.str("detail") != "Too many attempts" {
			t.Errorf("4th attempt from one IP = %d %s, want 429 with Retry-After", r.status, r.raw)
		}
		if r := h.do(t, request{path: "/api/v1/auth/verify-2fa", ip: "203.0.113.60", body: `{"two_factor_token":"tfa_z","otp_code":"123456"}`}); r.status != http.StatusBadRequest {
			t.Errorf("another IP = %d, want 400", r.status)
		}
	})
	t.Run("codes requested per IP", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.CodeSendPerIP = throttle.Limit{Max: 2, Window: time.Hour} })
		for i := range 2 {
			if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "user" + strconv.Itoa(i) + "@example.com"}); r.status != http.StatusAccepted {
				t.Fatalf("request %d = %d, want 202", i+1, r.status)
			}
		}
		r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "user9@example.com"})
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("3rd request from one IP = %d %s, want 429 with Retry-After", r.status, r.raw)
		}
	})
}

// doInternal calls the internal-port app.
func (h *harness) doInternal(t *testing.T, path, token, body string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.internalAPI.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}

func TestInternalReauthenticate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	path := "/internal/v1/accounts/" + ada.id + "/reauthenticate"
	tok := internalToken.Value()

	cases := []struct {
		name   string
		path   string
		token  string
		body   string
		status int
		errStr string
	}{
		{"no internal token", path, "", `{"password":"x"}`, 401, ""},
		{"wrong internal token", path, "nope", `{"password":"x"}`, 401, ""},
		{"both fields", path, tok, `{"password":"x","otp":"123456"}`, 400, "invalid_request"},
		{"neither field", path, tok, `{}`, 400, "invalid_request"},
		{"malformed", path, tok, `{"password":`, 400, "invalid_request"},
		{"wrong password", path, tok, `{"password":"Wr0ng-password"}`, 403, "invalid_credentials"},
		{"wrong otp", path, tok, `{"otp":"123456"}`, 403, "invalid_credentials"},
		{"malformed otp", path, tok, `{"otp":"12"}`, 403, "invalid_credentials"},
		{"unknown account", "/internal/v1/accounts/" + events.NewID() + "/reauthenticate", tok, `{"password":"` + goodPassword + `"}`, 404, "account_not_found"},
		{"right password", path, tok, `{"password":"` + goodPassword + `"}`, 204, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.doInternal(t, tc.path, tc.token, tc.body)
			if r.status != tc.status || (tc.errStr != "" && r.str("error") != tc.errStr) {
				t.Fatalf("answer = %d %s, want %d %s", r.status, r.raw, tc.status, tc.errStr)
			}
		})
	}
	t.Run("reauth code, single use", func(t *testing.T) {
		if r := h.authed(t, "POST", "/api/v1/auth/reauth/send-otp", ada.token, map[string]any{"channel": "EMAIL"}); r.status != http.StatusOK {
			t.Fatalf("send-otp = %d %s", r.status, r.raw)
		}
		code := h.lastCode(t, ada.email)
		if r := h.doInternal(t, path, tok, `{"otp":"`+code+`"}`); r.status != http.StatusNoContent {
			t.Fatalf("right code = %d %s, want 204", r.status, r.raw)
		}
		if r := h.doInternal(t, path, tok, `{"otp":"`+code+`"}`); r.status != http.StatusForbidden {
			t.Fatalf("reused code = %d %s, want 403", r.status, r.raw)
		}
	})
	t.Run("reauth send validation", func(t *testing.T) {
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth/send-otp", ada.token, map[string]any{"channel": "FAX"}), 422, "channel")
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth/send-otp", ada.token, map[string]any{"channel": "WHATSAPP"}), 400, "No verified destination for this channel")
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth/send-otp", "", map[string]any{"channel": "EMAIL"}), 401, "Not authenticated")
	})
	t.Run("password guesses back off, and do not lock the owner's sign-in", func(t *testing.T) {
		for range 10 {
			h.doInternal(t, path, tok, `{"password":"Wr0ng-password"}`)
		}
		r := h.doInternal(t, path, tok, `{"password":"`+goodPassword+`"}`)
		if r.status != http.StatusTooManyRequests || r.str("error") != "too_many_attempts" || r.at("retryAfter") == nil || r.header.Get("Retry-After") == "" {
			t.Fatalf("after 10 wrong passwords = %d %s, want 429 too_many_attempts", r.status, r.raw)
		}
		if r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("internal 429 headers %v, want X-RateLimit-*", r.header)
		}
		if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.status != http.StatusOK {
			t.Errorf("login after 10 wrong re-auth passwords = %d, want 200 (a token holder cannot lock the owner out)", r.status)
		}
	})
}

func TestRevocationDeferredWhileSessionServiceDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	_, otherSID := h.signIn(t, ada.email, goodPassword)

	h.sessions.setDown(true)
	r := h.authed(t, "POST", "/api/v1/account/password/change", ada.token,
		map[string]any{"currentPassword": goodPassword, "newPassword": "Quiet-Harbor-77", "confirmPassword": "Quiet-Harbor-77"})
	if r.status != http.StatusOK {
		t.Fatalf("change while the session service is down = %d %s, want 200 (revocation deferred)", r.status, r.raw)
	}
	stored, _ := store.NewAccounts(h.db).ByID(context.Background(), ada.id)
	if stored.PendingRevocation == nil || stored.PendingRevocation.ExceptSessionID != ada.sid {
		t.Fatalf("pending revocation = %+v, want one keeping %s", stored.PendingRevocation, ada.sid)
	}
	h.sessions.setDown(false)
	n, err := h.svc.RetryRevocations(context.Background(), 0)
	if err != nil || n != 1 {
		t.Fatalf("RetryRevocations = %d, %v; want 1", n, err)
	}
	if live := h.sessions.liveSessions(ada.id); live[otherSID] || !live[ada.sid] {
		t.Errorf("live sessions = %v, want only the caller's", live)
	}
	stored, _ = store.NewAccounts(h.db).ByID(context.Background(), ada.id)
	if stored.PendingRevocation != nil {
		t.Errorf("pending revocation = %+v after it was carried out, want none", stored.PendingRevocation)
	}
}

func TestTwoFactorCodeLock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.otp.ResendCooldown = 0; s.login.CodeFailuresPerAccount.Max = 4 })
	ada := h.signUp(t, "ada@example.com")
	if r := h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}); r.status != http.StatusOK {
		t.Fatalf("enable = %d %s", r.status, r.raw)
	}
	const attacker = "203.0.113.99"
	loginFrom := func(ip string) string {
		r := h.do(t, request{path: "/api/v1/auth/login", ip: ip, body: jsonBody(t, login(ada.email, goodPassword, "laptop"))})
		if r.str("two_factor_token") == "" {
			t.Fatalf("login from %s = %d %s, want a 2FA challenge", ip, r.status, r.raw)
		}
		return r.str("two_factor_token")
	}
	token := loginFrom(attacker)
	wrong := otherCode(h.lastCode(t, ada.email))
	for i := range 4 {
		r := h.do(t, request{path: "/api/v1/auth/verify-2fa", ip: attacker, body: jsonBody(t, map[string]any{"two_factor_token": token, "otp_code": wrong})})
		if r.status != http.StatusBadRequest {
			t.Fatalf("wrong code %d = %d %s, want 400", i+1, r.status, r.raw)
		}
	}
	// A fresh challenge does not help that address: the account's codes are held back there.
	token = loginFrom(attacker)
	r := h.do(t, request{path: "/api/v1/auth/verify-2fa", ip: attacker, body: jsonBody(t, map[string]any{"two_factor_token": token, "otp_code": h.lastCode(t, ada.email)})})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("right code after 4 wrong ones = %d %s, want 429 with Retry-After", r.status, r.raw)
	}
	// The owner, from their own address, is not locked out by them.
	token = loginFrom("198.51.100.7")
	r = h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": h.lastCode(t, ada.email)})
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("the owner's right code = %d %s, want 200 with tokens", r.status, r.raw)
	}
}

// TestForgotPasswordDoesTheSameWork checks the mechanism behind "same timing": for an unknown address
// the silent send stores a challenge and claims the same limit slots as a real send (only the outbox
// write is skipped), so the answer costs alike. (Speed itself is not asserted here.)
func TestForgotPasswordDoesTheSameWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if err := store.NewAccounts(h.db).Create(ctx, accountFor("known@example.com", "")); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": email}); r.status != http.StatusAccepted {
			t.Fatalf("forgot-password %s = %d %s", email, r.status, r.raw)
		}
	}
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		n, err := h.db.Collection(store.CollChallenges).CountDocuments(ctx, bson.D{{Key: "_id", Value: "password_reset:" + email}})
		if err != nil || n != 1 {
			t.Errorf("challenges for %s = %d, %v; want 1", email, n, err)
		}
	}
	for _, scope := range []string{"otp_destination", "otp_account"} {
		n, err := h.db.Collection(store.CollThrottle).CountDocuments(ctx, bson.D{{Key: "scope", Value: scope}})
		if err != nil || n != 2 {
			t.Errorf("%s slots = %d, %v; want one per request", scope, n, err)
		}
	}
	if d := h.dispatches(t, "unknown@example.com"); len(d) != 0 {
		t.Errorf("dispatches to the unknown address = %+v, want none", d)
	}
}
