package subscriber_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

// unreachableStore is the real delivery store behind a switch that makes every call fail while down
// is positive, as an unreachable MongoDB does; each failing call counts down once.
type unreachableStore struct {
	delivery.Store
	down atomic.Int32
}

var errUnreachable = errors.New("server selection error: context deadline exceeded")

func (s *unreachableStore) Create(ctx context.Context, r delivery.Record) error {
	if s.down.Add(-1) >= 0 {
		return errUnreachable
	}
	return s.Store.Create(ctx, r)
}

// Nothing accepted is ever lost: an OTP whose delivery fails on the store for longer than the
// consumer's former give-up limit (120 tries, ~10 minutes) is retried until the store answers again,
// then delivered exactly once. The retry timing is shortened so the outage takes well under a second.
func TestOutageLongerThanTheOldGiveUpLimit(t *testing.T) {
	t.Parallel()
	const failures = 200
	w := newWorld(t)
	deliveries := &unreachableStore{Store: store.NewDeliveries(w.db)}
	deliveries.down.Store(failures)
	handle := subscriber.OTPDispatch(delivery.NewService(deliveries, devoutbox.New(w.db), w.log, delivery.Options{}), w.log)

	ev := dispatch(t, "acc-1", events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail,
		Destination: "outage@example.com", Code: "135790", ExpiresAt: time.Now().Add(10 * time.Minute)})
	w.publish(t, ev)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
			Cluster: kafkax.Cluster{Brokers: w.env.Brokers}, GroupID: "notification", Logger: w.log,
			Topic:     kafkax.Topic(w.env.TopicPrefix, events.TopicOTPDispatch),
			RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond,
		}, handle)
	}()
	msgs := w.waitFor(t, "outage@example.com", 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunConsumer: %v", err)
	}
	if left := deliveries.down.Load(); left >= 0 {
		t.Fatalf("the store was still down (%d failures left) when the test ended", left+1)
	}
	if len(msgs) != 1 || msgs[0]["code"] != "135790" {
		t.Errorf("outbox = %v, want the one code after the outage", msgs)
	}
}
