// Package retry moves deliveries that must wait for their next attempt off their source partition:
// Queue publishes them to the delayed retry topic of their source (otp.dispatch.v1.retry,
// account.events.v1.retry) with a not-before time, and Handler, the retry topics' consumer, waits
// until each is due and hands the original event back to the source topic's handler. The delivery
// service carries on from where it stopped (its records say which messages went out and how many
// attempts were made) and, after the last attempt, dead-letters it.
//
// So an event waiting for a retry holds up only the retries queued behind it on its retry partition
// (each due at most DELIVERY_RETRY_MAX, or a provider's Retry-After, later), never the fresh events of
// its source partition.
package retry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// ErrInterrupted: the service is stopping while a retry waits to be due; it is not committed and
// comes again after the restart.
var ErrInterrupted = errors.New("retry interrupted by shutdown")

// Publisher is what the queue needs of Kafka (kafkax.Producer).
type Publisher interface {
	Publish(ctx context.Context, topic string, ev events.Envelope) error
}

// Topic returns the retry topic of a source topic.
func Topic(source string) string {
	if source == events.TopicAccountEvents {
		return events.TopicAccountEventsRetry
	}
	return events.TopicOTPDispatchRetry
}

// Queue publishes deliveries to the retry topics. It implements delivery.Retries.
type Queue struct {
	pub Publisher
	now func() time.Time
}

// New returns a Queue publishing through pub.
func New(pub Publisher) *Queue { return &Queue{pub: pub, now: time.Now} }

// Retry publishes d, as the event it came from, to the retry topic of its source, due at notBefore.
func (q *Queue) Retry(ctx context.Context, d delivery.Dispatch, notBefore time.Time, attempts int) error {
	source, original, err := envelopeOf(d)
	if err != nil {
		return fmt.Errorf("retry %s: %w", d.EventID, err)
	}
	raw, err := json.Marshal(original)
	if err != nil {
		return fmt.Errorf("retry %s: %w", d.EventID, err)
	}
	payload, err := json.Marshal(events.DeliveryRetry{Topic: source, NotBefore: notBefore.UTC(), Attempts: attempts, Event: raw})
	if err != nil {
		return fmt.Errorf("retry %s: %w", d.EventID, err)
	}
	env := events.Envelope{EventID: d.EventID, Type: events.TypeDeliveryRetry, OccurredAt: q.now().UTC(), AccountID: d.AccountID, Payload: payload}
	if err := q.pub.Publish(ctx, Topic(source), env); err != nil {
		return fmt.Errorf("retry %s: %w", d.EventID, err)
	}
	return nil
}

// envelopeOf rebuilds the event a dispatch came from (the subscriber's mapping, reversed).
func envelopeOf(d delivery.Dispatch) (string, events.Envelope, error) {
	source, eventType := d.Source, events.TypeOTPDispatch
	var payload any = events.OTPDispatch{Purpose: d.Purpose, Channel: d.Channel, Destination: d.Destination, Code: d.Code, ExpiresAt: d.ExpiresAt, Locale: d.Locale}
	if d.Alert {
		eventType = events.TypeSecurityAlert
		if source == "" {
			source = events.TopicAccountEvents
		}
		payload = events.SecurityAlert{Kind: d.Purpose, Channel: d.Channel, Destination: d.Destination, Locale: d.Locale, Details: d.Details}
	} else if source == "" {
		source = events.TopicOTPDispatch
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", events.Envelope{}, err
	}
	return source, events.Envelope{EventID: d.EventID, Type: eventType, AccountID: d.AccountID, Payload: raw}, nil
}

// Handler returns the consumer of a retry topic: it waits until an event is due (returning
// ErrInterrupted, so the event stays uncommitted, when stopping closes first), then calls the handler
// of the event's source topic with the original event. A malformed retry is logged (without its
// content: it may hold a code) and skipped. now is the clock (nil: time.Now).
func Handler(sources map[string]func(context.Context, events.Envelope) error, stopping <-chan struct{}, log *slog.Logger, now func() time.Time) func(context.Context, events.Envelope) error {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, env events.Envelope) error {
		if env.Type != events.TypeDeliveryRetry {
			return nil
		}
		var r events.DeliveryRetry
		var original events.Envelope
		if err := env.Decode(&r); err != nil || json.Unmarshal(r.Event, &original) != nil || original.EventID == "" {
			log.ErrorContext(ctx, "skipping malformed delivery retry", "event_id", env.EventID)
			return nil
		}
		handle, ok := sources[r.Topic]
		if !ok {
			log.ErrorContext(ctx, "skipping delivery retry of an unknown topic", "event_id", env.EventID, "topic", r.Topic)
			return nil
		}
		if wait := r.NotBefore.Sub(now()); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
			case <-stopping:
				return ErrInterrupted
			}
		}
		return handle(ctx, original)
	}
}
