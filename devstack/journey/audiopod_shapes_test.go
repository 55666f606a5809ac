package journey_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// wantTypes fails unless obj has every field of want with a value of the JSON type named ("string",
// "bool", "number", "object", "array", "null", or "string|null").
func wantTypes(t *testing.T, what string, obj map[string]any, want map[string]string) {
	t.Helper()
	for field, typ := range want {
		v, ok := obj[field]
		if !ok {
			t.Errorf("%s lacks %s: %v", what, field, obj)
			continue
		}
		got := "null"
		switch v.(type) {
		case string:
			got = "string"
		case bool:
			got = "bool"
		case float64:
			got = "number"
		case map[string]any:
			got = "object"
		case []any:
			got = "array"
		}
		if got != typ && !(typ == "string|null" && (got == "string" || got == "null")) {
			t.Errorf("%s.%s = %#v (%s), want %s", what, field, v, got, typ)
		}
	}
}

// TestAudioPodShapes: the AudioPod paths answer the shapes of the original account page (issue 15
// item 2), through the gateway, with Latchkey's extra fields alongside; GitHub links and signs in
// with an access token proven at a local GitHub API.
func TestAudioPodShapes(t *testing.T) {
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	c := startStack(t, withOIDC(iss), withServiceEnv("identity", gh.Env()), withLocationHeader)
	a := register(t, c, "podshape")

	t.Run("GET /api/v1/auth/me has is_superuser", func(t *testing.T) {
		var me map[string]any
		eventually(t, 10*time.Second, "the profile of the new account", func() bool {
			r := c.do("GET", "/api/v1/auth/me", nil, bearer(a.access)...)
			me = r.Body
			return r.Status == 200
		})
		wantTypes(t, "me", me, map[string]string{"id": "string", "is_superuser": "bool", "is_active": "bool", "is_verified": "bool"})
		if me["is_superuser"] != false {
			t.Errorf("is_superuser = %v, want false", me["is_superuser"])
		}
	})

	sessionFields := map[string]string{
		"session_id": "string", "user_id": "string", "device_info": "string", "ip_address": "string", "user_agent": "string",
		"created_at": "string", "last_active": "string", "expires_at": "string", "is_current": "bool",
	}
	t.Run("GET /api/v1/auth/sessions is a bare array with device_info a string", func(t *testing.T) {
		list := jsonList(t, c.do("GET", "/api/v1/auth/sessions", nil, append(bearer(a.access), "User-Agent", firefoxOnLinux)...).want(t, 200, "sessions"))
		if len(list) != 1 {
			t.Fatalf("sessions = %v, want 1", list)
		}
		wantTypes(t, "session", list[0], sessionFields)
		if list[0]["is_current"] != true || list[0]["user_id"] != a.id {
			t.Errorf("session = %v", list[0])
		}
	})
	t.Run("GET /api/v1/auth/session/validate has the original session_info", func(t *testing.T) {
		s := login(t, c, a, firefoxOnLinux)
		r := c.do("GET", "/api/v1/auth/session/validate", nil, bearer(s.access)...).want(t, 200, "validate")
		info, _ := r.Body["session_info"].(map[string]any)
		wantTypes(t, "session_info", info, map[string]string{
			"session_id": "string", "user_id": "string", "device_info": "string", "created_at": "string",
			"last_active": "string", "expires_at": "string", "is_current": "bool",
		})
		if info["device_info"] != "Firefox 128.0 on Linux" || info["is_current"] != true || info["user_id"] != a.id {
			t.Errorf("session_info = %v", info)
		}
	})

	ghUser := githubtest.User{ID: 9001, Login: "podshape", Email: "podshape@users.example", EmailVerified: true}
	link := func(accountID, token string) map[string]any {
		return map[string]any{"provider": "github", "provider_account_id": accountID, "type": "oauth", "access_token": token,
			"refresh_token": "ghr_x", "expires_at": 1893456000, "scope": "read:user,user:email"}
	}
	t.Run("POST /api/v1/auth/account-providers takes the original body, proven", func(t *testing.T) {
		ha := c.stepUp(t, a.access, password)
		c.do("POST", "/api/v1/auth/account-providers", link("9002", gh.Token(ghUser)), ha...).want(t, 400, "provider_account_id of another GitHub account")
		c.do("POST", "/api/v1/auth/account-providers", link("9001", "gho_forged"), ha...).want(t, 400, "forged token")
		// A token GitHub issued to another OAuth app, for the same person, proves nothing to Latchkey.
		c.do("POST", "/api/v1/auth/account-providers", link("9001", gh.TokenFor(githubtest.ForeignClientID, ghUser)), ha...).want(t, 400, "another app's token")
		c.do("POST", "/api/v1/auth/account-providers", link("9001", gh.Token(ghUser)), bearer(a.access)...).want(t, 401, "without step-up")
		r := c.do("POST", "/api/v1/auth/account-providers", link("9001", gh.Token(ghUser)), ha...).want(t, 201, "link github")
		if str(r.Body, "provider") != "github" || str(r.Body, "provider_account_id") != strconv.Itoa(9001) {
			t.Errorf("link = %s", r.Raw)
		}
		c.do("POST", "/api/v1/auth/account-providers", link("9001", gh.Token(ghUser)), ha...).want(t, 409, "linked again")
		list := jsonList(t, c.do("GET", "/api/v1/auth/account-providers", nil, bearer(a.access)...).want(t, 200, "providers"))
		if len(list) != 1 {
			t.Fatalf("providers = %v, want github", list)
		}
		wantTypes(t, "provider", list[0], map[string]string{"provider": "string", "provider_account_id": "string"})
		if list[0]["provider"] != "github" || list[0]["provider_account_id"] != "9001" {
			t.Errorf("provider = %v", list[0])
		}
	})
	t.Run("GitHub sign-in with an access token", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/oauth/github", map[string]any{"access_token": gh.Token(ghUser), "device_id": a.device, "timezone": "Europe/London"},
			"X-Client-Geo", "London, GB").want(t, 200, "github sign-in")
		access := str(r.Body, "access_token")
		if access == "" || str(r.Body, "user", "id") != a.id {
			t.Fatalf("github sign-in = %s, want a session of %s", r.Raw, a.id)
		}
		c.do("POST", "/api/v1/auth/oauth/github", map[string]any{"access_token": "gho_forged"}).want(t, 401, "forged token")
		c.do("POST", "/api/v1/auth/oauth/github", map[string]any{"access_token": gh.TokenFor(githubtest.ForeignClientID, ghUser)}).want(t, 401, "another app's token")

		d := c.do("GET", "/api/v1/auth/devices?include_inactive=true", nil, bearer(access)...).want(t, 200, "devices")
		wantTypes(t, "devices", d.Body, map[string]string{"devices": "array", "total_count": "number", "active_count": "number",
			"trusted_count": "number", "current_device": "object"})
		devs := envelopeField(t, d, "devices")
		if len(devs) != 1 {
			t.Fatalf("devices = %s, want the registering device", d.Raw)
		}
		wantTypes(t, "device", devs[0], map[string]string{"timezone": "string|null", "last_login_method": "string|null",
			"is_blocked": "bool", "current_session_id": "string|null", "location": "string|null"})
		if devs[0]["last_login_method"] != "oauth:github" || devs[0]["timezone"] != "Europe/London" || devs[0]["location"] != "London, GB" ||
			devs[0]["current_session_id"] != str(r.Body, "session_id") || devs[0]["is_blocked"] != false {
			t.Errorf("device = %v, want the GitHub sign-in's method, time zone, location and session", devs[0])
		}
	})
}
