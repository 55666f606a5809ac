package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/export"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

const (
	msgExportStarted  = "Export started: you will be notified when it is ready"
	msgExportPending  = "Export in progress"
	msgExportReady    = "Export ready"
	msgExportNotFound = "Export not found"
	msgExportTooSoon  = "An export was requested recently; try again later"
)

// RegisterExports mounts the account data export routes (envelope style). Starting and reading one
// need a step-up (X-Reauth-Token): it is every personal fact at once, so a stolen access token alone
// must not get it (and the export id is in the activity log, which an access token reads). Both are
// closed to API keys.
func RegisterExports(app *fiber.App, requireAuth fiber.Handler, svc *auth.Service, exports *export.Service, log *slog.Logger) {
	h := &Handler{auth: svc, log: log}
	eh := &exportHandler{exports: exports}
	app.Post("/api/v1/account/export", requireAuth, h.requireStepUp, eh.request)
	app.Get("/api/v1/account/export/:id", authn.SignedInOnly(requireAuth), h.requireStepUp, eh.get)
}

type exportHandler struct{ exports *export.Service }

type exportStatusBody struct {
	ExportID    string `json:"exportId"`
	Status      string `json:"status"`
	RequestedAt string `json:"requestedAt"`
}

// exportDocument is a complete export: its times and one object per service.
type exportDocument struct {
	ExportID     string          `json:"exportId"`
	Status       string          `json:"status"`
	RequestedAt  string          `json:"requestedAt"`
	CompletedAt  string          `json:"completedAt"`
	ExpiresAt    string          `json:"expiresAt"`
	Identity     json.RawMessage `json:"identity"`
	Session      json.RawMessage `json:"session"`
	Profile      json.RawMessage `json:"profile"`
	Notification json.RawMessage `json:"notification"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// POST /api/v1/account/export (X-Reauth-Token) — starts an export of the caller's account: 202 with
// the export id. One per account per ACCOUNT_EXPORT_INTERVAL: a second is a 429 with Retry-After.
func (h *exportHandler) request(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	e, err := h.exports.Request(c.UserContext(), export.Requester{AccountID: p.AccountID, SessionID: p.SessionID, Client: client(c)})
	var limited *throttle.ExceededError
	switch {
	case errors.As(err, &limited):
		return wire.TooManyRequestsLimit(msgExportTooSoon, limited.RetryAfter, wire.RateLimit(limited.Status))
	case err != nil:
		return failure(err, passwordFieldEnvelope, nil)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusAccepted, msgExportStarted, exportStatusBody{ExportID: e.ID, Status: e.Status, RequestedAt: rfc3339(e.RequestedAt)})
}

// GET /api/v1/account/export/{id} — 202 with the status while pending; 200 with the whole document
// once complete; 404 for an unknown, expired or another account's export.
func (h *exportHandler) get(c *fiber.Ctx) error {
	id := c.Params("id")
	if !validUUID(id) {
		return wire.Invalid(wire.PathParam("id", "Must be a valid UUID", "uuid_parsing"))
	}
	e, err := h.exports.Get(c.UserContext(), authn.MustPrincipal(c).AccountID, strings.ToLower(id))
	switch {
	case errors.Is(err, export.ErrNotFound):
		return wire.NotFound(msgExportNotFound)
	case err != nil:
		return failure(err, passwordFieldEnvelope, nil)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if e.Status != export.StatusComplete {
		return wire.OK(c, http.StatusAccepted, msgExportPending, exportStatusBody{ExportID: e.ID, Status: e.Status, RequestedAt: rfc3339(e.RequestedAt)})
	}
	part := func(service string) json.RawMessage {
		if raw, ok := e.Parts[service]; ok {
			return raw
		}
		return json.RawMessage("null")
	}
	return wire.OK(c, http.StatusOK, msgExportReady, exportDocument{
		ExportID: e.ID, Status: e.Status, RequestedAt: rfc3339(e.RequestedAt), CompletedAt: rfc3339(e.CompletedAt), ExpiresAt: rfc3339(e.ExpiresAt),
		Identity: part(export.ServiceIdentity), Session: part(events.ExportServiceSession), Profile: part(events.ExportServiceProfile), Notification: part(events.ExportServiceNotification),
	})
}
