package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// The public username endpoints (check, search, lookup) share one per-IP limit, stored in MongoDB
// like the other limits; past it they answer the 429 envelope with Retry-After. Signed-in username
// endpoints and other IPs are not affected.
func TestUsernameLookupsPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.usernameLookups = throttle.Limit{Max: 3, Window: time.Minute} })
	reg := h.register(t, "ada@example.com", map[string]any{"username": "ada", "first_name": "Ada", "device_id": "laptop"})
	get := func(path, ip string) response {
		return h.do(t, request{method: http.MethodGet, path: path, ip: ip})
	}
	paths := []string{
		"/api/v1/account/username/check?username=someone",
		"/api/v1/account/username/search?q=ad",
		"/api/v1/account/username/ada",
	}
	for _, p := range paths {
		if r := get(p, "203.0.113.1"); r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s, want 200 within the limit", p, r.status, r.raw)
		}
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			wantTooManyEnvelope(t, get(p, "203.0.113.1"), "GET "+p+" past the limit")
		})
	}
	if r := get(paths[2], "203.0.113.2"); r.status != http.StatusOK {
		t.Errorf("from another IP = %d %s, want 200", r.status, r.raw)
	}
	r := h.do(t, request{method: http.MethodGet, path: "/api/v1/account/username/can-change", ip: "203.0.113.1", token: reg.str("access_token")})
	if r.status != http.StatusOK {
		t.Errorf("signed-in can-change = %d %s, want 200 (not limited)", r.status, r.raw)
	}
}
