package kafkax_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

// metricValue gathers the process's metrics and returns the value of the series (see
// metricstest.Families.Value).
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("test"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := got.Value(name, labels)
	return v
}

// waitMetric waits (generously) until check accepts the series' value.
func waitMetric(t *testing.T, name string, labels map[string]string, within time.Duration, want string, check func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := metricValue(t, name, labels)
		if check(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after %s, want %s", name, labels, v, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Not parallel: the outbox gauges are the process's (one relay per service), and other tests run relays.
func TestOutboxBacklogMetrics(t *testing.T) {
	w := newOutboxWorld(t)
	down := kafkax.NewProducer(kafkax.Cluster{Brokers: []string{closedAddr(t)}}, w.env.TopicPrefix)
	defer func() { _ = down.Close() }()
	failing := w.outbox(t, down)
	for i := range 3 {
		if err := failing.Add(context.Background(), events.TopicSessionEvents, newEvent(t, fmt.Sprintf("acc-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	failuresBefore := metricValue(t, "latchkey_outbox_publish_failures_total", nil)
	publishedBefore := metricValue(t, "latchkey_outbox_published_events_total", nil)

	stopFailing := runInBackground(t, "failing Outbox.Run", failing.Run)
	waitMetric(t, "latchkey_outbox_pending_events", nil, 20*time.Second, "3", func(v float64) bool { return v == 3 })
	waitMetric(t, "latchkey_outbox_oldest_pending_age_seconds", nil, 20*time.Second, "> 0", func(v float64) bool { return v > 0 })
	waitMetric(t, "latchkey_outbox_publish_failures_total", nil, 20*time.Second, "more failures", func(v float64) bool { return v > failuresBefore })
	stopFailing()

	working := w.outbox(t, w.producer)
	runInBackground(t, "Outbox.Run", working.Run)
	// The relay measures at start and then at most every 5s (up to 15s apart while idle).
	waitMetric(t, "latchkey_outbox_pending_events", nil, 30*time.Second, "0", func(v float64) bool { return v == 0 })
	if v := metricValue(t, "latchkey_outbox_oldest_pending_age_seconds", nil); v != 0 {
		t.Errorf("oldest pending age = %v with nothing pending, want 0", v)
	}
	if v := metricValue(t, "latchkey_outbox_published_events_total", nil); v < publishedBefore+3 {
		t.Errorf("published events = %v, want at least %v", v, publishedBefore+3)
	}
}

func TestConsumerLagMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, events.TopicAccountEvents)
	topic := w.topic(events.TopicAccountEvents)
	group := w.env.TopicPrefix + "lag-test"
	for i := range 5 {
		w.publish(t, events.TopicAccountEvents, newEvent(t, fmt.Sprintf("acc-%d", i)))
	}

	release := make(chan struct{})
	var failedOnce atomic.Bool
	runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
			Cluster: kafkax.Cluster{Brokers: w.env.Brokers}, GroupID: group, Topic: topic, Logger: quietLogger(),
			RetryBase: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond,
		}, func(ctx context.Context, ev events.Envelope) error {
			if failedOnce.CompareAndSwap(false, true) {
				return errors.New("first call fails")
			}
			<-release
			return nil
		})
	})

	lag := map[string]string{"group": group, "topic": topic, "partition": "0"}
	// The first event is fetched and held by the handler: all five are unprocessed.
	waitMetric(t, "latchkey_kafka_consumer_lag_messages", lag, 20*time.Second, "5", func(v float64) bool { return v == 5 })
	waitMetric(t, "latchkey_kafka_consumer_handler_failures_total", map[string]string{"group": group, "topic": topic}, 20*time.Second, "1", func(v float64) bool { return v == 1 })
	close(release)
	waitMetric(t, "latchkey_kafka_consumer_lag_messages", lag, 20*time.Second, "0", func(v float64) bool { return v == 0 })
	handled := map[string]string{"group": group, "topic": topic, "outcome": "handled"}
	waitMetric(t, "latchkey_kafka_consumer_events_total", handled, 20*time.Second, "5", func(v float64) bool { return v == 5 })
}

func TestBroadcastLagMetric(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, events.TopicSessionEvents)
	topic := w.topic(events.TopicSessionEvents)
	for i := range 3 {
		w.publish(t, events.TopicSessionEvents, newEvent(t, fmt.Sprintf("acc-%d", i)))
	}
	got := newReceived()
	runInBackground(t, "RunBroadcast", func(ctx context.Context) error {
		return kafkax.RunBroadcast(ctx, kafkax.Cluster{Brokers: w.env.Brokers}, topic, time.Time{}, got.handle)
	})
	got.waitFor(t, 3, 20*time.Second)
	labels := map[string]string{"topic": topic, "partition": "0"}
	if _, ok := gatherHas(t, "latchkey_kafka_broadcast_lag_messages", labels); !ok {
		t.Fatalf("latchkey_kafka_broadcast_lag_messages%v missing after reading", labels)
	}
	waitMetric(t, "latchkey_kafka_broadcast_lag_messages", labels, 20*time.Second, "0", func(v float64) bool { return v == 0 })
}

func gatherHas(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("test"))
	if err != nil {
		t.Fatal(err)
	}
	return got.Value(name, labels)
}
