package httpapi

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// internalSession is one live session in GET /internal/v1/accounts/{accountId}/sessions: its
// metadata only, never a token or a hash.
type internalSession struct {
	SessionID    string    `json:"sessionId"`
	DeviceID     string    `json:"deviceId,omitempty"`
	DeviceName   string    `json:"deviceName,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	Browser      string    `json:"browser,omitempty"`
	OS           string    `json:"os,omitempty"`
	IPAddress    string    `json:"ipAddress,omitempty"`
	UserAgent    string    `json:"userAgent,omitempty"`
	Location     string    `json:"location,omitempty"`
	AMR          []string  `json:"amr,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	LastActiveAt time.Time `json:"lastActiveAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

type internalSessionsResponse struct {
	Sessions []internalSession `json:"sessions"`
}

// ListInternalSessions is GET /internal/v1/accounts/{accountId}/sessions: identity's admin API shows
// an operator the account's live sessions, most recently active first. An unknown account has none.
func (h *Handler) ListInternalSessions(c *fiber.Ctx) error {
	accountID := c.Params("accountId")
	if strings.TrimSpace(accountID) == "" || len(accountID) > 128 {
		return wire.Invalid(wire.PathParam("accountId", "Invalid account id", "value_error"))
	}
	list, err := h.sessions.List(c.UserContext(), accountID)
	if err != nil {
		return h.fail(c, err)
	}
	out := internalSessionsResponse{Sessions: make([]internalSession, 0, len(list))}
	for _, s := range list {
		out.Sessions = append(out.Sessions, internalSession{
			SessionID: s.ID, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Platform: s.Platform,
			Browser: s.Browser, OS: s.OS, IPAddress: s.IPAddress, UserAgent: s.UserAgent, Location: s.Location,
			AMR: s.Assurance.AMR, CreatedAt: s.CreatedAt.UTC(), LastActiveAt: s.LastActiveAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		})
	}
	return c.JSON(out)
}
