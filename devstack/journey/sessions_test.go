package journey_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

const (
	firefoxOnLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safariOnIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

// signedIn is one session of an account.
type signedIn struct {
	access, refresh, sid string
}

// login signs the account in again from its registering device with the User-Agent.
func login(t *testing.T, c *client, a account, ua string) signedIn {
	t.Helper()
	r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device},
		"User-Agent", ua).want(t, 200, "login")
	s := signedIn{access: str(r.Body, "access_token"), refresh: str(r.Body, "refresh_token"), sid: str(r.Body, "session_id")}
	if s.access == "" || s.refresh == "" || s.sid == "" {
		t.Fatalf("login body = %s, want tokens and session_id", r.Raw)
	}
	return s
}

// refusedEverywhere waits until the session, profile and identity services all refuse the token.
func refusedEverywhere(t *testing.T, c *client, access, how string) {
	t.Helper()
	refusedByIdentity(t, c, access, how)
	eventually(t, 10*time.Second, "the token revoked by "+how+" refused by the profile service", func() bool {
		return c.do("GET", "/api/v1/me", nil, bearer(access)...).Status == 401
	})
	eventually(t, 10*time.Second, "the token revoked by "+how+" refused by the session service", func() bool {
		return c.do("GET", "/api/v1/auth/token-health", nil, bearer(access)...).Status == 401
	})
}

// acceptedEverywhere fails unless the session, profile and identity services accept the token.
func acceptedEverywhere(t *testing.T, c *client, access, what string) {
	t.Helper()
	c.do("GET", "/api/v1/account/security-info", nil, bearer(access)...).want(t, 200, what+": identity")
	c.do("GET", "/api/v1/me", nil, bearer(access)...).want(t, 200, what+": profile")
	c.do("GET", "/api/v1/auth/token-health", nil, bearer(access)...).want(t, 200, what+": token-health")
}

func TestSessions(t *testing.T) {
	s := startFullStack(t, withShortRefreshGrace)
	c, st := s.client, s.stack
	a := register(t, c, "sessa")
	b := register(t, c, "sessb")

	t.Run("listing shows the account's sessions with parsed device details", func(t *testing.T) {
		phone := login(t, c, a, safariOnIPhone)
		laptop := login(t, c, a, firefoxOnLinux)

		r := c.do("GET", "/api/v1/account/sessions", nil, append(bearer(laptop.access), "X-Session-Id", laptop.sid)...).want(t, 200, "list sessions")
		if r.Body["success"] != true || str(r.Body, "message") != "Sessions retrieved" {
			t.Fatalf("body = %s", r.Raw)
		}
		data := r.Body["data"].(map[string]any)
		if str(data, "currentSession", "id") != laptop.sid {
			t.Errorf("currentSession = %v, want %s", data["currentSession"], laptop.sid)
		}
		seen := map[string]map[string]any{}
		for _, item := range data["sessions"].([]any) {
			m := item.(map[string]any)
			seen[str(m, "id")] = m
		}
		if len(seen) < 3 || data["totalCount"] != float64(len(seen)) {
			t.Fatalf("sessions = %d, totalCount %v, want registration + 2 logins", len(seen), data["totalCount"])
		}
		if m := seen[laptop.sid]; m == nil || m["currentSession"] != true || !strings.HasPrefix(str(m, "browser"), "Firefox") || !strings.HasPrefix(str(m, "os"), "Linux") || str(m, "ipAddress") == "" {
			t.Errorf("laptop session = %v, want current, Firefox on Linux, an IP", m)
		}
		if m := seen[phone.sid]; m == nil || m["currentSession"] != false || !strings.HasPrefix(str(m, "os"), "iOS") {
			t.Errorf("phone session = %v, want iOS, not current", m)
		}

		plain := c.do("GET", "/api/v1/auth/sessions", nil, bearer(phone.access)...).want(t, 200, "AudioPod list")
		var list []map[string]any
		if err := json.Unmarshal(plain.Raw, &list); err != nil || len(list) != len(seen) {
			t.Fatalf("AudioPod list = %s, want the same %d sessions", plain.Raw, len(seen))
		}
		for _, s := range list {
			if (str(s, "session_id") == phone.sid) != (s["is_current"] == true) || str(s, "user_id") != a.id {
				t.Errorf("session = %v", s)
			}
		}

		// Another account sees none of them.
		other := c.do("GET", "/api/v1/account/sessions", nil, bearer(b.access)...).want(t, 200, "b lists sessions")
		if strings.Contains(string(other.Raw), laptop.sid) || strings.Contains(string(other.Raw), phone.sid) {
			t.Errorf("account b sees a's sessions: %s", other.Raw)
		}
	})

	t.Run("validate, token-health and update-device-info", func(t *testing.T) {
		s := login(t, c, a, firefoxOnLinux)
		r := c.do("GET", "/api/v1/auth/session/validate", nil, bearer(s.access)...).want(t, 200, "validate")
		if r.Body["is_valid"] != true || str(r.Body, "session_info", "session_id") != s.sid || str(r.Body, "user", "id") != a.id ||
			r.Body["needs_refresh"] != false || r.Body["expires_in"].(float64) <= 0 {
			t.Errorf("validate = %s", r.Raw)
		}
		eventually(t, 10*time.Second, "validate showing the account from account.created", func() bool {
			r := c.do("GET", "/api/v1/auth/session/validate", nil, bearer(s.access)...).want(t, 200, "validate")
			return str(r.Body, "user", "email") == a.email && str(r.Body, "user", "full_name") == "Ada Lovelace"
		})
		r = c.do("GET", "/api/v1/auth/token-health", nil, bearer(s.access)...).want(t, 200, "token-health")
		if r.Body["valid"] != true || r.Body["expired"] != false || r.Body["should_refresh"] != false || str(r.Body, "user_id") != a.id ||
			r.Body["expires_in_seconds"].(float64) <= 0 {
			t.Errorf("token-health = %s", r.Raw)
		}
		r = c.do("POST", "/api/v1/auth/sessions/update-device-info", map[string]any{"device_name": "Ada's iPhone", "platform": "ios"},
			append(bearer(s.access), "User-Agent", safariOnIPhone)...).want(t, 200, "update device info")
		if str(r.Body, "device", "device_name") != "Ada's iPhone" || str(r.Body, "device", "platform") != "IOS" ||
			!strings.HasPrefix(str(r.Body, "device", "os"), "iOS") || str(r.Body, "user_agent") != safariOnIPhone ||
			!strings.HasPrefix(str(r.Body, "device_info"), "Safari ") {
			t.Errorf("update-device-info = %s", r.Raw)
		}
		c.do("POST", "/api/v1/auth/sessions/update-device-info", map[string]any{"platform": "not a platform!"}, bearer(s.access)...).want(t, 422, "bad platform")
	})

	t.Run("bad input gets a clear 4xx in the path's style", func(t *testing.T) {
		s := login(t, c, b, firefoxOnLinux)
		auth := bearer(s.access)
		withSID := append(bearer(s.access), "X-Session-Id", s.sid)
		tests := []struct {
			name, method, path string
			body               any
			headers            []string
			wantStatus         int
			envelope           bool
			want               string // envelope message, plain detail, or the type of the first 422 entry
		}{
			{"list: malformed X-Session-Id", "GET", "/api/v1/account/sessions", nil, append(bearer(s.access), "X-Session-Id", "nope"), 400, true, "X-Session-Id must be a valid UUID"},
			{"list: no token", "GET", "/api/v1/account/sessions", nil, nil, 401, true, "Not authenticated"},
			{"sign-out-others: no X-Session-Id", "POST", "/api/v1/account/sessions/sign-out-others", map[string]any{"password": password}, auth, 400, true, "X-Session-Id header is required"},
			{"sign-out-others: neither password nor otp", "POST", "/api/v1/account/sessions/sign-out-others", `{}`, withSID, 422, true, "Validation failed"},
			{"sign-out-all: malformed JSON", "POST", "/api/v1/account/sessions/sign-out-all", `{"password":`, auth, 400, true, "Malformed JSON request body"},
			{"sign-out-all: otp not 6 digits", "POST", "/api/v1/account/sessions/sign-out-all", `{"otp":"12"}`, auth, 422, true, "Validation failed"},
			{"revoke by id: malformed", "DELETE", "/api/v1/account/sessions/123", nil, auth, 400, true, "Invalid session id"},
			{"revoke by id: unknown", "DELETE", "/api/v1/account/sessions/00000000-0000-4000-8000-000000000000", nil, auth, 404, true, "Session not found"},
			{"revoke: malformed JSON", "POST", "/api/v1/auth/sessions/revoke", `{"session_id":`, auth, 422, false, "json_invalid"},
			{"revoke: wrong type", "POST", "/api/v1/auth/sessions/revoke", `{"session_id":5}`, auth, 422, false, "string_type"},
			{"revoke: missing session_id", "POST", "/api/v1/auth/sessions/revoke", `{}`, auth, 422, false, "missing"},
			{"update-device-info: malformed JSON", "POST", "/api/v1/auth/sessions/update-device-info", `{"device_name":`, auth, 422, false, "json_invalid"},
			{"validate: no token", "GET", "/api/v1/auth/session/validate", nil, nil, 401, false, "Not authenticated"},
			{"token-health: bad token", "GET", "/api/v1/auth/token-health", nil, bearer("not.a.jwt"), 401, false, "Invalid or expired token"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body, tc.headers...).want(t, tc.wantStatus, tc.name)
				switch {
				case tc.envelope:
					if r.Body["success"] != false || str(r.Body, "message") != tc.want {
						t.Errorf("body = %s, want envelope message %q", r.Raw, tc.want)
					}
				case tc.wantStatus == 422:
					detail, _ := r.Body["detail"].([]any)
					if len(detail) == 0 || str(detail[0].(map[string]any), "type") != tc.want {
						t.Errorf("body = %s, want a 422 of type %q", r.Raw, tc.want)
					}
				default:
					if str(r.Body, "detail") != tc.want {
						t.Errorf("body = %s, want detail %q", r.Raw, tc.want)
					}
				}
			})
		}
	})

	t.Run("a session's owner alone can revoke it", func(t *testing.T) {
		s := login(t, c, a, firefoxOnLinux)
		r := c.do("DELETE", "/api/v1/account/sessions/"+s.sid, nil, bearer(b.access)...).want(t, 404, "b deletes a's session")
		if r.Body["success"] != false || str(r.Body, "message") != "Session not found" {
			t.Errorf("body = %s", r.Raw)
		}
		r = c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"session_id": s.sid}, bearer(b.access)...).want(t, 404, "b revokes a's session")
		if str(r.Body, "detail") != "Session not found" {
			t.Errorf("body = %s", r.Raw)
		}
		c.do("DELETE", "/api/v1/account/sessions/not-a-uuid", nil, bearer(b.access)...).want(t, 400, "malformed id (envelope)")
		c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"session_id": "not-a-uuid"}, bearer(b.access)...).want(t, 422, "malformed id (plain)")
		c.do("POST", "/api/v1/account/sessions/sign-out", nil, bearer(b.access)...).want(t, 400, "sign-out without X-Session-Id")
		c.do("POST", "/api/v1/account/sessions/sign-out", nil, append(bearer(b.access), "X-Session-Id", s.sid)...).want(t, 400, "sign-out naming another's session")
		acceptedEverywhere(t, c, s.access, "a's session after b's attempts")
	})

	// Every revoking path: the revoked session's access token is refused by the session service and
	// by the profile service (which learns it from session.revoked on Kafka), and a refresh fails.
	revokers := []struct {
		name   string
		revoke func(t *testing.T, victim, keeper signedIn)
	}{
		{"logout", func(t *testing.T, victim, _ signedIn) {
			c.do("POST", "/api/v1/auth/logout", nil, bearer(victim.access)...).want(t, 200, "logout")
		}},
		{"account API sign-out", func(t *testing.T, victim, _ signedIn) {
			c.do("POST", "/api/v1/account/sessions/sign-out", nil, append(bearer(victim.access), "X-Session-Id", victim.sid)...).want(t, 200, "sign-out")
		}},
		{"account API revoke by id", func(t *testing.T, victim, keeper signedIn) {
			c.do("DELETE", "/api/v1/account/sessions/"+victim.sid, nil, bearer(keeper.access)...).want(t, 200, "delete session")
		}},
		{"AudioPod revoke by id", func(t *testing.T, victim, keeper signedIn) {
			c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"session_id": victim.sid}, bearer(keeper.access)...).want(t, 200, "revoke")
		}},
		{"AudioPod revoke current", func(t *testing.T, victim, _ signedIn) {
			c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"session_id": "current"}, bearer(victim.access)...).want(t, 200, "revoke current")
		}},
		{"AudioPod revoke_all_others", func(t *testing.T, _, keeper signedIn) {
			c.do("POST", "/api/v1/auth/sessions/revoke", map[string]any{"revoke_all_others": true, "password": password}, bearer(keeper.access)...).want(t, 200, "revoke others")
		}},
		{"internal revoke API (password reset, deactivation)", func(t *testing.T, _, keeper signedIn) {
			req, _ := http.NewRequest("POST", st.InternalURL(stack.Session)+"/internal/v1/accounts/"+a.id+"/sessions/revoke",
				strings.NewReader(`{"exceptSessionId":"`+keeper.sid+`","reason":"password_reset"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+st.InternalToken())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != 200 || out["revoked"].(float64) < 1 {
				t.Fatalf("internal revoke: status %d body %v", resp.StatusCode, out)
			}
		}},
		{"refresh token reuse", func(t *testing.T, victim, _ signedIn) {
			c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": victim.refresh}).want(t, 200, "refresh")
			time.Sleep(shortRefreshGrace + 200*time.Millisecond) // within the grace, reuse is a parallel refresh
			c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": victim.refresh}).want(t, 401, "reuse")
		}},
	}
	for _, rv := range revokers {
		t.Run("revocation by "+rv.name+" is honoured by every service", func(t *testing.T) {
			keeper := login(t, c, a, firefoxOnLinux)
			victim := login(t, c, a, safariOnIPhone)
			acceptedEverywhere(t, c, victim.access, "before revocation")
			rv.revoke(t, victim, keeper)
			refusedEverywhere(t, c, victim.access, rv.name)
			c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": victim.refresh}).want(t, 401, "refresh of the revoked session")
			acceptedEverywhere(t, c, keeper.access, "the session kept")
			acceptedEverywhere(t, c, b.access, "another account's session")
		})
	}

	t.Run("a restarted service learns the revocations still in force", func(t *testing.T) {
		victim := login(t, c, a, safariOnIPhone)
		keeper := login(t, c, a, firefoxOnLinux)
		c.do("POST", "/api/v1/auth/logout", nil, bearer(victim.access)...).want(t, 200, "logout")
		refusedEverywhere(t, c, victim.access, "logout")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, svc := range []string{stack.Profile, stack.Session} {
			if err := st.Restart(ctx, svc); err != nil {
				t.Fatalf("restart %s: %v", svc, err)
			}
		}
		// Right after start-up, before any new event: the revocation was read back from Kafka.
		eventually(t, 10*time.Second, "the restarted profile service answering", func() bool {
			return c.do("GET", "/api/v1/me", nil, bearer(keeper.access)...).Status == 200
		})
		c.do("GET", "/api/v1/me", nil, bearer(victim.access)...).want(t, 401, "restarted profile with the revoked token")
		c.do("GET", "/api/v1/auth/token-health", nil, bearer(victim.access)...).want(t, 401, "restarted session service with the revoked token")
	})
}
