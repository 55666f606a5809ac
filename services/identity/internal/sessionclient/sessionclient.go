// Package sessionclient starts sessions through the session service's internal API
// (POST /internal/v1/sessions, see docs/architecture.md). Identity never mints tokens itself: the
// session service owns sessions and signing keys.
package sessionclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	return &Client{url: strings.TrimSuffix(baseURL, "/") + "/internal/v1/sessions", token: token, http: httpClient}
}

type startRequest struct {
	AccountID  string `json:"accountId"`
	DeviceID   string `json:"deviceId"`
	DeviceName string `json:"deviceName"`
	Platform   string `json:"platform"`
	IPAddress  string `json:"ipAddress"`
	UserAgent  string `json:"userAgent"`
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
		Platform: r.Device.Platform, IPAddress: r.Client.IP, UserAgent: r.Client.UserAgent,
	})
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("encode session request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("%w: build request: %w", auth.ErrSessionUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Value())
	// Carry the trace across the hop, so login → session creation is one trace.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("%w: read response: %w", auth.ErrSessionUnavailable, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return auth.Tokens{}, fmt.Errorf("%w: POST %s answered %d: %.200s", auth.ErrSessionUnavailable, c.url, resp.StatusCode, raw)
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
