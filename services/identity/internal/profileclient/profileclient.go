// Package profileclient delivers identity's account events to the profile service's internal API
// (POST /internal/v1/account-events, see docs/architecture.md) before a change is answered, so the
// profile projection never lags a change its own caller made (read-your-own-writes). Kafka carries
// the same events; the profile service applies them idempotently.
package profileclient

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
)

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 2 * time.Second

// Client calls the profile service's internal API. It implements auth.Projections.
type Client struct{ api *httpx.InternalClient }

// New returns a client of the profile service's internal API at baseURL (PROFILE_INTERNAL_URL, e.g.
// http://127.0.0.1:9083), authenticated with the shared internal token. A nil httpClient gets one with
// DefaultTimeout.
func New(baseURL string, token config.Secret, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{api: httpx.NewInternalClient(baseURL, token, httpClient)}
}

// AccountEventsPath is where the profile service takes account events.
const AccountEventsPath = "/internal/v1/account-events"

// Deliver hands ev to the profile service and returns once it is applied (204).
func (c *Client) Deliver(ctx context.Context, ev events.Envelope) error {
	a, err := c.api.Call(ctx, http.MethodPost, AccountEventsPath, ev)
	if err != nil {
		return fmt.Errorf("deliver %s %s: %w", ev.Type, ev.EventID, err)
	}
	if a.Status != http.StatusNoContent {
		return fmt.Errorf("deliver %s %s: %s", ev.Type, ev.EventID, a.Unexpected(http.MethodPost, AccountEventsPath))
	}
	return nil
}
