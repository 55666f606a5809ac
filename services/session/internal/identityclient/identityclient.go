// Package identityclient calls identity's internal re-authentication API
// (POST /internal/v1/accounts/{accountId}/reauthenticate, see docs/architecture.md): the session
// service owns no credentials, so before it ends other sessions on the owner's word it asks identity
// to check the password or one-time code.
package identityclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// DefaultTimeout bounds one call: identity hashing a password takes tens of milliseconds, a stuck
// identity must not hold sign-out requests open.
const DefaultTimeout = 5 * time.Second

// defaultRetryAfter is used when identity throttles without saying for how long.
const defaultRetryAfter = 60 * time.Second

// Client calls identity's internal API.
type Client struct {
	base  string
	token config.Secret
	http  *http.Client
}

// New returns a client of identity's internal API at baseURL (IDENTITY_INTERNAL_URL, e.g.
// http://127.0.0.1:9081), authenticated with the shared internal token. A nil httpClient gets one
// with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, http: httpClient}
}

type reauthRequest struct {
	Password string `json:"password,omitempty"`
	OTP      string `json:"otp,omitempty"`
}

type throttled struct {
	RetryAfter int `json:"retryAfter"`
}

// Reauthenticate asks identity whether proof (exactly one of password and otp) is the account's.
// 204 is nil; 403 session.ErrInvalidCredentials; 429 a *session.ThrottledError; 404
// session.ErrAccountUnavailable; anything else, or no answer, session.ErrReauthUnavailable.
func (c *Client) Reauthenticate(ctx context.Context, accountID string, proof session.Proof) error {
	body, err := json.Marshal(reauthRequest{Password: proof.Password, OTP: proof.OTP})
	if err != nil {
		return fmt.Errorf("encode re-authentication request: %w", err)
	}
	endpoint := c.base + "/internal/v1/accounts/" + url.PathEscape(accountID) + "/reauthenticate"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: build request: %w", session.ErrReauthUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Value())
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", session.ErrReauthUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return fmt.Errorf("%w: read response: %w", session.ErrReauthUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusForbidden:
		return session.ErrInvalidCredentials
	case http.StatusNotFound:
		return session.ErrAccountUnavailable
	case http.StatusTooManyRequests:
		return &session.ThrottledError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), raw)}
	}
	return fmt.Errorf("%w: POST %s answered %d: %.200s", session.ErrReauthUnavailable, endpoint, resp.StatusCode, raw)
}

// retryAfter reads the wait from the Retry-After header (seconds), else the body's retryAfter.
func retryAfter(header string, body []byte) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(header)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	var t throttled
	if json.Unmarshal(body, &t) == nil && t.RetryAfter > 0 {
		return time.Duration(t.RetryAfter) * time.Second
	}
	return defaultRetryAfter
}
