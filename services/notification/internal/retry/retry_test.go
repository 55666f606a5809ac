package retry_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/retry"
)

type published struct {
	topic string
	ev    events.Envelope
}

type recorder struct{ got []published }

func (r *recorder) Publish(_ context.Context, topic string, ev events.Envelope) error {
	r.got = append(r.got, published{topic, ev})
	return nil
}

// TestQueueAndHandlerRoundTrip: a retried dispatch reaches the source topic's handler as the event
// it came from (code included), on the retry topic of its source, once it is due.
func TestQueueAndHandlerRoundTrip(t *testing.T) {
	for _, d := range []delivery.Dispatch{
		{EventID: "ev-otp", AccountID: "acc-1", Source: events.TopicOTPDispatch, Purpose: events.PurposeTwoFactor, Channel: events.ChannelSMS,
			Destination: "+15551234567", Code: "123456", ExpiresAt: time.Now().Add(time.Minute).UTC().Truncate(time.Second), Locale: "en"},
		{EventID: "ev-alert", AccountID: "acc-2", Alert: true, Purpose: events.AlertPasswordChanged, Channel: events.ChannelEmail,
			Destination: "a@example.com", Details: map[string]string{"ip": "192.0.2.1"}},
	} {
		t.Run(d.EventID, func(t *testing.T) {
			var pub recorder
			due := time.Now().Add(50 * time.Millisecond)
			if err := retry.New(&pub).Retry(context.Background(), d, due, 2); err != nil {
				t.Fatal(err)
			}
			if len(pub.got) != 1 {
				t.Fatalf("published %d events, want 1", len(pub.got))
			}
			wantTopic, wantSource := events.TopicOTPDispatchRetry, events.TopicOTPDispatch
			if d.Alert {
				wantTopic, wantSource = events.TopicAccountEventsRetry, events.TopicAccountEvents
			}
			p := pub.got[0]
			if p.topic != wantTopic || p.ev.EventID != d.EventID || p.ev.AccountID != d.AccountID || p.ev.Type != events.TypeDeliveryRetry {
				t.Fatalf("published %s %+v, want %s under the event and account id", p.topic, p.ev, wantTopic)
			}
			var handled []events.Envelope
			sources := map[string]func(context.Context, events.Envelope) error{
				wantSource: func(_ context.Context, ev events.Envelope) error { handled = append(handled, ev); return nil },
			}
			if err := retry.Handler(sources, nil, slog.New(slog.DiscardHandler), nil)(context.Background(), p.ev); err != nil {
				t.Fatal(err)
			}
			if time.Now().Before(due) {
				t.Error("handled before the retry was due")
			}
			if len(handled) != 1 || handled[0].EventID != d.EventID || handled[0].AccountID != d.AccountID {
				t.Fatalf("handled %+v, want the original event", handled)
			}
			if d.Alert {
				var a events.SecurityAlert
				if err := handled[0].Decode(&a); err != nil || handled[0].Type != events.TypeSecurityAlert || a.Kind != d.Purpose || a.Details["ip"] != "192.0.2.1" {
					t.Errorf("alert %+v (%v), want the original", a, err)
				}
				return
			}
			var o events.OTPDispatch
			if err := handled[0].Decode(&o); err != nil || handled[0].Type != events.TypeOTPDispatch || o.Code != d.Code || !o.ExpiresAt.Equal(d.ExpiresAt) || o.Destination != d.Destination {
				t.Errorf("otp %+v (%v), want the original with its code", o, err)
			}
		})
	}
}

// TestHandlerStopsWaiting: a retry that is not due when the service stops is left uncommitted
// (an error), and its handler is not called.
func TestHandlerStopsWaiting(t *testing.T) {
	raw, _ := json.Marshal(events.Envelope{EventID: "ev-1", Type: events.TypeOTPDispatch, Payload: json.RawMessage(`{}`)})
	payload, _ := json.Marshal(events.DeliveryRetry{Topic: events.TopicOTPDispatch, NotBefore: time.Now().Add(time.Hour), Event: raw})
	called := false
	sources := map[string]func(context.Context, events.Envelope) error{
		events.TopicOTPDispatch: func(context.Context, events.Envelope) error { called = true; return nil },
	}
	stopping := make(chan struct{})
	close(stopping)
	err := retry.Handler(sources, stopping, slog.New(slog.DiscardHandler), nil)(context.Background(),
		events.Envelope{EventID: "ev-1", Type: events.TypeDeliveryRetry, Payload: payload})
	if !errors.Is(err, retry.ErrInterrupted) || called {
		t.Errorf("err %v, called %v; want ErrInterrupted and no call", err, called)
	}
	// A malformed retry can never be handled: skipped (nil), not retried forever.
	if err := retry.Handler(sources, stopping, slog.New(slog.DiscardHandler), nil)(context.Background(),
		events.Envelope{EventID: "ev-2", Type: events.TypeDeliveryRetry, Payload: json.RawMessage(`"nope"`)}); err != nil || called {
		t.Errorf("malformed retry: err %v, called %v; want skipped", err, called)
	}
}
