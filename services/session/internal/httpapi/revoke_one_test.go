package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestInternalRevokeOneSession: {"sessionId": ...} on the internal revoke path ends that one session
// of the account ("this wasn't me"), publishes session.revoked, refuses its refresh token, and leaves
// the account's other sessions and other accounts' sessions alone.
func TestInternalRevokeOneSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	keep := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	reported := s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone)
	stranger := s.createSessionAs(t, "acc-2", "theirs", "WEB", firefoxLinux)
	path := "/internal/v1/accounts/acc-1/sessions/revoke"
	auth := "Bearer " + internalToken

	tests := []struct {
		name        string
		path        string
		body        string
		wantStatus  int
		wantRevoked float64
	}{
		{"malformed sessionId", path, `{"sessionId":"x","reason":"not_me"}`, 422, 0},
		{"with exceptSessionId", path, `{"sessionId":"` + reported.SessionID + `","exceptSessionId":"` + keep.SessionID + `","reason":"not_me"}`, 422, 0},
		{"another account's session", path, `{"sessionId":"` + stranger.SessionID + `","reason":"not_me"}`, 200, 0},
		{"ends the one session", path, `{"sessionId":"` + reported.SessionID + `","reason":"not_me"}`, 200, 1},
		{"idempotent", path, `{"sessionId":"` + reported.SessionID + `","reason":"not_me"}`, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.internal, http.MethodPost, tc.path, auth, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d body %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantStatus == 200 && r.body["revoked"] != tc.wantRevoked {
				t.Errorf("revoked = %v, want %v", r.body["revoked"], tc.wantRevoked)
			}
		})
	}
	if s.usable(t, reported.AccessToken) {
		t.Error("the reported session's access token is still accepted")
	}
	if r := s.refresh(t, reported.RefreshToken); r.status != http.StatusUnauthorized {
		t.Errorf("refresh of the reported session: status %d body %s, want 401", r.status, r.raw)
	}
	if !s.usable(t, keep.AccessToken) || !s.usable(t, stranger.AccessToken) {
		t.Error("another session of the account, or another account's session, was ended")
	}
	s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool {
		var p events.SessionRevoked
		return ev.Type == events.TypeSessionRevoked && ev.Decode(&p) == nil && p.SessionID == reported.SessionID && p.Reason == "not_me"
	})
}
