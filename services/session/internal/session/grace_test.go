package session_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestRefreshParallelWithinGrace: a client that refreshes twice at once with one token (two tabs, a
// retry) is not signed out; every racer gets the one pair the winning rotation issued, and that pair
// goes on working. Before the grace existed, all racers but one were taken for a thief and the
// session was revoked.
func TestRefreshParallelWithinGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshGrace: 10 * time.Second})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []session.Issued
		errs []error
	)
	for range racers {
		wg.Go(func() {
			issued, err := f.svc.Refresh(ctx, first.RefreshToken, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got = append(got, issued)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d parallel refreshes failed: %v", len(errs), racers, errs)
	}
	for _, g := range got[1:] {
		if g.AccessToken != got[0].AccessToken || g.RefreshToken != got[0].RefreshToken {
			t.Fatalf("parallel refreshes returned different pairs: %q/%q and %q/%q", got[0].AccessToken, got[0].RefreshToken, g.AccessToken, g.RefreshToken)
		}
	}
	if got[0].RefreshToken == first.RefreshToken || got[0].Session.ID != first.Session.ID {
		t.Fatalf("refresh returned %+v, want a new token for the same session", got[0])
	}
	stored, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.RevokedAt.IsZero() {
		t.Fatalf("session revoked (%s) by parallel refreshes of one client", stored.RevokeReason)
	}
	// The database keeps the pair sealed, never in clear.
	for _, secret := range []string{got[0].RefreshToken, got[0].AccessToken} {
		if bytes.Contains(stored.GraceSealed, []byte(secret)) {
			t.Error("the stored grace pair holds a token in clear")
		}
	}
	if n := len(f.outbox.ofType(events.TypeSessionRevoked)); n != 0 {
		t.Errorf("%d session.revoked events, want none", n)
	}
	// The shared pair is the session's live one: it refreshes normally.
	if _, err := f.svc.Refresh(ctx, got[0].RefreshToken, ""); err != nil {
		t.Fatalf("refresh with the pair the racers got: %v", err)
	}
}

// TestRefreshReuseAfterGraceRevokes: once the grace has run out, a rotated token is a replay again
// and ends the session.
func TestRefreshReuseAfterGraceRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshGrace: 300 * time.Millisecond})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatalf("reuse within the grace: %v, want the same pair", err)
	}
	if again.RefreshToken != second.RefreshToken || again.AccessToken != second.AccessToken {
		t.Fatal("reuse within the grace returned another pair")
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("reuse after the grace: err = %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := f.svc.Refresh(ctx, second.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("current token after reuse: err = %v, want ErrInvalidRefreshToken (session revoked)", err)
	}
	stored, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.RevokedAt.IsZero() || stored.RevokeReason != session.ReasonRefreshTokenReused {
		t.Errorf("session revokedAt=%s reason=%q, want revoked for reuse", stored.RevokedAt, stored.RevokeReason)
	}
}

// TestRefreshGraceEndsWithNextRotation: the grace covers only the token the last rotation replaced.
// Once the client has moved on again, the token before is a replay even inside the grace.
func TestRefreshGraceEndsWithNextRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshGrace: 10 * time.Second})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, second.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("token two rotations old: err = %v, want ErrInvalidRefreshToken", err)
	}
	stored, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.RevokeReason != session.ReasonRefreshTokenReused {
		t.Errorf("reason = %q, want revoked for reuse", stored.RevokeReason)
	}
}

// TestRefreshGraceNotAfterRevocation: a revoked session hands out nothing, grace or not.
func TestRefreshGraceNotAfterRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshGrace: 10 * time.Second})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Revoke(ctx, first.Session.ID, "acc-1", session.ReasonLogout, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("grace reuse after logout: err = %v, want ErrInvalidRefreshToken", err)
	}
}
