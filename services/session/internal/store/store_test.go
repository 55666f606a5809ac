package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSigningKeysSharedByReplicas starts several "replicas" at once, each with its own client, against
// one empty database: they must all end up signing with the same key, and so must a later start.
func TestSigningKeysSharedByReplicas(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	ctx := context.Background()

	const replicas = 4
	kids := make([]string, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			client, db, err := mongox.Connect(ctx, env.MongoURI, db.Name())
			if err != nil {
				errs[i] = err
				return
			}
			defer func() { _ = client.Disconnect(context.Background()) }()
			ring, err := token.LoadKeyring(ctx, store.NewSigningKeys(db))
			if err != nil {
				errs[i] = err
				return
			}
			kids[i] = ring.Signer().ID
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	for i, kid := range kids {
		if kid != kids[0] {
			t.Errorf("replica %d signs with %q, replica 0 with %q", i, kid, kids[0])
		}
	}

	later, err := token.LoadKeyring(ctx, store.NewSigningKeys(db))
	if err != nil {
		t.Fatal(err)
	}
	if got := later.Signer().ID; got != kids[0] {
		t.Errorf("a later start signs with %q, want %q", got, kids[0])
	}
	if got := len(later.JWKS().Keys); got != 1 {
		t.Errorf("JWKS lists %d keys, want 1", got)
	}
}

func newSession(id, account string, now time.Time) session.Session {
	return session.Session{
		ID: id, AccountID: account, DeviceName: "laptop", CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), RefreshHash: "h0",
	}
}

func TestSessionsConditionalWrites(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	sessions := store.NewSessions(env.Database("session"))
	ctx := context.Background()
	if err := sessions.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	expired := newSession("s-expired", "acc-1", now.Add(-2*time.Hour))
	for _, s := range []session.Session{newSession("s-1", "acc-1", now), expired} {
		if err := sessions.Insert(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := sessions.Insert(ctx, newSession("s-1", "acc-1", now)); err == nil {
		t.Error("inserting a session id twice succeeded")
	}
	rotate := func(id, old, next string) (session.Session, error) {
		r := session.Rotation{SessionID: id, OldHash: old, NewHash: next, Rotated: []string{old}, Now: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := sessions.Rotate(ctx, r); err != nil {
			return session.Session{}, err
		}
		return sessions.Get(ctx, id)
	}

	steps := []struct {
		name    string
		do      func() (session.Session, error)
		wantErr error
	}{
		{"rotate with a wrong hash", func() (session.Session, error) { return rotate("s-1", "nope", "h1") }, session.ErrConflict},
		{"rotate", func() (session.Session, error) { return rotate("s-1", "h0", "h1") }, nil},
		{"rotate the spent hash again", func() (session.Session, error) { return rotate("s-1", "h0", "h2") }, session.ErrConflict},
		{"rotate an expired session", func() (session.Session, error) { return rotate("s-expired", "h0", "h1") }, session.ErrConflict},
		{"revoke as another account", func() (session.Session, error) { return sessions.Revoke(ctx, "s-1", "acc-2", "logout", now) }, session.ErrNotFound},
		{"revoke", func() (session.Session, error) { return sessions.Revoke(ctx, "s-1", "acc-1", "logout", now) }, nil},
		{"revoke again", func() (session.Session, error) { return sessions.Revoke(ctx, "s-1", "acc-1", "logout", now) }, session.ErrNotFound},
		{"rotate a revoked session", func() (session.Session, error) { return rotate("s-1", "h1", "h2") }, session.ErrConflict},
		{"get a missing session", func() (session.Session, error) { return sessions.Get(ctx, "s-missing") }, session.ErrNotFound},
	}
	for _, step := range steps { // in order: each step sees the state the previous ones left
		got, err := step.do()
		if !errors.Is(err, step.wantErr) {
			t.Fatalf("%s: err = %v, want %v", step.name, err, step.wantErr)
		}
		if err == nil && got.ID != "s-1" {
			t.Errorf("%s: returned session %q, want s-1", step.name, got.ID)
		}
	}

	got, err := sessions.Get(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshHash != "h1" || len(got.RotatedRefreshHashes) != 1 || got.RotatedRefreshHashes[0] != "h0" {
		t.Errorf("refreshHash=%q rotated=%v, want h1 and [h0]", got.RefreshHash, got.RotatedRefreshHashes)
	}
	if !got.RevokedAt.Equal(now) || got.RevokeReason != "logout" {
		t.Errorf("revokedAt=%s reason=%q, want %s logout", got.RevokedAt, got.RevokeReason, now)
	}
	if got.DeviceName != "laptop" || !got.CreatedAt.Equal(now) {
		t.Errorf("round trip lost fields: %+v", got)
	}
}
