package journey_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// shortRefreshGrace is the session service's REFRESH_TOKEN_GRACE in the journeys that replay a spent
// refresh token: they wait it out rather than the production default.
const shortRefreshGrace = time.Second

// withShortRefreshGrace configures the stack with shortRefreshGrace.
func withShortRefreshGrace(c *stack.Config) {
	withServiceEnv("session", map[string]string{"REFRESH_TOKEN_GRACE": shortRefreshGrace.String()})(c)
}

// TestParallelRefreshJourney: a client that refreshes five times at once with one token (tabs, a
// retry) stays signed in with the production grace: every answer is 200 with the same pair, not
// cached, and the pair works in the other services. Before the grace, the losers were taken for a
// thief and the session was revoked.
func TestParallelRefreshJourney(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "tabs")

	const racers = 5
	type answer struct {
		status       int
		cacheControl string
		body         map[string]any
		err          error
	}
	answers := make([]answer, racers)
	raw, _ := json.Marshal(map[string]any{"refresh_token": a.refresh})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			resp, err := c.http.Post(c.base+"/api/v1/auth/refresh", "application/json", bytes.NewReader(raw))
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers[i] = answer{status: resp.StatusCode, cacheControl: resp.Header.Get("Cache-Control")}
			_ = json.Unmarshal(b, &answers[i].body)
		})
	}
	wg.Wait()
	for i, an := range answers {
		if an.err != nil || an.status != http.StatusOK {
			t.Fatalf("refresh %d: %v status %d body %v, want 200", i, an.err, an.status, an.body)
		}
		if an.cacheControl != "no-store" {
			t.Errorf("refresh %d: Cache-Control %q, want no-store", i, an.cacheControl)
		}
		if str(an.body, "refresh_token") != str(answers[0].body, "refresh_token") || str(an.body, "access_token") != str(answers[0].body, "access_token") {
			t.Errorf("refresh %d returned another pair than refresh 0", i)
		}
	}
	access, refresh := str(answers[0].body, "access_token"), str(answers[0].body, "refresh_token")
	c.do("GET", "/api/v1/me", nil, bearer(access)...).want(t, 200, "the shared access token at the profile service")
	c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": refresh}).want(t, 200, "the shared refresh token")
}
