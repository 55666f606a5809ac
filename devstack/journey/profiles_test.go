package journey_test

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crossService is how long an effect that travels over Kafka (profile.updated into identity's
// projection, account.updated into the profile's) may take on a loaded machine. The behaviour target is
// under a second; the deadline is generous so the test stays stable.
const crossService = 15 * time.Second

// search runs GET /api/v1/account/username/search and returns the envelope's data.
func (c *client) search(t *testing.T, q string, page, size int) map[string]any {
	t.Helper()
	path := "/api/v1/account/username/search?q=" + url.QueryEscape(q)
	if page >= 0 {
		path += "&page=" + strconv.Itoa(page)
	}
	if size > 0 {
		path += "&size=" + strconv.Itoa(size)
	}
	r := c.do("GET", path, nil).want(t, 200, "search "+q)
	if r.Body["success"] != true {
		t.Fatalf("search body = %s, want the success envelope", r.Raw)
	}
	data, _ := r.Body["data"].(map[string]any)
	return data
}

// userNames lists users[].userName of a search answer.
func userNames(data map[string]any) []string {
	var out []string
	users, _ := data["users"].([]any)
	for _, u := range users {
		out = append(out, str(u.(map[string]any), "userName"))
	}
	return out
}

// TestProfilesAndUsernames walks issue 5 through the gateway: profile edits in both wire styles and
// their validation, the username endpoints of the account API (items 10–14), and the projections
// between the services (a display name reaches identity's search, a username change reaches the
// profile, a phone set through a profile path is identity's pending phone).
func TestProfilesAndUsernames(t *testing.T) {
	c := startStack(t)
	ada := register(t, c, "ada")
	bob := register(t, c, "bob")
	cyd := register(t, c, "cyd")

	t.Run("PATCH /api/v1/me stores the profile and answers it", func(t *testing.T) {
		r := c.do("PATCH", "/api/v1/me", map[string]any{
			"first_name": "Ada", "last_name": "King", "display_name": "Countess Ada", "locale": "en-gb",
			"timezone": "Europe/London", "bio": "Analyst", "location": "London", "avatar_url": "https://cdn.example.com/ada.png",
		}, bearer(ada.access)...).want(t, 200, "PATCH /api/v1/me")
		for field, want := range map[string]string{"display_name": "Countess Ada", "locale": "en-GB", "timezone": "Europe/London", "last_name": "King", "avatar_url": "https://cdn.example.com/ada.png", "bio": "Analyst", "location": "London"} {
			if got := str(r.Body, field); got != want {
				t.Errorf("%s = %q, want %q (%s)", field, got, want, r.Raw)
			}
		}
		g := c.do("GET", "/api/v1/me", nil, bearer(ada.access)...).want(t, 200, "GET /api/v1/me")
		if str(g.Body, "display_name") != "Countess Ada" || str(g.Body, "email") != ada.email {
			t.Errorf("GET after PATCH = %s", g.Raw)
		}
	})

	t.Run("profile validation answers 422 in the plain style", func(t *testing.T) {
		for _, tc := range []struct{ name, body, field string }{
			{"locale not BCP 47", `{"locale":"english please"}`, "locale"},
			{"timezone not IANA", `{"timezone":"Europe/Atlantis"}`, "timezone"},
			{"phone not E.164", `{"phone":"555-0123"}`, "phone"},
			{"display name too long", `{"display_name":"` + strings.Repeat("d", 101) + `"}`, "display_name"},
			{"first name too long", `{"first_name":"` + strings.Repeat("f", 101) + `"}`, "first_name"},
			{"bio too long", `{"bio":"` + strings.Repeat("b", 501) + `"}`, "bio"},
			{"avatar not https", `{"avatar_url":"http://cdn.example.com/a.png"}`, "avatar_url"},
			{"wrong type", `{"first_name":["Ada"]}`, "first_name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("PATCH", "/api/v1/me", tc.body, bearer(ada.access)...).want(t, 422, tc.name)
				detail, _ := r.Body["detail"].([]any)
				if len(detail) == 0 || !strings.Contains(string(r.Raw), `"`+tc.field+`"`) {
					t.Fatalf("body = %s, want a detail entry for %s", r.Raw, tc.field)
				}
			})
		}
		c.do("PATCH", "/api/v1/me", `{"display_name":"x"}`).want(t, 401, "PATCH without a token")
		c.do("PATCH", "/api/v1/auth/me", `{"full_name":"x"}`).want(t, 401, "PATCH /api/v1/auth/me without a token")
		c.do("GET", "/api/v1/auth/me", nil).want(t, 401, "GET /api/v1/auth/me without a token")
	})

	t.Run("a display name change reaches identity's search and lookup", func(t *testing.T) {
		start := time.Now()
		eventually(t, crossService, "search by display name finds ada", func() bool {
			data := c.search(t, "countess", -1, 0)
			return slices.Equal(userNames(data), []string{"ada"})
		})
		t.Logf("display name searchable %s after the PATCH answered", time.Since(start).Round(time.Millisecond))
		data := c.search(t, "@Countess", 0, 4)
		users, _ := data["users"].([]any)
		u := users[0].(map[string]any)
		if str(u, "id") != ada.id || str(u, "displayName") != "Countess Ada" || str(u, "avatarUrl") != "https://cdn.example.com/ada.png" || data["totalCount"] != float64(1) || data["hasMore"] != false {
			t.Fatalf("search answer = %v", data)
		}
		r := c.do("GET", "/api/v1/account/username/@ADA", nil).want(t, 200, "lookup @ADA")
		if str(r.Body, "message") != "User found" || str(r.Body, "data", "userName") != "ada" || str(r.Body, "data", "displayName") != "Countess Ada" || str(r.Body, "data", "id") != ada.id {
			t.Fatalf("lookup = %s", r.Raw)
		}
		c.do("GET", "/api/v1/account/username/%40ada", nil).want(t, 200, "lookup of an escaped @ada")
		nf := c.do("GET", "/api/v1/account/username/nobody_here", nil).want(t, 404, "lookup of an unknown name")
		if nf.Body["success"] != false || str(nf.Body, "message") != "User not found" || str(nf.Body, "httpStatus") != "NOT_FOUND" {
			t.Fatalf("404 body = %s", nf.Raw)
		}
	})

	t.Run("search pages are stable and complete", func(t *testing.T) {
		// All three registered with last name Lovelace; ada renamed herself King above.
		for _, a := range []account{bob, cyd} {
			c.do("PATCH", "/api/v1/me", map[string]any{"display_name": "Lovelace fan " + a.username}, bearer(a.access)...).want(t, 200, "display name of "+a.username)
		}
		eventually(t, crossService, "both fans searchable by display name", func() bool {
			return c.search(t, "lovelace fan", -1, 0)["totalCount"] == float64(2)
		})
		first := c.search(t, "lovelace", 0, 1)
		second := c.search(t, "lovelace", 1, 1)
		beyond := c.search(t, "lovelace", 2, 1)
		if first["totalCount"] != float64(2) || first["hasMore"] != true || second["hasMore"] != false || len(userNames(beyond)) != 0 {
			t.Fatalf("pages: %v / %v / %v", first, second, beyond)
		}
		if got := append(userNames(first), userNames(second)...); !slices.Equal(got, []string{"bob", "cyd"}) {
			t.Fatalf("pages hold %v, want bob then cyd", got)
		}
	})

	t.Run("search and lookup validation", func(t *testing.T) {
		for _, tc := range []struct{ name, path, field string }{
			{"query too short", "/api/v1/account/username/search?q=a", "q"},
			{"@ does not count", "/api/v1/account/username/search?q=@a", "q"},
			{"query missing", "/api/v1/account/username/search", "q"},
			{"size above 20", "/api/v1/account/username/search?q=ada&size=21", "size"},
			{"size zero", "/api/v1/account/username/search?q=ada&size=0", "size"},
			{"negative page", "/api/v1/account/username/search?q=ada&page=-1", "page"},
			{"page not a number", "/api/v1/account/username/search?q=ada&page=two", "page"},
			{"check without a username", "/api/v1/account/username/check", "username"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("GET", tc.path, nil).want(t, 422, tc.name)
				data, _ := r.Body["data"].(map[string]any)
				if r.Body["success"] != false || str(r.Body, "httpStatus") != "UNPROCESSABLE_ENTITY" || data[tc.field] == nil {
					t.Fatalf("body = %s, want an envelope 422 naming %s", r.Raw, tc.field)
				}
			})
		}
	})

	t.Run("username check", func(t *testing.T) {
		for _, tc := range []struct {
			name, username, want string
			available, suggest   bool
		}{
			{"free", "Ada_Lovelace", "ada_lovelace", true, false},
			{"taken, any case", "BOB", "bob", false, true},
			{"reserved word", "admin", "admin", false, false},
			{"bad charset", "ada-l", "ada-l", false, false},
			{"too short", "ab", "ab", false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("GET", "/api/v1/account/username/check?username="+url.QueryEscape(tc.username), nil).want(t, 200, "check "+tc.username)
				data, _ := r.Body["data"].(map[string]any)
				if data["username"] != tc.want || data["available"] != tc.available {
					t.Fatalf("check %q = %s", tc.username, r.Raw)
				}
				suggestions, _ := data["suggestions"].([]any)
				if tc.suggest != (len(suggestions) > 0) {
					t.Fatalf("check %q suggestions = %v", tc.username, data["suggestions"])
				}
				for _, s := range suggestions {
					again := c.do("GET", "/api/v1/account/username/check?username="+url.QueryEscape(s.(string)), nil).want(t, 200, "check a suggestion")
					if str(again.Body, "data", "username") != s || again.Body["data"].(map[string]any)["available"] != true {
						t.Fatalf("suggestion %v is not available: %s", s, again.Raw)
					}
				}
			})
		}
	})

	t.Run("username change: history, reservation, frequency limit, projections", func(t *testing.T) {
		r := c.do("GET", "/api/v1/account/username/can-change", nil, bearer(ada.access)...).want(t, 200, "can-change")
		if str(r.Body, "data", "currentUsername") != "ada" || r.Body["data"].(map[string]any)["canChange"] != true {
			t.Fatalf("can-change = %s", r.Raw)
		}
		c.do("GET", "/api/v1/account/username/can-change", nil).want(t, 401, "can-change without a token")
		for _, tc := range []struct {
			name, body string
			status     int
			message    string
		}{
			{"taken", `{"username":"Bob"}`, 400, "Username already taken"},
			{"reserved word", `{"username":"support"}`, 422, "Validation failed"},
			{"same as now", `{"username":"ADA"}`, 400, "New username must be different from the current one"},
			{"missing", `{}`, 422, "Validation failed"},
			{"bad charset", `{"username":"ada king"}`, 422, "Validation failed"},
			{"too long", `{"username":"` + strings.Repeat("a", 31) + `"}`, 422, "Validation failed"},
			{"not JSON", `{"username":`, 400, "Malformed JSON request body"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("POST", "/api/v1/account/username/change", tc.body, bearer(ada.access)...).want(t, tc.status, tc.name)
				if str(r.Body, "message") != tc.message {
					t.Fatalf("body = %s, want message %q", r.Raw, tc.message)
				}
			})
		}

		r = c.do("POST", "/api/v1/account/username/change", map[string]any{"username": "@Ada_King"}, bearer(ada.access)...).want(t, 200, "change")
		if str(r.Body, "message") != "Username changed successfully" || str(r.Body, "data", "oldUsername") != "ada" || str(r.Body, "data", "newUsername") != "ada_king" {
			t.Fatalf("change = %s", r.Raw)
		}
		c.do("GET", "/api/v1/account/username/ada_king", nil).want(t, 200, "lookup of the new name")
		c.do("GET", "/api/v1/account/username/ada", nil).want(t, 404, "lookup of the old name")
		check := c.do("GET", "/api/v1/account/username/check?username=ada", nil).want(t, 200, "check the old name")
		if check.Body["data"].(map[string]any)["available"] != false {
			t.Fatalf("the old name is not reserved: %s", check.Raw)
		}
		c.do("POST", "/api/v1/account/username/change", map[string]any{"username": "ada"}, bearer(bob.access)...).want(t, 400, "another account taking the reserved old name")

		r = c.do("GET", "/api/v1/account/username/can-change", nil, bearer(ada.access)...).want(t, 200, "can-change after a change")
		if r.Body["data"].(map[string]any)["canChange"] != false || str(r.Body, "data", "currentUsername") != "ada_king" || str(r.Body, "data", "nextChangeAt") == "" {
			t.Fatalf("can-change after a change = %s", r.Raw)
		}
		r = c.do("POST", "/api/v1/account/username/change", map[string]any{"username": "ada_again"}, bearer(ada.access)...).want(t, 400, "second change within the interval")
		if str(r.Body, "message") != "Username change limit reached" || str(r.Body, "data") != "Username change limit reached" {
			t.Fatalf("limit body = %s", r.Raw)
		}

		eventually(t, crossService, "the profile shows the new username (account.updated)", func() bool {
			r := c.do("GET", "/api/v1/me", nil, bearer(ada.access)...).want(t, 200, "GET /api/v1/me")
			return str(r.Body, "username") == "ada_king"
		})
		if got := userNames(c.search(t, "ada_k", -1, 0)); !slices.Equal(got, []string{"ada_king"}) {
			t.Fatalf("search by the new name = %v", got)
		}
		if got := userNames(c.search(t, "ada", -1, 0)); slices.Contains(got, "ada") {
			t.Fatalf("search still shows the old name: %v", got)
		}
		login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": "ada_king", "password": password, "device_id": ada.device}).want(t, 200, "login with the new username")
		if login.Body["onboarding"] == nil || login.Body["onboarding"].(map[string]any)["has_username"] != true || login.Body["onboarding"].(map[string]any)["is_primary_complete"] != true {
			t.Fatalf("login onboarding = %s", login.Raw)
		}
	})

	t.Run("GET/PATCH /api/v1/auth/me", func(t *testing.T) {
		r := c.do("GET", "/api/v1/auth/me", nil, bearer(cyd.access)...).want(t, 200, "GET /api/v1/auth/me")
		if str(r.Body, "id") != cyd.id || str(r.Body, "full_name") != "Ada Lovelace" || r.Body["is_verified"] != true || r.Body["is_active"] != true || r.Body["onboarding_completed"] != true || r.Body["phone_verified"] != false {
			t.Fatalf("GET /api/v1/auth/me = %s", r.Raw)
		}
		for _, tc := range []struct {
			name, body string
			status     int
			detail     string
		}{
			{"invalid phone", `{"phone_number":"12ab"}`, 400, "Invalid phone number format. Use international format (+1234567890)"},
			{"unsupported country code", `{"phone_number":"712345678","country_code":"0"}`, 400, "Unsupported country code"},
			{"user_type outside the enum", `{"user_type":"enterprise"}`, 422, ""},
			{"audio_usage outside the enum", `{"audio_usage":"Gaming"}`, 422, ""},
			{"referral_source too long", `{"referral_source":"` + strings.Repeat("r", 101) + `"}`, 422, ""},
			{"full_name too long", `{"full_name":"` + strings.Repeat("n", 202) + `"}`, 422, ""},
			{"wrong type", `{"user_type":1}`, 422, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("PATCH", "/api/v1/auth/me", tc.body, bearer(cyd.access)...).want(t, tc.status, tc.name)
				if tc.detail != "" && str(r.Body, "detail") != tc.detail {
					t.Fatalf("body = %s, want detail %q", r.Raw, tc.detail)
				}
			})
		}
		r = c.do("PATCH", "/api/v1/auth/me", map[string]any{
			"full_name": "Cyd Charisse", "user_type": "company", "audio_usage": "voice_actor", "referral_source": "friend",
			"phone_number": "0712 345 678", "country_code": "+254",
		}, bearer(cyd.access)...).want(t, 200, "PATCH /api/v1/auth/me")
		if str(r.Body, "full_name") != "Cyd Charisse" || str(r.Body, "user_type") != "company" || str(r.Body, "audio_usage") != "voice_actor" ||
			str(r.Body, "phone_number") != "+254712345678" || str(r.Body, "country_code") != "+254" || r.Body["phone_verified"] != false {
			t.Fatalf("PATCH /api/v1/auth/me = %s", r.Raw)
		}
		me := c.do("GET", "/api/v1/me", nil, bearer(cyd.access)...).want(t, 200, "GET /api/v1/me")
		if str(me.Body, "phone") != "+254712345678" || me.Body["phone_verified"] != false || str(me.Body, "first_name") != "Cyd" || str(me.Body, "last_name") != "Charisse" {
			t.Fatalf("GET /api/v1/me after the AudioPod PATCH = %s", me.Raw)
		}
		// Identity recorded the number as cyd's pending phone: it blocks nobody, so a second account may
		// set it too, and cyd keeps hers until one of them answers the number's code.
		eventually(t, crossService, "cyd's new name in identity's search", func() bool {
			return slices.Equal(userNames(c.search(t, "charisse", -1, 0)), []string{"cyd"})
		})
		r = c.do("PATCH", "/api/v1/me", map[string]any{"phone": "+254712345678"}, bearer(bob.access)...).want(t, 200, "another account setting the unverified number")
		if str(r.Body, "phone") != "+254712345678" || r.Body["phone_verified"] != false {
			t.Fatalf("bob's PATCH = %s", r.Raw)
		}
		if r := c.do("GET", "/api/v1/auth/me", nil, bearer(cyd.access)...).want(t, 200, "GET /api/v1/auth/me"); str(r.Body, "phone_number") != "+254712345678" || r.Body["phone_verified"] != false {
			t.Fatalf("cyd's pending number after bob's = %s", r.Raw)
		}
	})

	t.Run("onboarding follows the profile: no first name, no lookup", func(t *testing.T) {
		c.do("PATCH", "/api/v1/auth/me", map[string]any{"full_name": ""}, bearer(bob.access)...).want(t, 200, "clear bob's name")
		eventually(t, crossService, "bob hidden from lookup once his name is gone", func() bool {
			return c.do("GET", "/api/v1/account/username/bob", nil).Status == 404
		})
		login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": "bob", "password": password, "device_id": bob.device}).want(t, 200, "login bob")
		if login.Body["onboarding"].(map[string]any)["is_primary_complete"] != false {
			t.Fatalf("login onboarding = %s", login.Raw)
		}
		r := c.do("GET", "/api/v1/auth/me", nil, bearer(bob.access)...).want(t, 200, "GET /api/v1/auth/me")
		if r.Body["onboarding_completed"] != false {
			t.Fatalf("onboarding_completed = %v", r.Body["onboarding_completed"])
		}
		c.do("PATCH", "/api/v1/me", map[string]any{"first_name": "Bob"}, bearer(bob.access)...).want(t, 200, "bob's name back")
		eventually(t, crossService, "bob visible again", func() bool {
			return c.do("GET", "/api/v1/account/username/bob", nil).Status == 200
		})
	})
}
