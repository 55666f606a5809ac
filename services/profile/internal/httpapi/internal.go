package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// RegisterInternal mounts POST /internal/v1/account-events on the internal app (docs/architecture.md):
// identity delivers an account event (account.created or account.updated, the envelope it also
// queues for Kafka) before it answers the change that caused it, so the projection is never behind a
// change its caller made (read-your-own-writes). apply is the Kafka consumer's handler
// (subscriber.AccountEvents): idempotent, so the copy that arrives later through Kafka changes
// nothing. 204 once applied; 503 when the store cannot be written (identity then leaves it to
// Kafka). requireService is httpx.RequireToken with the shared internal token.
func RegisterInternal(internal *fiber.App, requireService fiber.Handler, apply func(context.Context, events.Envelope) error) {
	internal.Post("/internal/v1/account-events", requireService, func(c *fiber.Ctx) error {
		var env events.Envelope
		if err := json.Unmarshal(c.Body(), &env); err != nil || env.EventID == "" || env.AccountID == "" || env.Type == "" {
			return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "invalid_event"})
		}
		if err := apply(c.UserContext(), env); err != nil {
			return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"error": "unavailable"})
		}
		return c.SendStatus(http.StatusNoContent)
	})
}
