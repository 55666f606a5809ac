package activity_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T, retention time.Duration) (*activity.Store, *mongo.Database, *clock) {
	t.Helper()
	db := testenv.New(t).Database("identity")
	c := &clock{t: t0}
	s := activity.NewStore(db, retention).WithClock(c.now)
	if err := s.EnsureIndexes(context.Background()); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return s, db, c
}

func addAccount(t *testing.T, db *mongo.Database, id string) {
	t.Helper()
	if _, err := db.Collection(store.CollAccounts).InsertOne(context.Background(), bson.D{{Key: "_id", Value: id}, {Key: "email", Value: id + "@example.com"}}); err != nil {
		t.Fatal(err)
	}
}

func entry(id, accountID, kind string, at time.Time) activity.Entry {
	return activity.Entry{ID: id, AccountID: accountID, OccurredAt: at, Activity: events.Activity{
		Kind: kind, SessionID: "s-" + id, DeviceName: "Firefox on Linux", Platform: "web", IPAddress: "203.0.113.7",
		Actor: events.Actor{Type: events.ActorOwner}, Details: map[string]string{"method": "password"},
	}}
}

func ids(p activity.Page) []string {
	out := make([]string, len(p.Entries))
	for i, e := range p.Entries {
		out[i] = e.ID
	}
	return out
}

func TestRecordIsIdempotentByEventID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := newStore(t, 0)
	e := entry("ev1", "acc1", events.ActivitySignIn, t0.Add(-time.Minute))
	if ok, err := s.Record(ctx, e); err != nil || !ok {
		t.Fatalf("first Record = %v, %v; want true", ok, err)
	}
	changed := e
	changed.Kind = events.ActivityPasswordChanged
	if ok, err := s.Record(ctx, changed); err != nil || ok {
		t.Fatalf("second Record = %v, %v; want false, nil", ok, err)
	}
	p, err := s.List(ctx, "acc1", activity.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || p.Total != 1 || p.Entries[0].Kind != events.ActivitySignIn {
		t.Fatalf("List = %+v, want the one first entry", p)
	}
	got := p.Entries[0]
	if got.DeviceName != "Firefox on Linux" || got.IPAddress != "203.0.113.7" || got.Details["method"] != "password" ||
		got.Actor.Type != events.ActorOwner || !got.OccurredAt.Equal(e.OccurredAt) || got.SessionID != "s-ev1" {
		t.Errorf("stored entry = %+v, want the recorded fields", got)
	}
}

func TestListNewestFirstPagedAndByKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := newStore(t, 0)
	for i := range 5 {
		kind := events.ActivitySignIn
		if i%2 == 1 {
			kind = events.ActivityPasswordChanged
		}
		if _, err := s.Record(ctx, entry(fmt.Sprintf("e%d", i), "acc1", kind, t0.Add(time.Duration(i-10)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Record(ctx, entry("other", "acc2", events.ActivitySignIn, t0.Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		q         activity.Query
		want      []string
		wantTotal int64
	}{
		{"first page", activity.Query{Size: 2}, []string{"e4", "e3"}, 5},
		{"second page", activity.Query{Page: 1, Size: 2}, []string{"e2", "e1"}, 5},
		{"last page", activity.Query{Page: 2, Size: 2}, []string{"e0"}, 5},
		{"past the end", activity.Query{Page: 3, Size: 2}, []string{}, 5},
		{"by kind", activity.Query{Kind: events.ActivityPasswordChanged}, []string{"e3", "e1"}, 2},
		{"kind without entries", activity.Query{Kind: events.ActivityUsernameChanged}, []string{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.List(ctx, "acc1", tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); fmt.Sprint(got) != fmt.Sprint(tc.want) || p.Total != tc.wantTotal {
				t.Errorf("List(%+v) = %v total %d, want %v total %d", tc.q, got, p.Total, tc.want, tc.wantTotal)
			}
		})
	}
	all, err := s.All(ctx, "acc1")
	if err != nil || len(all) != 5 || all[0].ID != "e4" || all[4].ID != "e0" {
		t.Errorf("All = %d entries (%v), want e4..e0", len(all), err)
	}
	if _, err := s.Get(ctx, "acc1", "other"); !errors.Is(err, activity.ErrNotFound) {
		t.Errorf("Get of another account's entry = %v, want ErrNotFound", err)
	}
	if e, err := s.Get(ctx, "acc2", "other"); err != nil || e.AccountID != "acc2" {
		t.Errorf("Get(acc2, other) = %+v, %v", e, err)
	}
}

func TestEntriesPastTheRetentionAreNotReturned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, c := newStore(t, 24*time.Hour)
	if _, err := s.Record(ctx, entry("old", "acc1", events.ActivitySignIn, t0.Add(-23*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, entry("new", "acc1", events.ActivitySignIn, t0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Record(ctx, entry("ancient", "acc1", events.ActivitySignIn, t0.Add(-25*time.Hour))); err != nil || ok {
		t.Errorf("Record past the retention = %v, %v; want false", ok, err)
	}
	c.add(2 * time.Hour) // "old" is now 25h old
	p, err := s.List(ctx, "acc1", activity.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); fmt.Sprint(got) != "[new]" || p.Total != 1 {
		t.Errorf("List = %v total %d, want [new] total 1", got, p.Total)
	}
	if _, err := s.Get(ctx, "acc1", "old"); !errors.Is(err, activity.ErrNotFound) {
		t.Errorf("Get of an expired entry = %v, want ErrNotFound", err)
	}
	if _, err := s.MarkNotMe(ctx, "acc1", "old", c.now()); !errors.Is(err, activity.ErrNotFound) {
		t.Errorf("MarkNotMe of an expired entry = %v, want ErrNotFound", err)
	}
}

func TestCleanupDeletesExpiredEntriesInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, c := newStore(t, time.Hour)
	var docs []any
	for i := range 1203 { // more than two batches
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("x%04d", i)}, {Key: "accountId", Value: "acc1"},
			{Key: "occurredAt", Value: t0.Add(-30 * time.Minute)}, {Key: "kind", Value: events.ActivitySignIn}})
	}
	if _, err := db.Collection(activity.CollEntries).InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, entry("fresh", "acc1", events.ActivitySignIn, t0.Add(50*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Cleanup(ctx); err != nil || n != 0 {
		t.Fatalf("Cleanup before expiry = %d, %v; want 0", n, err)
	}
	c.add(time.Hour)
	if n, err := s.Cleanup(ctx); err != nil || n != 1203 {
		t.Fatalf("Cleanup = %d, %v; want 1203", n, err)
	}
	if n, _ := db.Collection(activity.CollEntries).CountDocuments(ctx, bson.D{}); n != 1 {
		t.Errorf("%d entries left, want the fresh one", n)
	}
}

func TestRunCleanupDeletesPeriodically(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, db, c := newStore(t, time.Hour)
	if _, err := s.Record(ctx, entry("e1", "acc1", events.ActivitySignIn, t0)); err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Hour)
	done := make(chan struct{})
	go func() { defer close(done); s.RunCleanup(ctx, 10*time.Millisecond, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	waitEmpty := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := db.Collection(activity.CollEntries).CountDocuments(ctx, bson.D{})
			if err == nil && n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is still there (%d, %v)", what, n, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitEmpty("the expired entry")
	// A later round deletes what expired since: the worker keeps running.
	if _, err := db.Collection(activity.CollEntries).InsertOne(ctx, bson.D{{Key: "_id", Value: "e2"}, {Key: "accountId", Value: "acc1"},
		{Key: "occurredAt", Value: t0}, {Key: "kind", Value: events.ActivitySignIn}}); err != nil {
		t.Fatal(err)
	}
	waitEmpty("the entry that expired after the first round")
}

func TestMarkNotMeKeepsTheFirstTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, c := newStore(t, 0)
	if _, err := s.Record(ctx, entry("e1", "acc1", events.ActivitySignIn, t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkNotMe(ctx, "acc2", "e1", c.now()); !errors.Is(err, activity.ErrNotFound) {
		t.Errorf("MarkNotMe by another account = %v, want ErrNotFound", err)
	}
	first, err := s.MarkNotMe(ctx, "acc1", "e1", c.now())
	if err != nil || !first.NotMeAt.Equal(t0) {
		t.Fatalf("MarkNotMe = %+v, %v", first, err)
	}
	c.add(time.Minute)
	again, err := s.MarkNotMe(ctx, "acc1", "e1", c.now())
	if err != nil || !again.NotMeAt.Equal(t0) {
		t.Errorf("second MarkNotMe = %v, %v; want the first time kept", again.NotMeAt, err)
	}
}

func TestHandlerStoresOnlyForExistingAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newStore(t, 0)
	addAccount(t, db, "acc1")
	handle := activity.Handler(s, slog.New(slog.DiscardHandler))
	ev := func(id, accountID string, act events.Activity) events.Envelope {
		e, err := events.New(events.TypeActivity, accountID, act)
		if err != nil {
			t.Fatal(err)
		}
		e.EventID, e.OccurredAt = id, t0
		return e
	}
	known := ev("k1", "acc1", events.Activity{Kind: events.ActivitySignIn, Outcome: events.OutcomeFailed, Reason: "wrong_password"})
	for range 2 { // redelivered: still one entry
		if err := handle(ctx, known); err != nil {
			t.Fatal(err)
		}
	}
	if err := handle(ctx, ev("u1", "gone", events.Activity{Kind: events.ActivitySignIn, Outcome: events.OutcomeFailed})); err != nil {
		t.Fatal(err)
	}
	if err := handle(ctx, events.Envelope{EventID: "bad", Type: events.TypeActivity, AccountID: "acc1", Payload: []byte(`"not an object"`)}); err != nil {
		t.Errorf("malformed event = %v, want skipped", err)
	}
	if err := handle(ctx, events.Envelope{EventID: "other", Type: "something.else", AccountID: "acc1", Payload: []byte(`{}`)}); err != nil {
		t.Errorf("other type = %v, want skipped", err)
	}

	p, err := s.List(ctx, "acc1", activity.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); fmt.Sprint(got) != "[k1]" || p.Entries[0].Reason != "wrong_password" {
		t.Errorf("acc1's log = %+v, want the one failed sign-in", p.Entries)
	}
	if n, _ := db.Collection(activity.CollEntries).CountDocuments(ctx, bson.D{{Key: "accountId", Value: "gone"}}); n != 0 {
		t.Errorf("%d entries of a missing account, want 0", n)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"2026-03-01|sign_in|failed": 1}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
}

func TestEraseAccountLeavesOnlyAnonymousCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newStore(t, 0)
	for i := range 3 {
		if _, err := s.Record(ctx, entry(fmt.Sprintf("a%d", i), "acc1", events.ActivitySignIn, t0.Add(-time.Duration(i)*24*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	failed := entry("a9", "acc1", events.ActivitySignIn, t0)
	failed.Outcome = events.OutcomeFailed
	if _, err := s.Record(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, entry("b1", "acc2", events.ActivitySignIn, t0)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second run finds nothing more
		if err := s.EraseAccount(ctx, "acc1"); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := db.Collection(activity.CollEntries).CountDocuments(ctx, bson.D{{Key: "accountId", Value: "acc1"}}); n != 0 {
		t.Errorf("%d entries of the erased account left", n)
	}
	if p, _ := s.List(ctx, "acc2", activity.Query{}); len(p.Entries) != 1 {
		t.Errorf("another account's log = %v, want untouched", ids(p))
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"2026-03-01|sign_in|succeeded": 1, "2026-03-01|sign_in|failed": 1,
		"2026-02-28|sign_in|succeeded": 1, "2026-02-27|sign_in|succeeded": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	raw, err := db.Collection(activity.CollCounts).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := raw.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if fmt.Sprint(d) != fmt.Sprint(bson.M{"_id": d["_id"], "count": d["count"]}) {
			t.Errorf("count document %v holds more than its key and count", d)
		}
	}
}

func TestEnsureIndexesTwiceWithAnotherRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newStore(t, 0)
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes again: %v", err)
	}
	if err := activity.NewStore(db, time.Hour).EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes with another retention: %v", err)
	}
}

// TestEraseAccountForgetsItInOtherAccountsLogs: an operator's log names the accounts it acted on,
// and a target's log names the operator; erasing either leaves the other's entries without the id.
func TestEraseAccountForgetsItInOtherAccountsLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newStore(t, 0)
	byOperator := entry("t1", "target", events.ActivityAdminAction, t0)
	byOperator.Actor = events.Actor{Type: events.ActorAdmin, ID: "operator"}
	inOperatorsLog := entry("o1", "operator", events.ActivityAdminAction, t0)
	inOperatorsLog.Actor = events.Actor{Type: events.ActorAdmin, ID: "operator"}
	inOperatorsLog.Details = map[string]string{"action": "lock", "targetId": "target"}
	for _, e := range []activity.Entry{byOperator, inOperatorsLog} {
		if _, err := s.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EraseAccount(ctx, "target"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "operator", "o1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Details["targetId"] != activity.ErasedAccount || got.Details["action"] != "lock" {
		t.Errorf("operator's entry after the target's erasure = %v", got.Details)
	}
	if err := s.EraseAccount(ctx, "operator"); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"accountId", "actorId", "details.targetId"} {
		for _, id := range []string{"target", "operator"} {
			if n, _ := db.Collection(activity.CollEntries).CountDocuments(ctx, bson.D{{Key: field, Value: id}}); n != 0 {
				t.Errorf("%d entries still name %s in %s", n, id, field)
			}
		}
	}
}

// TestAccountCollectionIsIdentitys: the log decides whether an account exists by reading identity's
// account collection, named here without importing the store (which depends on this package).
func TestAccountCollectionIsIdentitys(t *testing.T) {
	if activity.CollAccounts != store.CollAccounts {
		t.Fatalf("activity reads accounts from %q, identity keeps them in %q", activity.CollAccounts, store.CollAccounts)
	}
}
