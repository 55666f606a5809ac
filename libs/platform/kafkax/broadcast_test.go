package kafkax_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func (w *world) broadcast(t *testing.T, since time.Time) *received {
	t.Helper()
	got := newReceived()
	runInBackground(t, "RunBroadcast", func(ctx context.Context) error {
		return kafkax.RunBroadcast(ctx, kafkax.Cluster{Brokers: w.env.Brokers}, w.topic(events.TopicSessionEvents), since, got.handle)
	})
	return got
}

func TestBroadcastFromSince(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		eventsAfter int // published between since and the start of the readers
	}{
		{name: "events after since", eventsAfter: 4},
		{name: "nothing after since yet", eventsAfter: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 3, events.TopicSessionEvents)
			var old []events.Envelope
			for _, acc := range []string{"a", "b", "c", "d", "e"} {
				old = append(old, newEvent(t, acc))
			}
			w.publish(t, events.TopicSessionEvents, old...)
			time.Sleep(20 * time.Millisecond)
			since := time.Now()
			time.Sleep(20 * time.Millisecond)
			var want []events.Envelope
			for i := range tc.eventsAfter {
				want = append(want, newEvent(t, string(rune('f'+i))))
			}
			w.publish(t, events.TopicSessionEvents, want...)

			// Two instances: each sees every event, from every partition.
			readers := []*received{w.broadcast(t, since), w.broadcast(t, since)}
			time.Sleep(300 * time.Millisecond) // let the readers take their start offsets
			live := []events.Envelope{newEvent(t, "x"), newEvent(t, "y"), newEvent(t, "z")}
			w.publish(t, events.TopicSessionEvents, live...)
			want = append(want, live...)

			for i, got := range readers {
				got.waitFor(t, len(want), 10*time.Second)
				time.Sleep(200 * time.Millisecond)
				for _, ev := range want {
					if n := got.count(ev.EventID); n != 1 {
						t.Errorf("reader %d saw event %s %d times, want 1", i, ev.AccountID, n)
					}
				}
				for _, ev := range old {
					if got.count(ev.EventID) != 0 {
						t.Errorf("reader %d saw event %s from before since", i, ev.AccountID)
					}
				}
			}
		})
	}
}

func TestBroadcastWaitsForTheTopic(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2) // no topics yet
	ctx, traceID := tracedContext()
	got := w.broadcast(t, time.Now().Add(-time.Minute))
	time.Sleep(200 * time.Millisecond)

	if err := kafkax.EnsureTopics(context.Background(), kafkax.Cluster{Brokers: w.env.Brokers}, w.env.TopicPrefix, 2, events.TopicSessionEvents); err != nil {
		t.Fatal(err)
	}
	ev := newEvent(t, "a")
	if err := w.producer.Publish(ctx, events.TopicSessionEvents, ev); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1, 10*time.Second)
	if got.traceOf(ev.EventID) != traceID {
		t.Errorf("handler ran in trace %s, want %s", got.traceOf(ev.EventID), traceID)
	}
}

func TestBroadcastReturnsWhenCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	stop := runInBackground(t, "RunBroadcast", func(ctx context.Context) error {
		return kafkax.RunBroadcast(ctx, kafkax.Cluster{Brokers: w.env.Brokers}, w.topic("never.created"), time.Now(), newReceived().handle)
	})
	time.Sleep(100 * time.Millisecond)
	stop()
}
