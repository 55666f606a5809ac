package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// RegisterPhoneInternal mounts PUT /internal/v1/accounts/{accountId}/phone on the internal app
// (docs/architecture.md): the profile service hands over a phone number a user set through a profile
// path, with the user's client IP (clientIp, for the per-IP limit); identity records it as the
// account's pending phone (the verified one stays until the new number's code is answered) and answers
// the account's AccountSnapshot. The answer never tells whether another account has the number.
// Too many changes answer 429 with Retry-After. requireService is httpx.RequireToken with the shared
// internal token.
func RegisterPhoneInternal(internal *fiber.App, requireService fiber.Handler, phones *phone.Service) {
	internal.Put("/internal/v1/accounts/:accountId/phone", requireService, func(c *fiber.Ctx) error {
		var req struct {
			PhoneNumber string `json:"phoneNumber"`
			ClientIP    string `json:"clientIp"`
		}
		if err := c.BodyParser(&req); err != nil {
			return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "invalid_body"})
		}
		a, err := phones.SetPending(c.UserContext(), c.Params("accountId"), req.PhoneNumber, req.ClientIP)
		var limited *throttle.ExceededError
		switch {
		case errors.As(err, &limited):
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
			return c.Status(http.StatusTooManyRequests).JSON(fiber.Map{"error": "too_many_requests"})
		case errors.Is(err, phone.ErrInvalid):
			return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "invalid_phone"})
		case errors.Is(err, phone.ErrNotFound):
			return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": "not_found"})
		case err != nil:
			return err
		}
		return c.Status(http.StatusOK).JSON(auth.Snapshot(a))
	})
}
