package journey_test

import (
	"testing"
	"time"
)

// TestAccountSecurityRevokesSessions checks that credential changes end sessions in every service:
// a password change or 2FA change ends the other sessions and keeps the caller's, a reset and a
// deactivation end them all. It needs the session service's
// POST /internal/v1/accounts/{accountId}/sessions/revoke (docs/architecture.md), built on another
// branch.
func TestAccountSecurityRevokesSessions(t *testing.T) {
	s := startSecurityStack(t)
	c := s.client
	a := register(t, c, "ada")
	pw := password

	refused := func(t *testing.T, token, what string) {
		t.Helper()
		eventually(t, 15*time.Second, what+": the token refused by the profile service", func() bool {
			return c.do("GET", "/api/v1/me", nil, bearer(token)...).Status == 401
		})
	}
	accepted := func(t *testing.T, token, what string) {
		t.Helper()
		c.do("GET", "/api/v1/me", nil, bearer(token)...).want(t, 200, what+": the caller's own session still works")
	}
	newSession := func(t *testing.T) string {
		t.Helper()
		r := c.login(t, a.email, pw, a.device).want(t, 200, "login")
		return str(r.Body, "access_token")
	}

	t.Run("password change ends the other sessions", func(t *testing.T) {
		other := newSession(t)
		next := "Quiet-Harbor-77"
		envelopeOK(t, c.do("POST", "/api/v1/account/password/change", map[string]any{"currentPassword": pw, "newPassword": next, "confirmPassword": next}, bearer(a.access)...), "Password changed")
		pw = next
		refused(t, other, "password change")
		accepted(t, a.access, "password change")
	})

	t.Run("plain change-password ends the other sessions", func(t *testing.T) {
		other := newSession(t)
		next := "Plain-Path-Pass1"
		c.do("POST", "/api/v1/me/password", map[string]any{"current_password": pw, "new_password": next}, bearer(a.access)...).want(t, 200, "me/password")
		pw = next
		refused(t, other, "me/password")
		accepted(t, a.access, "me/password")
	})

	t.Run("2FA enable ends the other sessions", func(t *testing.T) {
		other := newSession(t)
		envelopeOK(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": pw}, bearer(a.access)...), "Two-factor authentication enabled successfully")
		// Off again at once (keeping the sessions), so the later logins need no second factor.
		envelopeOK(t, c.do("POST", "/api/v1/account/2fa/disable", map[string]any{"revokeOtherSessions": false}, c.stepUpByCode(t, a.access, a.email)...), "Two-factor authentication disabled successfully")
		refused(t, other, "2FA enable")
		accepted(t, a.access, "2FA enable")
	})

	t.Run("reset ends every session", func(t *testing.T) {
		other := newSession(t)
		before := c.outboxCount(t, a.email)
		c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": a.email}).want(t, 202, "forgot-password")
		code := c.latestCode(t, a.email, "password_reset", before)
		c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": code, "new_password": "Reset-Pass-99"}).want(t, 200, "reset")
		pw = "Reset-Pass-99"
		refused(t, other, "reset")
		refused(t, a.access, "reset")
	})

	t.Run("deactivation ends every session", func(t *testing.T) {
		token := newSession(t)
		other := newSession(t)
		envelopeOK(t, c.do("DELETE", "/api/v1/account/deactivate", map[string]any{"password": pw}, bearer(token)...), "Account deactivated successfully")
		refused(t, token, "deactivation")
		refused(t, other, "deactivation")
	})
}
