// Package httpapi serves the notification service's HTTP routes over Fiber, in the plain wire style:
//
//   - GET /api/v1/dev/outbox, the development outbox, registered only when the dev outbox is enabled:
//     it shows one-time codes, so it must not exist in a real deployment;
//   - POST /api/v1/notifications/twilio/status, Twilio's status callback, registered only when the
//     Twilio driver has a callback URL: it verifies X-Twilio-Signature and updates the message record.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
)

// OutboxLimit is the most messages one listing returns.
const OutboxLimit = 50

// Outbox is what the API needs of the dev outbox.
type Outbox interface {
	List(ctx context.Context, to string, limit int) ([]devoutbox.Entry, error)
}

// Handler holds the API's dependencies.
type Handler struct {
	outbox Outbox
	status *StatusCallback
	log    *slog.Logger
}

// NewHandler returns the API handlers. outbox is nil when the dev outbox is disabled.
func NewHandler(outbox Outbox, log *slog.Logger) *Handler {
	return &Handler{outbox: outbox, log: log}
}

// WithStatusCallback adds Twilio's status callback to the handlers.
func (h *Handler) WithStatusCallback(cb *StatusCallback) *Handler {
	h.status = cb
	return h
}

// StatusCallbackPath is where Twilio posts message status updates.
const StatusCallbackPath = "/api/v1/notifications/twilio/status"

// Routes registers every public route of the notification service. The dev outbox route exists only
// when devOutbox is true, the status callback only with WithStatusCallback; otherwise the paths answer
// 404 like any unknown one.
func Routes(app *fiber.App, h *Handler, devOutbox bool) {
	if devOutbox && h.outbox != nil {
		app.Get("/api/v1/dev/outbox", h.listOutbox)
	}
	if h.status != nil {
		app.Post(StatusCallbackPath, h.twilioStatus)
	}
}

// OutboxMessage is one message of the listing.
type OutboxMessage struct {
	ID        string  `json:"id"`
	Channel   string  `json:"channel"`
	To        string  `json:"to"`
	Subject   *string `json:"subject"`
	Body      string  `json:"body"`
	Code      *string `json:"code"`
	Purpose   string  `json:"purpose"`
	CreatedAt string  `json:"created_at"`
}

// OutboxListing is the body of GET /api/v1/dev/outbox.
type OutboxListing struct {
	Messages []OutboxMessage `json:"messages"`
}

func (h *Handler) listOutbox(c *fiber.Ctx) error {
	to := queryDestination(c)
	if to == "" {
		return wire.Invalid(wire.Query("to", "Field required", "missing"))
	}
	entries, err := h.outbox.List(c.UserContext(), to, OutboxLimit)
	if errors.Is(err, devoutbox.ErrUnavailable) {
		h.log.WarnContext(c.UserContext(), "dev outbox unavailable", "err", err)
		return wire.Unavailable("Service temporarily unavailable")
	}
	if err != nil {
		return err
	}
	out := OutboxListing{Messages: make([]OutboxMessage, len(entries))}
	for i, e := range entries {
		out.Messages[i] = OutboxMessage{
			ID: e.ID, Channel: e.Channel, To: e.To, Subject: nullable(e.Subject), Body: e.Body,
			Code: nullable(e.Code), Purpose: e.Purpose, CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339Nano),
		}
	}
	return wire.OK(c, fiber.StatusOK, "", out)
}

// queryDestination reads ?to= in the form messages are stored in. A '+' that was not percent-encoded
// arrives as a space (form encoding); "?to=+4915112345678" is such a common way to write a phone
// number that the leading space of an all-digit value is read back as the '+' it was.
func queryDestination(c *fiber.Ctx) string {
	raw := c.Query("to")
	if strings.HasPrefix(raw, " ") {
		if rest := strings.TrimSpace(raw); rest != "" && strings.Trim(rest, "0123456789") == "" {
			raw = "+" + rest
		}
	}
	return delivery.NormalizeDestination(raw)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
