package session_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchMongoURI) != "" {
		// Benchmarks against a server in another process (see bench_test.go): no embedded servers in
		// this one, so that its CPU time is the session code's alone.
		os.Exit(m.Run())
	}
	testenv.Main(m)
}

// recordingOutbox keeps the events the service records, in order.
type recordingOutbox struct {
	mu     sync.Mutex
	topics []string
	events []events.Envelope
}

func (o *recordingOutbox) Add(_ context.Context, topic string, ev events.Envelope) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.topics = append(o.topics, topic)
	o.events = append(o.events, ev)
	return nil
}

func (o *recordingOutbox) ofType(typ string) []events.Envelope {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.Envelope
	for i, ev := range o.events {
		if ev.Type == typ && o.topics[i] == events.TopicSessionEvents {
			out = append(out, ev)
		}
	}
	return out
}

type fixture struct {
	svc    *session.Service
	store  *store.Sessions
	outbox *recordingOutbox
	deny   *authn.DenyList
	ring   *token.Keyring
}

func newFixture(t *testing.T, opts session.Options) fixture {
	t.Helper()
	env := testenv.New(t)
	db := env.Database("session")
	sessions := store.NewSessions(db)
	if err := sessions.EnsureIndexes(context.Background()); err != nil {
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
	if opts.AccessTokenTTL == 0 {
		opts.AccessTokenTTL = 15 * time.Minute
	}
	if opts.IdleTTL == 0 {
		opts.IdleTTL = time.Hour
	}
	if opts.AbsoluteTTL == 0 {
		opts.AbsoluteTTL = 24 * time.Hour
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f := fixture{store: sessions, outbox: &recordingOutbox{}, deny: authn.NewDenyList(), ring: ring}
	issuer := token.NewIssuer(ring, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: opts.AccessTokenTTL})
	f.svc = session.NewService(sessions, issuer, f.outbox, f.deny, opts)
	return f
}

var device = session.Device{DeviceID: "dev-1", DeviceName: "Pixel", Platform: "android", IPAddress: "203.0.113.7", UserAgent: "app/1.0"}

func TestCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	if issued.AccessToken == "" || issued.RefreshToken == "" || issued.ExpiresIn != 900 {
		t.Errorf("issued = %+v, want tokens and expiresIn 900", issued)
	}
	got, err := f.store.Get(ctx, issued.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountID != "acc-1" || got.DeviceName != "Pixel" || got.IPAddress != "203.0.113.7" || !got.RevokedAt.IsZero() {
		t.Errorf("stored session = %+v", got)
	}
	if got.RefreshHash == "" || got.RefreshHash == issued.RefreshToken {
		t.Errorf("stored refresh hash = %q; want a hash, not the token", got.RefreshHash)
	}
	if d := got.ExpiresAt.Sub(got.CreatedAt); d != time.Hour {
		t.Errorf("expiresAt - createdAt = %s, want the idle TTL 1h", d)
	}
	if d := got.AbsoluteExpiresAt.Sub(got.CreatedAt); d != 24*time.Hour {
		t.Errorf("absoluteExpiresAt - createdAt = %s, want 24h", d)
	}
	created := f.outbox.ofType(events.TypeSessionCreated)
	if len(created) != 1 {
		t.Fatalf("%d session.created events, want 1", len(created))
	}
	var p events.SessionCreated
	if err := created[0].Decode(&p); err != nil {
		t.Fatal(err)
	}
	if created[0].AccountID != "acc-1" || p.SessionID != issued.Session.ID || p.DeviceID != "dev-1" {
		t.Errorf("session.created = %+v %+v", created[0], p)
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	tok := first.RefreshToken
	// More refreshes than the session remembers: the list of used hashes stays capped.
	for i := range 35 {
		next, err := f.svc.Refresh(ctx, tok, "198.51.100.1")
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if next.RefreshToken == tok || next.Session.ID != first.Session.ID {
			t.Fatalf("refresh %d: got token %q for session %q; want a new token for the same session", i, next.RefreshToken, next.Session.ID)
		}
		tok = next.RefreshToken
	}
	got, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.RotatedRefreshHashes); n != 32 {
		t.Errorf("session remembers %d used tokens, want 32", n)
	}
	if got.IPAddress != "198.51.100.1" {
		t.Errorf("ipAddress = %q, want the refresh's address", got.IPAddress)
	}
	if !got.LastActiveAt.After(got.CreatedAt) && !got.LastActiveAt.Equal(got.CreatedAt) {
		t.Errorf("lastActiveAt %s before createdAt %s", got.LastActiveAt, got.CreatedAt)
	}
}

func TestRefreshReuseRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("replayed token: err = %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := f.svc.Refresh(ctx, second.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("current token after reuse: err = %v, want ErrInvalidRefreshToken (session revoked)", err)
	}
	got, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt.IsZero() || got.RevokeReason != session.ReasonRefreshTokenReused {
		t.Errorf("session revokedAt=%s reason=%q, want revoked for %q", got.RevokedAt, got.RevokeReason, session.ReasonRefreshTokenReused)
	}
	if !f.deny.Denied(first.Session.ID) {
		t.Error("session not on the local deny-list")
	}
	revoked := f.outbox.ofType(events.TypeSessionRevoked)
	if len(revoked) != 1 {
		t.Fatalf("%d session.revoked events, want 1", len(revoked))
	}
	var p events.SessionRevoked
	if err := revoked[0].Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.SessionID != first.Session.ID || p.Reason != session.ReasonRefreshTokenReused {
		t.Errorf("session.revoked payload = %+v", p)
	}
	if d := time.Until(p.DenyUntil); d < 15*time.Minute || d > 16*time.Minute {
		t.Errorf("denyUntil in %s, want access-token TTL plus leeway", d)
	}
}

func TestRefreshConcurrentUseOfOneToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 6
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []session.Issued
		others  []error
	)
	for range racers {
		wg.Go(func() {
			issued, err := f.svc.Refresh(ctx, first.RefreshToken, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, issued)
			} else {
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	// At most one refresh may win; it may also lose to a racer that already revoked the session.
	if len(winners) > 1 {
		t.Fatalf("%d refreshes with one token succeeded, want at most 1", len(winners))
	}
	for _, err := range others {
		if !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Errorf("losing refresh: err = %v, want ErrInvalidRefreshToken", err)
		}
	}
	// The losers presented a spent token: reuse, so the session is over, and said so once.
	got, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt.IsZero() || got.RevokeReason != session.ReasonRefreshTokenReused {
		t.Errorf("after the race: revokedAt=%s reason=%q, want revoked for reuse", got.RevokedAt, got.RevokeReason)
	}
	for _, w := range winners {
		if _, err := f.svc.Refresh(ctx, w.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Errorf("winner's new token after the race: err = %v, want ErrInvalidRefreshToken", err)
		}
	}
	if n := len(f.outbox.ofType(events.TypeSessionRevoked)); n != 1 {
		t.Errorf("%d session.revoked events, want 1", n)
	}
}

func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    session.Options
		prepare func(t *testing.T, f fixture, issued session.Issued) string // returns the token to present
	}{
		{
			name: "revoked by logout",
			prepare: func(t *testing.T, f fixture, issued session.Issued) string {
				if err := f.svc.Logout(ctx, authn.Principal{AccountID: "acc-1", SessionID: issued.Session.ID}); err != nil {
					t.Fatal(err)
				}
				return issued.RefreshToken
			},
		},
		{
			name: "idle expiry",
			opts: session.Options{IdleTTL: time.Second},
			prepare: func(t *testing.T, f fixture, issued session.Issued) string {
				time.Sleep(1200 * time.Millisecond)
				return issued.RefreshToken
			},
		},
		{
			name: "absolute expiry despite refreshes",
			opts: session.Options{IdleTTL: time.Hour, AbsoluteTTL: 1500 * time.Millisecond},
			prepare: func(t *testing.T, f fixture, issued session.Issued) string {
				time.Sleep(500 * time.Millisecond)
				next, err := f.svc.Refresh(ctx, issued.RefreshToken, "")
				if err != nil {
					t.Fatalf("refresh within the absolute lifetime: %v", err)
				}
				if !next.Session.ExpiresAt.Equal(next.Session.AbsoluteExpiresAt) {
					t.Errorf("expiresAt %s, want capped at absoluteExpiresAt %s", next.Session.ExpiresAt, next.Session.AbsoluteExpiresAt)
				}
				time.Sleep(1200 * time.Millisecond)
				return next.RefreshToken
			},
		},
		{
			name: "right session, wrong secret",
			prepare: func(t *testing.T, f fixture, issued session.Issued) string {
				return issued.Session.ID + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			},
		},
		{
			name: "unknown session",
			prepare: func(t *testing.T, f fixture, issued session.Issued) string {
				return "0b6f1d7e-2f0a-4c53-9a51-3c1d3f0e8a11.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			},
		},
		{
			name:    "malformed",
			prepare: func(*testing.T, fixture, session.Issued) string { return "garbage" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.opts)
			issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
			if err != nil {
				t.Fatal(err)
			}
			presented := tc.prepare(t, f, issued)
			if _, err := f.svc.Refresh(ctx, presented, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
				t.Errorf("err = %v, want ErrInvalidRefreshToken", err)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Create(ctx, "acc-2", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}

	// Another account's principal naming this session changes nothing.
	if err := f.svc.Logout(ctx, authn.Principal{AccountID: "acc-2", SessionID: issued.Session.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.Get(ctx, issued.Session.ID); !got.RevokedAt.IsZero() {
		t.Fatal("acc-2 revoked acc-1's session")
	}

	p := authn.Principal{AccountID: "acc-1", SessionID: issued.Session.ID}
	for i := range 2 { // the second logout is a no-op
		if err := f.svc.Logout(ctx, p); err != nil {
			t.Fatalf("logout %d: %v", i, err)
		}
	}
	got, err := f.store.Get(ctx, issued.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt.IsZero() || got.RevokeReason != session.ReasonLogout {
		t.Errorf("revokedAt=%s reason=%q, want revoked by logout", got.RevokedAt, got.RevokeReason)
	}
	if !f.deny.Denied(issued.Session.ID) || f.deny.Denied(other.Session.ID) {
		t.Error("deny-list does not hold exactly the logged-out session")
	}
	if n := len(f.outbox.ofType(events.TypeSessionRevoked)); n != 1 {
		t.Errorf("%d session.revoked events, want 1", n)
	}
}

// TestLogoutRacingRefresh: however a logout and a refresh interleave, the session ends up revoked and
// a refresh token the refresh may have handed out is refused.
func TestLogoutRacingRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	for i := range 5 {
		issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			refreshed session.Issued
			refErr    error
			logoutErr error
		)
		wg.Go(func() { refreshed, refErr = f.svc.Refresh(ctx, issued.RefreshToken, "") })
		wg.Go(func() {
			logoutErr = f.svc.Logout(ctx, authn.Principal{AccountID: "acc-1", SessionID: issued.Session.ID})
		})
		wg.Wait()
		if logoutErr != nil {
			t.Fatalf("round %d: logout: %v", i, logoutErr)
		}
		got, err := f.store.Get(ctx, issued.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt.IsZero() {
			t.Errorf("round %d: session not revoked after logout", i)
		}
		if refErr == nil {
			if _, err := f.svc.Refresh(ctx, refreshed.RefreshToken, ""); !errors.Is(err, session.ErrInvalidRefreshToken) {
				t.Errorf("round %d: refresh token issued around the logout still works: %v", i, err)
			}
		}
	}
}
