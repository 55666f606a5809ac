package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// AccountReader reads an account by id (store.Accounts).
type AccountReader interface {
	ByID(ctx context.Context, id string) (account.Account, error)
}

// RegisterSnapshotInternal mounts GET /internal/v1/accounts/{accountId}/snapshot on the internal app
// (docs/architecture.md): the account's current AccountSnapshot (the account.updated payload), 404
// when there is no such account. The profile service reads it when its projection of an account is
// missing, instead of waiting for account.created. requireService is httpx.RequireToken with the
// shared internal token.
func RegisterSnapshotInternal(internal *fiber.App, requireService fiber.Handler, accounts AccountReader) {
	internal.Get("/internal/v1/accounts/:accountId/snapshot", requireService, func(c *fiber.Ctx) error {
		a, err := accounts.ByID(c.UserContext(), c.Params("accountId"))
		switch {
		case errors.Is(err, account.ErrNotFound):
			return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": "not_found"})
		case err != nil:
			return err
		}
		return c.Status(http.StatusOK).JSON(auth.Snapshot(a))
	})
}
