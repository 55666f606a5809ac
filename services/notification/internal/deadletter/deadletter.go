// Package deadletter publishes the deliveries the notification service gave up on to the dead-letter
// topic of the topic they came from (otp.dispatch.v1.dlq, account.events.v1.dlq), with the reason and
// without the one-time code. It implements delivery.DeadLetters.
package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Publisher is what the dead-letter queue needs of Kafka (kafkax.Producer).
type Publisher interface {
	Publish(ctx context.Context, topic string, ev events.Envelope) error
}

// Queue publishes dead letters.
type Queue struct {
	pub Publisher
	now func() time.Time
}

// New returns a Queue publishing through pub.
func New(pub Publisher) *Queue { return &Queue{pub: pub, now: time.Now} }

// Topic returns the dead-letter topic of a source topic.
func Topic(source string) string {
	if source == events.TopicAccountEvents {
		return events.TopicAccountEventsDLQ
	}
	return events.TopicOTPDispatchDLQ
}

// DeadLetter publishes d (without its code) with the reason, under d's event id.
func (q *Queue) DeadLetter(ctx context.Context, d delivery.Dispatch, reason string, attempts int) error {
	var original any
	eventType := events.TypeOTPDispatch
	source := d.Source
	if d.Alert {
		eventType = events.TypeSecurityAlert
		if source == "" {
			source = events.TopicAccountEvents
		}
		original = events.SecurityAlert{Kind: d.Purpose, Channel: d.Channel, Destination: d.Destination, Locale: d.Locale, Details: d.Details}
	} else {
		if source == "" {
			source = events.TopicOTPDispatch
		}
		// No Code: the dead-letter topic is read by operators, and a code has no use once undeliverable.
		original = events.OTPDispatch{Purpose: d.Purpose, Channel: d.Channel, Destination: d.Destination, ExpiresAt: d.ExpiresAt, Locale: d.Locale}
	}
	payload, err := json.Marshal(original)
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", d.EventID, err)
	}
	raw, err := json.Marshal(events.DeadLetter{
		Topic: source, EventType: eventType, Reason: reason, Attempts: attempts, FailedAt: q.now().UTC(), Payload: payload,
	})
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", d.EventID, err)
	}
	env := events.Envelope{EventID: d.EventID, Type: events.TypeDeadLetter, OccurredAt: q.now().UTC(), AccountID: d.AccountID, Payload: raw}
	if err := q.pub.Publish(ctx, Topic(source), env); err != nil {
		return fmt.Errorf("dead letter %s: %w", d.EventID, err)
	}
	deadLetters.WithLabelValues(source).Inc()
	return nil
}
