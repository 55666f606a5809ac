// Package phone records a phone number that the owner set through a profile path (PATCH /api/v1/me or
// /api/v1/auth/me, served by the profile service, which hands the number over through identity's
// internal API). Identity is the system of record for phone numbers and their verification: such a
// number is stored unverified, and only the OTP flow (send-phone-verification, verify-phone) makes it
// verified.
package phone

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/e164"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Errors of SetUnverified.
var (
	// ErrInvalid: not an E.164 number.
	ErrInvalid = errors.New("invalid phone number")
	// ErrTaken: another account has the number verified.
	ErrTaken = errors.New("phone number in use")
	// ErrNotFound: no active account with that id.
	ErrNotFound = errors.New("account not found")
)

// Store is what recording a phone number needs of the accounts.
type Store interface {
	ByID(ctx context.Context, id string) (account.Account, error)
	// SetUnverifiedPhone sets the account's phone, unverified, unless it is already phone (see
	// store.Accounts.SetUnverifiedPhone); a clash with another account's number is a duplicate-key
	// error (mongox.IsDuplicateKey).
	SetUnverifiedPhone(ctx context.Context, id, phone string) (bool, error)
	// PhoneHolder returns the account that has phone and whether it verified it.
	PhoneHolder(ctx context.Context, phone string) (id string, verified bool, found bool, err error)
	// ReleaseUnverifiedPhone removes phone from the account while it is still unverified there.
	ReleaseUnverifiedPhone(ctx context.Context, id, phone string) (bool, error)
}

// Snapshots publishes account.updated after a change (auth.Service.PublishSnapshot).
type Snapshots interface {
	PublishSnapshot(ctx context.Context, accountID string) error
}

// Service records phone numbers.
type Service struct {
	store     Store
	snapshots Snapshots
}

// NewService returns a Service.
func NewService(store Store, snapshots Snapshots) *Service {
	return &Service{store: store, snapshots: snapshots}
}

// SetUnverified makes phone the account's phone number, unverified. The number the account already
// has (verified or not) is no change. A number another account merely claimed (never verified) is
// taken from it: an unproven claim must not let anyone block a number; one verified elsewhere is
// ErrTaken. It returns the account after the change, with the version of its account.updated.
func (s *Service) SetUnverified(ctx context.Context, accountID, phone string) (account.Account, error) {
	if !e164.Valid(phone) {
		return account.Account{}, ErrInvalid
	}
	a, err := s.store.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) || err == nil && !a.CanSignIn() {
		return account.Account{}, ErrNotFound
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("load account: %w", err)
	}
	if a.Phone == phone {
		return a, nil
	}
	_, err = s.store.SetUnverifiedPhone(ctx, accountID, phone)
	if mongox.IsDuplicateKey(err) {
		// Another account has the number: take it over unless that account verified it, then try
		// once more (a second clash means yet another account claimed it meanwhile).
		if err := s.releaseUnverified(ctx, phone); err != nil {
			return account.Account{}, err
		}
		_, err = s.store.SetUnverifiedPhone(ctx, accountID, phone)
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("set phone: %w", err)
	}
	// The change is stored with its snapshot marked pending: if queueing fails, the republisher does it.
	_ = s.snapshots.PublishSnapshot(ctx, accountID)
	a, err = s.store.ByID(ctx, accountID)
	if err != nil {
		return account.Account{}, fmt.Errorf("reload account: %w", err)
	}
	return a, nil
}

// releaseUnverified takes phone from the account that holds it unverified; ErrTaken when the holder
// verified it.
func (s *Service) releaseUnverified(ctx context.Context, phone string) error {
	holder, verified, found, err := s.store.PhoneHolder(ctx, phone)
	switch {
	case err != nil:
		return fmt.Errorf("find phone holder: %w", err)
	case !found:
		return nil // released meanwhile
	case verified:
		return ErrTaken
	}
	released, err := s.store.ReleaseUnverifiedPhone(ctx, holder, phone)
	if err != nil {
		return fmt.Errorf("release unverified phone: %w", err)
	}
	if released {
		_ = s.snapshots.PublishSnapshot(ctx, holder) // pending in the store; the republisher retries
	}
	return nil
}
