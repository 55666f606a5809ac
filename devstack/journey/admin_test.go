package journey_test

import (
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grantRole runs the operator command as an operator would (`identity admin grant`), against the
// stack's MongoDB, and returns what it printed.
func grantRole(t *testing.T, s *fullStack, verb, email, role string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "identity"), "admin", verb, "--email", email, "--role", role)
	cmd.Env = append(cmd.Environ(), "MONGODB_URI="+s.env.MongoURI, "MONGODB_DATABASE="+s.stack.Database("identity"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("identity admin %s --email %s --role %s: %v\n%s", verb, email, role, err, out)
	}
	return string(out)
}

// TestAdminAPI drives every admin action through the gateway: each refused to a signed-in user and to
// an API key; lock ends every session and key within a few seconds everywhere and sign-in answers
// 423 until unlock; reactivation, sign-out, the second-factor reset, roles, key revocation, search
// and the account's detail.
func TestAdminAPI(t *testing.T) {
	s := startFullStack(t)
	c := s.client
	root := register(t, c, "gracehop")
	user := register(t, c, "userx")
	if out := grantRole(t, s, "grant", strings.ToUpper(root.email), "admin"); !strings.Contains(out, "ROLE_ADMIN granted to account "+root.id) {
		t.Fatalf("grant said %q", out)
	}
	// Unknown e-mail: a clear failure, non-zero exit.
	cmd := exec.Command(filepath.Join(binDir, "identity"), "admin", "grant", "--email", "nobody@example.com", "--role", "admin")
	cmd.Env = append(cmd.Environ(), "MONGODB_URI="+s.env.MongoURI, "MONGODB_DATABASE="+s.stack.Database("identity"))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no account has the email address") {
		t.Errorf("grant to an unknown e-mail: %v %s, want a failure naming the cause", err, out)
	}
	admin := func(method, path string, body any) response {
		t.Helper()
		return c.do(method, path, body, c.stepUp(t, root.access, password)...)
	}
	userKey := newKey(t, c, user, password, "read", "write")
	rootKey := newKey(t, c, root, password, "read", "write")
	base := "/api/v1/admin/accounts/" + user.id

	t.Run("refused to users and API keys", func(t *testing.T) {
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/admin/accounts?q=" + url.QueryEscape(user.email), nil},
			{"GET", base, nil},
			{"POST", base + "/lock", nil},
			{"POST", base + "/unlock", nil},
			{"POST", base + "/reactivate", nil},
			{"POST", base + "/sign-out", nil},
			{"POST", base + "/reset-2fa", nil},
			{"PUT", base + "/roles", map[string]any{"roles": []string{"ROLE_USER", "ROLE_ADMIN"}}},
			{"DELETE", base + "/api-keys/some-key", nil},
			{"DELETE", base, nil},
		} {
			// A signed-in user with a fresh step-up, on the admin's account: 403, nothing learned.
			c.do(r.method, strings.Replace(r.path, user.id, root.id, 1), r.body, c.stepUp(t, user.access, password)...).want(t, http.StatusForbidden, "user: "+r.method+" "+r.path)
			k := c.do(r.method, r.path, r.body, bearer(rootKey)...).want(t, http.StatusForbidden, "admin's API key: "+r.method+" "+r.path)
			if !strings.Contains(str(k.Body, "detail"), "API keys cannot") {
				t.Errorf("key refusal %s, want the API-key message", k.Raw)
			}
		}
		// Writes need a step-up.
		r := c.do("POST", base+"/lock", nil, bearer(root.access)...).want(t, http.StatusUnauthorized, "lock without step-up")
		if r.Header.Get("WWW-Authenticate") != "ReauthToken" {
			t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("search and detail", func(t *testing.T) {
		for _, q := range []string{user.email, strings.ToUpper(user.username), user.id, "userx@exa"} {
			r := admin("GET", "/api/v1/admin/accounts?q="+url.QueryEscape(q), nil).want(t, 200, "search "+q)
			list, _ := r.Body["accounts"].([]any)
			if len(list) != 1 || str(list[0].(map[string]any), "id") != user.id {
				t.Errorf("search %q = %s, want the user", q, r.Raw)
			}
		}
		r := c.do("GET", base, nil, bearer(root.access)...).want(t, 200, "detail")
		sessions, _ := r.Body["sessions"].([]any)
		devices, _ := r.Body["trusted_devices"].([]any)
		keys, _ := r.Body["api_keys"].([]any)
		if len(sessions) == 0 || len(devices) == 0 || len(keys) != 1 || r.Body["sessions_known"] != true {
			t.Errorf("detail = %s, want the user's sessions, devices and key", r.Raw)
		}
		found := false
		for _, s := range sessions {
			found = found || str(s.(map[string]any), "session_id") == user.sid
		}
		if !found {
			t.Errorf("detail sessions %v lack the user's session %s", sessions, user.sid)
		}
		if strings.Contains(string(r.Raw), userKey) {
			t.Error("the detail shows the key's secret")
		}
	})

	t.Run("lock refuses everything, unlock lets the user back", func(t *testing.T) {
		acceptedEverywhere(t, c, user.access, "before the lock")
		c.do("GET", "/api/v1/me", nil, keyHeaders("X-API-Key", userKey)...).want(t, 200, "the user's key before the lock")
		admin("POST", base+"/lock", map[string]any{"reason": "journey: suspected takeover"}).want(t, 200, "lock")
		// Target: refused everywhere within a second; the deadline is generous for a loaded machine.
		refusedEverywhere(t, c, user.access, "the lock")
		for _, path := range []string{"/api/v1/me", "/api/v1/account/security-info", "/api/v1/auth/whoami"} {
			eventually(t, 10*time.Second, "the locked account's key refused at "+path, func() bool {
				return c.do("GET", path, nil, keyHeaders("X-API-Key", userKey)...).Status == 401
			})
		}
		r := c.login(t, user.email, password, user.device).want(t, http.StatusLocked, "login of a locked account")
		if str(r.Body, "detail") != "This account is locked; contact support" {
			t.Errorf("423 body %s", r.Raw)
		}
		admin("POST", base+"/unlock", nil).want(t, 200, "unlock")
		r = c.login(t, user.email, password, user.device).want(t, 200, "login after unlock")
		user.access, user.sid = str(r.Body, "access_token"), str(r.Body, "session_id")
		acceptedEverywhere(t, c, user.access, "after the unlock")
	})

	t.Run("sign-out ends every session", func(t *testing.T) {
		admin("POST", base+"/sign-out", nil).want(t, 200, "sign-out")
		refusedEverywhere(t, c, user.access, "the admin sign-out")
		r := c.login(t, user.email, password, user.device).want(t, 200, "login after sign-out")
		user.access = str(r.Body, "access_token")
	})

	t.Run("reset-2fa lets the user in with the password alone", func(t *testing.T) {
		envelopeOK(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": password}, bearer(user.access)...), "Two-factor authentication enabled successfully")
		if r := c.login(t, user.email, password, user.device).want(t, 200, "login with 2FA"); str(r.Body, "access_token") != "" {
			t.Fatalf("login with 2FA on = %s, want a challenge", r.Raw)
		}
		admin("POST", base+"/reset-2fa", nil).want(t, 200, "reset-2fa")
		r := c.login(t, user.email, password, user.device).want(t, 200, "login after the reset")
		if str(r.Body, "access_token") == "" {
			t.Fatalf("login after the reset = %s, want tokens", r.Raw)
		}
		user.access = str(r.Body, "access_token")
	})

	t.Run("reactivate a deactivated account", func(t *testing.T) {
		admin("POST", base+"/reactivate", nil).want(t, http.StatusConflict, "reactivate an active account")
		envelopeOK(t, c.do("DELETE", "/api/v1/account/deactivate", map[string]any{"password": password}, bearer(user.access)...), "Account deactivated successfully")
		if r := c.login(t, user.email, password, user.device); r.Status == 200 {
			t.Fatal("a deactivated account signed in")
		}
		admin("POST", base+"/reactivate", nil).want(t, 200, "reactivate")
		r := c.login(t, user.email, password, user.device).want(t, 200, "login after reactivation")
		user.access = str(r.Body, "access_token")
	})

	t.Run("roles: support reads and locks, but cannot escalate", func(t *testing.T) {
		r := admin("PUT", base+"/roles", map[string]any{"roles": []string{"ROLE_SUPPORT"}}).want(t, 200, "make the user support")
		if got, _ := r.Body["roles"].([]any); len(got) != 2 {
			t.Errorf("roles = %s", r.Raw)
		}
		c.do("GET", "/api/v1/admin/accounts/"+root.id, nil, bearer(user.access)...).want(t, 200, "support reads")
		c.do("PUT", "/api/v1/admin/accounts/"+user.id+"/roles", map[string]any{"roles": []string{"ROLE_ADMIN"}}, c.stepUp(t, user.access, password)...).
			want(t, http.StatusForbidden, "support makes itself admin")
		c.do("POST", "/api/v1/admin/accounts/"+root.id+"/lock", nil, c.stepUp(t, user.access, password)...).want(t, http.StatusForbidden, "support locks an admin")
		admin("PUT", "/api/v1/admin/accounts/"+root.id+"/roles", map[string]any{"roles": []string{"ROLE_USER"}}).want(t, http.StatusConflict, "admin drops its own admin role")
		// Revoked with the command: refused at once.
		grantRole(t, s, "grant", user.email, "support")
		grantRole(t, s, "revoke", user.email, "support")
		c.do("GET", "/api/v1/admin/accounts/"+root.id, nil, bearer(user.access)...).want(t, http.StatusForbidden, "former support reads")
	})

	t.Run("revoke one API key", func(t *testing.T) {
		key := newKey(t, c, user, password, "read")
		r := c.do("GET", base, nil, bearer(root.access)...).want(t, 200, "detail")
		keys, _ := r.Body["api_keys"].([]any)
		if len(keys) != 1 {
			t.Fatalf("keys = %v, want the new one only (the deactivation revoked the first)", keys)
		}
		keyID := str(keys[0].(map[string]any), "id")
		admin("DELETE", "/api/v1/admin/accounts/"+root.id+"/api-keys/"+keyID, nil).want(t, http.StatusNotFound, "revoke the key as another account's")
		admin("DELETE", base+"/api-keys/"+keyID, nil).want(t, http.StatusNoContent, "revoke the key")
		eventually(t, 10*time.Second, "the revoked key refused by profile", func() bool {
			return c.do("GET", "/api/v1/me", nil, keyHeaders("X-API-Key", key)...).Status == 401
		})
	})

	t.Run("delete starts the deletion", func(t *testing.T) {
		admin("DELETE", "/api/v1/admin/accounts/"+root.id, nil).want(t, http.StatusConflict, "admin deletes itself")
		r := admin("DELETE", base, nil).want(t, http.StatusAccepted, "delete")
		if str(r.Body, "delete_at") == "" {
			t.Errorf("202 without delete_at: %s", r.Raw)
		}
		// The owner sees it scheduled, and the account's sessions have ended.
		admin("DELETE", base, nil).want(t, http.StatusConflict, "delete again")
		c.do("GET", "/api/v1/auth/session/validate", nil, bearer(user.access)...).want(t, http.StatusUnauthorized, "the user's token after the deletion was scheduled")
	})
}
