// Package subscriber turns the Kafka events the profile service consumes (account.events.v1:
// account.created and account.updated) into calls on the profile service.
package subscriber

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// Projector is what the subscriber needs of the profile service.
type Projector interface {
	ApplyAccountCreated(ctx context.Context, ev profile.AccountCreated) error
	ApplyAccountSnapshot(ctx context.Context, accountID string, snap events.AccountSnapshot) error
}

// AccountEvents returns the handler for account.events.v1. Event types it does not know are skipped,
// so identity can add types before the profile service learns them. A payload that cannot be decoded
// is logged and skipped too: retrying it would fail forever and hold up the partition behind it.
// Store errors are returned, so the consumer retries and does not commit.
func AccountEvents(p Projector, log *slog.Logger) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type == events.TypeAccountUpdated {
			return accountUpdated(ctx, p, log, env)
		}
		if env.Type != events.TypeAccountCreated {
			return nil
		}
		var payload events.AccountCreated
		if err := env.Decode(&payload); err != nil || env.EventID == "" || env.AccountID == "" {
			log.ErrorContext(ctx, "skipping malformed account event", "event_id", env.EventID, "type", env.Type, "err", err)
			return nil
		}
		err := p.ApplyAccountCreated(ctx, profile.AccountCreated{
			EventID:    env.EventID,
			AccountID:  env.AccountID,
			OccurredAt: env.OccurredAt,
			Email:      payload.Email,
			Username:   payload.Username,
			FirstName:  payload.FirstName,
			LastName:   payload.LastName,
			Account:    payload.Account,
		})
		if err != nil {
			return fmt.Errorf("apply account.created %s for %s: %w", env.EventID, env.AccountID, err)
		}
		return nil
	}
}

// accountUpdated applies an AccountSnapshot; the service keeps the highest version, so order and
// repetition do not matter.
func accountUpdated(ctx context.Context, p Projector, log *slog.Logger, env events.Envelope) error {
	var snap events.AccountSnapshot
	if err := env.Decode(&snap); err != nil || env.AccountID == "" || snap.Version < 1 {
		log.ErrorContext(ctx, "skipping malformed account snapshot", "event_id", env.EventID, "err", err)
		return nil
	}
	if err := p.ApplyAccountSnapshot(ctx, env.AccountID, snap); err != nil {
		return fmt.Errorf("apply account.updated %s for %s: %w", env.EventID, env.AccountID, err)
	}
	return nil
}
