// Package identityclient calls identity's internal re-authentication API
// (POST /internal/v1/accounts/{accountId}/reauthenticate, see docs/architecture.md): the session
// service owns no credentials, so before it ends other sessions on the owner's word it asks identity
// to check the password or one-time code. A sign-out of every session also ends every API key of the
// account, through POST /internal/v1/accounts/{accountId}/api-keys/revoke.
package identityclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// DefaultTimeout bounds one call: identity hashing a password takes tens of milliseconds, a stuck
// identity must not hold sign-out requests open.
const DefaultTimeout = 5 * time.Second

// defaultRetryAfter is used when identity throttles without saying for how long.
const defaultRetryAfter = 60 * time.Second

// Client calls identity's internal API.
type Client struct{ api *httpx.InternalClient }

// New returns a client of identity's internal API at baseURL (IDENTITY_INTERNAL_URL, e.g.
// http://127.0.0.1:9081), authenticated with the shared internal token. A nil httpClient gets one
// with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{api: httpx.NewInternalClient(baseURL, token, httpClient)}
}

type reauthRequest struct {
	Password    string `json:"password,omitempty"`
	OTP         string `json:"otp,omitempty"`
	ReauthToken string `json:"reauthToken,omitempty"`
	SessionID   string `json:"sessionId,omitempty"`
}

type throttled struct {
	RetryAfter int `json:"retryAfter"`
}

// Reauthenticate asks identity whether proof (a password, an otp, or a step-up token of the session)
// is the account's.
// 204 is nil; 403 session.ErrInvalidCredentials; 429 a *session.ThrottledError; 404
// session.ErrAccountUnavailable; anything else, or no answer, session.ErrReauthUnavailable.
func (c *Client) Reauthenticate(ctx context.Context, accountID string, proof session.Proof) error {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/reauthenticate"
	req := reauthRequest{Password: proof.Password, OTP: proof.OTP}
	if proof.Password == "" && proof.OTP == "" {
		// A step-up token instead (exactly one proof goes to identity).
		req.ReauthToken, req.SessionID = proof.ReauthToken, proof.SessionID
	}
	a, err := c.api.Call(ctx, http.MethodPost, path, req)
	if err != nil {
		return fmt.Errorf("%w: %w", session.ErrReauthUnavailable, err)
	}
	switch a.Status {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusForbidden:
		return session.ErrInvalidCredentials
	case http.StatusNotFound:
		return session.ErrAccountUnavailable
	case http.StatusTooManyRequests:
		limit, _ := strconv.Atoi(strings.TrimSpace(a.Header.Get("X-RateLimit-Limit")))
		reset, _ := strconv.Atoi(strings.TrimSpace(a.Header.Get("X-RateLimit-Reset")))
		return &session.ThrottledError{RetryAfter: retryAfter(a.Header.Get("Retry-After"), a.Body),
			Limit: max(limit, 0), Reset: time.Duration(max(reset, 0)) * time.Second}
	}
	return fmt.Errorf("%w: %s", session.ErrReauthUnavailable, a.Unexpected(http.MethodPost, path))
}

type revokeAPIKeysRequest struct {
	Reason string `json:"reason"`
}

// RevokeAPIKeys asks identity to end every API key of the account (POST
// /internal/v1/accounts/{accountId}/api-keys/revoke {reason}). 200 and 204 are nil; anything
// else, or no answer, is an error.
func (c *Client) RevokeAPIKeys(ctx context.Context, accountID, reason string) error {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/api-keys/revoke"
	a, err := c.api.Call(ctx, http.MethodPost, path, revokeAPIKeysRequest{Reason: reason})
	if err != nil {
		return err
	}
	if a.Status == http.StatusNoContent || a.Status == http.StatusOK {
		return nil
	}
	return errors.New(a.Unexpected(http.MethodPost, path))
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
