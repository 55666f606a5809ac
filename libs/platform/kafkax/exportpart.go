package kafkax

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// EventQueue takes events to publish (an Outbox).
type EventQueue interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// AnswerExportRequests wraps next, a handler of account.events.v1, for a service that contributes to
// account exports: account.export_requested is answered with one events.ExportPart of service, built
// by part and queued on events.TopicAccountExports (its event id derives from export id and service, so
// a redelivered request is one part); every other type goes to next. A malformed request, and a part
// over events.MaxExportPartBytes, are logged and skipped; a store or queue error is returned, so the
// consumer retries.
func AnswerExportRequests(service string, part func(ctx context.Context, accountID string) (json.RawMessage, error),
	q EventQueue, log *slog.Logger, next Handler) Handler {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeExportRequested {
			return next(ctx, env)
		}
		var req events.ExportRequested
		if err := env.Decode(&req); err != nil || req.ExportID == "" || env.AccountID == "" {
			log.ErrorContext(ctx, "skipping malformed export request", "event_id", env.EventID, "err", err)
			return nil
		}
		raw, err := part(ctx, env.AccountID)
		if errors.Is(err, events.ErrExportPartTooLarge) { // never retried: it would be as large again
			log.ErrorContext(ctx, "export part too large, not sent", "export_id", req.ExportID, "account_id", env.AccountID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", req.ExportID, err)
		}
		ev, err := events.NewExportPart(env.AccountID, req.ExportID, service, raw)
		if err != nil {
			return err
		}
		if err := q.Add(ctx, events.TopicAccountExports, ev); err != nil {
			return fmt.Errorf("export %s: queue part: %w", req.ExportID, err)
		}
		log.InfoContext(ctx, "export part queued", "export_id", req.ExportID, "account_id", env.AccountID, "bytes", len(raw))
		return nil
	}
}
