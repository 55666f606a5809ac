// Package profile is how an account appears: names, display name, bio, location, avatar, regional
// preferences, the AudioPod-style account settings (user type, audio usage, referral source) and
// onboarding.
//
// A profile holds two kinds of facts. The profile's own (everything the user edits through
// /api/v1/me and /api/v1/auth/me) have their system of record here and are published as
// profile.updated (events.ProfileSnapshot) for identity's username search and lookup. Identity's facts
// (e-mail, phone and their verification, username, status) are a projection of account.created and
// account.updated (events.AccountSnapshot, highest version wins); a phone number set through a profile
// path is handed to identity (Phones), which records it unverified, and comes back as such a snapshot.
//
// The Service keeps everything consistent without multi-document transactions: every change is one
// compare-and-swap on the profile document (its Version); the ids of the account.created events
// already applied travel in the same document, so a redelivered event changes nothing; and a change
// that must be published marks the document SnapshotPending in the same write, so a crash between the
// write and the outbox leaves the republisher something to find.
package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Errors the Service returns; the HTTP adapter maps them to statuses.
var (
	// ErrNotFound: no profile with that account id.
	ErrNotFound = errors.New("profile not found")
	// ErrConflict: the profile changed (or appeared) between read and write; the caller re-reads.
	ErrConflict = errors.New("profile changed concurrently")
	// ErrUnavailable: the profile store (or identity, for a phone change) cannot be reached.
	ErrUnavailable = errors.New("profile store unavailable")
	// ErrPhoneTaken: another account holds the phone number, verified.
	ErrPhoneTaken = errors.New("phone number in use by another account")
)

// maxAppliedEvents bounds the event ids kept in a profile. An account produces a handful of events in
// its life; the bound only keeps a pathological producer from growing the document without end.
const maxAppliedEvents = 100

// maxWriteAttempts bounds the read-modify-write rounds of one change that keeps meeting conflicts.
const maxWriteAttempts = 10

// Profile is one account's profile. Empty strings are unset values.
type Profile struct {
	AccountID string

	// Identity's facts, projected from account.created and account.updated.
	Email          string
	EmailVerified  bool
	Phone          string // E.164
	PhoneVerified  bool
	PendingPhone   string // E.164, set through a profile path and not verified yet
	Username       string
	AccountStatus  string // events.AccountStatus*; empty until the first account.updated
	AccountVersion int64  // version of the last AccountSnapshot applied (0: none yet)

	// The profile's own facts.
	FirstName      string
	LastName       string
	DisplayName    string
	Bio            string
	Location       string
	AvatarURL      string
	Locale         string // BCP 47
	Timezone       string // IANA
	UserType       string // UserType*
	AudioUsage     string // AudioUsage*
	ReferralSource string
	CountryCode    string // calling code the user gave with a phone number, e.g. "+254"

	CreatedAt time.Time
	UpdatedAt time.Time

	// Version increases with every write; updates are conditional on it. It is also the Version of
	// the profile.updated snapshot, so snapshots are strictly increasing per account.
	Version int64
	// AppliedEvents are the ids of the account.created events already projected, newest last.
	AppliedEvents []string
	// SnapshotPending says that the profile.updated snapshot of Version is not in the outbox yet.
	SnapshotPending bool
}

// User types and audio usages, exactly as the AudioPod document spells them.
var (
	UserTypes   = []string{"individual", "company"}
	AudioUsages = []string{"personal", "creator", "business", "voice_actor", "education", "engineer", "marketer", "other"}
)

// PrimaryComplete reports whether the primary onboarding is done: the account has a username
// (identity's) and the profile a first name (the same rule as identity's account.PrimaryComplete).
func (p Profile) PrimaryComplete() bool { return p.Username != "" && p.FirstName != "" }

// FullName is first and last name joined, as the AudioPod paths show it.
func (p Profile) FullName() string { return strings.TrimSpace(p.FirstName + " " + p.LastName) }

// Active reports whether the account may be used (true until identity says otherwise).
func (p Profile) Active() bool {
	// Empty until the first account.updated: a new account is active. Any other status (deactivated,
	// locked, or one added later) is not.
	return p.AccountStatus == events.AccountStatusActive || p.AccountStatus == ""
}

// shown is the published part of a profile, without version and time: two profiles with equal shown
// values need no new profile.updated.
func (p Profile) shown() events.ProfileSnapshot {
	return events.ProfileSnapshot{
		FirstName: p.FirstName, LastName: p.LastName, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL,
		Locale: p.Locale, OnboardingComplete: p.FirstName != "",
	}
}

// Snapshot is the profile.updated payload of p. OnboardingComplete is the profile's half of primary
// onboarding (a first name); identity adds its own half (a username).
func (p Profile) Snapshot() events.ProfileSnapshot {
	s := p.shown()
	s.Version, s.UpdatedAt = p.Version, p.UpdatedAt.UTC()
	return s
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
	// Account is the whole account snapshot at creation, when the event carries it (events queued
	// before it existed do not): applied like an account.updated of its version.
	Account *events.AccountSnapshot
}

// Store keeps profiles. Implementations make Insert and Update single-document atomic operations.
type Store interface {
	// Find returns the profile or ErrNotFound.
	Find(ctx context.Context, accountID string) (Profile, error)
	// Insert stores a new profile at version 1, or returns ErrConflict when one already exists.
	Insert(ctx context.Context, p Profile) error
	// Update replaces the profile whose version is p.Version with p at version p.Version+1, or returns
	// ErrConflict when the stored version differs.
	Update(ctx context.Context, p Profile) error
	// Ensure returns the profile, creating an empty one (id and timestamps only) when there is none.
	Ensure(ctx context.Context, accountID string, now time.Time) (Profile, error)
	// MarkSnapshotPublished clears SnapshotPending while the profile is still at version.
	MarkSnapshotPublished(ctx context.Context, accountID string, version int64) error
	// SnapshotUnpublished lists up to limit profiles changed before the given time whose snapshot is
	// still pending.
	SnapshotUnpublished(ctx context.Context, before time.Time, limit int) ([]Profile, error)
}

// Outbox takes events to publish (kafkax.Outbox).
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Phones hands a phone number to identity, the system of record for phone numbers and their
// verification. SetPhone records phone (E.164) as the account's pending phone — a verified phone
// stays until the new number's code is answered — and returns the account's snapshot after the
// change; clientIP is the caller's address, for identity's per-IP limit. Errors:
// *PhoneChangesThrottledError, ErrNotFound (no such account), ErrUnavailable.
type Phones interface {
	SetPhone(ctx context.Context, accountID, phone, clientIP string) (events.AccountSnapshot, error)
}

// PhoneChangesThrottledError: identity refused a phone change because the account or the caller's
// address changed phones too often; retry after RetryAfter.
type PhoneChangesThrottledError struct{ RetryAfter time.Duration }

func (e *PhoneChangesThrottledError) Error() string {
	return fmt.Sprintf("too many phone number changes; retry after %s", e.RetryAfter)
}

// Accounts reads identity's current account snapshot (its internal API): the projection's source
// of truth when the projection is missing. Errors: ErrNotFound, ErrUnavailable.
type Accounts interface {
	Snapshot(ctx context.Context, accountID string) (events.AccountSnapshot, error)
}

// Service reads and changes profiles.
type Service struct {
	store    Store
	outbox   Outbox
	phones   Phones
	accounts Accounts
	log      *slog.Logger
	now      func() time.Time
	wait     time.Duration
	poll     time.Duration
}

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Wait is how long Get waits for a missing profile to appear before creating it (default 1.5s).
	Wait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Outbox receives profile.updated events; nil leaves snapshots pending (tests of other parts).
	Outbox Outbox
	// Phones is identity's phone API; nil answers ErrUnavailable to phone changes.
	Phones Phones
	// Accounts is identity's snapshot API, read when a profile is missing; nil waits for the event.
	Accounts Accounts
	// Logger receives warnings about events that will be retried; nil discards them.
	Logger *slog.Logger
}

// NewService returns a Service over store.
func NewService(store Store, o Options) *Service {
	if o.Wait <= 0 {
		o.Wait = 1500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	poll := o.Wait / 6
	if poll < 50*time.Millisecond {
		poll = 50 * time.Millisecond
	}
	return &Service{
		store: store, outbox: o.Outbox, phones: o.Phones, accounts: o.Accounts, log: o.Logger,
		now: func() time.Time { return o.Now().UTC() }, wait: o.Wait, poll: poll,
	}
}

// Get returns the account's profile. Identity delivers its account events before it answers a
// change, so the projection is normally current; when the profile is missing all the same (that
// delivery failed and Kafka has not caught up), identity's current snapshot is read and projected,
// so the caller never sees identity's facts older than its own registration. Only when identity
// cannot answer either is a missing profile awaited for a short while, then created from the account
// id alone, and the events fill in the rest when they arrive — a valid token never meets a 404.
func (s *Service) Get(ctx context.Context, accountID string) (Profile, error) {
	p, err := s.store.Find(ctx, accountID)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return p, err
	}
	if s.accounts != nil {
		snap, serr := s.accounts.Snapshot(ctx, accountID)
		if serr == nil {
			return s.modify(ctx, accountID, func(p *Profile) bool { return p.applyAccount(snap) || p.Version == 0 })
		}
		s.log.WarnContext(ctx, "read account snapshot for a missing profile; waiting for the event", "account_id", accountID, "err", serr)
	}
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

// modify runs one read-modify-write of a profile, creating it when missing, until the
// compare-and-swap holds. apply changes the profile and reports whether there is anything to write.
// A change of a published field marks the snapshot pending in the same write and queues it.
func (s *Service) modify(ctx context.Context, accountID string, apply func(p *Profile) bool) (Profile, error) {
	for attempt := 1; ; attempt++ {
		p, err := s.store.Find(ctx, accountID)
		exists := err == nil
		switch {
		case errors.Is(err, ErrNotFound):
			now := s.now()
			p = Profile{AccountID: accountID, CreatedAt: now, UpdatedAt: now}
		case err != nil:
			return Profile{}, err
		}
		before := p.shown()
		if !exists {
			before = events.ProfileSnapshot{}
		}
		if !apply(&p) {
			return p, nil
		}
		p.UpdatedAt = s.now()
		if p.shown() != before {
			p.SnapshotPending = true
		}
		if exists {
			err = s.store.Update(ctx, p)
			p.Version++
		} else {
			err = s.store.Insert(ctx, p)
			p.Version = 1
		}
		if err == nil {
			if p.SnapshotPending {
				s.publishOrLog(ctx, p)
			}
			return p, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Profile{}, err
		}
		// Someone else wrote the profile in between (GET /api/v1/me creating it, a duplicate event,
		// another edit): read it again and re-apply on top of what is there now. Each conflict means
		// another writer made progress; the bound only keeps a pathological case from spinning.
		if attempt == maxWriteAttempts {
			return Profile{}, fmt.Errorf("write profile %s: %w", accountID, err)
		}
		if err := ctx.Err(); err != nil {
			return Profile{}, err
		}
	}
}

// ApplyAccountCreated projects an account.created event into the profile. It is idempotent by event
// id. Email and username are identity's facts and taken unless an account.updated snapshot (which is
// newer) was applied already; names are taken only where the profile has none, so a user's own edit
// is never overwritten by a late or repeated event.
func (s *Service) ApplyAccountCreated(ctx context.Context, ev AccountCreated) error {
	_, err := s.modify(ctx, ev.AccountID, func(p *Profile) bool {
		if slices.Contains(p.AppliedEvents, ev.EventID) {
			return false
		}
		if p.AccountVersion == 0 {
			p.Email, p.Username = ev.Email, ev.Username
		}
		if ev.Account != nil {
			p.applyAccount(*ev.Account) // verification flags and status too; an older version changes nothing
		}
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
		p.AppliedEvents = append(p.AppliedEvents, ev.EventID)
		if n := len(p.AppliedEvents); n > maxAppliedEvents {
			p.AppliedEvents = p.AppliedEvents[n-maxAppliedEvents:]
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("apply account.created %s: %w", ev.EventID, err)
	}
	return nil
}

// ApplyAccountSnapshot projects an account.updated snapshot: identity's facts are replaced when the
// snapshot is newer than the one applied, and anything older or repeated changes nothing.
func (s *Service) ApplyAccountSnapshot(ctx context.Context, accountID string, snap events.AccountSnapshot) error {
	_, err := s.modify(ctx, accountID, func(p *Profile) bool { return p.applyAccount(snap) })
	if err != nil {
		return fmt.Errorf("apply account.updated v%d of %s: %w", snap.Version, accountID, err)
	}
	return nil
}

func (p *Profile) applyAccount(snap events.AccountSnapshot) bool {
	if snap.Version <= p.AccountVersion {
		return false
	}
	p.AccountVersion = snap.Version
	p.Email, p.EmailVerified = snap.Email, snap.EmailVerified
	p.Phone, p.PhoneVerified = snap.PhoneNumber, snap.PhoneVerified
	p.PendingPhone = snap.PendingPhoneNumber
	p.Username, p.AccountStatus = snap.Username, snap.Status
	return true
}

// Changes is an edit of a profile. Nil fields stay as they are; an empty string clears the field.
// Values arrive validated and normalized (see the Valid*/Normalize* helpers).
type Changes struct {
	FirstName, LastName, DisplayName *string
	// FullName sets first and last name at once: the first word, and the rest.
	FullName                                   *string
	Bio, Location, AvatarURL, Locale, Timezone *string
	UserType, AudioUsage, ReferralSource       *string
	// Phone is an E.164 number for identity; CountryCode the calling code it was given with.
	Phone, CountryCode *string
	// ClientIP is the caller's address, which identity limits phone changes by (not a change).
	ClientIP string
}

// Update applies an edit. A new phone number goes to identity first, which records it as the
// account's pending phone: a verified phone stays the account's phone (and phone_verified true) until
// the new number is verified by OTP; without one, the pending number shows, unverified. The profile
// then shows identity's answer.
func (s *Service) Update(ctx context.Context, accountID string, ch Changes) (Profile, error) {
	var snap *events.AccountSnapshot
	if ch.Phone != nil {
		current, err := s.Get(ctx, accountID)
		if err != nil {
			return Profile{}, err
		}
		if *ch.Phone != current.Phone && *ch.Phone != current.PendingPhone {
			if s.phones == nil {
				return Profile{}, fmt.Errorf("set phone: no phone API configured: %w", ErrUnavailable)
			}
			got, err := s.phones.SetPhone(ctx, accountID, *ch.Phone, ch.ClientIP)
			if err != nil {
				return Profile{}, fmt.Errorf("set phone of %s: %w", accountID, err)
			}
			snap = &got
		}
	}
	return s.modify(ctx, accountID, func(p *Profile) bool {
		if snap != nil {
			p.applyAccount(*snap)
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		if ch.FullName != nil {
			first, last, _ := strings.Cut(strings.Join(strings.Fields(*ch.FullName), " "), " ")
			p.FirstName, p.LastName = first, last
		}
		set(&p.FirstName, ch.FirstName)
		set(&p.LastName, ch.LastName)
		set(&p.DisplayName, ch.DisplayName)
		set(&p.Bio, ch.Bio)
		set(&p.Location, ch.Location)
		set(&p.AvatarURL, ch.AvatarURL)
		set(&p.Locale, ch.Locale)
		set(&p.Timezone, ch.Timezone)
		set(&p.UserType, ch.UserType)
		set(&p.AudioUsage, ch.AudioUsage)
		set(&p.ReferralSource, ch.ReferralSource)
		set(&p.CountryCode, ch.CountryCode)
		return true
	})
}

// snapshotEventNamespace derives a profile.updated event id from the account id and version, so a
// snapshot queued twice (by the request and by the republisher) carries one id.
var snapshotEventNamespace = uuid.MustParse("8c0f3a5e-1d2b-4e7a-9f61-3b5d0c7e2a91")

// SnapshotEventID is the event id of the profile.updated event of a profile at a version.
func SnapshotEventID(accountID string, version int64) string {
	return uuid.NewSHA1(snapshotEventNamespace, []byte(accountID+":"+strconv.FormatInt(version, 10))).String()
}

func (s *Service) publish(ctx context.Context, p Profile) error {
	if s.outbox == nil {
		return errors.New("no outbox configured")
	}
	ev, err := events.New(events.TypeProfileUpdated, p.AccountID, p.Snapshot())
	if err != nil {
		return err
	}
	ev.EventID = SnapshotEventID(p.AccountID, p.Version)
	ev.OccurredAt = p.UpdatedAt.UTC()
	if err := s.outbox.Add(ctx, events.TopicProfileEvents, ev); err != nil {
		return fmt.Errorf("queue profile.updated: %w", err)
	}
	return s.store.MarkSnapshotPublished(ctx, p.AccountID, p.Version)
}

// publishOrLog is publish for request paths: the change is stored and marked pending, so a failure
// only delays the event until the republisher runs.
func (s *Service) publishOrLog(ctx context.Context, p Profile) {
	if err := s.publish(ctx, p); err != nil {
		s.log.WarnContext(ctx, "queue profile.updated failed; the republisher will retry", "account_id", p.AccountID, "err", err)
	}
}

// RepublishPending queues the profile.updated snapshots that did not reach the outbox (the profile
// and the outbox entry are two writes). grace leaves in-flight requests alone. It returns how many it
// queued.
func (s *Service) RepublishPending(ctx context.Context, grace time.Duration) (int, error) {
	pending, err := s.store.SnapshotUnpublished(ctx, s.now().Add(-grace), 100)
	if err != nil {
		return 0, fmt.Errorf("list unpublished profiles: %w", err)
	}
	for i, p := range pending {
		if err := s.publish(ctx, p); err != nil {
			return i, err
		}
	}
	return len(pending), nil
}

// RunRepublisher calls RepublishPending every interval until ctx is done.
func (s *Service) RunRepublisher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.RepublishPending(ctx, interval); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "republish profile.updated", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "republished profile.updated events", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
