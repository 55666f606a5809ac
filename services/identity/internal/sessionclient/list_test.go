package sessionclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
)

// TestList: the admin API's view of an account's sessions, and every failure as
// auth.ErrSessionUnavailable (the detail page then says the sessions are unknown).
func TestList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantIDs  []string
		wantFail bool
	}{
		{"two sessions", 200, `{"sessions":[{"sessionId":"s-1","deviceName":"Pixel","createdAt":"2026-01-02T03:04:05Z"},{"sessionId":"s-2"}]}`, []string{"s-1", "s-2"}, false},
		{"none", 200, `{"sessions":[]}`, nil, false},
		{"no sessions field", 200, `{}`, nil, true},
		{"not JSON", 200, `<html>`, nil, true},
		{"endpoint missing", 404, `{"detail":"Not Found"}`, nil, true},
		{"server error", 500, ``, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotPath, gotMethod, gotAuth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotMethod, gotAuth = r.URL.EscapedPath(), r.Method, r.Header.Get("Authorization")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			got, err := sessionclient.New(srv.URL, token, nil).List(context.Background(), "acc/1")
			if gotMethod != http.MethodGet || gotPath != "/internal/v1/accounts/acc%2F1/sessions" || gotAuth != "Bearer "+token.Value() {
				t.Errorf("request %s %s (auth %q), want GET of the escaped account's sessions with the internal token", gotMethod, gotPath, gotAuth)
			}
			if tc.wantFail {
				if !errors.Is(err, auth.ErrSessionUnavailable) {
					t.Errorf("err = %v, want ErrSessionUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if len(ids) != len(tc.wantIDs) || (len(ids) > 0 && (ids[0] != tc.wantIDs[0] || got[0].DeviceName != "Pixel" || got[0].CreatedAt.IsZero())) {
				t.Errorf("sessions = %+v, want %v", got, tc.wantIDs)
			}
		})
	}
}
