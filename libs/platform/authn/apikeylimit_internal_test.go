package authn

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// windowStart returns the start of a window of s, a fixed time so tests never straddle a window.
func windowStart(s *sharedLimiter) time.Time {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w := s.windowOf(base)
	return time.Unix(0, (w+1)*int64(s.window))
}

// countIn reads the shared total of key in the window of now.
func countIn(t *testing.T, s *sharedLimiter, key string, now time.Time) int {
	t.Helper()
	var doc struct {
		Count int `bson:"count"`
	}
	err := s.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: s.docID(key, s.windowOf(now))}}).Decode(&doc)
	if err == mongo.ErrNoDocuments {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc.Count
}

// unreachableDB is a database on a MongoDB that never answers (nothing listens on port 1).
func unreachableDB(t *testing.T) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(context.Background(), options.Client().
		ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(100*time.Millisecond).SetConnectTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("gone")
}

func TestAPIKeyWindowKeepsTheRate(t *testing.T) {
	for _, tc := range []struct {
		perMinute, budget int
		window            time.Duration
	}{
		{600, 60, 6 * time.Second},
		{60, 6, 6 * time.Second},
		{25, 2, 4800 * time.Millisecond},
		{5, 1, 12 * time.Second},
		{0, 60, 6 * time.Second}, // the default
	} {
		b, w := APIKeyWindow(tc.perMinute)
		if b != tc.budget || w != tc.window {
			t.Errorf("APIKeyWindow(%d) = %d per %s, want %d per %s", tc.perMinute, b, w, tc.budget, tc.window)
		}
	}
}

// Two replicas sharing one database admit a key's window budget between them, plus at most what
// each admits between two of its additions (m here), never a budget each.
func TestSharedAPIKeyLimitHoldsAcrossReplicas(t *testing.T) {
	db := testenv.New(t).Database("keylimit")
	ctx := context.Background()
	for _, m := range []int{1, 3, 8} {
		key := "key-m" + string(rune('0'+m))
		a, b := newSharedLimiter(db, 600, quietLog()), newSharedLimiter(db, 600, quietLog())
		replicas := []*sharedLimiter{a, b}
		now := windowStart(a).Add(time.Millisecond)
		admitted, sinceFlush := 0, []int{0, 0}
		for i := range 4 * a.budget {
			r := i % 2
			now = now.Add(time.Millisecond)
			if ok, wait := replicas[r].allow(key, now); ok {
				admitted++
				sinceFlush[r]++
			} else if wait <= 0 || wait > a.window {
				t.Fatalf("refused with wait %s, want within the window %s", wait, a.window)
			}
			if sinceFlush[r] == m {
				if err := replicas[r].flush(ctx, now); err != nil {
					t.Fatal(err)
				}
				sinceFlush[r] = 0
			}
		}
		for _, r := range replicas {
			if err := r.flush(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		bound := a.budget + (len(replicas)-1)*m
		if admitted < a.budget || admitted > bound {
			t.Errorf("m=%d: two replicas admitted %d in one window, want between the budget %d and %d", m, admitted, a.budget, bound)
		}
		if got := countIn(t, a, key, now); got != admitted {
			t.Errorf("m=%d: the shared counter says %d, %d were admitted", m, got, admitted)
		}
		// Both replicas now know the window is spent.
		for i, r := range replicas {
			if ok, _ := r.allow(key, now); ok {
				t.Errorf("m=%d: replica %d admitted a request after the budget was spent", m, i)
			}
		}
	}
}

// A replica that was idle while another spent the budget asks for the total at its next request
// instead of waiting for its tick, and a replica nearing the budget counts at once.
func TestSharedAPIKeyLimitCountsUrgentKeysAtOnce(t *testing.T) {
	s := newSharedLimiter(testenv.New(t).Database("keylimit"), 600, quietLog())
	now := windowStart(s).Add(time.Millisecond)
	if ok, _ := s.allow("key-1", now); !ok {
		t.Fatal("first request refused")
	}
	select {
	case <-s.wake:
	default:
		t.Fatal("the first request of a key with no known total did not ask for a count")
	}
	if err := s.flush(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	asked := 0
	for range s.budget {
		now = now.Add(time.Microsecond) // within idleAfter of the read
		s.allow("key-1", now)
		select {
		case <-s.wake:
			asked++
		default:
		}
	}
	if asked == 0 {
		t.Error("a key past half its budget never asked to be counted at once")
	}
}

func TestSharedAPIKeyLimitWindowRollsOver(t *testing.T) {
	ctx := context.Background()
	db := testenv.New(t).Database("keylimit")
	a, b := newSharedLimiter(db, 60, quietLog()), newSharedLimiter(db, 60, quietLog())
	start := windowStart(a)
	now := start.Add(time.Millisecond)
	for range a.budget {
		if ok, _ := a.allow("key-1", now); !ok {
			t.Fatal("refused within the budget")
		}
	}
	if err := a.flush(ctx, now); err != nil {
		t.Fatal(err)
	}
	b.allow("key-1", now) // b learns the total with its first count
	if err := b.flush(ctx, now); err != nil {
		t.Fatal(err)
	}
	ok, wait := b.allow("key-1", now)
	if ok {
		t.Fatal("b admitted a request of a spent window")
	}
	if want := start.Add(a.window).Sub(now); wait != want {
		t.Errorf("wait = %s, want the rest of the window %s", wait, want)
	}
	next := start.Add(a.window)
	for i, r := range []*sharedLimiter{a, b} {
		if ok, _ := r.allow("key-1", next); !ok {
			t.Errorf("replica %d refused the first request of the next window", i)
		}
	}
	// Two windows later the spent window's counter is deleted.
	later := start.Add(2 * a.window).Add(time.Millisecond)
	if err := a.flush(ctx, later); err != nil {
		t.Fatal(err)
	}
	if n, err := a.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: a.docID("key-1", a.windowOf(now))}}); err != nil || n != 0 {
		t.Errorf("the counter of a past window is still there (%d, %v)", n, err)
	}
}

// When MongoDB does not answer, a replica holds each key to the window budget on its own (neither
// unlimited nor shut) and keeps its counts for when MongoDB answers again.
func TestSharedAPIKeyLimitFlushFailure(t *testing.T) {
	ctx := context.Background()
	s := newSharedLimiter(unreachableDB(t), 60, quietLog())
	now := windowStart(s).Add(time.Millisecond)
	admitted := 0
	for range 3 * s.budget {
		if ok, _ := s.allow("key-1", now); ok {
			admitted++
		}
	}
	if err := s.flush(ctx, now); err == nil {
		t.Fatal("flush to an unreachable MongoDB succeeded")
	}
	for range s.budget {
		if ok, _ := s.allow("key-1", now); ok {
			admitted++
		}
	}
	if admitted != s.budget {
		t.Errorf("without MongoDB one replica admitted %d, want the window budget %d", admitted, s.budget)
	}
	// MongoDB is back: the kept counts reach the shared counter, where other replicas see them.
	db := testenv.New(t).Database("keylimit")
	s.coll = db.Collection(APIKeyRateCollection)
	if err := s.flush(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := countIn(t, s, "key-1", now); got != s.budget {
		t.Errorf("after MongoDB came back the counter says %d, want the %d admitted while it was away", got, s.budget)
	}
}

// The worker creates the expiry index and adds counts without anyone calling flush.
func TestShareAPIKeyLimitsWorker(t *testing.T) {
	db := testenv.New(t).Database("keylimit")
	v := NewVerifier(VerifierConfig{JWKSURL: "http://127.0.0.1:1", Issuer: "i", Audience: "a", Logger: quietLog(),
		APIKeyRatePerMinute: 6000, APIKeyLimitDB: db})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.ShareAPIKeyLimits(ctx) }()
	for range 5 {
		if ok, _ := v.allowAPIKey("key-1", time.Now()); !ok {
			t.Fatal("refused within the budget")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := db.Collection(APIKeyRateCollection).CountDocuments(context.Background(), bson.D{{Key: "count", Value: bson.D{{Key: "$gte", Value: 1}}}})
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no shared counter written by the worker (%d, %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("worker returned %v, want nil at shutdown", err)
	}
}

// The admitted path costs a map lookup and two mutexes: no allocation, no round trip.
func BenchmarkAPIKeyAllowShared(b *testing.B) {
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI("mongodb://127.0.0.1:1"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	v := NewVerifier(VerifierConfig{JWKSURL: "http://127.0.0.1:1", Issuer: "i", Audience: "a", Logger: quietLog(),
		APIKeyRatePerMinute: 1 << 30, APIKeyLimitDB: client.Database("bench")})
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, _ := v.allowAPIKey("key-1", now); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAPIKeyAllowLocal is the per-replica limiter alone, for comparison.
func BenchmarkAPIKeyAllowLocal(b *testing.B) {
	v := NewVerifier(VerifierConfig{JWKSURL: "http://127.0.0.1:1", Issuer: "i", Audience: "a", Logger: quietLog(),
		APIKeyRatePerMinute: 1 << 30})
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, _ := v.allowAPIKey("key-1", now); !ok {
			b.Fatal("refused")
		}
	}
}
