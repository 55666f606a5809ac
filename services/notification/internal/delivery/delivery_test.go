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

// flakySender fails the first failures[channel] sends on a channel with fail's error, then passes
// them to the outbox.
type flakySender struct {
	mu       sync.Mutex
	next     delivery.Sender
	failures map[string]int
	fail     error
	sends    map[string]int
}

func (s *flakySender) Send(ctx context.Context, m delivery.Message) (string, error) {
	s.mu.Lock()
	s.sends[m.Channel]++
	fail := s.failures[m.Channel] > 0
	if fail {
		s.failures[m.Channel]--
	}
	s.mu.Unlock()
	if fail {
		return "", s.fail
	}
	return s.next.Send(ctx, m)
}

// oncePerIDSender is a flakySender that declares itself a delivery.OncePerIDSender.
type oncePerIDSender struct{ *flakySender }

func (oncePerIDSender) SendsOncePerID() bool { return true }

func (s *flakySender) count(channel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends[channel]
}

// deadLetters records what the service gave up on.
type deadLetters struct {
	mu      sync.Mutex
	reasons map[string][]string
}

func (d *deadLetters) DeadLetter(_ context.Context, disp delivery.Dispatch, reason string, _ int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons[disp.EventID] = append(d.reasons[disp.EventID], reason)
	return nil
}

func (d *deadLetters) of(eventID string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reasons[eventID]
}

type fixture struct {
	db      *mongo.Database
	outbox  *devoutbox.Outbox
	sender  *flakySender
	dead    *deadLetters
	service *delivery.Service
}

type fixtureOptions struct {
	maxAttempts int
	oncePerID   bool // the sender stores each message once per id (like the dev outbox)
	failures    map[string]int
	fail        error
	stopping    <-chan struct{}
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
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
	if o.failures == nil {
		o.failures = map[string]int{}
	}
	if o.fail == nil {
		o.fail = errors.New("provider unavailable")
	}
	flaky := &flakySender{next: outbox, failures: o.failures, fail: o.fail, sends: map[string]int{}}
	var sender delivery.Sender = flaky
	if o.oncePerID {
		sender = oncePerIDSender{flaky}
	}
	dead := &deadLetters{reasons: map[string][]string{}}
	return &fixture{
		db: db, outbox: outbox, sender: flaky, dead: dead,
		service: delivery.NewService(deliveries, sender, slog.New(slog.DiscardHandler), delivery.Options{
			MaxAttempts: o.maxAttempts, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
			RetryAfterMax: time.Minute, DeadLetters: dead, Stopping: o.stopping,
		}),
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

// message returns the raw record of one message.
func (f *fixture) message(t *testing.T, id string) bson.M {
	t.Helper()
	var doc bson.M
	if err := f.db.Collection(store.MessagesCollection).FindOne(context.Background(), bson.M{"_id": id}).Decode(&doc); err != nil {
		t.Fatalf("message record %s: %v", id, err)
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
		wantMessages []string // channels
		wantStatus   string
		wantDead     bool
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
			name: "undeliverable dispatch is recorded as failed and dead-lettered",
			dispatches: []delivery.Dispatch{func() delivery.Dispatch {
				d := otp("ev-1", events.ChannelEmail, "jane@example.com", time.Minute)
				d.Purpose = "newsletter"
				return d
			}()},
			to:         "jane@example.com",
			wantStatus: "failed",
			wantDead:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{maxAttempts: 3})
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
				msg := f.message(t, "ev-1:"+strings.ToLower(ch))
				if msg["status"] != "sent" || msg["attempts"] != int32(1) || msg["destination"] != tc.to {
					t.Errorf("%s message record = %v", ch, msg)
				}
			}
			rec := f.record(t, "ev-1")
			if rec["status"] != tc.wantStatus {
				t.Errorf("status = %v, want %s", rec["status"], tc.wantStatus)
			}
			if rec["purpose"] == nil || rec["channel"] == nil || rec["destination"] != tc.to || rec["createdAt"] == nil {
				t.Errorf("record lacks fields: %v", rec)
			}
			if dead := f.dead.of("ev-1"); (len(dead) == 1) != tc.wantDead || len(dead) > 1 {
				t.Errorf("dead letters = %v, want one: %v", dead, tc.wantDead)
			}
			raw, _ := json.Marshal(rec)
			if strings.Contains(string(raw), "739251") {
				t.Errorf("delivery record holds the code: %s", raw)
			}
		})
	}
}

func TestDeliverRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// WhatsApp fails twice: the SMS goes out on the first attempt, WhatsApp on the third.
	f := newFixture(t, fixtureOptions{maxAttempts: 3, failures: map[string]int{"WHATSAPP": 2}})
	d := otp("ev-1", events.ChannelSMSAndWhatsApp, "+15551234567", 10*time.Minute)

	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "sent" || rec["attempts"] != int32(3) {
		t.Errorf("record = %v, want sent after 3 attempts", rec)
	}
	if got := f.messages(t, "+15551234567"); len(got) != 2 {
		t.Errorf("got %d messages, want 2 (one per channel)", len(got))
	}
	if f.sender.count("SMS") != 1 || f.sender.count("WHATSAPP") != 3 {
		t.Errorf("sends = %v, want SMS once and WhatsApp three times", f.sender.sends)
	}
	if wa := f.message(t, "ev-1:whatsapp"); wa["attempts"] != int32(3) || wa["status"] != "sent" || wa["lastError"] == nil {
		t.Errorf("WhatsApp record = %v", wa)
	}
	if dead := f.dead.of("ev-1"); len(dead) != 0 {
		t.Errorf("dead letters = %v, want none", dead)
	}
}

func TestDeliverGivesUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fail      error
		wantSends int
	}{
		{"after the last attempt", delivery.Transient(errors.New("503 from provider"), 0), 2},
		{"at once on a permanent error", delivery.Permanent(errors.New("invalid 'To' number")), 1},
		{"when Retry-After exceeds the longest wait", delivery.Transient(errors.New("429 from provider"), time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, fixtureOptions{maxAttempts: 2, failures: map[string]int{"EMAIL": 100}, fail: tc.fail})
			d := otp("ev-1", events.ChannelEmail, "jane@example.com", 10*time.Minute)
			if err := f.service.Deliver(ctx, d); err != nil {
				t.Fatalf("Deliver = %v, want nil (given up, the event is let go)", err)
			}
			rec := f.record(t, "ev-1")
			if rec["status"] != "failed" || rec["deadLettered"] != true || rec["lastError"] == nil {
				t.Errorf("record = %v, want failed and dead-lettered", rec)
			}
			if got := f.sender.count("EMAIL"); got != tc.wantSends {
				t.Errorf("sends = %d, want %d", got, tc.wantSends)
			}
			if dead := f.dead.of("ev-1"); len(dead) != 1 || !strings.Contains(dead[0], "from provider") && !strings.Contains(dead[0], "invalid") {
				t.Errorf("dead letters = %v, want one with the reason", dead)
			}
			if msg := f.message(t, "ev-1:email"); msg["status"] != "failed" || msg["lastError"] == nil {
				t.Errorf("message record = %v, want failed with the error", msg)
			}
			// The event again (a redelivery): nothing is sent, nothing dead-lettered twice.
			if err := f.service.Deliver(ctx, d); err != nil || f.sender.count("EMAIL") != tc.wantSends || len(f.dead.of("ev-1")) != 1 {
				t.Errorf("a failed delivery was tried again: err %v, sends %d, dead %v", err, f.sender.count("EMAIL"), f.dead.of("ev-1"))
			}
		})
	}
}

func TestDeliverDoesNotSendLate(t *testing.T) {
	t.Parallel()
	// The provider asks to wait 30s but the code expires in 5s: waiting would send it late.
	f := newFixture(t, fixtureOptions{maxAttempts: 5, failures: map[string]int{"SMS": 1}, fail: delivery.Transient(errors.New("429"), 30*time.Second)})
	d := otp("ev-1", events.ChannelSMS, "+15551234567", 5*time.Second)
	if err := f.service.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "expired" {
		t.Errorf("record = %v, want expired", rec)
	}
	if got := f.messages(t, "+15551234567"); len(got) != 0 || f.sender.count("SMS") != 1 {
		t.Errorf("sent %d messages in %d sends, want none after the one failure", len(got), f.sender.count("SMS"))
	}
	if msg := f.message(t, "ev-1:sms"); msg["status"] != "failed" || !strings.Contains(msg["lastError"].(string), "expired") {
		t.Errorf("message record = %v, want failed as expired", msg)
	}
}

func TestDeliverInterruptedByShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stopping := make(chan struct{})
	close(stopping) // already shutting down: the first wait between attempts ends the delivery
	f := newFixture(t, fixtureOptions{maxAttempts: 5, failures: map[string]int{"EMAIL": 1}, stopping: stopping})
	d := otp("ev-1", events.ChannelEmail, "jane@example.com", 10*time.Minute)

	if err := f.service.Deliver(ctx, d); !errors.Is(err, delivery.ErrInterrupted) {
		t.Fatalf("Deliver = %v, want ErrInterrupted so the event is not committed", err)
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "queued" {
		t.Errorf("record = %v, want still queued", rec)
	}
	// The restarted service gets the event again and finishes it.
	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got := f.messages(t, "jane@example.com"); len(got) != 1 {
		t.Errorf("got %d messages, want 1", len(got))
	}
}

func TestDeliverNeverResendsAMessageCutOffMidSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{maxAttempts: 3})
	d := otp("ev-1", events.ChannelEmail, "jane@example.com", 10*time.Minute)
	// A crash between "sending" and the provider's answer leaves this behind.
	deliveries := store.NewDeliveries(f.db)
	now := time.Now()
	if err := deliveries.Create(ctx, delivery.Record{EventID: "ev-1", Status: delivery.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := deliveries.AddMessage(ctx, delivery.MessageRecord{ID: "ev-1:email", EventID: "ev-1", Channel: "EMAIL", Status: delivery.StatusSending, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatal(err)
	}
	if f.sender.count("EMAIL") != 0 {
		t.Errorf("the message was sent again")
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "failed" {
		t.Errorf("record = %v, want failed", rec)
	}
}

// TestDeliverResendsACutOffMessageToAOncePerIDSender: with a sender that keeps one copy per message
// id (the dev outbox), a send a crash cut off is sent again — delivered once, not lost.
func TestDeliverResendsACutOffMessageToAOncePerIDSender(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{maxAttempts: 3, oncePerID: true})
	d := otp("ev-1", events.ChannelEmail, "jane@example.com", 10*time.Minute)
	deliveries := store.NewDeliveries(f.db)
	now := time.Now()
	if err := deliveries.Create(ctx, delivery.Record{EventID: "ev-1", Status: delivery.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := deliveries.AddMessage(ctx, delivery.MessageRecord{ID: "ev-1:email", EventID: "ev-1", Channel: "EMAIL", Status: delivery.StatusSending, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.service.Deliver(ctx, d); err != nil {
		t.Fatal(err)
	}
	if f.sender.count("EMAIL") != 1 {
		t.Errorf("sends = %d, want the cut-off message sent again once", f.sender.count("EMAIL"))
	}
	if got := f.messages(t, "jane@example.com"); len(got) != 1 {
		t.Errorf("got %d messages, want 1", len(got))
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "sent" {
		t.Errorf("record = %v, want sent", rec)
	}
}

func TestDeliverNotice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxAttempts: 3})
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

func TestDeliverSecurityAlert(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxAttempts: 3})
	err := f.service.Deliver(context.Background(), delivery.Dispatch{
		EventID: "ev-1", AccountID: "acc-1", Alert: true, Purpose: events.AlertNewDeviceSignIn, Channel: events.ChannelSMS,
		Destination: "+15551234567", Details: map[string]string{"device": "Pixel 9", "ipAddress": "203.0.113.7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.messages(t, "+15551234567")
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	if got[0].Code != "" || got[0].Purpose != events.AlertNewDeviceSignIn || !strings.Contains(got[0].Body, "Pixel 9") {
		t.Errorf("alert = %+v", got[0])
	}
	if rec := f.record(t, "ev-1"); rec["status"] != "sent" || rec["kind"] != "alert" {
		t.Errorf("record = %v", rec)
	}
}
