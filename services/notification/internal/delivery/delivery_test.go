package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// flakySender fails the first failures[channel] sends on a channel, then passes them to the outbox.
type flakySender struct {
	mu       sync.Mutex
	next     delivery.Sender
	failures map[string]int
	sends    map[string]int
}

func (s *flakySender) Send(ctx context.Context, m delivery.Message) error {
	s.mu.Lock()
	s.sends[m.Channel]++
	fail := s.failures[m.Channel] > 0
	if fail {
		s.failures[m.Channel]--
	}
	s.mu.Unlock()
	if fail {
		return errors.New("provider unavailable")
	}
	return s.next.Send(ctx, m)
}

type fixture struct {
	db      *mongo.Database
	outbox  *devoutbox.Outbox
	sender  *flakySender
	service *delivery.Service
}

func newFixture(t *testing.T, maxAttempts int, failures map[string]int) *fixture {
	t.Helper()
	env := testenv.New(t)
	db := env.Database("notification")
	ctx := context.Background()
	deliveries := store.NewDeliveries(db)
	outbox := devoutbox.New(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := outbox.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if failures == nil {
		failures = map[string]int{}
	}
	sender := &flakySender{next: outbox, failures: failures, sends: map[string]int{}}
	return &fixture{
		db: db, outbox: outbox, sender: sender,
		service: delivery.NewService(deliveries, sender, slog.New(slog.DiscardHandler), delivery.Options{MaxAttempts: maxAttempts}),
	}
}

// record returns the raw delivery document of an event.
func (f *fixture) record(t *testing.T, eventID string) bson.M {
	t.Helper()
	var doc bson.M
	if err := f.db.Collection(store.Collection).FindOne(context.Background(), bson.M{"_id": eventID}).Decode(&doc); err != nil {
		t.Fatalf("delivery record %s: %v", eventID, err)
	}
	return doc
}

func (f *fixture) messages(t *testing.T, to string) []devoutbox.Entry {
	t.Helper()
	entries, err := f.outbox.List(context.Background(), to, 50)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func otp(eventID, channel, destination string, expiresIn time.Duration) delivery.Dispatch {
	return delivery.Dispatch{
		EventID: eventID, AccountID: "acc-1", Purpose: events.PurposeRegistration, Channel: channel,
		Destination: destination, Code: "739251", ExpiresAt: time.Now().Add(expiresIn),
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		dispatches   []delivery.Dispatch
		to           string
		wantMessages []string // channels, newest first
		wantStatus   string
	}{
		{
			name:         "email",
			dispatches:   []delivery.Dispatch{otp("ev-1", events.ChannelEmail, "Jane@Example.com", 10*time.Minute)},
			to:           "jane@example.com",
			wantMessages: []string{"EMAIL"},
			wantStatus:   "sent",
		},
		{
			name: "duplicate event sends once",
			dispatches: []delivery.Dispatch{
				otp("ev-1", events.ChannelSMS, "+15551234567", 10*time.Minute),
				otp("ev-1", events.ChannelSMS, "+15551234567", 10*time.Minute),
			},
			to:           "+15551234567",
			wantMessages: []string{"SMS"},
			wantStatus:   "sent",
		},
		{
			name:         "sms and whatsapp",
			dispatches:   []delivery.Dispatch{otp("ev-1", events.ChannelSMSAndWhatsApp, "+15551234567", 10*time.Minute)},
			to:           "+15551234567",
			wantMessages: []string{"SMS", "WHATSAPP"},
			wantStatus:   "sent",
		},
		{
			name:       "expired code is not sent",
			dispatches: []delivery.Dispatch{otp("ev-1", events.ChannelEmail, "jane@example.com", -time.Second)},
			to:         "jane@example.com",
			wantStatus: "expired",
		},
		{
			name: "undeliverable dispatch is recorded as failed",
			dispatches: []delivery.Dispatch{func() delivery.Dispatch {
				d := otp("ev-1", events.ChannelEmail, "jane@example.com", time.Minute)
				d.Purpose = "newsletter"
				return d
			}()},
			to:         "jane@example.com",
			wantStatus: "failed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 3, nil)
			for _, d := range tc.dispatches {
				if err := f.service.Deliver(context.Background(), d); err != nil {
					t.Fatalf("Deliver: %v", err)
				}
			}
			got := f.messages(t, tc.to)
			channels := map[string]bool{}
			for _, m := range got {
				channels[m.Channel] = true
			}
			if len(got) != len(tc.wantMessages) {
				t.Fatalf("got %d messages %v, want %v", len(got), channels, tc.wantMessages)
			}
			for _, ch := range tc.wantMessages {
				if !channels[ch] {
					t.Errorf("no %s message; got %v", ch, channels)
				}
			}
			rec := f.record(t, "ev-1")
			if rec["status"] != tc.wantStatus {
				t.Errorf("status = %v, want %s", rec["status"], tc.wantStatus)
			}
			if rec["purpose"] == nil || rec["channel"] == nil || rec["destination"] != tc.to || rec["createdAt"] == nil {
				t.Errorf("record lacks fields: %v", rec)
			}
			raw, _ := json.Marshal(rec)
			if strings.Contains(string(raw), "739251") {
				t.Errorf("delivery record holds the code: %s", raw)
			}
		})
	}
}

func TestDeliverRetriesFailedSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// WhatsApp fails once: the first attempt sends the SMS and returns an error; the retry sends the
	// WhatsApp message only.
	f := newFixture(t, 3, map[string]int{"WHATSAPP": 1})
	d := otp("ev-1", events.ChannelSMSAndWhatsApp, "+15551234567", 10*time.Minute)

	if err := f.service.Deliver(ctx, d); err == nil {
		t.Fatal("first Deliver succeeded, want the send error so the consumer retries")
	}
	rec := f.record(t, "ev-1")
	if rec["status"] != "queued" || rec["attempts"] != int32(1) || rec["lastError"] == nil {
		t.Errorf("after the failure: %v", rec)
	}

	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "sent" || rec["attempts"] != int32(2) {
		t.Errorf("after the retry: %v", rec)
	}
	if got := f.messages(t, "+15551234567"); len(got) != 2 {
		t.Errorf("got %d messages, want 2 (one per channel)", len(got))
	}
	if f.sender.sends["SMS"] != 1 || f.sender.sends["WHATSAPP"] != 2 {
		t.Errorf("sends = %v, want SMS once and WhatsApp twice", f.sender.sends)
	}
}

func TestDeliverGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 2, map[string]int{"EMAIL": 100})
	d := otp("ev-1", events.ChannelEmail, "jane@example.com", 10*time.Minute)

	if err := f.service.Deliver(ctx, d); err == nil {
		t.Fatal("attempt 1 succeeded, want an error")
	}
	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatalf("attempt 2 = %v, want nil (given up, the event is let go)", err)
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "failed" || rec["attempts"] != int32(2) {
		t.Errorf("record = %v, want failed after 2 attempts", rec)
	}
	if err := f.service.Deliver(ctx, d); err != nil || f.sender.sends["EMAIL"] != 2 {
		t.Errorf("a failed delivery was tried again: err %v, sends %v", err, f.sender.sends)
	}
}

func TestDeliverNotice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 3, nil)
	err := f.service.Deliver(context.Background(), delivery.Dispatch{
		EventID: "ev-1", Purpose: events.PurposeRegistrationExisting, Channel: events.ChannelEmail, Destination: "jane@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.messages(t, "jane@example.com")
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	if got[0].Code != "" || !strings.Contains(got[0].Body, "already have an account") || got[0].Subject == "" {
		t.Errorf("notice = %+v", got[0])
	}
}
