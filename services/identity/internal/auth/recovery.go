package auth

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// RecoveryCodeSets generate recovery codes. The RecoveryCodes of Deps offers generation when it
// implements this interface too (package recovery does).
type RecoveryCodeSets interface {
	// Replace makes a fresh set the account's only valid one and returns its codes, formatted for
	// display; every code of the previous set stops working before it returns.
	Replace(ctx context.Context, accountID string, at time.Time) ([]string, error)
}

// RecoveryCodeSet is a freshly generated set of recovery codes, shown to the owner this once.
type RecoveryCodeSet struct {
	Codes       []string
	GeneratedAt time.Time
}

var (
	// ErrRecoveryCodesOff: this deployment does not offer recovery codes.
	ErrRecoveryCodesOff = errors.New("recovery codes are not offered")
	// ErrSecondFactorRequired: recovery codes stand in for a second factor, so an account gets them
	// only once it has one (codes by channel, an authenticator app or a passkey).
	ErrSecondFactorRequired = errors.New("a second factor is required")
)

// GenerateRecoveryCodes replaces the caller's recovery codes with a fresh set after checking the
// step-up (X-Reauth-Token) and that the account has a second factor, and alerts the owner. Errors:
// ErrRecoveryCodesOff, ErrSecondFactorRequired, ErrAccountGone, and the step-up errors of
// RequireFreshAuth.
func (s *Service) GenerateRecoveryCodes(ctx context.Context, c Caller) (RecoveryCodeSet, error) {
	sets, ok := s.RecoveryCodes.(RecoveryCodeSets)
	if !ok {
		return RecoveryCodeSet{}, ErrRecoveryCodesOff
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return RecoveryCodeSet{}, err
	}
	if err := s.requireFresh(ctx, a, c, StepUpProof{Token: c.StepUpToken}, false); err != nil {
		return RecoveryCodeSet{}, err
	}
	factors, err := s.FactorsOf(ctx, a)
	if err != nil {
		return RecoveryCodeSet{}, err
	}
	if !factors.On() {
		return RecoveryCodeSet{}, ErrSecondFactorRequired
	}
	at := s.now().UTC()
	codes, err := sets.Replace(ctx, a.ID, at)
	if err != nil {
		return RecoveryCodeSet{}, err
	}
	s.alertOrLog(ctx, a, events.AlertRecoveryCodesGenerated, map[string]string{
		"count": strconv.Itoa(len(codes)), "ipAddress": c.IP,
	})
	return RecoveryCodeSet{Codes: codes, GeneratedAt: at}, nil
}

// AlertRecoveryCodeUsed tells a's owner that a recovery code was just used (from cl) and how many
// are left; the notification urges a new set when few are. The sign-in flow calls it after a
// successful Redeem; a failure is logged, the sign-in goes on.
func (s *Service) AlertRecoveryCodeUsed(ctx context.Context, a account.Account, remaining int, cl Client) {
	details := map[string]string{"ipAddress": cl.IP, "userAgent": cl.UserAgent}
	if remaining >= 0 { // negative: not known
		details["remaining"] = strconv.Itoa(remaining)
		if remaining <= RecoveryCodesLow {
			details["low"] = "true"
		}
	}
	s.alertOrLog(ctx, a, events.AlertRecoveryCodeUsed, details)
}

// RecoveryCodeClearer forgets every recovery code of an account; package recovery implements it.
type RecoveryCodeClearer interface {
	Clear(ctx context.Context, accountID string) error
}

// FactorRemoved is called after a second factor of the account was removed (codes by channel turned
// off, the authenticator app or a passkey removed): once none is left, its recovery codes are
// forgotten, so that a factor added later does not bring back codes printed long ago. Best effort: a
// failure is logged (the codes are not offered without a factor anyway).
func (s *Service) FactorRemoved(ctx context.Context, accountID string) {
	clearer, ok := s.RecoveryCodes.(RecoveryCodeClearer)
	if !ok {
		return
	}
	a, err := s.Accounts.ByID(ctx, accountID)
	if err != nil {
		s.Logger.WarnContext(ctx, "load account after a factor was removed", "account_id", accountID, "err", err)
		return
	}
	factors, err := s.FactorsOf(ctx, a)
	if err == nil && !factors.On() {
		err = clearer.Clear(ctx, accountID)
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "forget recovery codes after the last factor went", "account_id", accountID, "err", err)
	}
}
