package httpapi

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
)

// RegisterPhoneInternal mounts PUT /internal/v1/accounts/{accountId}/phone on the internal app
// (docs/architecture.md): the profile service hands over a phone number a user set through a profile
// path; identity records it unverified and answers the account's AccountSnapshot. requireService is
// httpx.RequireToken with the shared internal token.
func RegisterPhoneInternal(internal *fiber.App, requireService fiber.Handler, phones *phone.Service) {
	internal.Put("/internal/v1/accounts/:accountId/phone", requireService, func(c *fiber.Ctx) error {
		var req struct {
			PhoneNumber string `json:"phoneNumber"`
		}
		if err := c.BodyParser(&req); err != nil {
			return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "invalid_body"})
		}
		a, err := phones.SetUnverified(c.UserContext(), c.Params("accountId"), req.PhoneNumber)
		switch {
		case errors.Is(err, phone.ErrInvalid):
			return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "invalid_phone"})
		case errors.Is(err, phone.ErrTaken):
			return c.Status(http.StatusConflict).JSON(fiber.Map{"error": "phone_taken"})
		case errors.Is(err, phone.ErrNotFound):
			return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": "not_found"})
		case err != nil:
			return err
		}
		return c.Status(http.StatusOK).JSON(auth.Snapshot(a))
	})
}
