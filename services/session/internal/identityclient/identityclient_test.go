package identityclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/session/internal/identityclient"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

const (
	token    = "internal-token-for-tests"
	account  = "0b7c1a52-2a43-4a7e-9d5e-2f6f1f0f4a11"
	password = "correct-Horse-42"
	code     = "123456"
)

// identity follows the contract of POST /internal/v1/accounts/{accountId}/reauthenticate in
// docs/architecture.md: 204 verified, 403 wrong password or code, 429 throttled, 404 unknown account.
func identity(t *testing.T, throttle bool) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/v1/accounts/{accountId}/reauthenticate", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 1 {
			w.WriteHeader(http.StatusUnprocessableEntity) // exactly one of password and otp
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.PathValue("accountId") != account:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not_found"}`))
		case throttle:
			w.Header().Set("Retry-After", "42")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"too_many_attempts","retryAfter":42}`))
		case body["password"] == password || body["otp"] == code:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"invalid_credentials"}`))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestReauthenticate(t *testing.T) {
	t.Parallel()
	ok := identity(t, false)
	busy := identity(t, true)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(broken.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there any more

	tests := []struct {
		name      string
		url       string
		token     string
		account   string
		proof     session.Proof
		wantErr   error
		wantRetry time.Duration
	}{
		{name: "right password", url: ok.URL, token: token, account: account, proof: session.Proof{Password: password}},
		{name: "right code", url: ok.URL, token: token, account: account, proof: session.Proof{OTP: code}},
		{name: "wrong password", url: ok.URL, token: token, account: account, proof: session.Proof{Password: "wrong-Horse-1"}, wantErr: session.ErrInvalidCredentials},
		{name: "wrong code", url: ok.URL, token: token, account: account, proof: session.Proof{OTP: "000000"}, wantErr: session.ErrInvalidCredentials},
		{name: "unknown account", url: ok.URL, token: token, account: "7d1e4a5b-0000-4000-8000-000000000000", proof: session.Proof{Password: password}, wantErr: session.ErrAccountUnavailable},
		{name: "throttled", url: busy.URL, token: token, account: account, proof: session.Proof{Password: password}, wantRetry: 42 * time.Second},
		{name: "wrong internal token", url: ok.URL, token: "not-the-token", account: account, proof: session.Proof{Password: password}, wantErr: session.ErrReauthUnavailable},
		{name: "identity failing", url: broken.URL, token: token, account: account, proof: session.Proof{Password: password}, wantErr: session.ErrReauthUnavailable},
		{name: "identity unreachable", url: down, token: token, account: account, proof: session.Proof{Password: password}, wantErr: session.ErrReauthUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := identityclient.New(tc.url+"/", config.Secret(tc.token), nil)
			err := c.Reauthenticate(context.Background(), tc.account, tc.proof)
			if tc.wantRetry > 0 {
				var te *session.ThrottledError
				if !errors.As(err, &te) || te.RetryAfter != tc.wantRetry {
					t.Fatalf("err = %v, want ThrottledError with RetryAfter %s", err, tc.wantRetry)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
