// Package phone records a phone number that the owner set through a profile path (PATCH /api/v1/me or
// /api/v1/auth/me, served by the profile service, which hands the number over through identity's
// internal API). Identity is the system of record for phone numbers and their verification: such a
// number is stored as the account's pending phone, and only the OTP flow (send-phone-verification,
// verify-phone) makes it the account's (verified) phone. A stolen access token or API key can
// therefore never swap or un-verify the phone that receives the owner's codes.
package phone

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/e164"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Errors of SetPending.
var (
	// ErrInvalid: not an E.164 number.
	ErrInvalid = errors.New("invalid phone number")
	// ErrNotFound: no active account with that id.
	ErrNotFound = errors.New("account not found")
)

// Throttle scopes of phone changes through the profile paths.
const (
	ScopeSetAccount = "phone_set_account"
	ScopeSetIP      = "phone_set_ip"
)

// Store is what recording a phone number needs of the accounts.
type Store interface {
	ByID(ctx context.Context, id string) (account.Account, error)
	// SetPendingPhone records phone as the active account's pending phone, leaving the verified one
	// as it is (see store.Accounts.SetPendingPhone).
	SetPendingPhone(ctx context.Context, id, phone string) (bool, error)
	// ClearPendingPhone forgets the account's pending phone.
	ClearPendingPhone(ctx context.Context, id string) (bool, error)
}

// Snapshots publishes account.updated after a change (auth.Service.PublishSnapshot).
type Snapshots interface {
	PublishSnapshot(ctx context.Context, accountID string) error
}

// Limits bound phone changes per account and per client IP (a zero Limit is no limit).
type Limits struct {
	Limiter    *throttle.Limiter
	PerAccount throttle.Limit
	PerIP      throttle.Limit
}

// Service records phone numbers.
type Service struct {
	store     Store
	snapshots Snapshots
	limits    Limits
}

// NewService returns a Service.
func NewService(store Store, snapshots Snapshots) *Service {
	return &Service{store: store, snapshots: snapshots}
}

// WithLimits returns a copy of s that throttles phone changes with l.
func (s *Service) WithLimits(l Limits) *Service {
	c := *s
	c.limits = l
	return &c
}

// SetPending records phone as the account's pending phone number. It never replaces or un-verifies
// the account's verified phone: only answering the code sent to the new number (the OTP flow:
// send-phone-verification, verify-phone) makes it the account's phone. Setting the verified number
// again drops a pending one.
//
// The answer is the same whether or not another account has the number, verified or not: nothing is
// checked against other accounts here (a clash shows only to whoever answers the code). Calls are
// limited per account and per client IP (ip may be empty when the caller does not know it):
// *throttle.ExceededError then. It returns the account after the change, with the version of its
// account.updated.
func (s *Service) SetPending(ctx context.Context, accountID, phone, ip string) (account.Account, error) {
	if s.limits.Limiter != nil {
		if ip != "" {
			if err := s.limits.Limiter.Hit(ctx, ScopeSetIP, ip, s.limits.PerIP); err != nil {
				return account.Account{}, err
			}
		}
		if err := s.limits.Limiter.Hit(ctx, ScopeSetAccount, accountID, s.limits.PerAccount); err != nil {
			return account.Account{}, err
		}
	}
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
	var changed bool
	switch {
	case a.Phone == phone:
		// The account's own number again: nothing to verify, a pending other number is dropped.
		if a.PendingPhone == "" {
			return a, nil
		}
		changed, err = s.store.ClearPendingPhone(ctx, accountID)
	case a.PendingPhone == phone:
		return a, nil
	default:
		changed, err = s.store.SetPendingPhone(ctx, accountID, phone)
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("set pending phone: %w", err)
	}
	if changed {
		// The change is stored with its snapshot marked pending: if queueing fails, the republisher does it.
		_ = s.snapshots.PublishSnapshot(ctx, accountID)
	}
	a, err = s.store.ByID(ctx, accountID)
	if err != nil {
		return account.Account{}, fmt.Errorf("reload account: %w", err)
	}
	return a, nil
}
