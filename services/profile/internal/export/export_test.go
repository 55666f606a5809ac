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
	"github.com/latchkey/latchkey/services/profile/internal/export"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
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

func TestProfilePartHoldsTheProfileAndTheIdentityFacts(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("profile")
	ctx := context.Background()
	profiles := store.NewProfiles(db)
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := profiles.Insert(ctx, profile.Profile{
		AccountID: "acc-1", Email: "ada@example.com", EmailVerified: true, Phone: "+254712345678", PhoneVerified: true,
		Username: "ada", AccountStatus: events.AccountStatusActive, FirstName: "Ada", LastName: "Lovelace", DisplayName: "Countess Ada",
		Bio: "Analyst", Locale: "en-GB", Timezone: "Europe/London", UserType: "individual", AudioUsage: "creator",
		CreatedAt: now, UpdatedAt: now, AppliedEvents: []string{"evt-created-1"},
	})
	if err != nil {
		t.Fatal(err)
	}

	exp := export.New(profiles, kafkax.NewOutbox(db, nil, quiet), quiet)
	var passed int
	handle := exp.Handle(func(context.Context, events.Envelope) error { passed++; return nil })
	req := request(t, "acc-1", "exp-1")
	for range 2 {
		if err := handle(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if passed != 0 {
		t.Errorf("the export request reached the projection %d times", passed)
	}
	got := queued(t, db)
	if len(got) != 1 || got[0].EventID != events.ExportPartEventID("exp-1", events.ExportServiceProfile) || got[0].AccountID != "acc-1" {
		t.Fatalf("queued = %+v, want one part with the stable id", got)
	}
	var part events.ExportPart
	if err := got[0].Decode(&part); err != nil {
		t.Fatal(err)
	}
	if part.Service != events.ExportServiceProfile || part.ExportID != "exp-1" {
		t.Fatalf("part = %s %s", part.Service, part.ExportID)
	}
	var data export.Data
	if err := json.Unmarshal(part.Data, &data); err != nil {
		t.Fatal(err)
	}
	p, f := data.Profile, data.IdentityFacts
	if p == nil || p.FirstName != "Ada" || p.LastName != "Lovelace" || p.DisplayName != "Countess Ada" || p.Bio != "Analyst" ||
		p.Locale != "en-GB" || p.Timezone != "Europe/London" || p.UserType != "individual" || p.AudioUsage != "creator" || p.CreatedAt.IsZero() {
		t.Errorf("profile = %+v", p)
	}
	if f == nil || f.Email != "ada@example.com" || !f.EmailVerified || f.Phone != "+254712345678" || f.Username != "ada" || f.AccountStatus != events.AccountStatusActive {
		t.Errorf("identity facts = %+v", f)
	}
	if strings.Contains(string(part.Data), "evt-created-1") {
		t.Errorf("internal bookkeeping (applied event ids) exported: %s", part.Data)
	}
}

func TestProfilePartOfAnAccountWithoutProfile(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("profile")
	raw, err := export.New(store.NewProfiles(db), kafkax.NewOutbox(db, nil, quiet), quiet).Part(context.Background(), "acc-none")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"profile":null,"identityFacts":null}` {
		t.Errorf("part = %s", raw)
	}
}

func TestProfileExporterPassesOtherEventsAndSkipsMalformed(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("profile")
	boom := errors.New("next")
	handle := export.New(store.NewProfiles(db), kafkax.NewOutbox(db, nil, quiet), quiet).Handle(func(context.Context, events.Envelope) error { return boom })
	upd, _ := events.New(events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: 2})
	if err := handle(context.Background(), upd); !errors.Is(err, boom) {
		t.Errorf("account.updated: %v", err)
	}
	if err := handle(context.Background(), request(t, "acc-1", "")); err != nil {
		t.Errorf("request without export id: %v", err)
	}
	if n := len(queued(t, db)); n != 0 {
		t.Errorf("queued %d", n)
	}
}
