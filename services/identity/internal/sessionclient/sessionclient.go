// Package sessionclient starts and ends sessions through the session service's internal API
// (POST /internal/v1/sessions and POST /internal/v1/accounts/{accountId}/sessions/revoke, see
// docs/architecture.md). Identity never mints tokens itself: the
// session service owns sessions and signing keys.
package sessionclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// DefaultTimeout bounds one call: a stuck session service must not hold login requests open.
const DefaultTimeout = 5 * time.Second

// Client calls the session service.
type Client struct {
	base  string
	url   string
	token config.Secret
	http  *http.Client
}

// New returns a client of the session service's internal API at baseURL (e.g. http://127.0.0.1:9082),
// authenticated with the shared internal token. A nil httpClient gets one with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	base := strings.TrimSuffix(baseURL, "/")
	return &Client{base: base, url: base + "/internal/v1/sessions", token: token, http: httpClient}
}

type startRequest struct {
	AccountID  string `json:"accountId"`
	DeviceID   string `json:"deviceId"`
	DeviceName string `json:"deviceName"`
	Platform   string `json:"platform"`
	IPAddress  string `json:"ipAddress"`
	UserAgent  string `json:"userAgent"`
	Location   string `json:"location,omitempty"`
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
	body, err := json.Marshal(startRequest{
		AccountID: r.AccountID, DeviceID: r.Device.DeviceID, DeviceName: r.Device.DeviceName,
		Platform: r.Device.Platform, IPAddress: r.Client.IP, UserAgent: r.Client.UserAgent, Location: r.Client.Location,
	})
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("encode session request: %w", err)
	}
	status, raw, err := c.post(ctx, c.url, body)
	if err != nil {
		return auth.Tokens{}, err
	}
	if status != http.StatusCreated {
		return auth.Tokens{}, fmt.Errorf("%w: POST %s answered %d: %.200s", auth.ErrSessionUnavailable, c.url, status, raw)
	}
	var out startResponse
	if err := json.Unmarshal(raw, &out); err != nil {
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
	body, err := json.Marshal(revokeRequest{ExceptSessionID: exceptSessionID, Reason: reason})
	if err != nil {
		return 0, fmt.Errorf("encode revoke request: %w", err)
	}
	u := c.base + "/internal/v1/accounts/" + url.PathEscape(accountID) + "/sessions/revoke"
	status, raw, err := c.post(ctx, u, body)
	if err != nil {
		return 0, err
	}
	if status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusTooManyRequests && status != http.StatusNotFound {
		return 0, fmt.Errorf("%w: POST %s answered %d: %.200s", auth.ErrRevocationRejected, u, status, raw)
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("%w: POST %s answered %d: %.200s", auth.ErrSessionUnavailable, u, status, raw)
	}
	var out revokeResponse
	if err := json.Unmarshal(raw, &out); err != nil || out.Revoked == nil {
		return 0, fmt.Errorf("%w: revoke response lacks revoked: %.200s", auth.ErrSessionUnavailable, raw)
	}
	return *out.Revoked, nil
}

// post sends a JSON body to the internal API and returns the status and (bounded) body. Transport
// failures wrap auth.ErrSessionUnavailable.
func (c *Client) post(ctx context.Context, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: build request: %w", auth.ErrSessionUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Value())
	// Carry the trace across the hop, so a request and the session call it makes are one trace.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read response: %w", auth.ErrSessionUnavailable, err)
	}
	return resp.StatusCode, raw, nil
}
