package export_test

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
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/export"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{now: time.Now().UTC()} }
func (c *clock) limiter(db *mongo.Database) *throttle.Limiter {
	return throttle.New(store.NewCounters(db)).WithClock(c.Now)
}

// recorder keeps the activity entries the service records.
type recorder struct {
	mu      sync.Mutex
	entries []events.Activity
}

func (r *recorder) RecordActivity(_ context.Context, _ string, act events.Activity) {
	r.mu.Lock()
	r.entries = append(r.entries, act)
	r.mu.Unlock()
}

// activityLog is an activity.Reader over a fixed list (the activity store is another engineer's).
type activityLog []activity.Entry

func (l activityLog) List(_ context.Context, accountID string, q activity.Query) (activity.Page, error) {
	var mine []activity.Entry
	for _, e := range l {
		if e.AccountID == accountID {
			mine = append(mine, e)
		}
	}
	from := min(q.Page*q.Size, len(mine))
	to := min(from+q.Size, len(mine))
	return activity.Page{Entries: mine[from:to], Total: int64(len(mine))}, nil
}

func (l activityLog) Get(context.Context, string, string) (activity.Entry, error) {
	return activity.Entry{}, activity.ErrNotFound
}

type world struct {
	db    *mongo.Database
	clock *clock
	svc   *export.Service
	acts  *recorder
}

func newWorld(t *testing.T, log activity.Reader) world {
	t.Helper()
	env := testenv.New(t)
	db := env.Database("identity")
	ctx := context.Background()
	exports := store.NewExports(db)
	if err := exports.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.NewAccounts(db).Create(ctx, account.Account{
		ID: "acc-1", Email: "ada@example.com", EmailVerified: true, FirstName: "Ada", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		Status: account.StatusActive, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
	}); err != nil {
		t.Fatal(err)
	}
	c, acts := newClock(), &recorder{}
	svc := export.NewService(export.Config{TTL: 24 * time.Hour, Interval: time.Hour}, export.Deps{
		Store: exports, Limiter: c.limiter(db), Outbox: kafkax.NewOutbox(db, nil, quiet), Activity: acts,
		Accounts: store.NewAccounts(db), Logger: quiet, Now: c.Now,
		Sources: export.Sources{Devices: store.NewDevices(db), APIKeys: store.NewAPIKeys(db), Activity: log},
	})
	return world{db: db, clock: c, svc: svc, acts: acts}
}

func (w world) part(t *testing.T, accountID, exportID, service, data string) {
	t.Helper()
	ev, err := events.NewExportPart(accountID, exportID, service, json.RawMessage(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Collect(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// readyAlerts counts the export_ready alerts in the outbox.
func (w world) readyAlerts(t *testing.T) int {
	t.Helper()
	cur, err := w.db.Collection(kafkax.OutboxCollection).Find(context.Background(), bson.D{{Key: "topic", Value: events.TopicAccountEvents}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Event []byte `bson:"event"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range docs {
		var ev events.Envelope
		var al events.SecurityAlert
		if json.Unmarshal(d.Event, &ev) == nil && ev.Type == events.TypeSecurityAlert && ev.Decode(&al) == nil && al.Kind == events.AlertExportReady {
			n++
		}
	}
	return n
}

func (w world) request(t *testing.T) export.Export {
	t.Helper()
	e, err := w.svc.Request(context.Background(), export.Requester{AccountID: "acc-1", SessionID: "sess-1", Client: auth.Client{IP: "203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPartsAreCollectedOnceAndCompleteTheExport(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	e := w.request(t)
	if len(w.acts.entries) != 1 || w.acts.entries[0].Kind != events.ActivityExportRequested || w.acts.entries[0].Details["exportId"] != e.ID || w.acts.entries[0].IPAddress != "203.0.113.7" {
		t.Errorf("activity = %+v", w.acts.entries)
	}

	w.part(t, "acc-1", e.ID, events.ExportServiceSession, `{"sessions":[{"id":"s1"}]}`)
	w.part(t, "acc-1", e.ID, events.ExportServiceSession, `{"sessions":[{"id":"s1"}]}`) // redelivered
	w.part(t, "acc-1", e.ID, events.ExportServiceProfile, `{"profile":null}`)
	got, err := w.svc.Get(ctx, "acc-1", e.ID)
	if err != nil || got.Status != export.StatusPending || string(got.Parts[events.ExportServiceSession]) != `{"sessions":[{"id":"s1"}]}` || len(got.Parts) != 3 {
		t.Fatalf("after two parts = %+v, %v", got, err)
	}
	w.part(t, "acc-1", e.ID, events.ExportServiceNotification, `{"deliveries":[]}`)
	got, err = w.svc.Get(ctx, "acc-1", e.ID)
	if err != nil || got.Status != export.StatusComplete || got.CompletedAt.IsZero() || !got.ExpiresAt.Equal(got.CompletedAt.Add(24*time.Hour)) || len(got.Parts) != 4 {
		t.Fatalf("complete = %+v, %v", got, err)
	}
	// A part arriving again after completion changes nothing and alerts no one again.
	w.part(t, "acc-1", e.ID, events.ExportServiceNotification, `{"deliveries":[{"id":"late"}]}`)
	got, _ = w.svc.Get(ctx, "acc-1", e.ID)
	if strings.Contains(string(got.Parts[events.ExportServiceNotification]), "late") {
		t.Errorf("a complete export was changed: %s", got.Parts[events.ExportServiceNotification])
	}
	if n := w.readyAlerts(t); n != 1 {
		t.Errorf("export_ready alerts = %d, want 1", n)
	}
	if _, err := w.svc.Get(ctx, "acc-2", e.ID); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("another account's read: %v, want ErrNotFound", err)
	}
}

// TestConcurrentCompletionAlertsOnce: the last part delivered to two replicas at once completes the
// export and alerts the owner once.
func TestConcurrentCompletionAlertsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	e := w.request(t)
	w.part(t, "acc-1", e.ID, events.ExportServiceSession, `{}`)
	w.part(t, "acc-1", e.ID, events.ExportServiceProfile, `{}`)
	ev, err := events.NewExportPart("acc-1", e.ID, events.ExportServiceNotification, json.RawMessage(`{"deliveries":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = w.svc.Collect(context.Background(), ev) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := w.svc.Get(context.Background(), "acc-1", e.ID); err != nil || got.Status != export.StatusComplete {
		t.Fatalf("export = %+v, %v", got, err)
	}
	if n := w.readyAlerts(t); n != 1 {
		t.Errorf("export_ready alerts = %d, want exactly 1", n)
	}
}

func TestPartsWithoutAPendingExportAreDropped(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	// Unknown export: nothing is created (the update never inserts).
	w.part(t, "acc-1", "0b9f7f0e-1c2d-4e3f-8a5b-6c7d8e9f0a1b", events.ExportServiceSession, `{"sessions":[]}`)
	if n, err := w.db.Collection(store.CollExports).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Errorf("exports after a part for an unknown export = %d, %v", n, err)
	}
	// Malformed parts are skipped without error: unknown service, not an object.
	e := w.request(t)
	w.part(t, "acc-1", e.ID, "billing", `{"x":1}`)
	w.part(t, "acc-1", e.ID, events.ExportServiceSession, `[1,2]`)
	got, _ := w.svc.Get(ctx, "acc-1", e.ID)
	if len(got.Parts) != 1 {
		t.Errorf("parts = %v, want identity's only", got.Parts)
	}
	// Expired: the pending export is gone for reads and for parts, and the cleanup deletes it.
	w.clock.Add(24*time.Hour + time.Second)
	w.part(t, "acc-1", e.ID, events.ExportServiceSession, `{"sessions":[]}`)
	if _, err := w.svc.Get(ctx, "acc-1", e.ID); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("expired export read: %v, want ErrNotFound", err)
	}
	if n := w.svc.CleanupOnce(ctx); n != 1 {
		t.Errorf("cleanup deleted %d, want 1", n)
	}
	if n, _ := w.db.Collection(store.CollExports).CountDocuments(ctx, bson.D{}); n != 0 {
		t.Errorf("exports left after cleanup = %d", n)
	}
}

func TestCompleteExportExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	e := w.request(t)
	w.clock.Add(time.Hour) // completed an hour after the request: the day counts from completion
	for _, s := range events.ExportPartServices {
		w.part(t, "acc-1", e.ID, s, `{}`)
	}
	w.clock.Add(23 * time.Hour)
	if got, err := w.svc.Get(ctx, "acc-1", e.ID); err != nil || got.Status != export.StatusComplete {
		t.Fatalf("a day after the request, 23h after completion: %+v, %v", got, err)
	}
	if n := w.svc.CleanupOnce(ctx); n != 0 {
		t.Errorf("cleanup deleted a live export")
	}
	w.clock.Add(time.Hour + time.Second)
	if _, err := w.svc.Get(ctx, "acc-1", e.ID); !errors.Is(err, export.ErrNotFound) {
		t.Errorf("after the TTL: %v, want ErrNotFound", err)
	}
	if n := w.svc.CleanupOnce(ctx); n != 1 {
		t.Errorf("cleanup deleted %d, want 1", n)
	}
}

func TestOneExportPerInterval(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.request(t)
	_, err := w.svc.Request(context.Background(), export.Requester{AccountID: "acc-1"})
	var limited *throttle.ExceededError
	if !errors.As(err, &limited) || limited.RetryAfter <= 0 || limited.RetryAfter > time.Hour {
		t.Fatalf("second request: %v, want a limit with a retry within the hour", err)
	}
	w.clock.Add(time.Hour)
	w.request(t)
}

// TestIdentityPartIncludesTheActivityLog: with a reader, every entry of the account (and no other's)
// is in identity's part, newest first as the log gives them; without one, the key is absent.
func TestIdentityPartIncludesTheActivityLog(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	var log activityLog
	for i := range 150 {
		log = append(log, activity.Entry{ID: "act-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), AccountID: "acc-1", OccurredAt: now.Add(-time.Duration(i) * time.Minute),
			Activity: events.Activity{Kind: events.ActivitySignIn, IPAddress: "203.0.113.7"}})
	}
	log = append(log, activity.Entry{ID: "act-other", AccountID: "acc-2", Activity: events.Activity{Kind: events.ActivitySignIn}})
	w := newWorld(t, log)
	raw, err := w.svc.IdentityPart(context.Background(), "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	var data export.IdentityData
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Activity) != 150 || data.Activity[0].Kind != events.ActivitySignIn || strings.Contains(string(raw), "act-other") {
		t.Errorf("activity = %d entries", len(data.Activity))
	}
	if data.Account.Email != "ada@example.com" || !data.Account.HasPassword || strings.Contains(string(raw), "argon2") {
		t.Errorf("account = %+v", data.Account)
	}

	without, err := newWorld(t, nil).svc.IdentityPart(context.Background(), "acc-1")
	if err != nil || strings.Contains(string(without), `"activity"`) {
		t.Errorf("without a reader: %s, %v", without, err)
	}
}
