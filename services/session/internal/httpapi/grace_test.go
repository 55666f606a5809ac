package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestParallelRefreshesKeepTheSession: five refreshes with one token at once (a client's tabs) all
// answer 200 with one and the same pair, no-store, and the session stays signed in.
func TestParallelRefreshesKeepTheSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{RefreshGrace: 10 * time.Second})
	created := s.createSession(t, "acc-1")

	const racers = 5
	answers := make([]response, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { answers[i] = s.refresh(t, created.RefreshToken) })
	}
	wg.Wait()
	for i, r := range answers {
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d: status %d body %s, want 200", i, r.status, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("refresh %d: Cache-Control %q, want no-store", i, r.header.Get("Cache-Control"))
		}
		if r.body["refresh_token"] != answers[0].body["refresh_token"] || r.body["access_token"] != answers[0].body["access_token"] {
			t.Errorf("refresh %d returned another pair than refresh 0", i)
		}
	}
	access := answers[0].body["access_token"].(string)
	if r := do(t, s.public, http.MethodGet, "/api/v1/auth/token-health", "Bearer "+access, ""); r.status != http.StatusOK {
		t.Errorf("access token after parallel refreshes: status %d body %s, want 200", r.status, r.raw)
	}
	if r := s.refresh(t, answers[0].body["refresh_token"].(string)); r.status != http.StatusOK {
		t.Errorf("next refresh with the shared token: status %d body %s, want 200", r.status, r.raw)
	}
}
