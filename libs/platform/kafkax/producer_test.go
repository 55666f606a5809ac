package kafkax_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func TestTopic(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, name, want string }{
		{prefix: "", name: events.TopicOTPDispatch, want: "otp.dispatch.v1"},
		{prefix: "staging.", name: events.TopicSessionEvents, want: "staging.session.events.v1"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := kafkax.Topic(tc.prefix, tc.name); got != tc.want {
				t.Errorf("Topic(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
			}
		})
	}
}

// TestPublishMessageShape reads the raw message a Publish wrote: key, value and headers.
func TestPublishMessageShape(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, events.TopicAccountEvents)
	ctx, traceID := tracedContext()
	tests := []struct {
		name  string
		topic string // as given to Publish
	}{
		{name: "unprefixed name", topic: events.TopicAccountEvents},
		{name: "prefixed name", topic: w.topic(events.TopicAccountEvents)},
	}
	sent := make([]events.Envelope, len(tests))
	for i, tc := range tests {
		sent[i] = newEvent(t, "acc-"+tc.name[:4])
		if err := w.producer.Publish(ctx, tc.topic, sent[i]); err != nil {
			t.Fatalf("Publish %s: %v", tc.name, err)
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: w.env.Brokers, Topic: w.topic(events.TopicAccountEvents), Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			msg, err := r.ReadMessage(rctx)
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			want := sent[i]
			if got := string(msg.Key); got != want.AccountID {
				t.Errorf("key = %q, want %q", got, want.AccountID)
			}
			var got events.Envelope
			if err := json.Unmarshal(msg.Value, &got); err != nil {
				t.Fatalf("value is not an envelope: %v", err)
			}
			if got.EventID != want.EventID || got.Type != want.Type || string(got.Payload) != string(want.Payload) || !got.OccurredAt.Equal(want.OccurredAt) {
				t.Errorf("envelope = %+v, want %+v", got, want)
			}
			headers := map[string]string{}
			for _, h := range msg.Headers {
				headers[h.Key] = string(h.Value)
			}
			if headers[kafkax.HeaderEventID] != want.EventID || headers[kafkax.HeaderEventType] != want.Type {
				t.Errorf("headers = %v, want event-id %s and event-type %s", headers, want.EventID, want.Type)
			}
			if tp := headers["traceparent"]; len(tp) != 55 || tp[3:35] != traceID.String() {
				t.Errorf("traceparent = %q, want one in trace %s", tp, traceID)
			}
		})
	}
}

func TestPublishToMissingTopicFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.producer.Publish(ctx, "no.such.topic", newEvent(t, "a")); err == nil {
		t.Fatal("Publish to a missing topic succeeded; the producer must not create topics")
	}
}

func TestEnsureTopics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 { // the second call finds them in place
		if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: w.env.Brokers}, w.env.TopicPrefix, 4, events.AllTopics...); err != nil {
			t.Fatalf("EnsureTopics #%d: %v", i+1, err)
		}
	}
	conn, err := kafka.DialContext(ctx, "tcp", w.env.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	for _, name := range events.AllTopics {
		t.Run(name, func(t *testing.T) {
			parts, err := conn.ReadPartitions(w.topic(name))
			if err != nil {
				t.Fatalf("ReadPartitions: %v", err)
			}
			if len(parts) != 4 {
				t.Errorf("partitions = %d, want 4", len(parts))
			}
		})
	}
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: []string{closedAddr(t)}}, w.env.TopicPrefix, 1, "x"); err == nil {
		t.Error("EnsureTopics against a closed port succeeded")
	}
}
