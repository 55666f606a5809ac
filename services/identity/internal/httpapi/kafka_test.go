package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// TestEventsReachKafka runs the outbox relay and reads the topics with kafka-go, as the notification
// and profile services do.
func TestEventsReachKafka(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: h.env.Brokers}, h.env.TopicPrefix, 1, events.TopicOTPDispatch, events.TopicAccountEvents); err != nil {
		t.Fatal(err)
	}
	reg := h.register(t, "ada@example.com", map[string]any{"username": "ada", "first_name": "Ada"})
	if r := h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "phone")); r.status != http.StatusOK {
		t.Fatalf("login = %d %s", r.status, r.raw)
	}
	id := reg.str("user.id")

	// The relay starts once the harness has read the registration code from the outbox: a sent
	// document no longer carries its event.
	relay, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.outbox.Run(relay) }()
	t.Cleanup(func() { stop(); <-done })

	dispatches := readTopic(t, ctx, h, events.TopicOTPDispatch, 2)
	var purposes []string
	for _, ev := range dispatches {
		var p events.OTPDispatch
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if ev.Type != events.TypeOTPDispatch || p.Destination != "ada@example.com" || len(p.Code) != 6 || p.ExpiresAt.IsZero() {
			t.Errorf("dispatch %s = %+v, want a code for ada@example.com", ev.Type, p)
		}
		purposes = append(purposes, p.Purpose)
	}
	if len(purposes) != 2 || purposes[0] != events.PurposeRegistration || purposes[1] != events.PurposeDeviceVerification {
		t.Errorf("dispatch purposes = %v, want registration then device_verification", purposes)
	}
	if dispatches[1].AccountID != id {
		t.Errorf("device code keyed by %q, want the account id %s", dispatches[1].AccountID, id)
	}

	accountEvents := readTopic(t, ctx, h, events.TopicAccountEvents, 2)
	var p events.AccountCreated
	if err := accountEvents[0].Decode(&p); err != nil {
		t.Fatal(err)
	}
	if accountEvents[0].Type != events.TypeAccountCreated || accountEvents[0].AccountID != id || p.Email != "ada@example.com" ||
		!p.EmailVerified || p.Username != "ada" || p.FirstName != "Ada" {
		t.Errorf("account event = %+v %+v, want account.created for %s", accountEvents[0], p, id)
	}
	var snap events.AccountSnapshot
	if err := accountEvents[1].Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if accountEvents[1].Type != events.TypeAccountUpdated || accountEvents[1].AccountID != id || snap.Version != 1 ||
		snap.Email != "ada@example.com" || !snap.EmailVerified || snap.Username != "ada" || snap.Status != events.AccountStatusActive {
		t.Errorf("second account event = %+v %+v, want the account.updated snapshot at version 1", accountEvents[1], snap)
	}
}

// readTopic reads n envelopes from the start of the test's topic.
func readTopic(t *testing.T, ctx context.Context, h *harness, topic string, n int) []events.Envelope {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.env.Brokers, Topic: kafkax.Topic(h.env.TopicPrefix, topic), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []events.Envelope
	for len(out) < n {
		msg, err := r.ReadMessage(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read %d of %d events from %s before the deadline", len(out), n, topic)
		}
		if err != nil {
			t.Fatal(err)
		}
		var ev events.Envelope
		if err := json.Unmarshal(msg.Value, &ev); err != nil {
			t.Fatalf("message on %s is not an envelope: %s", topic, msg.Value)
		}
		if string(msg.Key) != ev.AccountID {
			t.Errorf("message key %q, want the account id %q", msg.Key, ev.AccountID)
		}
		out = append(out, ev)
	}
	return out
}
