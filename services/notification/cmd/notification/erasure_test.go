package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

func erasureEvent(t *testing.T, typ, accountID string, payload any) events.Envelope {
	t.Helper()
	ev, err := events.New(typ, accountID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// documentsWith returns "collection: document" for every document of db mentioning one of needles
// (case-insensitively).
func documentsWith(t *testing.T, db *mongo.Database, needles ...string) []string {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			js, _ := bson.MarshalExtJSON(d, false, false)
			for _, n := range needles {
				if strings.Contains(strings.ToLower(string(js)), strings.ToLower(n)) {
					out = append(out, name+": "+string(js))
				}
			}
		}
	}
	return out
}

// The consumers as main wires them, delivering to the dev outbox: account.deleted erases the delivery
// records of the account's events and of its destinations (also the registration code sent before
// it had an id), their messages, send limits and dev outbox entries; it is idempotent; later events
// of the account deliver nothing; another person's records stay.
func TestAccountDeletedErasesDeliveries(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("notification")
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	deliveries := store.NewDeliveries(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	limiter := sendlimit.New(db, sendlimit.Config{PerDestination: sendlimit.Limit{Max: 100, Window: time.Hour}})
	outbox := devoutbox.New(db)
	router := delivery.Router{delivery.ChannelSMS: outbox, delivery.ChannelWhatsApp: outbox, delivery.ChannelEmail: outbox}
	svc := delivery.NewService(deliveries, router, log, delivery.Options{MaxAttempts: 1, Limiter: limiter})
	tombstones, erase := erasure.NewTombstones(db), accountEraser(deliveries, limiter, outbox)
	deliverer := erasingDeliverer{next: svc, tombstones: tombstones, erase: erase}
	otp := subscriber.OTPDispatch(deliverer, log)
	alerts := erasure.Guard(tombstones, erase, subscriber.SecurityAlerts(deliverer, log))

	const gone, kept = "acc-gone-51d2", "acc-kept-9e07"
	goneEmail, gonePhone, keptEmail := "Gone.Person@example.com", "+15551239876", "kept@example.com"
	send := func(h func(context.Context, events.Envelope) error, typ, topicAccount string, payload any) {
		t.Helper()
		if err := h(ctx, erasureEvent(t, typ, topicAccount, payload)); err != nil {
			t.Fatal(err)
		}
	}
	// The registration code, before the account had an id; codes and alerts after.
	send(otp, events.TypeOTPDispatch, "", events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: strings.ToLower(goneEmail), Code: "123456", ExpiresAt: time.Now().Add(10 * time.Minute)})
	send(otp, events.TypeOTPDispatch, gone, events.OTPDispatch{Purpose: events.PurposePhoneVerification, Channel: events.ChannelSMS, Destination: gonePhone, Code: "654321", ExpiresAt: time.Now().Add(10 * time.Minute)})
	send(alerts, events.TypeSecurityAlert, gone, events.SecurityAlert{Kind: events.AlertPasswordChanged, Channel: events.ChannelEmail, Destination: strings.ToLower(goneEmail)})
	send(alerts, events.TypeSecurityAlert, kept, events.SecurityAlert{Kind: events.AlertPasswordChanged, Channel: events.ChannelEmail, Destination: keptEmail})
	if found := documentsWith(t, db, gone, goneEmail, gonePhone); len(found) < 6 {
		t.Fatalf("setup: %d documents of the account, want deliveries, messages, limits and outbox entries:\n%s", len(found), strings.Join(found, "\n"))
	}

	deleted := erasureEvent(t, events.TypeAccountDeleted, gone, events.AccountDeleted{DeletedAt: time.Now(), Emails: []string{strings.ToLower(goneEmail)}, PhoneNumbers: []string{gonePhone}})
	for i := range 2 {
		if err := alerts(ctx, deleted); err != nil {
			t.Fatalf("account.deleted #%d: %v", i+1, err)
		}
		if found := documentsWith(t, db, gone, goneEmail, gonePhone, strings.TrimPrefix(gonePhone, "+")); len(found) > 0 {
			t.Fatalf("after account.deleted #%d:\n%s", i+1, strings.Join(found, "\n"))
		}
	}
	// A late alert and a retried code of the erased account deliver nothing.
	send(alerts, events.TypeSecurityAlert, gone, events.SecurityAlert{Kind: events.AlertPasswordReset, Channel: events.ChannelEmail, Destination: strings.ToLower(goneEmail)})
	send(otp, events.TypeOTPDispatch, gone, events.OTPDispatch{Purpose: events.PurposeTwoFactor, Channel: events.ChannelSMS, Destination: gonePhone, Code: "111111", ExpiresAt: time.Now().Add(10 * time.Minute)})
	if found := documentsWith(t, db, gone, goneEmail, gonePhone); len(found) > 0 {
		t.Fatalf("late events were delivered:\n%s", strings.Join(found, "\n"))
	}
	if found := documentsWith(t, db, kept, keptEmail); len(found) < 3 {
		t.Errorf("the other person's records went too: %d left", len(found))
	}
}
