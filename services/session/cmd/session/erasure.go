package main

import (
	"context"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

// accountEraser erases what the session service holds about an account on account.deleted: its
// sessions, their revocation records and refresh-token uses (legacy collections), and its projected account facts. The
// sessions were already revoked by identity's deletion worker (so every deny-list has them) before
// account.deleted was published.
func accountEraser(sessions *store.Sessions, accounts *store.Accounts) erasure.Eraser {
	return func(ctx context.Context, accountID string, _ events.AccountDeleted) error {
		if err := sessions.EraseAccount(ctx, accountID); err != nil {
			return err
		}
		return accounts.Erase(ctx, accountID)
	}
}
