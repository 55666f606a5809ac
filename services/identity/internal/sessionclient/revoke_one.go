package sessionclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

type revokeOneRequest struct {
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
}

// RevokeSession ends one session of the account (POST /internal/v1/accounts/{accountId}/sessions/revoke
// with sessionId) and reports whether it ended now (false: not the account's, or ended before).
// Failures wrap auth.ErrRevocationRejected or auth.ErrSessionUnavailable as Revoke's do.
func (c *Client) RevokeSession(ctx context.Context, accountID, sessionID, reason string) (bool, error) {
	path := "/internal/v1/accounts/" + url.PathEscape(accountID) + "/sessions/revoke"
	a, err := c.api.Call(ctx, http.MethodPost, path, revokeOneRequest{SessionID: sessionID, Reason: reason})
	if err != nil {
		return false, fmt.Errorf("%w: %w", auth.ErrSessionUnavailable, err)
	}
	if a.Status >= 400 && a.Status < 500 && a.Status != http.StatusUnauthorized && a.Status != http.StatusTooManyRequests && a.Status != http.StatusNotFound {
		return false, fmt.Errorf("%w: %s", auth.ErrRevocationRejected, a.Unexpected(http.MethodPost, path))
	}
	if a.Status != http.StatusOK {
		return false, fmt.Errorf("%w: %s", auth.ErrSessionUnavailable, a.Unexpected(http.MethodPost, path))
	}
	var out revokeResponse
	if err := json.Unmarshal(a.Body, &out); err != nil || out.Revoked == nil {
		return false, fmt.Errorf("%w: revoke response lacks revoked: %.200s", auth.ErrSessionUnavailable, a.Body)
	}
	return *out.Revoked > 0, nil
}
