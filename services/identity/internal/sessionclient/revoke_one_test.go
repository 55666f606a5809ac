package sessionclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
)

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		want      bool
		wantError error
	}{
		{"ended now", http.StatusOK, `{"revoked":1}`, true, nil},
		{"ended before", http.StatusOK, `{"revoked":0}`, false, nil},
		{"server error", http.StatusInternalServerError, `{}`, false, auth.ErrSessionUnavailable},
		{"endpoint missing", http.StatusNotFound, `{}`, false, auth.ErrSessionUnavailable},
		{"malformed (rejected)", http.StatusUnprocessableEntity, `{}`, false, auth.ErrRevocationRejected},
		{"body without count", http.StatusOK, `{}`, false, auth.ErrSessionUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotPath string
			var got map[string]string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				_ = json.NewDecoder(r.Body).Decode(&got)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			ended, err := sessionclient.New(srv.URL, token, nil).RevokeSession(context.Background(), "acc-1", "sid-9", "not_me")
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("RevokeSession() error = %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil || ended != tc.want {
				t.Fatalf("RevokeSession() = %v, %v; want %v", ended, err, tc.want)
			}
			if gotPath != "/internal/v1/accounts/acc-1/sessions/revoke" || got["sessionId"] != "sid-9" || got["reason"] != "not_me" || got["exceptSessionId"] != "" {
				t.Errorf("request %s %v, want sessionId sid-9, reason not_me and no exceptSessionId", gotPath, got)
			}
		})
	}
}
