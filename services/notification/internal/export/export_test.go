package export_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/export"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

func queued(t *testing.T, db *mongo.Database) []events.Envelope {
	t.Helper()
	cur, err := db.Collection(kafkax.OutboxCollection).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Topic string `bson:"topic"`
		Event []byte `bson:"event"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]events.Envelope, 0, len(docs))
	for _, d := range docs {
		var ev events.Envelope
		if err := json.Unmarshal(d.Event, &ev); err != nil {
			t.Fatal(err)
		}
		if d.Topic != events.TopicAccountExports {
			t.Errorf("queued on %s", d.Topic)
		}
		out = append(out, ev)
	}
	return out
}

func request(t *testing.T, accountID, exportID string) events.Envelope {
	t.Helper()
	ev, err := events.New(events.TypeExportRequested, accountID, events.ExportRequested{ExportID: exportID, RequestedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestNotificationPartHoldsDeliveriesAndNoCode delivers a code and an alert through the real delivery
// service (into the dev outbox) and exports: both records with their channel, destination and
// status are in the part, another account's are not, and the code is nowhere.
func TestNotificationPartHoldsDeliveriesAndNoCode(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("notification")
	ctx := context.Background()
	deliveries := store.NewDeliveries(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	svc := delivery.NewService(deliveries, devoutbox.New(db), quiet, delivery.Options{})
	const code = "493817"
	for _, d := range []delivery.Dispatch{
		{EventID: "evt-otp", AccountID: "acc-1", Source: events.TopicOTPDispatch, Purpose: events.PurposeTwoFactor, Channel: events.ChannelEmail,
			Destination: "ada@example.com", Code: code, ExpiresAt: time.Now().Add(10 * time.Minute)},
		{EventID: "evt-alert", AccountID: "acc-1", Source: events.TopicAccountEvents, Alert: true, Purpose: events.AlertPasswordChanged,
			Channel: events.ChannelSMS, Destination: "+254712345678"},
		{EventID: "evt-other", AccountID: "acc-2", Source: events.TopicOTPDispatch, Purpose: events.PurposeTwoFactor, Channel: events.ChannelEmail,
			Destination: "bob@example.com", Code: "111222", ExpiresAt: time.Now().Add(10 * time.Minute)},
	} {
		if err := svc.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	exp := export.New(deliveries, kafkax.NewOutbox(db, nil, quiet), quiet)
	var passed int
	handle := exp.Handle(func(context.Context, events.Envelope) error { passed++; return nil })
	req := request(t, "acc-1", "exp-1")
	for range 2 {
		if err := handle(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if passed != 0 {
		t.Errorf("the export request reached the alert handler %d times", passed)
	}
	got := queued(t, db)
	if len(got) != 1 || got[0].EventID != events.ExportPartEventID("exp-1", events.ExportServiceNotification) {
		t.Fatalf("queued = %+v, want one part with the stable id", got)
	}
	var part events.ExportPart
	if err := got[0].Decode(&part); err != nil {
		t.Fatal(err)
	}
	var data export.Data
	if err := json.Unmarshal(part.Data, &data); err != nil {
		t.Fatal(err)
	}
	byID := map[string]export.Delivery{}
	for _, d := range data.Deliveries {
		byID[d.ID] = d
	}
	if len(byID) != 2 {
		t.Fatalf("deliveries = %+v, want the account's two", data.Deliveries)
	}
	otp, alert := byID["evt-otp"], byID["evt-alert"]
	if otp.Channel != events.ChannelEmail || otp.Destination != "ada@example.com" || otp.Purpose != events.PurposeTwoFactor || otp.Kind != "otp" ||
		otp.Status != string(delivery.StatusSent) || len(otp.Messages) != 1 || otp.Messages[0].Destination != "ada@example.com" {
		t.Errorf("otp delivery = %+v", otp)
	}
	if alert.Channel != events.ChannelSMS || alert.Purpose != events.AlertPasswordChanged || alert.Kind != "alert" {
		t.Errorf("alert delivery = %+v", alert)
	}
	raw := string(part.Data)
	for _, secret := range []string{code, "111222", "bob@example.com"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the part contains %q: %s", secret, raw)
		}
	}
}

func TestNotificationPartWithoutDeliveries(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("notification")
	raw, err := export.New(store.NewDeliveries(db), kafkax.NewOutbox(db, nil, quiet), quiet).Part(context.Background(), "acc-none")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"deliveries":[]}` {
		t.Errorf("part = %s", raw)
	}
}

func TestNotificationExporterPassesAlertsOn(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("notification")
	boom := errors.New("next")
	handle := export.New(store.NewDeliveries(db), kafkax.NewOutbox(db, nil, quiet), quiet).Handle(func(context.Context, events.Envelope) error { return boom })
	alert, _ := events.New(events.TypeSecurityAlert, "acc-1", events.SecurityAlert{Kind: events.AlertPasswordChanged})
	if err := handle(context.Background(), alert); !errors.Is(err, boom) {
		t.Errorf("security.alert: %v", err)
	}
	if err := handle(context.Background(), request(t, "", "exp-1")); err != nil {
		t.Errorf("request without account: %v", err)
	}
	if n := len(queued(t, db)); n != 0 {
		t.Errorf("queued %d", n)
	}
}
