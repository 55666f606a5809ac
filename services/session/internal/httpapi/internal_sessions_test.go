package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestInternalListAccountSessions: identity's admin API reads an account's live sessions, with their
// metadata and without any token; only the internal token opens it, and ended sessions are gone.
func TestInternalListAccountSessions(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	laptop := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	phone := s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone)
	s.createSessionAs(t, "acc-2", "theirs", "WEB", firefoxLinux)
	path := "/internal/v1/accounts/acc-1/sessions"

	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no internal token", "", 401},
		{"user token", "Bearer " + laptop.AccessToken, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, s.internal, http.MethodGet, path, tc.auth, ""); r.status != tc.want {
				t.Fatalf("status %d body %s, want %d", r.status, r.raw, tc.want)
			}
		})
	}

	r := do(t, s.internal, http.MethodGet, path, "Bearer "+internalToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d body %s", r.status, r.raw)
	}
	list, _ := r.body["sessions"].([]any)
	got := map[string]map[string]any{}
	for _, v := range list {
		m := v.(map[string]any)
		got[m["sessionId"].(string)] = m
	}
	if len(got) != 2 || got[laptop.SessionID] == nil || got[phone.SessionID] == nil {
		t.Fatalf("sessions = %s, want exactly acc-1's two", r.raw)
	}
	if m := got[laptop.SessionID]; m["deviceName"] != "laptop" || m["platform"] != "WEB" || m["userAgent"] != firefoxLinux || m["createdAt"] == nil {
		t.Errorf("laptop session = %v, want its device, platform, user agent and times", m)
	}
	for _, secret := range []string{laptop.AccessToken, laptop.RefreshToken} {
		if strings.Contains(r.raw, secret) {
			t.Error("the listing carries a token")
		}
	}

	if r := do(t, s.internal, http.MethodPost, "/internal/v1/accounts/acc-1/sessions/revoke", "Bearer "+internalToken, `{"reason":"admin_sign_out"}`); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	r = do(t, s.internal, http.MethodGet, path, "Bearer "+internalToken, "")
	if list, _ := r.body["sessions"].([]any); r.status != 200 || len(list) != 0 {
		t.Errorf("after revoking: %d %s, want no sessions", r.status, r.raw)
	}
	r = do(t, s.internal, http.MethodGet, "/internal/v1/accounts/nobody/sessions", "Bearer "+internalToken, "")
	if list, ok := r.body["sessions"].([]any); r.status != 200 || !ok || len(list) != 0 {
		t.Errorf("unknown account: %d %s, want an empty list", r.status, r.raw)
	}
}
