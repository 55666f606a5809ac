package sessionclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/services/identity/internal/admin"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

type listResponse struct {
	Sessions *[]admin.Session `json:"sessions"`
}

// List returns the account's live sessions (GET /internal/v1/accounts/{accountId}/sessions), for
// the admin API. Every failure wraps auth.ErrSessionUnavailable.
func (c *Client) List(ctx context.Context, accountID string) ([]admin.Session, error) {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/sessions"
	a, err := c.api.Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	if a.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: %s", auth.ErrSessionUnavailable, a.Unexpected(http.MethodGet, path))
	}
	var out listResponse
	if err := json.Unmarshal(a.Body, &out); err != nil || out.Sessions == nil {
		return nil, fmt.Errorf("%w: list response lacks sessions: %.200s", auth.ErrSessionUnavailable, a.Body)
	}
	return *out.Sessions, nil
}
