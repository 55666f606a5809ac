package deadletter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/deadletter"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
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

func TestDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		d         delivery.Dispatch
		wantTopic string
		wantType  string
	}{
		{
			name: "otp without its code",
			d: delivery.Dispatch{EventID: "ev-1", AccountID: "acc-1", Source: events.TopicOTPDispatch, Purpose: events.PurposeTwoFactor,
				Channel: events.ChannelSMS, Destination: "+15551234567", Code: "918273", ExpiresAt: time.Now().Add(time.Minute)},
			wantTopic: events.TopicOTPDispatchDLQ, wantType: events.TypeOTPDispatch,
		},
		{
			name: "security alert",
			d: delivery.Dispatch{EventID: "ev-2", AccountID: "acc-1", Source: events.TopicAccountEvents, Alert: true, Purpose: events.AlertPasswordReset,
				Channel: events.ChannelEmail, Destination: "jane@example.com"},
			wantTopic: events.TopicAccountEventsDLQ, wantType: events.TypeSecurityAlert,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			if err := deadletter.New(r).DeadLetter(context.Background(), tc.d, "twilio: 21211 invalid number", 3); err != nil {
				t.Fatal(err)
			}
			if len(r.got) != 1 {
				t.Fatalf("published %d events, want 1", len(r.got))
			}
			p := r.got[0]
			if p.topic != tc.wantTopic || p.ev.EventID != tc.d.EventID || p.ev.AccountID != "acc-1" || p.ev.Type != events.TypeDeadLetter {
				t.Errorf("published %s %+v", p.topic, p.ev)
			}
			var dl events.DeadLetter
			if err := p.ev.Decode(&dl); err != nil {
				t.Fatal(err)
			}
			if dl.Topic != tc.d.Source || dl.EventType != tc.wantType || dl.Reason != "twilio: 21211 invalid number" || dl.Attempts != 3 || dl.FailedAt.IsZero() {
				t.Errorf("dead letter = %+v", dl)
			}
			if strings.Contains(string(dl.Payload), "918273") || !strings.Contains(string(dl.Payload), tc.d.Destination) {
				t.Errorf("payload %s: want the destination and no code", dl.Payload)
			}
		})
	}
}
