package profile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newService(t *testing.T, wait time.Duration) (*profile.Service, *store.Profiles) {
	t.Helper()
	env := testenv.New(t)
	profiles := store.NewProfiles(env.Database("profile"))
	if err := profiles.EnsureIndexes(context.Background()); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return profile.NewService(profiles, profile.Options{Wait: wait}), profiles
}

func created(eventID, accountID string) profile.AccountCreated {
	return profile.AccountCreated{
		EventID: eventID, AccountID: accountID, OccurredAt: time.Now().UTC().Add(-time.Second),
		Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe",
	}
}

// edit changes a profile the way a user's PATCH will: a versioned update through the store.
func edit(t *testing.T, s *store.Profiles, accountID string, change func(*profile.Profile)) {
	t.Helper()
	p, err := s.Find(context.Background(), accountID)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	change(&p)
	if err := s.Update(context.Background(), p); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func TestApplyAccountCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, svc *profile.Service, s *store.Profiles)
		events   []profile.AccountCreated
		want     profile.Profile
		wantApps int // event ids recorded
	}{
		{
			name:     "new profile from the event",
			events:   []profile.AccountCreated{created("ev-1", "acc-1")},
			want:     profile.Profile{Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe"},
			wantApps: 1,
		},
		{
			name:     "duplicate event changes nothing",
			events:   []profile.AccountCreated{created("ev-1", "acc-1"), created("ev-1", "acc-1"), created("ev-1", "acc-1")},
			want:     profile.Profile{Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe"},
			wantApps: 1,
		},
		{
			name: "redelivery after a user edit does not clobber it",
			setup: func(t *testing.T, svc *profile.Service, s *store.Profiles) {
				if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
					t.Fatal(err)
				}
				edit(t, s, "acc-1", func(p *profile.Profile) { p.FirstName = "Janet"; p.DisplayName = "JD" })
			},
			events:   []profile.AccountCreated{created("ev-1", "acc-1")},
			want:     profile.Profile{Email: "jane@example.com", Username: "jane", FirstName: "Janet", LastName: "Doe", DisplayName: "JD"},
			wantApps: 1,
		},
		{
			name: "event after the profile was created from the token fills it in",
			setup: func(t *testing.T, svc *profile.Service, s *store.Profiles) {
				if _, err := s.Ensure(ctx, "acc-1", time.Now()); err != nil {
					t.Fatal(err)
				}
			},
			events:   []profile.AccountCreated{created("ev-1", "acc-1")},
			want:     profile.Profile{Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe"},
			wantApps: 1,
		},
		{
			name: "event after the user already edited names keeps the user's names",
			setup: func(t *testing.T, svc *profile.Service, s *store.Profiles) {
				if _, err := s.Ensure(ctx, "acc-1", time.Now()); err != nil {
					t.Fatal(err)
				}
				edit(t, s, "acc-1", func(p *profile.Profile) { p.FirstName = "Janet"; p.Locale = "en-GB" })
			},
			events:   []profile.AccountCreated{created("ev-1", "acc-1")},
			want:     profile.Profile{Email: "jane@example.com", Username: "jane", FirstName: "Janet", LastName: "Doe", Locale: "en-GB"},
			wantApps: 1,
		},
		{
			name: "a new event updates identity's facts",
			setup: func(t *testing.T, svc *profile.Service, s *store.Profiles) {
				if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
					t.Fatal(err)
				}
			},
			events: []profile.AccountCreated{func() profile.AccountCreated {
				ev := created("ev-2", "acc-1")
				ev.Email, ev.Username, ev.FirstName = "jane@new.example", "jane2", "Other"
				return ev
			}()},
			want:     profile.Profile{Email: "jane@new.example", Username: "jane2", FirstName: "Jane", LastName: "Doe"},
			wantApps: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, s := newService(t, time.Second)
			if tc.setup != nil {
				tc.setup(t, svc, s)
			}
			for _, ev := range tc.events {
				if err := svc.ApplyAccountCreated(ctx, ev); err != nil {
					t.Fatalf("ApplyAccountCreated(%s): %v", ev.EventID, err)
				}
			}
			got, err := s.Find(ctx, "acc-1")
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if got.Email != tc.want.Email || got.Username != tc.want.Username || got.FirstName != tc.want.FirstName ||
				got.LastName != tc.want.LastName || got.DisplayName != tc.want.DisplayName || got.Locale != tc.want.Locale {
				t.Errorf("profile = %+v\nwant       %+v", got, tc.want)
			}
			if len(got.AppliedEvents) != tc.wantApps {
				t.Errorf("applied events = %v, want %d", got.AppliedEvents, tc.wantApps)
			}
			if got.CreatedAt.IsZero() || got.UpdatedAt.Before(got.CreatedAt) {
				t.Errorf("created %s, updated %s", got.CreatedAt, got.UpdatedAt)
			}
		})
	}
}

func TestApplyAccountCreatedDuplicateLeavesProfileUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t, time.Second)
	if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Find(ctx, "acc-1")
	if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Find(ctx, "acc-1")
	if after.Version != before.Version || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("duplicate event wrote the profile: version %d → %d, updated %s → %s",
			before.Version, after.Version, before.UpdatedAt, after.UpdatedAt)
	}
}

func TestApplyAccountCreatedConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t, time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for range 8 {
		wg.Go(func() { errs <- svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")) })
	}
	wg.Go(func() {
		_, err := svc.Get(ctx, "acc-1")
		errs <- err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent apply: %v", err)
		}
	}
	got, err := s.Find(ctx, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AppliedEvents) != 1 || got.Email != "jane@example.com" || got.FirstName != "Jane" {
		t.Errorf("profile = %+v, want the event applied exactly once", got)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("existing profile", func(t *testing.T) {
		t.Parallel()
		svc, _ := newService(t, time.Second)
		if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := svc.Get(ctx, "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "jane@example.com" {
			t.Errorf("email = %q", got.Email)
		}
		if waited := time.Since(start); waited > 500*time.Millisecond {
			t.Errorf("Get of an existing profile took %s", waited)
		}
	})

	t.Run("waits for the event in flight", func(t *testing.T) {
		t.Parallel()
		svc, _ := newService(t, 3*time.Second)
		go func() {
			time.Sleep(300 * time.Millisecond)
			if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
				t.Error(err)
			}
		}()
		got, err := svc.Get(ctx, "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "jane@example.com" || got.FirstName != "Jane" {
			t.Errorf("profile = %+v, want the event's", got)
		}
	})

	t.Run("missing profile is created from the account id, then filled by the event", func(t *testing.T) {
		t.Parallel()
		svc, s := newService(t, 200*time.Millisecond)
		start := time.Now()
		got, err := svc.Get(ctx, "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 200*time.Millisecond {
			t.Errorf("Get gave up after %s, want it to wait 200ms", waited)
		}
		if got.AccountID != "acc-1" || got.Email != "" || got.CreatedAt.IsZero() {
			t.Errorf("profile = %+v, want id and timestamps only", got)
		}
		if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
			t.Fatal(err)
		}
		filled, err := s.Find(ctx, "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		if filled.Email != "jane@example.com" || filled.FirstName != "Jane" || filled.LastName != "Doe" {
			t.Errorf("after the event: %+v", filled)
		}
		if !filled.CreatedAt.Before(got.CreatedAt) {
			t.Errorf("createdAt %s, want the account's creation time from the event (before %s)", filled.CreatedAt, got.CreatedAt)
		}
	})

	t.Run("cancelled while waiting", func(t *testing.T) {
		t.Parallel()
		svc, _ := newService(t, 5*time.Second)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := svc.Get(cctx, "acc-1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's", err)
		}
	})
}
