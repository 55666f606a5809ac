package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// gate is a Reauthenticator answering err for every proof, and counting the calls.
type gate struct {
	err   error
	calls int
}

func (g *gate) Reauthenticate(context.Context, string, session.Proof) error {
	g.calls++
	return g.err
}

func principal(i session.Issued) authn.Principal {
	return authn.Principal{AccountID: i.Session.AccountID, SessionID: i.Session.ID, ExpiresAt: i.AccessTokenExpires}
}

func TestSignOutOthersNeedsReauthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		reauth      session.Reauthenticator
		wantErr     error
		wantRevoked int
	}{
		{"no gate configured", nil, session.ErrReauthUnavailable, 0},
		{"refused", &gate{err: session.ErrInvalidCredentials}, session.ErrInvalidCredentials, 0},
		{"throttled", &gate{err: &session.ThrottledError{RetryAfter: time.Minute}}, nil, 0},
		{"accepted", &gate{}, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, session.Options{Reauth: tc.reauth})
			ctx := context.Background()
			var mine session.Issued
			for i := range 3 {
				issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					mine = issued
				}
			}
			n, err := f.svc.SignOutOthers(ctx, principal(mine), session.Proof{Password: "pw"})
			var throttled *session.ThrottledError
			switch {
			case tc.name == "throttled":
				if !errors.As(err, &throttled) || throttled.RetryAfter != time.Minute {
					t.Fatalf("err = %v, want the ThrottledError", err)
				}
			case !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if n != tc.wantRevoked {
				t.Errorf("revoked %d, want %d", n, tc.wantRevoked)
			}
			list, err := f.svc.List(ctx, "acc-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3-tc.wantRevoked || f.deny.Denied(mine.Session.ID) {
				t.Errorf("%d sessions left (current denied: %v), want %d and the current one kept", len(list), f.deny.Denied(mine.Session.ID), 3-tc.wantRevoked)
			}
			if got := len(f.outbox.ofType(events.TypeSessionRevoked)); got != tc.wantRevoked {
				t.Errorf("%d session.revoked events, want %d", got, tc.wantRevoked)
			}
		})
	}
}

func TestRevokeAllReachesRecentlyEndedSessions(t *testing.T) {
	t.Parallel()
	// The idle TTL is shorter than the access token's: a session can end while its token still works.
	f := newFixture(t, session.Options{IdleTTL: 50 * time.Millisecond})
	ctx := context.Background()
	issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if list, _ := f.svc.List(ctx, "acc-1"); len(list) != 0 {
		t.Fatalf("the ended session is still listed")
	}
	n, err := f.svc.RevokeAll(ctx, "acc-1", "", "password_reset")
	if err != nil || n != 1 {
		t.Fatalf("RevokeAll = %d, %v; want the ended session revoked", n, err)
	}
	if !f.deny.Denied(issued.Session.ID) {
		t.Error("the ended session's tokens are not denied")
	}
	if n, err := f.svc.RevokeAll(ctx, "acc-1", "", "password_reset"); err != nil || n != 0 {
		t.Errorf("second RevokeAll = %d, %v; want 0 (idempotent)", n, err)
	}
}

func TestTouchIsThrottled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{TouchInterval: time.Hour})
	ctx := context.Background()
	issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	created := issued.Session.LastActiveAt.Truncate(time.Millisecond) // as stored
	// Newly created: lastActiveAt is fresh, so the first touch finds nothing stale to write.
	f.svc.Touch(ctx, principal(issued))
	got, err := f.store.Get(ctx, issued.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActiveAt.Equal(created) {
		t.Errorf("lastActiveAt moved from %s to %s within the touch interval", created, got.LastActiveAt)
	}

	g := newFixture(t, session.Options{TouchInterval: 10 * time.Millisecond})
	issued, err = g.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	g.svc.Touch(ctx, principal(issued))
	got, err = g.store.Get(ctx, issued.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActiveAt.After(issued.Session.LastActiveAt) {
		t.Errorf("lastActiveAt = %s, want it moved past %s", got.LastActiveAt, issued.Session.LastActiveAt)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshWindow: 5 * time.Minute})
	tests := []struct {
		name        string
		left        time.Duration
		wantRefresh bool
	}{
		{"fresh", 14 * time.Minute, false},
		{"close to expiry", 4 * time.Minute, true},
		{"expired", -time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := f.svc.Health(authn.Principal{ExpiresAt: time.Now().Add(tc.left)})
			if h.ShouldRefresh != tc.wantRefresh || h.ExpiresIn < 0 || h.ExpiresIn > tc.left+time.Second && tc.left > 0 {
				t.Errorf("Health = %+v, want ShouldRefresh %v", h, tc.wantRefresh)
			}
		})
	}
}
