// Package subscriber turns the Kafka events the notification service consumes into deliveries:
// otp.dispatch on otp.dispatch.v1, and security.alert on account.events.v1 (the other event types of
// that topic belong to other consumers and are skipped, which commits them).
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
			EventID: env.EventID, AccountID: env.AccountID, Source: events.TopicOTPDispatch, Purpose: p.Purpose, Channel: p.Channel,
			Destination: p.Destination, Code: p.Code, ExpiresAt: p.ExpiresAt, Locale: p.Locale,
		})
		if err != nil {
			return fmt.Errorf("deliver otp.dispatch %s: %w", env.EventID, err)
		}
		return nil
	}
}

// SecurityAlerts returns the handler for account.events.v1: it delivers security.alert events to
// their destination and skips every other type (account.created, account.updated). A malformed alert
// is logged and skipped.
func SecurityAlerts(d Deliverer, log *slog.Logger) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeSecurityAlert {
			return nil
		}
		var p events.SecurityAlert
		if err := env.Decode(&p); err != nil || env.EventID == "" {
			log.ErrorContext(ctx, "skipping malformed security.alert event", "event_id", env.EventID, "decode_failed", err != nil)
			return nil
		}
		err := d.Deliver(ctx, delivery.Dispatch{
			EventID: env.EventID, AccountID: env.AccountID, Source: events.TopicAccountEvents, Alert: true, Purpose: p.Kind,
			Channel: p.Channel, Destination: p.Destination, Locale: p.Locale, Details: p.Details,
		})
		if err != nil {
			return fmt.Errorf("deliver security.alert %s: %w", env.EventID, err)
		}
		return nil
	}
}
