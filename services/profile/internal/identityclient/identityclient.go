// Package identityclient hands phone numbers to the identity service, their system of record, through
// its internal API (PUT /internal/v1/accounts/{accountId}/phone, see docs/architecture.md).
package identityclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// DefaultTimeout bounds one call: a stuck identity service must not hold a PATCH open.
const DefaultTimeout = 5 * time.Second

// Client calls identity's internal API. It implements profile.Phones.
type Client struct{ api *httpx.InternalClient }

// New returns a client of identity's internal API at baseURL (e.g. http://127.0.0.1:9081),
// authenticated with the shared internal token. A nil httpClient gets one with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{api: httpx.NewInternalClient(baseURL, token, httpClient)}
}

type setPhoneRequest struct {
	PhoneNumber string `json:"phoneNumber"`
	ClientIP    string `json:"clientIp,omitempty"`
}

// SetPhone asks identity to record phone as the account's pending phone number (clientIP: the
// caller's address, for identity's per-IP limit) and returns the account's snapshot after the change.
// Errors are *profile.PhoneChangesThrottledError (429), or wrap profile.ErrPhoneTaken (409, only from
// identity versions that still told), profile.ErrNotFound (404) or profile.ErrUnavailable (anything
// else: from the caller's view identity is down).
func (c *Client) SetPhone(ctx context.Context, accountID, phone, clientIP string) (events.AccountSnapshot, error) {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/phone"
	a, err := c.api.Call(ctx, http.MethodPut, path, setPhoneRequest{PhoneNumber: phone, ClientIP: clientIP})
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("%w: %w", profile.ErrUnavailable, err)
	}
	switch a.Status {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		retry, _ := strconv.Atoi(a.Header.Get("Retry-After"))
		return events.AccountSnapshot{}, &profile.PhoneChangesThrottledError{RetryAfter: time.Duration(max(retry, 1)) * time.Second}
	case http.StatusConflict:
		return events.AccountSnapshot{}, profile.ErrPhoneTaken
	case http.StatusNotFound:
		return events.AccountSnapshot{}, fmt.Errorf("identity has no account %s: %w", accountID, profile.ErrNotFound)
	default:
		return events.AccountSnapshot{}, fmt.Errorf("%w: %s", profile.ErrUnavailable, a.Unexpected(http.MethodPut, path))
	}
	var snap events.AccountSnapshot
	if err := json.Unmarshal(a.Body, &snap); err != nil || snap.Version < 1 {
		return events.AccountSnapshot{}, fmt.Errorf("%w: decode response (%v): %.200s", profile.ErrUnavailable, err, a.Body)
	}
	return snap, nil
}

// Snapshot reads the account's current snapshot (GET /internal/v1/accounts/{accountId}/snapshot).
// Errors wrap profile.ErrNotFound (404) or profile.ErrUnavailable.
func (c *Client) Snapshot(ctx context.Context, accountID string) (events.AccountSnapshot, error) {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/snapshot"
	a, err := c.api.Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("%w: %w", profile.ErrUnavailable, err)
	}
	switch a.Status {
	case http.StatusOK:
	case http.StatusNotFound:
		return events.AccountSnapshot{}, fmt.Errorf("identity has no account %s: %w", accountID, profile.ErrNotFound)
	default:
		return events.AccountSnapshot{}, fmt.Errorf("%w: %s", profile.ErrUnavailable, a.Unexpected(http.MethodGet, path))
	}
	var snap events.AccountSnapshot
	if err := json.Unmarshal(a.Body, &snap); err != nil || snap.Version < 1 {
		return events.AccountSnapshot{}, fmt.Errorf("%w: decode response (%v): %.200s", profile.ErrUnavailable, err, a.Body)
	}
	return snap, nil
}
