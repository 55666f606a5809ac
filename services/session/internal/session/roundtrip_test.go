package session_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// replicas are services ("replicas") sharing one database through one client that counts the
// MongoDB commands it sends; each has its own in-memory outbox, deny-list and touch memo.
type replicas struct {
	db       *mongo.Database
	store    *store.Sessions
	svcs     []*session.Service
	outbox   *recordingOutbox // shared by every replica
	commands atomic.Int64
}

func newReplicas(t *testing.T, n int, opts session.Options) *replicas {
	t.Helper()
	env := testenv.New(t)
	r := &replicas{outbox: &recordingOutbox{}}
	ctx := context.Background()
	monitor := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { r.commands.Add(1) }}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(env.MongoURI).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	r.db = client.Database(env.DBPrefix + "session")
	t.Cleanup(func() {
		_ = r.db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	r.store = store.NewSessions(r.db)
	if err := r.store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := token.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := token.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	opts.AccessTokenTTL, opts.IdleTTL, opts.AbsoluteTTL = 15*time.Minute, time.Hour, 24*time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	issuer := token.NewIssuer(ring, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: opts.AccessTokenTTL})
	for range n {
		r.svcs = append(r.svcs, session.NewService(r.store, issuer, r.outbox, authn.NewDenyList(), opts))
	}
	return r
}

// roundTrips runs do and returns how many MongoDB commands it sent.
func (r *replicas) roundTrips(do func()) int64 {
	before := r.commands.Load()
	do()
	return r.commands.Load() - before
}

// TestRoundTripsPerOperation pins what each operation costs in MongoDB round trips: a refresh reads the
// session and claims-and-rotates it in one conditional update; a touch within the interval of the
// session's last write (Create, Refresh or an earlier touch of this replica) makes none; a logout is
// one conditional update.
func TestRoundTripsPerOperation(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 1, session.Options{TouchInterval: time.Hour, RefreshGrace: 10 * time.Second})
	svc, ctx := r.svcs[0], context.Background()
	var (
		issued session.Issued
		err    error
	)
	steps := []struct {
		name string
		want int64
		do   func()
	}{
		{"create", 1, func() { issued, err = svc.Create(ctx, "acc-1", device, session.Assurance{}) }},
		{"touch after create", 0, func() { svc.Touch(ctx, principal(issued)) }},
		{"refresh", 2, func() { issued, err = svc.Refresh(ctx, issued.RefreshToken, "") }},
		{"touch after refresh", 0, func() { svc.Touch(ctx, principal(issued)) }},
		{"list", 1, func() { _, err = svc.List(ctx, "acc-1") }},
		{"logout", 1, func() { err = svc.Logout(ctx, principal(issued)) }},
		{"refresh of the revoked session", 1, func() {
			if _, err = svc.Refresh(ctx, issued.RefreshToken, ""); errors.Is(err, session.ErrInvalidRefreshToken) {
				err = nil
			}
		}},
	}
	for _, step := range steps {
		got := r.roundTrips(step.do)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got != step.want {
			t.Errorf("%s: %d round trips, want %d", step.name, got, step.want)
		}
	}
}

// TestTouchWritesPastTheIntervalNeverOnRevoked: once the interval has passed a touch writes again;
// a touch never writes to a revoked session, also when another replica revoked it and this one's memo
// still holds the session; a revocation by this replica drops the session from its memo.
func TestTouchWritesPastTheIntervalNeverOnRevoked(t *testing.T) {
	t.Parallel()
	const every = 50 * time.Millisecond
	r := newReplicas(t, 2, session.Options{TouchInterval: every})
	a, b, ctx := r.svcs[0], r.svcs[1], context.Background()

	issued, err := a.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	p := principal(issued)
	time.Sleep(2 * every)
	if n := r.roundTrips(func() { a.Touch(ctx, p) }); n != 1 {
		t.Errorf("touch past the interval: %d round trips, want 1", n)
	}
	touched, err := r.store.Get(ctx, p.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !touched.LastActiveAt.After(issued.Session.LastActiveAt) {
		t.Fatalf("lastActiveAt %s not moved past %s by a touch after the interval", touched.LastActiveAt, issued.Session.LastActiveAt)
	}

	// Replica b revokes; replica a still remembers its touch.
	if err := b.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * every)
	a.Touch(ctx, p)
	got, err := r.store.Get(ctx, p.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt.IsZero() || got.RevokeReason != session.ReasonLogout {
		t.Errorf("after a touch: revokedAt=%s reason=%q, want still revoked by logout", got.RevokedAt, got.RevokeReason)
	}
	if !got.LastActiveAt.Equal(touched.LastActiveAt) {
		t.Errorf("a touch wrote lastActiveAt %s to a revoked session (was %s)", got.LastActiveAt, touched.LastActiveAt)
	}

	// Revoked by this replica: no entry is kept, so the next touch (refused by authn anyway) is not
	// skipped on the strength of a memo of a revoked session.
	second, err := a.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(ctx, principal(second)); err != nil {
		t.Fatal(err)
	}
	if n := r.roundTrips(func() { a.Touch(ctx, principal(second)) }); n != 1 {
		t.Errorf("touch of a session this replica revoked: %d round trips, want 1 (not remembered)", n)
	}
	if got, _ := r.store.Get(ctx, second.Session.ID); got.RevokedAt.IsZero() {
		t.Error("a touch undid a revocation")
	}
}

// TestRefreshRaceAcrossReplicas: the single use of a refresh token is decided by the session document,
// not by a process: parallel refreshes with one token on two replicas rotate once, and within the grace
// every racer gets the winner's pair.
func TestRefreshRaceAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 2, session.Options{RefreshGrace: 10 * time.Second})
	ctx := context.Background()
	first, err := r.svcs[0].Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 6
	got := make([]session.Issued, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { got[i], errs[i] = r.svcs[i%2].Refresh(ctx, first.RefreshToken, "") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		if got[i].RefreshToken != got[0].RefreshToken || got[i].AccessToken != got[0].AccessToken {
			t.Fatalf("racer %d got another pair than racer 0", i)
		}
	}
	stored, err := r.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.RevokedAt.IsZero() || len(stored.RotatedRefreshHashes) != 1 {
		t.Errorf("after the race: revoked=%v used hashes=%d, want live and rotated once", !stored.RevokedAt.IsZero(), len(stored.RotatedRefreshHashes))
	}
}

// TestRevokeConcurrently: of concurrent revocations of one session on two replicas exactly one wins:
// one session.revoked event and one session_ended activity entry.
func TestRevokeConcurrently(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 2, session.Options{})
	ctx := context.Background()
	issued, err := r.svcs[0].Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 6
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { errs[i] = r.svcs[i%2].Revoke(ctx, "acc-1", issued.Session.ID, session.ReasonRevokedByOwner) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, session.ErrNotFound):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d revocations succeeded, want 1", won)
	}
	if n := len(r.outbox.ofType(events.TypeSessionRevoked)); n != 1 {
		t.Errorf("%d session.revoked events, want 1", n)
	}
	r.outbox.mu.Lock()
	activity := 0
	for _, topic := range r.outbox.topics {
		if topic == events.TopicActivity {
			activity++
		}
	}
	r.outbox.mu.Unlock()
	if activity != 1 {
		t.Errorf("%d session_ended activity entries, want 1", activity)
	}
}

// TestRefreshSessionStoredBefore: a session document written by the previous version (no grace fields,
// 20 used hashes, its used tokens also in the legacy refresh_token_uses collection) keeps working: its
// current token refreshes, the used hashes grow to the new bound, and a replay of an old token it
// remembers revokes it.
func TestRefreshSessionStoredBefore(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 1, session.Options{RefreshGrace: 10 * time.Second})
	svc, ctx := r.svcs[0], context.Background()
	id := uuid.NewString()
	newToken := func() (tok, hash string) {
		var b [32]byte
		_, _ = rand.Read(b[:])
		tok = id + "." + base64.RawURLEncoding.EncodeToString(b[:])
		sum := sha256.Sum256([]byte(tok))
		return tok, hex.EncodeToString(sum[:])
	}
	var used []string
	var oldest string
	for i := range 20 {
		tok, hash := newToken()
		if i == 0 {
			oldest = tok
		}
		used = append(used, hash)
		if _, err := r.db.Collection("refresh_token_uses").InsertOne(ctx, bson.D{{Key: "_id", Value: hash}, {Key: "sessionId", Value: id},
			{Key: "usedAt", Value: time.Now()}, {Key: "keepUntil", Value: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	current, currentHash := newToken()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := r.db.Collection("sessions").InsertOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "accountId", Value: "acc-1"}, {Key: "deviceId", Value: "dev-1"}, {Key: "deviceName", Value: "Pixel"},
		{Key: "platform", Value: "ANDROID"}, {Key: "ipAddress", Value: "203.0.113.7"}, {Key: "userAgent", Value: "app/1.0"},
		{Key: "createdAt", Value: now.Add(-time.Hour)}, {Key: "lastActiveAt", Value: now.Add(-time.Minute)},
		{Key: "expiresAt", Value: now.Add(time.Hour)}, {Key: "absoluteExpiresAt", Value: now.Add(24 * time.Hour)},
		{Key: "revokedAt", Value: nil}, {Key: "refreshHash", Value: currentHash}, {Key: "rotatedRefreshHashes", Value: used},
	}); err != nil {
		t.Fatal(err)
	}

	next, err := svc.Refresh(ctx, current, "")
	if err != nil {
		t.Fatalf("refresh of a session stored before: %v", err)
	}
	stored, err := r.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.RotatedRefreshHashes) != 21 || stored.RotatedRefreshHashes[20] != currentHash {
		t.Errorf("used hashes after the refresh: %d, want the 20 stored before and the one just used", len(stored.RotatedRefreshHashes))
	}
	if next.Session.ID != id || stored.RefreshHash == currentHash {
		t.Error("the refresh did not rotate the stored session")
	}
	if _, err := svc.Refresh(ctx, oldest, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("replay of a token used before the upgrade: err = %v, want ErrInvalidRefreshToken", err)
	}
	if got, _ := r.store.Get(ctx, id); got.RevokeReason != session.ReasonRefreshTokenReused {
		t.Errorf("after the replay: reason %q, want revoked for reuse", got.RevokeReason)
	}
}
