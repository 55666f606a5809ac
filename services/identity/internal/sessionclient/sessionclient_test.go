package sessionclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
)

const token = config.Secret("internal-token-0123456789")

func TestStart(t *testing.T) {
	t.Parallel()
	var got map[string]string
	var gotAuth, gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sessionId":"s-1","accessToken":"at","refreshToken":"rt","tokenType":"Bearer","expiresIn":900}`))
	}))
	t.Cleanup(srv.Close)

	c := sessionclient.New(srv.URL+"/", token, nil)
	tokens, err := c.Start(context.Background(), auth.SessionRequest{
		AccountID: "acc-1",
		Device:    device.Info{DeviceID: "dev-1", DeviceName: "Pixel", Platform: "ANDROID"},
		Client:    auth.Client{IP: "203.0.113.9", UserAgent: "test-agent/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Tokens{SessionID: "s-1", AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", ExpiresIn: 900}
	if tokens != want {
		t.Errorf("tokens = %+v, want %+v", tokens, want)
	}
	if gotPath != "/internal/v1/sessions" || gotAuth != "Bearer "+token.Value() {
		t.Errorf("request path %q auth %q, want /internal/v1/sessions with the internal token", gotPath, gotAuth)
	}
	wantBody := map[string]string{"accountId": "acc-1", "deviceId": "dev-1", "deviceName": "Pixel", "platform": "ANDROID", "ipAddress": "203.0.113.9", "userAgent": "test-agent/1"}
	for k, v := range wantBody {
		if got[k] != v {
			t.Errorf("request %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }},
		{"200 instead of 201", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"sessionId":"s","accessToken":"a","refreshToken":"r"}`))
		}},
		{"malformed body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"sessionId":`))
		}},
		{"missing tokens", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"sessionId":"s"}`))
		}},
		{"too slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := sessionclient.New(srv.URL, token, &http.Client{Timeout: 200 * time.Millisecond})
			_, err := c.Start(context.Background(), auth.SessionRequest{AccountID: "a"})
			if !errors.Is(err, auth.ErrSessionUnavailable) {
				t.Errorf("Start() error = %v, want ErrSessionUnavailable", err)
			}
		})
	}
}

func TestStartServiceDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, err := sessionclient.New(url, token, nil).Start(context.Background(), auth.SessionRequest{AccountID: "a"})
	if !errors.Is(err, auth.ErrSessionUnavailable) {
		t.Errorf("Start() error = %v, want ErrSessionUnavailable", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	type call struct{ path, auth, except, reason string }
	tests := []struct {
		name      string
		except    string
		status    int
		body      string
		want      int
		wantError bool
	}{
		{"all but the caller's session", "sid-1", http.StatusOK, `{"revoked":2}`, 2, false},
		{"every session", "", http.StatusOK, `{"revoked":0}`, 0, false},
		{"server error", "", http.StatusInternalServerError, `{}`, 0, true},
		{"not found (endpoint missing)", "", http.StatusNotFound, `{}`, 0, true},
		{"unauthorized", "", http.StatusUnauthorized, `{}`, 0, true},
		{"body without count", "", http.StatusOK, `{}`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got call
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]string
				_ = json.NewDecoder(r.Body).Decode(&body)
				got = call{r.URL.Path, r.Header.Get("Authorization"), body["exceptSessionId"], body["reason"]}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			n, err := sessionclient.New(srv.URL, token, nil).Revoke(context.Background(), "acc-1", tc.except, "password_changed")
			if tc.wantError {
				if !errors.Is(err, auth.ErrSessionUnavailable) || errors.Is(err, auth.ErrRevocationRejected) {
					t.Fatalf("Revoke() error = %v, want ErrSessionUnavailable", err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("Revoke() = %d, %v; want %d", n, err, tc.want)
			}
			want := call{"/internal/v1/accounts/acc-1/sessions/revoke", "Bearer " + token.Value(), tc.except, "password_changed"}
			if got != want {
				t.Errorf("request = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRevokeRejected(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"detail":[{"loc":["body","reason"],"msg":"bad","type":"value_error"}]}`))
	}))
	t.Cleanup(srv.Close)
	_, err := sessionclient.New(srv.URL, token, nil).Revoke(context.Background(), "acc-1", "not-a-uuid", "password_changed")
	if !errors.Is(err, auth.ErrRevocationRejected) || errors.Is(err, auth.ErrSessionUnavailable) {
		t.Fatalf("Revoke() error = %v, want ErrRevocationRejected only", err)
	}
}
