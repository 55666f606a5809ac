// Package identityclient hands phone numbers to the identity service, their system of record, through
// its internal API (PUT /internal/v1/accounts/{accountId}/phone, see docs/architecture.md).
package identityclient

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
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// DefaultTimeout bounds one call: a stuck identity service must not hold a PATCH open.
const DefaultTimeout = 5 * time.Second

// Client calls identity's internal API. It implements profile.Phones.
type Client struct {
	base  string
	token config.Secret
	http  *http.Client
}

// New returns a client of identity's internal API at baseURL (e.g. http://127.0.0.1:9081),
// authenticated with the shared internal token. A nil httpClient gets one with DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, http: httpClient}
}

type setPhoneRequest struct {
	PhoneNumber string `json:"phoneNumber"`
}

// SetPhone asks identity to record phone as the account's (unverified) phone number and returns the
// account's snapshot after the change. Errors wrap profile.ErrPhoneTaken (409), profile.ErrNotFound
// (404) or profile.ErrUnavailable (anything else: from the caller's view identity is down).
func (c *Client) SetPhone(ctx context.Context, accountID, phone string) (events.AccountSnapshot, error) {
	body, err := json.Marshal(setPhoneRequest{PhoneNumber: phone})
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("encode phone request: %w", err)
	}
	target := c.base + "/internal/v1/accounts/" + url.PathEscape(accountID) + "/phone"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(body))
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("%w: build request: %w", profile.ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Value())
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("%w: %w", profile.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return events.AccountSnapshot{}, fmt.Errorf("%w: read response: %w", profile.ErrUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return events.AccountSnapshot{}, profile.ErrPhoneTaken
	case http.StatusNotFound:
		return events.AccountSnapshot{}, fmt.Errorf("identity has no account %s: %w", accountID, profile.ErrNotFound)
	default:
		return events.AccountSnapshot{}, fmt.Errorf("%w: PUT %s answered %d: %.200s", profile.ErrUnavailable, target, resp.StatusCode, raw)
	}
	var snap events.AccountSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil || snap.Version < 1 {
		return events.AccountSnapshot{}, fmt.Errorf("%w: decode response (%v): %.200s", profile.ErrUnavailable, err, raw)
	}
	return snap, nil
}
