package journey_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// keyUse is a protected path of one service that an API key reaches: want is the status a valid key
// with read and write scopes gets there.
type keyUse struct {
	service, method, path string
	want                  int
}

// keyUses has a path of each service that authenticates requests.
var keyUses = []keyUse{
	{"identity", "GET", "/api/v1/auth/whoami", http.StatusOK},
	{"profile", "GET", "/api/v1/me", http.StatusOK},
	{"session", "GET", "/api/v1/auth/sessions", http.StatusOK},
}

func keyHeaders(header, key string) []string {
	if header == "Authorization" {
		return bearer(key)
	}
	return []string{"X-API-Key", key}
}

func TestAPIKeys(t *testing.T) {
	s := startFullStack(t)
	c, env := s.client, s.env
	ada := register(t, c, "keyada")
	bob := register(t, c, "keybob")

	// Create: the key is shown once.
	r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "ci", "scopes": []string{"read", "write"}}, c.stepUp(t, ada.access, password)...).
		want(t, http.StatusCreated, "create api key")
	key, keyID := str(r.Body, "key"), str(r.Body, "id")
	if !strings.HasPrefix(key, "lk_live_") || len(key) != 54 || keyID == "" || !strings.HasPrefix(key, str(r.Body, "prefix")) {
		t.Fatalf("created key = %s, want a 54-character lk_live_ key with id and prefix", r.Raw)
	}
	list := c.do("GET", "/api/v1/auth/api-keys", nil, bearer(ada.access)...).want(t, http.StatusOK, "list api keys")
	if strings.Contains(string(list.Raw), key[16:]) || !strings.Contains(string(list.Raw), keyID) {
		t.Fatalf("list = %s, want the key's id without its secret", list.Raw)
	}

	t.Run("a key acts as its owner in every service, in either header", func(t *testing.T) {
		for _, use := range keyUses {
			for _, header := range []string{"Authorization", "X-API-Key"} {
				got := c.do(use.method, use.path, nil, keyHeaders(header, key)...)
				if got.Status != use.want {
					t.Errorf("%s %s %s with the key in %s = %d %s, want %d", use.service, use.method, use.path, header, got.Status, got.Raw, use.want)
				}
			}
		}
		me := c.do("GET", "/api/v1/me", nil, "X-API-Key", key).want(t, http.StatusOK, "profile with key")
		if str(me.Body, "id") != ada.id {
			t.Errorf("/api/v1/me with ada's key = %s, want ada's profile", me.Raw)
		}
		who := c.do("GET", "/api/v1/auth/whoami", nil, bearer(key)...).want(t, http.StatusOK, "whoami with key")
		if str(who.Body, "user_id") != ada.id || str(who.Body, "auth_method") != "api_key" || str(who.Body, "api_key_id") != keyID {
			t.Errorf("whoami = %s, want ada, api_key and the key id", who.Raw)
		}
		out := c.do("POST", "/api/v1/auth/logout", nil, "X-API-Key", key)
		if !strings.Contains(str(out.Body, "detail"), "API keys cannot") {
			t.Errorf("logout with a key = %s, want the API-key refusal", out.Raw)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		writeOnly := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "writer", "scopes": []string{"write"}}, c.stepUp(t, ada.access, password)...).
			want(t, http.StatusCreated, "create write-only key")
		got := c.do("GET", "/api/v1/me", nil, "X-API-Key", str(writeOnly.Body, "key")).want(t, http.StatusForbidden, "read with a write-only key")
		if !strings.Contains(str(got.Body, "detail"), "read scope") {
			t.Errorf("scope refusal = %s, want it to name the read scope", got.Raw)
		}
		for _, path := range []string{"/api/v1/auth/api-keys", "/api/v1/auth/api-keys/" + keyID} {
			method := "GET"
			if strings.HasSuffix(path, keyID) {
				method = "DELETE"
			}
			got := c.do(method, path, nil, bearer(key)...).want(t, http.StatusForbidden, method+" "+path+" with a key")
			if !strings.Contains(str(got.Body, "detail"), "sign in") {
				t.Errorf("%s %s with a key = %s, want the API-key refusal", method, path, got.Raw)
			}
		}
		c.do("DELETE", "/api/v1/auth/api-keys/"+keyID, nil, bearer(bob.access)...).want(t, http.StatusNotFound, "bob revoking ada's key")
		c.do("GET", "/api/v1/me", nil, "X-API-Key", key).want(t, http.StatusOK, "ada's key after bob's attempt")
	})

	t.Run("a malformed key gets the same 401 as a bad token everywhere", func(t *testing.T) {
		malformed := key[:len(key)-1] + flipKeyChar(key[len(key)-1])
		for _, use := range keyUses {
			badJWT := c.do(use.method, use.path, nil, bearer("eyJhbGciOiJFZERTQSJ9.e30.c2ln")...).want(t, http.StatusUnauthorized, use.service+" bad token")
			for _, header := range []string{"Authorization", "X-API-Key"} {
				got := c.do(use.method, use.path, nil, keyHeaders(header, malformed)...).want(t, http.StatusUnauthorized, use.service+" malformed key in "+header)
				if string(got.Raw) != string(badJWT.Raw) || got.Header.Get("WWW-Authenticate") != badJWT.Header.Get("WWW-Authenticate") {
					t.Errorf("%s: malformed key answer %s (%q), bad token %s (%q): want the same", use.service, got.Raw,
						got.Header.Get("WWW-Authenticate"), badJWT.Raw, badJWT.Header.Get("WWW-Authenticate"))
				}
			}
		}
	})

	t.Run("revocation reaches every service", func(t *testing.T) {
		// Every service has verified (and cached) the key above; revoking it must still end it
		// everywhere, through api_key.revoked on Kafka.
		c.do("DELETE", "/api/v1/auth/api-keys/"+keyID, nil, bearer(ada.access)...).want(t, http.StatusNoContent, "revoke")
		for _, use := range keyUses {
			eventually(t, 10*time.Second, use.service+" refuses the revoked key", func() bool {
				return c.do(use.method, use.path, nil, "X-API-Key", key).Status == http.StatusUnauthorized
			})
		}
		c.do("GET", "/api/v1/me", nil, bearer(ada.access)...).want(t, http.StatusOK, "ada's sign-in after revoking a key")
	})

	t.Run("deactivating the account ends its keys everywhere", func(t *testing.T) {
		cat := register(t, c, "keycat")
		r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "cat", "scopes": []string{"read"}}, c.stepUp(t, cat.access, password)...).
			want(t, http.StatusCreated, "create cat's key")
		catKey := str(r.Body, "key")
		for _, use := range keyUses {
			c.do(use.method, use.path, nil, "X-API-Key", catKey).want(t, use.want, use.service+" with cat's key before deactivation")
		}
		c.do("DELETE", "/api/v1/account/deactivate", map[string]any{"password": password}, bearer(cat.access)...).
			want(t, http.StatusOK, "deactivate cat")
		for _, use := range keyUses {
			eventually(t, 10*time.Second, use.service+" refuses the key of a deactivated account", func() bool {
				return c.do(use.method, use.path, nil, "X-API-Key", catKey).Status == http.StatusUnauthorized
			})
		}
		c.do("GET", "/api/v1/me", nil, "X-API-Key", newReadKey(t, c, ada)).want(t, http.StatusOK, "another account's key still works")
	})

	t.Run("an expired key is refused everywhere", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "short", "scopes": []string{"read", "write"}, "expires_in_days": 1}, c.stepUp(t, ada.access, password)...).
			want(t, http.StatusCreated, "create expiring key")
		expiring := str(r.Body, "key")
		if str(r.Body, "expires_at") == "" {
			t.Fatalf("created = %s, want expires_at", r.Raw)
		}
		// A day is too long to wait: move the expiry into the past before any service has seen the key.
		res, err := env.Database("latchkey_identity").Collection("api_keys").UpdateOne(context.Background(),
			bson.M{"_id": str(r.Body, "id")}, bson.M{"$set": bson.M{"expiresAt": time.Now().Add(-time.Second)}})
		if err != nil || res.MatchedCount != 1 {
			t.Fatalf("expire the key in identity's database: %v (matched %v)", err, res)
		}
		for _, use := range keyUses {
			c.do(use.method, use.path, nil, "X-API-Key", expiring).want(t, http.StatusUnauthorized, use.service+" with an expired key")
		}
	})

	// Issue 13 item 2: a key created with a stolen token kept working after the owner reset the
	// password, and changed the verified phone through the profile service.
	t.Run("a password reset ends the account's keys everywhere; a key never changes the phone", func(t *testing.T) {
		dan := register(t, c, "keydan")
		stolen := newKey(t, c, dan, password, "read", "write")
		for _, use := range keyUses {
			c.do(use.method, use.path, nil, "X-API-Key", stolen).want(t, use.want, use.service+" with the key before the reset")
		}
		c.do("PATCH", "/api/v1/me", map[string]any{"phone": "+14155550123"}, "X-API-Key", stolen).want(t, http.StatusForbidden, "PATCH /api/v1/me phone with a key")
		c.do("PATCH", "/api/v1/auth/me", map[string]any{"phone_number": "4155550123", "country_code": "+1"}, "X-API-Key", stolen).want(t, http.StatusForbidden, "PATCH /api/v1/auth/me phone with a key")
		c.do("POST", "/api/v1/account/username/change", map[string]any{"newUsername": "keydan_evil"}, "X-API-Key", stolen).want(t, http.StatusForbidden, "username change with a key")
		if me := c.do("GET", "/api/v1/me", nil, bearer(dan.access)...).want(t, http.StatusOK, "dan's profile"); me.Body["phone"] != nil || str(me.Body, "username") != dan.username {
			t.Errorf("profile after the key's attempts = %s, want no phone and the same username", me.Raw)
		}
		c.do("PATCH", "/api/v1/me", map[string]any{"bio": "written by a script"}, "X-API-Key", stolen).want(t, http.StatusOK, "other profile fields with a key")

		before := c.outboxCount(t, dan.email)
		c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": dan.email}).want(t, 202, "forgot-password")
		code := c.latestCode(t, dan.email, "password_reset", before)
		c.do("POST", "/api/v1/auth/reset-password", map[string]any{"email": dan.email, "otp_code": code, "new_password": "Reset-Pass-99"}).want(t, 200, "reset")
		for _, use := range keyUses {
			eventually(t, 10*time.Second, use.service+" refuses the key after the password reset", func() bool {
				return c.do(use.method, use.path, nil, "X-API-Key", stolen).Status == http.StatusUnauthorized
			})
		}
		// The owner's new key works everywhere at once.
		r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": dan.email, "password": "Reset-Pass-99", "device_id": dan.device}).want(t, 200, "login after the reset")
		dan.access = str(r.Body, "access_token")
		fresh := newKey(t, c, dan, "Reset-Pass-99", "read")
		for _, use := range keyUses {
			c.do(use.method, use.path, nil, "X-API-Key", fresh).want(t, use.want, use.service+" with a key created after the reset")
		}
	})

	t.Run("signing out everywhere ends the account's keys everywhere", func(t *testing.T) {
		eve := register(t, c, "keyeve")
		stolen := newKey(t, c, eve, password, "read")
		for _, use := range keyUses {
			c.do(use.method, use.path, nil, "X-API-Key", stolen).want(t, use.want, use.service+" with the key before sign-out-all")
		}
		envelopeOK(t, c.do("POST", "/api/v1/account/sessions/sign-out-all", map[string]any{"password": password}, bearer(eve.access)...), "Signed out of all devices")
		for _, use := range keyUses {
			eventually(t, 10*time.Second, use.service+" refuses the key after sign-out-all", func() bool {
				return c.do(use.method, use.path, nil, "X-API-Key", stolen).Status == http.StatusUnauthorized
			})
		}
	})
}

// newKey creates a key of a with the scopes.
// newKey creates a key for a, proving the owner's presence with the password pw.
func newKey(t *testing.T, c *client, a account, pw string, scopes ...string) string {
	t.Helper()
	r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "script", "scopes": scopes}, c.stepUp(t, a.access, pw)...).
		want(t, http.StatusCreated, "create a key")
	return str(r.Body, "key")
}

func flipKeyChar(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

// newReadKey creates a fresh read-scoped key for a.
func newReadKey(t *testing.T, c *client, a account) string {
	t.Helper()
	r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "another", "scopes": []string{"read"}}, c.stepUp(t, a.access, password)...).
		want(t, http.StatusCreated, "create another key")
	return str(r.Body, "key")
}
