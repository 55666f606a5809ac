package httpapi_test

import (
	"net/http"
	"testing"
)

// geoHeader is the harness's LOCATION_HEADER; its app's peer (0.0.0.0) is a trusted proxy.
const geoHeader = "X-Client-Geo"

// Identity passes the client's location from the trusted ingress's header on to the sessions it
// starts, as the session service records it for its own paths.
func TestSessionsGetTheClientLocation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
	tests := []struct {
		name    string
		headers []string
		want    string
	}{
		{"header set by the ingress", []string{geoHeader, "Nairobi, KE"}, "Nairobi, KE"},
		{"no header", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/auth/login", "", login("ada@example.com", goodPassword, "laptop"), tc.headers...)
			if r.status != http.StatusOK || r.str("access_token") == "" {
				t.Fatalf("login = %d %s", r.status, r.raw)
			}
			reqs := h.sessions.requests()
			if got := reqs[len(reqs)-1]["location"]; got != tc.want {
				t.Errorf("session started with location %q, want %q", got, tc.want)
			}
		})
	}
}
