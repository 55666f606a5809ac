package journey_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// securityStack is the whole stack behind the gateway plus a reader of account.events.v1, so the
// journeys can see the security.alert and account.updated events identity publishes.
type securityStack struct {
	*client
	mu     sync.Mutex
	events []events.Envelope
}

// startSecurityStack is startStack with identity's limits set for these journeys and a reader of
// account.events.v1 running until the test ends.
func startSecurityStack(t *testing.T) *securityStack {
	t.Helper()
	s := startFullStack(t, withServiceEnv("identity", map[string]string{
		// Several codes to one address within a journey.
		"OTP_RESEND_COOLDOWN": "1s", "OTP_MAX_PER_DESTINATION_PER_HOUR": "50", "OTP_MAX_PER_ACCOUNT_PER_HOUR": "50",
		// Every request comes from the gateway's one client address.
		"OTP_SEND_MAX_PER_IP": "100", "OTP_VERIFY_MAX_PER_IP": "100", "LOGIN_MAX_PER_IP": "100",
	}))
	st := &securityStack{client: s.client}
	readCtx, stopReading := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = kafkax.RunBroadcast(readCtx, kafkax.Cluster{Brokers: s.env.Brokers}, kafkax.Topic(s.env.TopicPrefix, events.TopicAccountEvents), time.Now().Add(-time.Minute),
			func(_ context.Context, ev events.Envelope) error {
				st.mu.Lock()
				st.events = append(st.events, ev)
				st.mu.Unlock()
				return nil
			})
	}()
	t.Cleanup(func() {
		stopReading()
		<-done
	})
	return st
}

// alerted waits for a security.alert of kind for the account on Kafka.
func (s *securityStack) alerted(t *testing.T, accountID, kind string) events.SecurityAlert {
	t.Helper()
	var got events.SecurityAlert
	eventually(t, 15*time.Second, "a "+kind+" security.alert on account.events.v1", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ev := range s.events {
			if ev.Type != events.TypeSecurityAlert || ev.AccountID != accountID {
				continue
			}
			var a events.SecurityAlert
			if ev.Decode(&a) == nil && a.Kind == kind {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

// snapshotWith waits for an account.updated snapshot of the account satisfying ok.
func (s *securityStack) snapshotWith(t *testing.T, accountID, what string, ok func(events.AccountSnapshot) bool) {
	t.Helper()
	eventually(t, 15*time.Second, "an account.updated snapshot with "+what, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ev := range s.events {
			var snap events.AccountSnapshot
			if ev.Type == events.TypeAccountUpdated && ev.AccountID == accountID && ev.Decode(&snap) == nil && ok(snap) {
				return true
			}
		}
		return false
	})
}

// envelopeOK fails unless r is a 200 success envelope with message.
func envelopeOK(t *testing.T, r response, message string) map[string]any {
	t.Helper()
	r.want(t, 200, message)
	if r.Body["success"] != true || str(r.Body, "httpStatus") != "OK" || str(r.Body, "message") != message || r.Body["action_time"] == nil {
		t.Fatalf("body = %s, want the success envelope with message %q", r.Raw, message)
	}
	data, _ := r.Body["data"].(map[string]any)
	return data
}

// envelopeError fails unless r is an error envelope with the status and message.
func envelopeError(t *testing.T, r response, status int, message string) {
	t.Helper()
	r.want(t, status, message)
	if r.Body["success"] != false || str(r.Body, "message") != message || str(r.Body, "data") != message {
		t.Fatalf("body = %s, want the error envelope with %q", r.Raw, message)
	}
}

func (c *client) login(t *testing.T, identifier, pw, device string) response {
	t.Helper()
	return c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": identifier, "password": pw, "device_id": device})
}

func TestAccountSecurityJourney(t *testing.T) {
	s := startSecurityStack(t)
	c := s.client
	a := register(t, c, "ada")
	pw := password

	t.Run("security-info", func(t *testing.T) {
		data := envelopeOK(t, c.do("GET", "/api/v1/account/security-info", nil, bearer(a.access)...), "Security information retrieved successfully")
		if data["isEmailVerified"] != true || data["isPhoneVerified"] != false || data["isTwoFactorEnabled"] != false || data["isAccountLocked"] != false {
			t.Fatalf("security-info = %v", data)
		}
		strength, _ := data["securityStrength"].(map[string]any)
		recs, _ := strength["recommendations"].([]any)
		if strength["score"] != float64(45) || strength["level"] != "WEAK" || len(recs) == 0 || recs[0] != "Enable two-factor authentication" {
			t.Fatalf("securityStrength = %v, want 45 WEAK with 2FA recommended first", strength)
		}
		if roles, _ := data["roles"].([]any); len(roles) != 1 || roles[0] != "ROLE_USER" {
			t.Fatalf("roles = %v", data["roles"])
		}
		envelopeError(t, c.do("GET", "/api/v1/account/security-info", nil), 401, "Not authenticated")
	})

	t.Run("2FA on: login asks for a code, which also trusts the new device", func(t *testing.T) {
		envelopeError(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": "wrong-Password-1"}, bearer(a.access)...), 403, "Password is incorrect")
		envelopeOK(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": pw}, bearer(a.access)...), "Two-factor authentication enabled successfully")
		s.alerted(t, a.id, events.AlertTwoFactorEnabled)
		s.snapshotWith(t, a.id, "2FA on", func(snap events.AccountSnapshot) bool { return snap.TwoFactorEnabled })

		before := c.outboxCount(t, a.email)
		r := c.login(t, a.email, pw, "tablet-1").want(t, 200, "login with 2FA on")
		if str(r.Body, "challenge") != "two_factor" || str(r.Body, "two_factor_token") == "" || str(r.Body, "access_token") != "" || r.Body["expires_in"] != float64(600) {
			t.Fatalf("login = %s, want a two_factor challenge", r.Raw)
		}
		code := c.latestCode(t, a.email, "two_factor", before)
		c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "otp_code": wrongCode(code)}).want(t, 400, "verify-2fa with a wrong code")
		ok := c.do("POST", "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": str(r.Body, "two_factor_token"), "otp_code": code, "device_name": "Tablet", "platform": "ANDROID"}).want(t, 200, "verify-2fa")
		if str(ok.Body, "access_token") == "" || str(ok.Body, "user", "id") != a.id {
			t.Fatalf("verify-2fa = %s, want tokens", ok.Raw)
		}
		c.do("GET", "/api/v1/me", nil, bearer(str(ok.Body, "access_token"))...).want(t, 200, "profile with the 2FA session's token")
		if alert := s.alerted(t, a.id, events.AlertNewDeviceSignIn); alert.Destination != a.email || alert.Channel != events.ChannelEmail {
			t.Fatalf("new-device alert = %+v, want it by EMAIL to %s", alert, a.email)
		}
		envelopeError(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": pw}, bearer(a.access)...), 400, "Two-factor authentication is already enabled")
		// Turning 2FA off needs a code (a step-up obtained with one), not the password alone.
		envelopeError(t, c.do("POST", "/api/v1/account/2fa/disable", map[string]any{"password": pw}, bearer(a.access)...), 401, "Re-authentication with a one-time code required")
		envelopeOK(t, c.do("POST", "/api/v1/account/2fa/disable", map[string]any{"revokeOtherSessions": false}, c.stepUpByCode(t, a.access, a.email)...), "Two-factor authentication disabled successfully")
		s.alerted(t, a.id, events.AlertTwoFactorDisabled)
		envelopeError(t, c.do("POST", "/api/v1/account/2fa/disable", map[string]any{"password": pw}, bearer(a.access)...), 400, "Two-factor authentication is not enabled")
		c.login(t, a.email, pw, "tablet-1").want(t, 200, "login from the now trusted tablet")
	})

	t.Run("password change with the current password (envelope)", func(t *testing.T) {
		next := "Quiet-Harbor-77"
		r := c.do("POST", "/api/v1/account/password/change", map[string]any{"currentPassword": pw, "newPassword": next, "confirmPassword": next + "x"}, bearer(a.access)...)
		r.want(t, 422, "mismatched confirmation")
		if str(r.Body, "data", "confirmPassword") == "" {
			t.Fatalf("body = %s, want a confirmPassword error", r.Raw)
		}
		envelopeError(t, c.do("POST", "/api/v1/account/password/change", map[string]any{"currentPassword": "wrong-Password-1", "newPassword": next, "confirmPassword": next}, bearer(a.access)...), 403, "Password is incorrect")
		data := envelopeOK(t, c.do("POST", "/api/v1/account/password/change", map[string]any{"currentPassword": pw, "newPassword": next, "confirmPassword": next, "revokeOtherSessions": false}, bearer(a.access)...), "Password changed")
		if data["hadPassword"] != true || data["success"] != true {
			t.Fatalf("data = %v", data)
		}
		c.login(t, a.email, pw, a.device).want(t, 401, "login with the old password")
		c.login(t, a.email, next, a.device).want(t, 200, "login with the new password")
		s.alerted(t, a.id, events.AlertPasswordChanged)
		pw = next
	})

	t.Run("password change by code (change-with-otp)", func(t *testing.T) {
		before := c.outboxCount(t, a.email)
		data := envelopeOK(t, c.do("POST", "/api/v1/account/password/change-with-otp/send-otp", map[string]any{"channel": "EMAIL"}, bearer(a.access)...), "OTP sent")
		if !strings.HasPrefix(str(data, "tempToken"), "pct_") || str(data, "maskedValue") == "" || data["expiresIn"] != float64(600) {
			t.Fatalf("send-otp data = %v", data)
		}
		code := c.latestCode(t, a.email, "password_change", before)
		envelopeError(t, c.do("POST", "/api/v1/account/password/change-with-otp/send-otp", map[string]any{"channel": "SMS"}, bearer(a.access)...), 400, "No verified destination for this channel")
		next := "Velvet-Canyon-31"
		envelopeOK(t, c.do("POST", "/api/v1/account/password/change-with-otp/verify", map[string]any{
			"tempToken": str(data, "tempToken"), "otp": code, "newPassword": next, "confirmPassword": next, "revokeOtherSessions": false,
		}, bearer(a.access)...), "Password changed successfully")
		c.login(t, a.email, next, a.device).want(t, 200, "login with the password set by code")
		pw = next
	})

	t.Run("plain change-password paths", func(t *testing.T) {
		for i, path := range []string{"/api/v1/me/password", "/api/v1/auth/change-password"} {
			next := "Plain-Path-Pass" + strconv.Itoa(i)
			r := c.do("POST", path, map[string]any{"current_password": "wrong-Password-1", "new_password": next}, bearer(a.access)...).want(t, 400, path+" wrong password")
			if str(r.Body, "detail") != "Current password is incorrect" {
				t.Fatalf("%s body = %s", path, r.Raw)
			}
			c.do("POST", path, map[string]any{"current_password": pw, "new_password": "short"}, bearer(a.access)...).want(t, 422, path+" policy")
			c.do("POST", path, map[string]any{"current_password": pw, "new_password": next, "revoke_other_sessions": false}, bearer(a.access)...).want(t, 200, path)
			pw = next
		}
		c.login(t, a.email, pw, a.device).want(t, 200, "login after the plain changes")
	})

	t.Run("can-set and set", func(t *testing.T) {
		data := envelopeOK(t, c.do("GET", "/api/v1/account/password/can-set", nil, bearer(a.access)...), "Password already set")
		if data["canSetPassword"] != false || data["authProvider"] != "EMAIL" {
			t.Fatalf("can-set data = %v", data)
		}
		envelopeError(t, c.do("POST", "/api/v1/account/password/set", map[string]any{"newPassword": "Another-Pass-12", "confirmPassword": "Another-Pass-12"}, bearer(a.access)...), 400, "Password already set")
	})

	t.Run("forgot and reset", func(t *testing.T) {
		before := c.outboxCount(t, a.email)
		known := c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": a.email}).want(t, 202, "forgot-password")
		unknown := c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": "nobody@example.com"}).want(t, 202, "forgot-password, unknown")
		if string(known.Raw) != string(unknown.Raw) {
			t.Fatalf("answers differ: %s vs %s", known.Raw, unknown.Raw)
		}
		code := c.latestCode(t, a.email, "password_reset", before)
		c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": wrongCode(code), "new_password": "Reset-Pass-99"}).want(t, 400, "reset with a wrong code")
		c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": code, "new_password": "Reset-Pass-99"}).want(t, 200, "reset")
		c.login(t, a.email, "Reset-Pass-99", a.device).want(t, 200, "login with the reset password")
		s.alerted(t, a.id, events.AlertPasswordReset)
		if c.outboxCount(t, "nobody@example.com") != 0 {
			t.Fatal("a message went to an address without an account")
		}
		pw = "Reset-Pass-99"
	})

	t.Run("deactivate", func(t *testing.T) {
		login := c.login(t, a.email, pw, a.device).want(t, 200, "login")
		token := str(login.Body, "access_token")
		envelopeError(t, c.do("DELETE", "/api/v1/account/deactivate", map[string]any{"password": "wrong-Password-1"}, bearer(token)...), 403, "Password is incorrect")
		envelopeOK(t, c.do("DELETE", "/api/v1/account/deactivate", map[string]any{"password": pw, "reason": "Taking a break"}, bearer(token)...), "Account deactivated successfully")
		s.snapshotWith(t, a.id, "status DEACTIVATED", func(snap events.AccountSnapshot) bool { return snap.Status == events.AccountStatusDeactivated })
		s.alerted(t, a.id, events.AlertAccountDeactivated)
		wrong := c.login(t, a.email, "wrong-Password-1", a.device).want(t, 401, "login with a wrong password")
		deactivated := c.login(t, a.email, pw, a.device).want(t, 401, "login to the deactivated account")
		if string(wrong.Raw) != string(deactivated.Raw) {
			t.Fatalf("deactivated login %s differs from a wrong password %s", deactivated.Raw, wrong.Raw)
		}
	})
}

func TestAccountSecurityAbuse(t *testing.T) {
	s := startSecurityStack(t)
	c := s.client
	a := register(t, c, "eve")

	t.Run("another account's temp token is useless", func(t *testing.T) {
		b := register(t, c, "bob")
		before := c.outboxCount(t, b.email)
		data := envelopeOK(t, c.do("POST", "/api/v1/account/password/change-with-otp/send-otp", map[string]any{"channel": "EMAIL"}, bearer(b.access)...), "OTP sent")
		code := c.latestCode(t, b.email, "password_change", before)
		// Eve holds bob's token and code, and still cannot change anyone's password with them.
		envelopeError(t, c.do("POST", "/api/v1/account/password/change-with-otp/verify", map[string]any{
			"tempToken": str(data, "tempToken"), "otp": code, "newPassword": "Stolen-Pass-11", "confirmPassword": "Stolen-Pass-11",
		}, bearer(a.access)...), 403, "Invalid or expired code")
		c.login(t, b.email, password, b.device).want(t, 200, "bob's password is unchanged")
	})

	t.Run("bad input answers in the path's style", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"2fa enable: malformed", "POST", "/api/v1/account/2fa/enable", `{"password":`, 400},
			{"2fa enable: wrong type", "POST", "/api/v1/account/2fa/enable", `{"password":5}`, 422},
			{"deactivate: long reason", "DELETE", "/api/v1/account/deactivate", map[string]any{"password": "x", "reason": strings.Repeat("r", 501)}, 422},
			{"change: nothing", "POST", "/api/v1/account/password/change", `{}`, 422},
			{"send-otp: bad channel", "POST", "/api/v1/account/password/change-with-otp/send-otp", map[string]any{"channel": "FAX"}, 422},
			{"verify: short otp", "POST", "/api/v1/account/password/change-with-otp/verify", map[string]any{"tempToken": "t", "otp": "1", "newPassword": "Quiet-Harbor-77", "confirmPassword": "Quiet-Harbor-77"}, 422},
			{"set: mismatch", "POST", "/api/v1/account/password/set", map[string]any{"newPassword": "Quiet-Harbor-77", "confirmPassword": "x"}, 422},
			{"me/password: missing", "POST", "/api/v1/me/password", `{}`, 422},
			{"reauth send: bad channel", "POST", "/api/v1/auth/reauth/send-otp", map[string]any{"channel": "FAX"}, 422},
			{"forgot: bad email", "POST", "/api/v1/auth/forgot-password", map[string]any{"email": "nope"}, 422},
			{"reset: bad code", "POST", "/api/v1/auth/reset-password", map[string]any{"email": "x@example.com", "otp_code": "12", "new_password": "Quiet-Harbor-77"}, 422},
			{"verify-2fa: missing token", "POST", "/api/v1/auth/verify-2fa", map[string]any{"otp_code": "123456"}, 422},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body, bearer(a.access)...).want(t, tc.status, tc.name)
				if strings.HasPrefix(tc.path, "/api/v1/account") {
					if r.Body["success"] != false || r.Body["httpStatus"] == nil {
						t.Fatalf("body = %s, want the error envelope", r.Raw)
					}
				} else if r.Body["detail"] == nil {
					t.Fatalf("body = %s, want a FastAPI-style detail", r.Raw)
				}
			})
		}
	})
	t.Run("wrong reset codes lock nothing of the owner; while a reset is pending they hold back their address", func(t *testing.T) {
		a := register(t, c, "mallory") // an account with no failed code yet
		for i := range 12 {            // no reset pending: nothing to guess, nothing counted against the account
			c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": "000000", "new_password": "Reset-Pass-99"}).want(t, 400, "wrong code "+strconv.Itoa(i+1))
		}
		data := envelopeOK(t, c.do("GET", "/api/v1/account/security-info", nil, bearer(a.access)...), "Security information retrieved successfully")
		if data["isAccountLocked"] != false {
			t.Fatalf("isAccountLocked = %v after wrong codes with no reset pending, want false", data["isAccountLocked"])
		}
		c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": a.email}).want(t, 202, "forgot-password")
		for i := range 10 {
			c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": "000000", "new_password": "Reset-Pass-99"}).want(t, 400, "wrong code with a reset pending "+strconv.Itoa(i+1))
		}
		r := c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": a.email, "otp_code": "000000", "new_password": "Reset-Pass-99"}).want(t, 429, "11th code")
		if r.Header.Get("Retry-After") == "" || str(r.Body, "detail") != "Too many attempts" || r.Header.Get("X-RateLimit-Remaining") != "0" ||
			r.Header.Get("X-RateLimit-Limit") == "" || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("429 = %s (headers %v), want Retry-After and X-RateLimit-*", r.Raw, r.Header)
		}
	})

}
