package profile_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

// The bug: account.created was applied without its verification flags, so a profile made from it
// said the e-mail was unverified until account.updated arrived. Now the event's snapshot is applied
// whole.
func TestApplyAccountCreatedAppliesTheWholeSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, time.Millisecond)
	ev := created("ev-1", "acc-1")
	ev.Account = &events.AccountSnapshot{Version: 1, Email: "jane@example.com", EmailVerified: true, Username: "jane", Status: events.AccountStatusActive}
	if err := svc.ApplyAccountCreated(ctx, ev); err != nil {
		t.Fatal(err)
	}
	p, err := svc.Get(ctx, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if !p.EmailVerified || p.AccountVersion != 1 || p.AccountStatus != events.AccountStatusActive || p.FirstName != "Jane" {
		t.Errorf("profile = %+v, want the verified email, version 1, ACTIVE and the names", p)
	}
	// A later account.updated still wins; an older snapshot in a redelivered created event does not undo it.
	if err := svc.ApplyAccountSnapshot(ctx, "acc-1", events.AccountSnapshot{Version: 2, Email: "jane@example.com", EmailVerified: true, Username: "jane2"}); err != nil {
		t.Fatal(err)
	}
	ev.EventID = "ev-1-redelivered"
	if err := svc.ApplyAccountCreated(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if p, _ := svc.Get(ctx, "acc-1"); p.Username != "jane2" || p.AccountVersion != 2 {
		t.Errorf("after an older created snapshot: username %q version %d, want jane2 at 2", p.Username, p.AccountVersion)
	}
}

type fakeAccounts struct {
	snap  events.AccountSnapshot
	err   error
	calls int
}

func (f *fakeAccounts) Snapshot(context.Context, string) (events.AccountSnapshot, error) {
	f.calls++
	return f.snap, f.err
}

// A missing projection is read from identity at once, not awaited and then made up empty.
func TestGetMissingProfileReadsIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.New(t)
	profiles := store.NewProfiles(env.Database("profile"))
	if err := profiles.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	accounts := &fakeAccounts{snap: events.AccountSnapshot{Version: 3, Email: "new@example.com", EmailVerified: true, Username: "newbie", Status: events.AccountStatusActive}}
	svc := profile.NewService(profiles, profile.Options{Wait: time.Minute, Accounts: accounts})
	start := time.Now()
	p, err := svc.Get(ctx, "acc-9")
	if err != nil {
		t.Fatal(err)
	}
	if !p.EmailVerified || p.Username != "newbie" || p.AccountVersion != 3 || time.Since(start) > 30*time.Second {
		t.Errorf("profile = %+v after %s, want identity's snapshot without the minute's wait", p, time.Since(start))
	}
	if _, err := svc.Get(ctx, "acc-9"); err != nil || accounts.calls != 1 {
		t.Errorf("second read: err %v, identity called %d times, want once (the projection exists now)", err, accounts.calls)
	}

	// Identity unreachable: the old behaviour, a short wait then an empty profile.
	down := profile.NewService(profiles, profile.Options{Wait: time.Millisecond, Accounts: &fakeAccounts{err: profile.ErrUnavailable}})
	if p, err := down.Get(ctx, "acc-10"); err != nil || p.AccountID != "acc-10" || errors.Is(err, profile.ErrUnavailable) {
		t.Errorf("identity down: %+v, %v; want an empty profile", p, err)
	}
}
