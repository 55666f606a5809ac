// Package subscriber turns the Kafka events the notification service consumes (otp.dispatch.v1) into
// deliveries.
package subscriber

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Deliverer is what the subscriber needs of the delivery service.
type Deliverer interface {
	Deliver(ctx context.Context, d delivery.Dispatch) error
}

// OTPDispatch returns the handler for otp.dispatch.v1. Other event types are skipped. A payload that
// cannot be decoded is logged (without its content: it may hold a code) and skipped, since retrying
// it would fail forever and hold up the partition. Delivery errors are returned so the consumer
// retries and does not commit.
func OTPDispatch(d Deliverer, log *slog.Logger) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeOTPDispatch {
			return nil
		}
		var p events.OTPDispatch
		if err := env.Decode(&p); err != nil || env.EventID == "" {
			log.ErrorContext(ctx, "skipping malformed otp.dispatch event", "event_id", env.EventID, "decode_failed", err != nil)
			return nil
		}
		err := d.Deliver(ctx, delivery.Dispatch{
			EventID: env.EventID, AccountID: env.AccountID, Purpose: p.Purpose, Channel: p.Channel,
			Destination: p.Destination, Code: p.Code, ExpiresAt: p.ExpiresAt, Locale: p.Locale,
		})
		if err != nil {
			return fmt.Errorf("deliver otp.dispatch %s: %w", env.EventID, err)
		}
		return nil
	}
}
