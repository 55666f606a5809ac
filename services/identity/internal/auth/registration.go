package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// StartRegistration sends a registration code to email, or — when the address already belongs to an
// account — a code-less notice to its owner. Both branches do the same work (one challenge write,
// one outbox write, the same throttling), so the caller cannot tell them apart. It returns how long
// the code is valid.
func (s *Service) StartRegistration(ctx context.Context, email string) (time.Duration, error) {
	email = account.NormalizeEmail(email)
	req := otp.Request{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: email}
	existing, err := s.Accounts.ByEmail(ctx, email)
	switch {
	case err == nil:
		req.Purpose, req.AccountID, req.Notice = events.PurposeRegistrationExisting, existing.ID, true
	case !errors.Is(err, account.ErrNotFound):
		return 0, fmt.Errorf("look up email: %w", err)
	}
	if _, err := s.Codes.Send(ctx, req); err != nil {
		return 0, err
	}
	return s.Codes.TTL(), nil
}

// Registration is a completed registration form.
type Registration struct {
	Email     string
	Code      string
	Password  string
	Username  string // optional
	FirstName string
	LastName  string
	Device    device.Info // DeviceID optional: when given, the device becomes trusted
	Client    Client
}

// CompleteRegistration checks the code, creates the account with a verified e-mail, trusts the
// device, queues account.created and starts a session.
//
// Input rules are checked before the code, so a typo in the password does not burn it. The code is
// checked before anything about other accounts is looked at: a wrong code answers ErrInvalidCode
// whatever the username, so this step cannot probe for taken usernames; a right code with a taken
// username answers ErrUsernameTaken and leaves the code live for a corrected form. An address
// registered meanwhile answers ErrInvalidCode, like a wrong code. Wrong codes count against the
// caller's IP (ScopeCodeVerifyIP): past the limit the step answers *throttle.ExceededError.
func (s *Service) CompleteRegistration(ctx context.Context, r Registration) (SignedIn, error) {
	email := account.NormalizeEmail(r.Email)
	username := account.NormalizeUsername(r.Username)
	if username != "" {
		if err := account.ValidateUsername(username); err != nil {
			return SignedIn{}, err
		}
	}
	if err := password.Check(r.Password, password.Owner{Username: username, Email: email}); err != nil {
		return SignedIn{}, err
	}
	// The password is hashed once the code matched and before it is spent: only a code holder costs an
	// argon2id hash, and a hash refused under load (password.BusyError, 503) leaves the code live.
	var hash string
	if err := s.checkRegistrationCode(ctx, r.Client.IP, email, r.Code, func() error {
		if err := s.registrable(ctx, email, username); err != nil {
			return err
		}
		// Only a code holder gets the breach API asked; a refusal leaves the code live.
		if err := s.checkBreached(ctx, r.Password); err != nil {
			return err
		}
		var err error
		hash, err = s.Hasher.Hash(r.Password)
		return err
	}); err != nil {
		return SignedIn{}, err
	}
	now := s.now().UTC()
	a := account.Account{
		ID: events.NewID(), Email: email, EmailVerified: true, Username: username,
		FirstName: r.FirstName, LastName: r.LastName, PasswordHash: hash, Status: account.StatusActive,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now, Roles: account.DefaultRoles(),
	}
	switch err := s.Accounts.Create(ctx, a); {
	case errors.Is(err, account.ErrEmailTaken):
		return SignedIn{}, ErrInvalidCode
	case errors.Is(err, account.ErrUsernameTaken):
		return SignedIn{}, ErrUsernameTaken
	case err != nil:
		return SignedIn{}, fmt.Errorf("create account: %w", err)
	}
	if err := s.publishCreated(ctx, a); err != nil {
		// The account exists and is marked pending; RepublishPending will queue the event.
		s.Logger.ErrorContext(ctx, "queue account.created failed; will retry", "account_id", a.ID, "err", err)
	}
	a.Version = 1 // as stored by Create
	if err := s.publishSnapshot(ctx, a); err != nil {
		s.Logger.WarnContext(ctx, "queue account.updated failed; will retry", "account_id", a.ID, "err", err)
	}
	if r.Device.DeviceID != "" {
		if err := s.trust(ctx, a.ID, r.Device); err != nil {
			return SignedIn{}, fmt.Errorf("trust registering device: %w", err)
		}
	}
	return s.startSession(ctx, a, r.Device, r.Client, device.MethodPassword, AMRPassword)
}

// createdEventNamespace derives the account.created event id from the account id, so that a
// republished event carries the same id and consumers drop the duplicate.
var createdEventNamespace = uuid.MustParse("6f1d2c1e-4b0a-4c39-9a57-2f3e8d1b7a10")

// CreatedEventID is the event id of an account's account.created event.
func CreatedEventID(accountID string) string {
	return uuid.NewSHA1(createdEventNamespace, []byte(events.TypeAccountCreated+":"+accountID)).String()
}

func (s *Service) publishCreated(ctx context.Context, a account.Account) error {
	snap := Snapshot(a)
	snap.Version = max(snap.Version, 1) // Create stores version 1; a republished account may be newer
	ev, err := events.New(events.TypeAccountCreated, a.ID, events.AccountCreated{
		Email: a.Email, EmailVerified: a.EmailVerified, Username: a.Username, FirstName: a.FirstName, LastName: a.LastName,
		Account: &snap,
	})
	if err != nil {
		return err
	}
	ev.EventID = CreatedEventID(a.ID)
	ev.OccurredAt = a.CreatedAt
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return fmt.Errorf("queue account.created: %w", err)
	}
	s.deliverNow(ctx, ev)
	return s.Accounts.MarkCreatedPublished(ctx, a.ID)
}

// RepublishPending queues the account.created events and account.updated snapshots that did not reach
// the outbox (MongoDB has no multi-document transactions: the account and the outbox entry are two
// writes). Run it periodically; grace leaves in-flight requests alone. It returns how many events it
// queued.
func (s *Service) RepublishPending(ctx context.Context, grace time.Duration) (int, error) {
	before := s.now().UTC().Add(-grace)
	pending, err := s.Accounts.CreatedUnpublished(ctx, before, 100)
	if err != nil {
		return 0, fmt.Errorf("list unpublished accounts: %w", err)
	}
	n := 0
	for _, a := range pending {
		if err := s.publishCreated(ctx, a); err != nil {
			return n, err
		}
		n++
	}
	changed, err := s.Accounts.SnapshotUnpublished(ctx, before, 100)
	if err != nil {
		return n, fmt.Errorf("list unpublished snapshots: %w", err)
	}
	for _, a := range changed {
		if err := s.publishSnapshot(ctx, a); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// revocationGrace leaves a revocation to the request that ordered it for this long.
const revocationGrace = 10 * time.Second

// RunRepublisher calls RepublishPending and RetryRevocations every interval until ctx is done.
func (s *Service) RunRepublisher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.RepublishPending(ctx, interval); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "republish account.created", "err", err)
		} else if n > 0 {
			s.Logger.InfoContext(ctx, "republished account.created events", "count", n)
		}
		if n, err := s.RetryRevocations(ctx, revocationGrace); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "retry session revocations", "err", err)
		} else if n > 0 {
			s.Logger.InfoContext(ctx, "completed deferred session revocations", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
