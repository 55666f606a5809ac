// Package profile is how an account appears: names, display name, contact and regional preferences.
//
// A profile is a projection of identity's account.created event (email and username are identity's
// facts) plus what the user edits. The Service keeps both consistent without multi-document
// transactions: every change is one compare-and-swap on the profile document (its Version), and the
// ids of the events already applied travel in the same document, so a redelivered event changes
// nothing.
package profile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors the Service returns; the HTTP adapter maps them to statuses.
var (
	// ErrNotFound: no profile with that account id.
	ErrNotFound = errors.New("profile not found")
	// ErrConflict: the profile changed (or appeared) between read and write; the caller re-reads.
	ErrConflict = errors.New("profile changed concurrently")
	// ErrUnavailable: the profile store cannot be reached.
	ErrUnavailable = errors.New("profile store unavailable")
)

// maxAppliedEvents bounds the event ids kept in a profile. An account produces a handful of events in
// its life; the bound only keeps a pathological producer from growing the document without end.
const maxAppliedEvents = 100

// maxWriteAttempts bounds the read-modify-write rounds of one change that keeps meeting conflicts.
const maxWriteAttempts = 10

// Profile is one account's profile. Empty strings are unset values.
type Profile struct {
	AccountID   string
	Email       string
	Username    string
	FirstName   string
	LastName    string
	DisplayName string
	Phone       string
	Locale      string
	Timezone    string
	AvatarURL   string
	CreatedAt   time.Time
	UpdatedAt   time.Time

	// Version increases with every write; updates are conditional on it.
	Version int64
	// AppliedEvents are the ids of the events already projected into this profile, newest last.
	AppliedEvents []string
}

// AccountCreated are the facts identity publishes when a registration completes.
type AccountCreated struct {
	EventID    string
	AccountID  string
	OccurredAt time.Time
	Email      string
	Username   string
	FirstName  string
	LastName   string
}

// Store keeps profiles. Implementations make Insert and Update single-document atomic operations.
type Store interface {
	// Find returns the profile or ErrNotFound.
	Find(ctx context.Context, accountID string) (Profile, error)
	// Insert stores a new profile, or returns ErrConflict when one already exists.
	Insert(ctx context.Context, p Profile) error
	// Update replaces the profile whose version is p.Version with p at version p.Version+1, or returns
	// ErrConflict when the stored version differs.
	Update(ctx context.Context, p Profile) error
	// Ensure returns the profile, creating an empty one (id and timestamps only) when there is none.
	Ensure(ctx context.Context, accountID string, now time.Time) (Profile, error)
}

// Service reads and changes profiles.
type Service struct {
	store Store
	now   func() time.Time
	wait  time.Duration
	poll  time.Duration
}

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Wait is how long Get waits for a missing profile to appear before creating it (default 1.5s).
	Wait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewService returns a Service over store.
func NewService(store Store, o Options) *Service {
	if o.Wait <= 0 {
		o.Wait = 1500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	poll := o.Wait / 6
	if poll < 50*time.Millisecond {
		poll = 50 * time.Millisecond
	}
	return &Service{store: store, now: func() time.Time { return o.Now().UTC() }, wait: o.Wait, poll: poll}
}

// Get returns the account's profile. Right after registration the account.created event may still
// be on its way, and a valid token must never meet a 404: a missing profile is awaited for a short
// while, then created from the account id alone, and the event fills in the rest when it arrives.
func (s *Service) Get(ctx context.Context, accountID string) (Profile, error) {
	deadline := time.Now().Add(s.wait)
	for {
		p, err := s.store.Find(ctx, accountID)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Profile{}, err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		t := time.NewTimer(min(s.poll, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			return Profile{}, ctx.Err()
		case <-t.C:
		}
	}
	return s.store.Ensure(ctx, accountID, s.now())
}

// ApplyAccountCreated projects an account.created event into the profile. It is idempotent by event
// id. Email and username are identity's facts and always taken; names are taken only where the
// profile has none, so a user's own edit is never overwritten by a late or repeated event.
func (s *Service) ApplyAccountCreated(ctx context.Context, ev AccountCreated) error {
	for attempt := 1; ; attempt++ {
		p, err := s.store.Find(ctx, ev.AccountID)
		switch {
		case errors.Is(err, ErrNotFound):
			now := s.now()
			p = Profile{AccountID: ev.AccountID, CreatedAt: now, UpdatedAt: now}
			p.applyAccountCreated(ev, now)
			err = s.store.Insert(ctx, p)
		case err != nil:
			return err
		case slices.Contains(p.AppliedEvents, ev.EventID):
			return nil
		default:
			p.applyAccountCreated(ev, s.now())
			err = s.store.Update(ctx, p)
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
		// Someone else wrote the profile in between (GET /api/v1/me creating it, a duplicate of this
		// event, a user edit): read it again and re-apply on top of what is there now. Each conflict
		// means another writer made progress, so a handful of rounds is plenty; the bound only keeps
		// a pathological case from spinning (the consumer retries the event later).
		if attempt == maxWriteAttempts {
			return fmt.Errorf("apply event %s to profile %s: %w", ev.EventID, ev.AccountID, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (p *Profile) applyAccountCreated(ev AccountCreated, now time.Time) {
	p.Email = ev.Email
	p.Username = ev.Username
	if p.FirstName == "" {
		p.FirstName = ev.FirstName
	}
	if p.LastName == "" {
		p.LastName = ev.LastName
	}
	// A profile created from the token a moment before the event arrived dates from the account.
	if !ev.OccurredAt.IsZero() && ev.OccurredAt.Before(p.CreatedAt) {
		p.CreatedAt = ev.OccurredAt.UTC()
	}
	p.UpdatedAt = now
	p.AppliedEvents = append(p.AppliedEvents, ev.EventID)
	if n := len(p.AppliedEvents); n > maxAppliedEvents {
		p.AppliedEvents = p.AppliedEvents[n-maxAppliedEvents:]
	}
}
