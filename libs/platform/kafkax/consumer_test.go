package kafkax_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func (w *world) consumer(group string, maxAttempts int) kafkax.ConsumerConfig {
	return kafkax.ConsumerConfig{
		Cluster:     kafkax.Cluster{Brokers: w.env.Brokers},
		GroupID:     group,
		Topic:       w.topic(events.TopicOTPDispatch),
		Logger:      quietLogger(),
		MaxAttempts: maxAttempts,
	}
}

func TestConsumerRoundTrip(t *testing.T) {
	// Not parallel: it measures latency, which other tests' load would distort.
	w := newWorld(t, 3, events.TopicOTPDispatch)
	got := newReceived()
	runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, w.consumer("g", 0), got.handle)
	})

	ctx, traceID := tracedContext()
	sent := []events.Envelope{newEvent(t, "a"), newEvent(t, "b"), newEvent(t, "c")}
	start := time.Now()
	for _, ev := range sent {
		if err := w.producer.Publish(ctx, events.TopicOTPDispatch, ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	got.waitFor(t, len(sent), 15*time.Second)
	t.Logf("3 events consumed %s after the first publish (group join included)", time.Since(start))

	for _, ev := range sent {
		if n := got.count(ev.EventID); n != 1 {
			t.Errorf("event %s handled %d times, want 1", ev.EventID, n)
		}
		if tid := got.traceOf(ev.EventID); tid != traceID {
			t.Errorf("handler of %s ran in trace %s, want %s", ev.EventID, tid, traceID)
		}
	}

	// Once the group is up, an event gets through quickly.
	late := newEvent(t, "d")
	start = time.Now()
	w.publish(t, events.TopicOTPDispatch, late)
	got.waitFor(t, len(sent)+1, 5*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("propagation took %s, want well under a second", took)
	}
}

// TestConsumerCommitsAfterHandle restarts consumers of one group: an event whose handler finished
// (even after shutdown began) is committed and not delivered again; an event whose retries were cut
// short by shutdown is delivered again.
func TestConsumerCommitsAfterHandle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, events.TopicOTPDispatch)
	e1, e2, e3 := newEvent(t, "a"), newEvent(t, "a"), newEvent(t, "a")
	w.publish(t, events.TopicOTPDispatch, e1, e2, e3)

	// Run 1: e1 is handled; e2 is in hand when shutdown begins, and finishes after it.
	var seen1 []string
	inHand := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kafkax.RunConsumer(ctx, w.consumer("g", 0), func(hctx context.Context, ev events.Envelope) error {
			seen1 = append(seen1, ev.EventID)
			if ev.EventID == e2.EventID {
				close(inHand)
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond) // still working after the cancel
				if hctx.Err() != nil {
					t.Errorf("handler context cancelled by shutdown: %v", hctx.Err())
				}
			}
			return nil
		})
	}()
	select {
	case <-inHand:
	case <-time.After(15 * time.Second):
		t.Fatal("e2 never reached the handler")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunConsumer: %v", err)
	}
	if want := []string{e1.EventID, e2.EventID}; !equal(seen1, want) {
		t.Fatalf("run 1 handled %v, want %v", seen1, want)
	}

	// Run 2: e3 fails and shutdown begins during its retries: not committed.
	var calls atomic.Int32
	failing := make(chan struct{}, 1)
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		done <- kafkax.RunConsumer(ctx, w.consumer("g", 100), func(context.Context, events.Envelope) error {
			if calls.Add(1) == 1 {
				failing <- struct{}{}
			}
			return errors.New("downstream unavailable")
		})
	}()
	select {
	case <-failing:
	case <-time.After(15 * time.Second):
		t.Fatal("run 2 handled nothing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunConsumer: %v", err)
	}

	// Run 3: only e3 comes again.
	got := newReceived()
	stop := runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, w.consumer("g", 0), got.handle)
	})
	got.waitFor(t, 1, 15*time.Second)
	time.Sleep(500 * time.Millisecond) // room for wrong redeliveries
	stop()
	if want := []string{e3.EventID}; !equal(got.ids, want) {
		t.Errorf("run 3 handled %v, want %v", got.ids, want)
	}
}

func TestConsumerSkipsWhatItCannotHandle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, events.TopicOTPDispatch)
	raw := &kafka.Writer{Addr: kafka.TCP(w.env.Brokers...), Topic: w.topic(events.TopicOTPDispatch), BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer func() { _ = raw.Close() }()
	if err := raw.WriteMessages(context.Background(), kafka.Message{Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	poison, good := newEvent(t, "a"), newEvent(t, "a")
	w.publish(t, events.TopicOTPDispatch, poison, good)

	got := newReceived()
	var poisonCalls atomic.Int32
	runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, w.consumer("g", 3), func(ctx context.Context, ev events.Envelope) error {
			if ev.EventID == poison.EventID {
				if poisonCalls.Add(1) == 2 {
					panic("handler bug")
				}
				return errors.New("always fails")
			}
			return got.handle(ctx, ev)
		})
	})
	got.waitFor(t, 1, 20*time.Second)
	if n := poisonCalls.Load(); n != 3 {
		t.Errorf("failing handler called %d times, want MaxAttempts=3", n)
	}
	if got.count(good.EventID) != 1 {
		t.Errorf("handled %v, want the good event once", got.ids)
	}
}

// TestConsumerNeverSkipsAFailingEvent: without MaxAttempts a handler that keeps failing (MongoDB or
// Kafka out of reach) is called again, with capped backoff, for as long as it fails — far beyond the
// old give-up limit — and the event is committed once it succeeds; the events behind it follow in
// order, and a consumer of the same group started afterwards gets none of them again.
func TestConsumerNeverSkipsAFailingEvent(t *testing.T) {
	t.Parallel()
	const failures = 150 // more than any former give-up limit (5 by default, 120 in notification)
	w := newWorld(t, 1, events.TopicOTPDispatch)
	stuck, next := newEvent(t, "a"), newEvent(t, "a")
	w.publish(t, events.TopicOTPDispatch, stuck, next)

	cfg := w.consumer("g", 0)
	cfg.RetryBase, cfg.RetryMax = time.Millisecond, 2*time.Millisecond
	var calls atomic.Int32
	got := newReceived()
	stop := runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, cfg, func(ctx context.Context, ev events.Envelope) error {
			if ev.EventID == stuck.EventID && calls.Add(1) <= failures {
				return errors.New("mongodb: server selection timeout")
			}
			return got.handle(ctx, ev)
		})
	})
	got.waitFor(t, 2, 30*time.Second)
	stop()
	if n := calls.Load(); n != failures+1 {
		t.Errorf("handler called %d times for the failing event, want %d", n, failures+1)
	}
	if want := []string{stuck.EventID, next.EventID}; !equal(got.ids, want) {
		t.Errorf("handled %v, want %v (in order, each once)", got.ids, want)
	}

	again := newReceived()
	stop = runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, cfg, again.handle)
	})
	later := newEvent(t, "a")
	w.publish(t, events.TopicOTPDispatch, later)
	again.waitFor(t, 1, 30*time.Second)
	stop()
	if want := []string{later.EventID}; !equal(again.ids, want) {
		t.Errorf("after a restart handled %v, want only the new event %v", again.ids, want)
	}
}

func TestRunConsumerRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  kafkax.ConsumerConfig
	}{
		{name: "no brokers", cfg: kafkax.ConsumerConfig{GroupID: "g", Topic: "t"}},
		{name: "no group", cfg: kafkax.ConsumerConfig{Cluster: kafkax.Cluster{Brokers: []string{"127.0.0.1:1"}}, Topic: "t"}},
		{name: "no topic", cfg: kafkax.ConsumerConfig{Cluster: kafkax.Cluster{Brokers: []string{"127.0.0.1:1"}}, GroupID: "g"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := kafkax.RunConsumer(context.Background(), tc.cfg, nil); err == nil {
				t.Error("RunConsumer accepted an incomplete config")
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
