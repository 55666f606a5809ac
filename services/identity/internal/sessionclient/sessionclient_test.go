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
