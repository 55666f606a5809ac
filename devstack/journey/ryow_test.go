package journey_test

import (
	"fmt"
	"testing"
)

// TestReadYourOwnWrites: a caller never sees its account older than its own last change, although the
// profile service answers from a projection of identity's facts. The bugs: right after sign-up
// GET /api/v1/auth/me said is_verified false (8 of 8 parallel sign-ups: account.created was applied
// without its verification flags, and the read raced the account.updated event), and after a
// username change GET /api/v1/me showed the old name about once in 10 (the read raced Kafka). Now
// identity delivers its account events to the profile projection before it answers the change, and
// account.created carries the whole snapshot.
func TestReadYourOwnWrites(t *testing.T) {
	c := startStack(t, withServiceEnv("identity", map[string]string{
		"USERNAME_CHANGE_INTERVAL": "0s", "USERNAME_RESERVATION_PERIOD": "0s", // many changes in a row
	}))

	t.Run("8 parallel sign-ups each read their profile at once", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprintf("signup %d", i), func(t *testing.T) {
				t.Parallel()
				a := register(t, c, fmt.Sprintf("ryow_%d", i))
				r := c.do("GET", "/api/v1/auth/me", nil, bearer(a.access)...).want(t, 200, "GET /api/v1/auth/me right after sign-up")
				if r.Body["is_verified"] != true || r.Body["is_active"] != true || str(r.Body, "full_name") != "Ada Lovelace" || str(r.Body, "email") != a.email {
					t.Errorf("GET /api/v1/auth/me right after sign-up = %s, want is_verified true, is_active, the names and the email", r.Raw)
				}
				me := c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "GET /api/v1/me right after sign-up")
				if str(me.Body, "username") != a.username || str(me.Body, "email") != a.email {
					t.Errorf("GET /api/v1/me right after sign-up = %s, want username %s", me.Raw, a.username)
				}
			})
		}
	})

	t.Run("every username change is read back at once", func(t *testing.T) {
		a := register(t, c, "rye")
		for i := range 12 {
			name := fmt.Sprintf("rye_%d", i)
			c.do("POST", "/api/v1/account/username/change", map[string]any{"username": name}, bearer(a.access)...).want(t, 200, "change to "+name)
			r := c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "GET /api/v1/me after the change")
			if got := str(r.Body, "username"); got != name {
				t.Fatalf("change %d: GET /api/v1/me right after the change says username %q, want %q", i, got, name)
			}
		}
	})
}
