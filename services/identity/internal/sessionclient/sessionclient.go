// Package sessionclient starts and ends sessions through the session service's internal API
// (POST /internal/v1/sessions and POST /internal/v1/accounts/{accountId}/sessions/revoke, see
// docs/architecture.md). Identity never mints tokens itself: the
// session service owns sessions and signing keys.
package sessionclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// DefaultTimeout bounds one call: a stuck session service must not hold login requests open.
const DefaultTimeout = 5 * time.Second

// Client calls the session service.
type Client struct{ api *httpx.InternalClient }

// New returns a client of the session service's internal API at baseURL (e.g. http://127.0.0.1:9082),
// authenticated with the shared internal token. A nil httpClient gets one with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{api: httpx.NewInternalClient(baseURL, token, httpClient)}
}

// sessionsPath is where sessions are started.
const sessionsPath = "/internal/v1/sessions"

type startRequest struct {
	AccountID  string `json:"accountId"`
	DeviceID   string `json:"deviceId"`
	DeviceName string `json:"deviceName"`
	Platform   string `json:"platform"`
	IPAddress  string `json:"ipAddress"`
	UserAgent  string `json:"userAgent"`
	Location   string `json:"location,omitempty"`
	// How the person signed in, for the access tokens' amr, acr and auth_time (Unix seconds).
	AMR      []string `json:"amr,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AuthTime int64    `json:"authTime,omitempty"`
}

type startResponse struct {
	SessionID    string `json:"sessionId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

// Start creates a session. Every failure wraps auth.ErrSessionUnavailable: from the caller's point
// of view the session service is down, whatever the cause.
func (c *Client) Start(ctx context.Context, r auth.SessionRequest) (auth.Tokens, error) {
	a, err := c.api.Call(ctx, http.MethodPost, sessionsPath, startRequest{
		AccountID: r.AccountID, DeviceID: r.Device.DeviceID, DeviceName: r.Device.DeviceName,
		Platform: r.Device.Platform, IPAddress: r.Client.IP, UserAgent: r.Client.UserAgent, Location: r.Client.Location,
		AMR: r.Assurance.AMR, ACR: r.Assurance.ACR, AuthTime: unixOrZero(r.Assurance.AuthTime),
	})
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	if a.Status != http.StatusCreated {
		return auth.Tokens{}, fmt.Errorf("%w: %s", auth.ErrSessionUnavailable, a.Unexpected(http.MethodPost, sessionsPath))
	}
	var out startResponse
	if err := json.Unmarshal(a.Body, &out); err != nil {
		return auth.Tokens{}, fmt.Errorf("%w: decode response: %w", auth.ErrSessionUnavailable, err)
	}
	if out.SessionID == "" || out.AccessToken == "" || out.RefreshToken == "" {
		return auth.Tokens{}, fmt.Errorf("%w: response lacks session id or tokens", auth.ErrSessionUnavailable)
	}
	if out.TokenType == "" {
		out.TokenType = "Bearer"
	}
	return auth.Tokens{SessionID: out.SessionID, AccessToken: out.AccessToken, RefreshToken: out.RefreshToken,
		TokenType: out.TokenType, ExpiresIn: out.ExpiresIn}, nil
}

type revokeRequest struct {
	ExceptSessionID string `json:"exceptSessionId"`
	Reason          string `json:"reason"`
}

type revokeResponse struct {
	Revoked *int `json:"revoked"`
}

// Revoke ends the account's sessions except exceptSessionID (empty: every session) and returns how
// many ended. A request the session service refuses as malformed (422, 400, ...) wraps
// auth.ErrRevocationRejected; every other failure (including 404: a session service without the
// endpoint yet, 401: a token being rotated) wraps auth.ErrSessionUnavailable.
func (c *Client) Revoke(ctx context.Context, accountID, exceptSessionID, reason string) (int, error) {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/sessions/revoke"
	a, err := c.api.Call(ctx, http.MethodPost, path, revokeRequest{ExceptSessionID: exceptSessionID, Reason: reason})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	if a.Status >= 400 && a.Status < 500 && a.Status != http.StatusUnauthorized && a.Status != http.StatusTooManyRequests && a.Status != http.StatusNotFound {
		return 0, fmt.Errorf("%w: %s", auth.ErrRevocationRejected, a.Unexpected(http.MethodPost, path))
	}
	if a.Status != http.StatusOK {
		return 0, fmt.Errorf("%w: %s", auth.ErrSessionUnavailable, a.Unexpected(http.MethodPost, path))
	}
	var out revokeResponse
	if err := json.Unmarshal(a.Body, &out); err != nil || out.Revoked == nil {
		return 0, fmt.Errorf("%w: revoke response lacks revoked: %.200s", auth.ErrSessionUnavailable, a.Body)
	}
	return *out.Revoked, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
