package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// SecurityInfo is an account's security overview, as its owner sees it.
type SecurityInfo struct {
	EmailVerified    bool
	PhoneVerified    bool
	TwoFactorEnabled bool
	// Locked is true while the account is deactivated or locked, or its sign-in is temporarily
	// locked after repeated failed passwords or codes.
	Locked bool
	// PasswordChangedAt is when the password was last set; zero when the account has none.
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	Roles             []string
	Strength          account.Strength
	// Factors are the second factors (TwoFactorEnabled is Factors.On()); RecoveryCodeLastUsedAt is
	// when a recovery code last signed in (zero: never, or not known).
	Factors                Factors
	RecoveryCodeLastUsedAt time.Time
}

// RecoveryCodesLow is the count of remaining recovery codes at and below which security-info warns.
const RecoveryCodesLow = 3

// RecoveryCodeUsage is what a RecoveryCodes implementation may also tell security-info.
type RecoveryCodeUsage interface {
	// LastUsed returns when a recovery code of the account was last redeemed (zero: never).
	LastUsed(ctx context.Context, accountID string) (time.Time, error)
}

// SecurityInfo returns the overview of the caller's account. Only the caller's own id is looked up,
// so the answer can never describe another account.
func (s *Service) SecurityInfo(ctx context.Context, accountID string) (SecurityInfo, error) {
	a, err := s.Accounts.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return SecurityInfo{}, ErrAccountGone
	}
	if err != nil {
		return SecurityInfo{}, fmt.Errorf("load account: %w", err)
	}
	facts := a.Facts()
	if facts.TrustedDevices, err = s.Devices.Count(ctx, a.ID); err != nil {
		return SecurityInfo{}, err
	}
	if facts.LinkedProviders, err = s.Providers.CountByAccount(ctx, a.ID); err != nil {
		return SecurityInfo{}, fmt.Errorf("count linked providers: %w", err)
	}
	factors, err := s.FactorsOf(ctx, a)
	if err != nil {
		return SecurityInfo{}, err
	}
	facts.TOTP, facts.Passkeys = factors.TOTP, factors.Passkeys
	var lastRecovery time.Time
	if u, ok := s.RecoveryCodes.(RecoveryCodeUsage); ok {
		if lastRecovery, err = u.LastUsed(ctx, a.ID); err != nil {
			return SecurityInfo{}, fmt.Errorf("recovery code last used: %w", err)
		}
	}
	locked := !a.CanSignIn()
	if !locked {
		if locked, err = s.Locked(ctx, a); err != nil {
			return SecurityInfo{}, err
		}
	}
	return SecurityInfo{
		EmailVerified: facts.EmailVerified, PhoneVerified: facts.PhoneVerified, TwoFactorEnabled: factors.On(),
		Factors: factors, RecoveryCodeLastUsedAt: lastRecovery,
		Locked: locked, PasswordChangedAt: facts.PasswordChangedAt, CreatedAt: a.CreatedAt, Roles: a.EffectiveRoles(),
		Strength: account.ScoreSecurity(facts, s.now().UTC()),
	}, nil
}
