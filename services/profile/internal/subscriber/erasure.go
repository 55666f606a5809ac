package subscriber

import (
	"context"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// Eraser removes everything the profile service holds about an account (store.Profiles).
type Eraser interface {
	EraseAccount(ctx context.Context, accountID string) error
}

// ErasingAccountEvents is AccountEvents behind the erasure guard: account.deleted erases the
// account's profile, and no later account event (Kafka, or identity's synchronous delivery) creates it
// again.
func ErasingAccountEvents(p Projector, e Eraser, tombstones *erasure.Tombstones, log *slog.Logger) func(context.Context, events.Envelope) error {
	erase := func(ctx context.Context, accountID string, _ events.AccountDeleted) error {
		if err := e.EraseAccount(ctx, accountID); err != nil {
			return err
		}
		log.InfoContext(ctx, "account erased", "account_id", accountID)
		return nil
	}
	return erasure.Guard(tombstones, erase, AccountEvents(p, log))
}
