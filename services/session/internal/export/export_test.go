package export_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/export"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// queued returns the events in db's outbox.
func queued(t *testing.T, db *mongo.Database) []events.Envelope {
	t.Helper()
	cur, err := db.Collection(kafkax.OutboxCollection).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID    string `bson:"_id"`
		Topic string `bson:"topic"`
		Event []byte `bson:"event"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]events.Envelope, 0, len(docs))
	for _, d := range docs {
		if d.Topic != events.TopicAccountExports {
			t.Errorf("event %s queued on %s, want %s", d.ID, d.Topic, events.TopicAccountExports)
		}
		var ev events.Envelope
		if err := json.Unmarshal(d.Event, &ev); err != nil {
			t.Fatal(err)
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

func TestSessionPartHoldsEverySessionAndNoSecret(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	ctx := context.Background()
	sessions, accounts := store.NewSessions(db), store.NewAccounts(db)
	now := time.Now().UTC().Truncate(time.Millisecond)

	const (
		refreshHash = "5f1d0a7c9e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f"
		rotatedHash = "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829"
		graceHash   = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	)
	sealed := []byte("sealed-grace-pair-ciphertext")
	active := session.Session{
		ID: "sess-active", AccountID: "acc-1", DeviceID: "laptop-1", DeviceName: "Ada's laptop", Platform: "WEB",
		Browser: "Firefox 128.0", OS: "Linux", IPAddress: "203.0.113.7", UserAgent: "Mozilla/5.0", Location: "London, GB",
		CreatedAt: now.Add(-time.Hour), LastActiveAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour),
		RefreshHash: refreshHash, RotatedRefreshHashes: []string{rotatedHash}, GraceHash: graceHash, GraceSealed: sealed, GraceUntil: now.Add(time.Minute),
		Assurance: session.Assurance{AMR: []string{"pwd", "otp", "mfa"}, ACR: "aal2", AuthTime: now.Add(-time.Hour)},
	}
	revoked := session.Session{
		ID: "sess-revoked", AccountID: "acc-1", DeviceID: "phone-1", IPAddress: "198.51.100.2",
		CreatedAt: now.Add(-48 * time.Hour), LastActiveAt: now.Add(-47 * time.Hour), ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour),
		RevokedAt: now.Add(-47 * time.Hour), RevokeReason: session.ReasonLogout, RefreshHash: strings.Repeat("ab", 32),
	}
	other := session.Session{ID: "sess-other", AccountID: "acc-2", CreatedAt: now, LastActiveAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour), RefreshHash: strings.Repeat("cd", 32)}
	for _, s := range []session.Session{active, revoked, other} {
		if err := sessions.Insert(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := accounts.ApplyIdentity(ctx, "acc-1", account.VersionCreated, "ada@example.com", true); err != nil {
		t.Fatal(err)
	}

	exp := export.New(sessions, accounts, kafkax.NewOutbox(db, nil, quiet), quiet)
	var passed []string
	handle := exp.Handle(func(_ context.Context, ev events.Envelope) error { passed = append(passed, ev.Type); return nil })
	req := request(t, "acc-1", "exp-1")
	for range 2 { // redelivered: still one part
		if err := handle(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if len(passed) != 0 {
		t.Errorf("the export request went on to the projection: %v", passed)
	}
	got := queued(t, db)
	if len(got) != 1 {
		t.Fatalf("queued %d parts, want 1 (stable event id)", len(got))
	}
	ev := got[0]
	if ev.Type != events.TypeExportPart || ev.AccountID != "acc-1" || ev.EventID != events.ExportPartEventID("exp-1", events.ExportServiceSession) {
		t.Fatalf("event = %s %s %s", ev.Type, ev.AccountID, ev.EventID)
	}
	var part events.ExportPart
	if err := ev.Decode(&part); err != nil {
		t.Fatal(err)
	}
	if part.ExportID != "exp-1" || part.Service != events.ExportServiceSession {
		t.Fatalf("part = %s %s", part.ExportID, part.Service)
	}
	var data export.Data
	if err := json.Unmarshal(part.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Sessions) != 2 {
		t.Fatalf("sessions = %+v, want the account's two (active and revoked), not another account's", data.Sessions)
	}
	first, second := data.Sessions[0], data.Sessions[1]
	if first.ID != "sess-active" || !first.Active || first.DeviceName != "Ada's laptop" || first.IPAddress != "203.0.113.7" ||
		first.Location != "London, GB" || first.Browser != "Firefox 128.0" || first.ACR != "aal2" || len(first.AMR) != 3 {
		t.Errorf("active session = %+v", first)
	}
	if second.ID != "sess-revoked" || second.Active || second.RevokedAt.IsZero() || second.RevokeReason != session.ReasonLogout {
		t.Errorf("revoked session = %+v", second)
	}
	if data.Account == nil || data.Account.Email != "ada@example.com" || !data.Account.EmailVerified {
		t.Errorf("account = %+v", data.Account)
	}
	raw := string(part.Data)
	for _, secret := range []string{refreshHash, rotatedHash, graceHash, strings.Repeat("ab", 32), "sealed-grace", "c2VhbGVk", "refresh", "grace"} {
		if strings.Contains(strings.ToLower(raw), strings.ToLower(secret)) {
			t.Errorf("the part contains %q: %s", secret, raw)
		}
	}
}

func TestSessionPartForUnknownAccountIsEmptyNotMissing(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	exp := export.New(store.NewSessions(db), store.NewAccounts(db), kafkax.NewOutbox(db, nil, quiet), quiet)
	raw, err := exp.Part(context.Background(), "acc-nobody")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"sessions":[],"account":null}` {
		t.Errorf("part = %s", raw)
	}
}

func TestOtherEventsPassAndMalformedRequestsAreSkipped(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	exp := export.New(store.NewSessions(db), store.NewAccounts(db), kafkax.NewOutbox(db, nil, quiet), quiet)
	boom := errors.New("next called")
	handle := exp.Handle(func(context.Context, events.Envelope) error { return boom })
	created, _ := events.New(events.TypeAccountCreated, "acc-1", events.AccountCreated{Email: "a@example.com"})
	if err := handle(context.Background(), created); !errors.Is(err, boom) {
		t.Errorf("account.created: err = %v, want next's", err)
	}
	for _, bad := range []events.Envelope{request(t, "", "exp-1"), request(t, "acc-1", ""), {EventID: "x", Type: events.TypeExportRequested, AccountID: "acc-1", Payload: json.RawMessage(`[`)}} {
		if err := handle(context.Background(), bad); err != nil {
			t.Errorf("malformed request: err = %v, want skipped", err)
		}
	}
	if got := queued(t, db); len(got) != 0 {
		t.Errorf("malformed requests queued %d parts", len(got))
	}
}
