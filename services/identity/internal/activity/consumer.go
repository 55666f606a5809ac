package activity

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// ConsumerGroup is the Kafka consumer group reading events.TopicActivity into the log.
const ConsumerGroup = "identity-activity"

// Handler returns the handler of events.TopicActivity: each activity.recorded event becomes one entry
// of its account's log (idempotent by event id). Other types are skipped; a payload that cannot be
// decoded is logged and skipped (retrying it would hold up the partition forever); store errors are
// returned, so the consumer retries and does not commit.
//
// An event of an account that does not exist (any more) is only counted anonymously: an event
// arriving after the account was erased must not bring its personal data back. The account is looked
// at again after the insert, so an erasure running meanwhile cannot leave an entry behind.
func Handler(s *Store, log *slog.Logger) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeActivity {
			return nil
		}
		var act events.Activity
		if err := env.Decode(&act); err != nil || env.EventID == "" || env.AccountID == "" || act.Kind == "" {
			log.ErrorContext(ctx, "skipping malformed activity event", "event_id", env.EventID, "err", err)
			return nil
		}
		exists, err := s.AccountExists(ctx, env.AccountID)
		if err != nil {
			return err
		}
		if !exists {
			if err := s.Count(ctx, env.OccurredAt, act.Kind, act.Outcome); err != nil {
				return err
			}
			log.DebugContext(ctx, "activity of an account that does not exist counted anonymously", "event_id", env.EventID, "kind", act.Kind)
			return nil
		}
		if _, err := s.Record(ctx, Entry{ID: env.EventID, AccountID: env.AccountID, OccurredAt: env.OccurredAt, Activity: act}); err != nil {
			return fmt.Errorf("record activity %s of %s: %w", env.EventID, env.AccountID, err)
		}
		// The account may have been erased between the look-up and the insert.
		if exists, err := s.AccountExists(ctx, env.AccountID); err != nil || !exists {
			if err != nil {
				return err
			}
			return s.EraseAccount(ctx, env.AccountID)
		}
		return nil
	}
}
