// Package subscriber turns the Kafka events identity consumes into calls on its stores: for now the
// profile service's profile.updated (profile.events.v1), projected for username search and lookup.
package subscriber

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// ProfileProjection keeps profile snapshots (store.Accounts.ApplyProfile).
type ProfileProjection interface {
	ApplyProfile(ctx context.Context, accountID string, p events.ProfileSnapshot) (bool, error)
}

// ProfileEvents returns the handler for profile.events.v1. Unknown types are skipped, so the profile
// service can add types first; a payload that cannot be decoded is logged and skipped (retrying it
// would hold up the partition forever). Store errors are returned, so the consumer retries and does
// not commit. Snapshots carry versions, so redelivery and reordering change nothing.
func ProfileEvents(p ProfileProjection, log *slog.Logger) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeProfileUpdated {
			return nil
		}
		var snap events.ProfileSnapshot
		if err := env.Decode(&snap); err != nil || env.AccountID == "" || snap.Version < 1 {
			log.ErrorContext(ctx, "skipping malformed profile event", "event_id", env.EventID, "err", err)
			return nil
		}
		applied, err := p.ApplyProfile(ctx, env.AccountID, snap)
		if err != nil {
			return fmt.Errorf("apply profile.updated %s for %s: %w", env.EventID, env.AccountID, err)
		}
		if !applied {
			log.DebugContext(ctx, "profile snapshot not applied (older, or no such account)", "event_id", env.EventID, "account_id", env.AccountID, "version", snap.Version)
		}
		return nil
	}
}
