package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// Caller is the signed-in owner making a request: the account and session of the access token, and
// the client's IP (for throttling and alerts).
type Caller struct {
	AccountID string
	SessionID string
	IP        string
	// StepUpToken is the request's step-up token (X-Reauth-Token), if any: see RequireFreshAuth.
	StepUpToken string
}

// PasswordChange changes the password of the caller's account after re-authentication.
type PasswordChange struct {
	Caller Caller
	Proof  Proof
	New    string
	// RevokeOthers ends every other session of the account (the caller's own survives).
	RevokeOthers bool
	// RevokeAPIKeys ends every API key of the account.
	RevokeAPIKeys bool
}

// ChangePassword re-authenticates the caller with the current password or a re-authentication code
// and stores the new password. It reports whether the account had a password before (false: the
// owner of a passwordless account set one with a code). The policy is checked first, so a typo does
// not spend a code.
func (s *Service) ChangePassword(ctx context.Context, in PasswordChange) (hadPassword bool, err error) {
	a, err := s.activeAccount(ctx, in.Caller.AccountID)
	if err != nil {
		return false, err
	}
	if err := s.checkNewPassword(ctx, in.New, owner(a)); err != nil {
		return false, err
	}
	if in.Proof.Password != "" && in.Proof.Password == in.New {
		return false, ErrSamePassword
	}
	if err := s.reauthenticate(ctx, a, in.Proof, in.Caller.IP); err != nil {
		return false, err
	}
	method := "password"
	if in.Proof.Password == "" {
		method = "otp"
	}
	return a.HasPassword(), s.storePassword(ctx, a, in.New, in.Caller, in.RevokeOthers, in.RevokeAPIKeys, events.AlertPasswordChanged, method)
}

// CodePasswordChange is the second step of a password change by code (the account API's
// change-with-otp): the temp token and code from SendPasswordChangeCode.
type CodePasswordChange struct {
	Caller       Caller
	Token        string
	Code         string
	New          string
	RevokeOthers bool
	// RevokeAPIKeys ends every API key of the account.
	RevokeAPIKeys bool
}

// SendPasswordChangeCode sends a password-change code to the caller's verified destination for
// channel and returns the temp token bound to it.
func (s *Service) SendPasswordChangeCode(ctx context.Context, c Caller, channel string) (CodeSent, error) {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return CodeSent{}, err
	}
	return s.sendAccountCode(ctx, a, events.PurposePasswordChange, channel, PasswordChangeTokenPrefix, c.IP)
}

// ChangePasswordWithCode checks the temp token and code (bound to the caller's account) and stores
// the new password. Every code failure is ErrInvalidCode.
func (s *Service) ChangePasswordWithCode(ctx context.Context, in CodePasswordChange) (hadPassword bool, err error) {
	a, err := s.activeAccount(ctx, in.Caller.AccountID)
	if err != nil {
		return false, err
	}
	if err := s.checkNewPassword(ctx, in.New, owner(a)); err != nil {
		return false, err
	}
	err = s.verifyAccountCode(ctx, a, in.Caller.IP, func() error {
		c, err := s.Codes.VerifyTokenAnyDevice(ctx, events.PurposePasswordChange, in.Token, in.Code)
		if err != nil {
			return err
		}
		if c.AccountID != a.ID { // another account's token: never usable here
			return ErrInvalidCode
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return a.HasPassword(), s.storePassword(ctx, a, in.New, in.Caller, in.RevokeOthers, in.RevokeAPIKeys, events.AlertPasswordChanged, "otp")
}

// CanSetPassword reports whether the caller's account may set a first password, and its primary
// sign-in provider (EMAIL, PHONE, or a linked provider's name).
func (s *Service) CanSetPassword(ctx context.Context, accountID string) (can bool, provider string, err error) {
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return false, "", err
	}
	return !a.HasPassword(), primaryProvider(a), nil
}

// primaryProvider names how the account signs in first of all. Accounts created by a provider
// sign-in are another part of the service; until then every account is EMAIL or PHONE.
func primaryProvider(a account.Account) string {
	if a.Email == "" && a.Phone != "" {
		return "PHONE"
	}
	return "EMAIL"
}

// SetPassword gives a passwordless account its first password (the caller is signed in, which is
// the proof the account API asks for). ErrPasswordAlreadySet when it has one.
func (s *Service) SetPassword(ctx context.Context, c Caller, plain string) error {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	if a.HasPassword() {
		return ErrPasswordAlreadySet
	}
	if err := s.checkNewPassword(ctx, plain, owner(a)); err != nil {
		return err
	}
	err = s.storePassword(ctx, a, plain, c, false, false, events.AlertPasswordChanged, "set")
	if errors.Is(err, ErrWrongPassword) { // set concurrently
		return ErrPasswordAlreadySet
	}
	return err
}

// storePassword hashes and stores plain for a, conditional on a's current hash, with the ordered
// revocation in the same write; then ends the sessions (revokeOthers) and API keys (revokeKeys) and
// alerts the owner.
func (s *Service) storePassword(ctx context.Context, a account.Account, plain string, c Caller, revokeOthers, revokeKeys bool, alert, method string) error {
	hash, err := s.Hasher.Hash(plain)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	var revoke *account.Revocation
	if revokeOthers || revokeKeys {
		reason := account.ReasonPasswordChanged
		if alert == events.AlertPasswordReset {
			reason = account.ReasonPasswordReset
		}
		revoke = s.revocation(c.SessionID, reason)
		revoke.APIKeys, revoke.SessionsKept = revokeKeys, !revokeOthers
	}
	ok, err := s.Accounts.ChangePassword(ctx, a.ID, a.PasswordHash, hash, now, revoke)
	if err != nil {
		return fmt.Errorf("store password: %w", err)
	}
	if !ok { // changed (or deactivated) concurrently: the proof was for a password that is gone
		return ErrWrongPassword
	}
	s.revokeOrLog(ctx, a.ID, revoke)
	s.alertOrLog(ctx, a, alert, map[string]string{"method": method, "ipAddress": c.IP})
	return nil
}

func owner(a account.Account) password.Owner {
	return password.Owner{Username: a.Username, Email: a.Email, SecondFactor: a.TwoFactorEnabled}
}

// TwoFactorChange turns 2FA on or off after re-authentication.
type TwoFactorChange struct {
	Caller       Caller
	Enable       bool
	Proof        Proof
	RevokeOthers bool
}

// SetTwoFactor switches 2FA. Enabling needs a verified e-mail or phone (the codes go there).
// Errors: ErrTwoFactorEnabled / ErrTwoFactorDisabled when already in the asked state,
// ErrTwoFactorNeedsChannel, and the re-authentication errors.
func (s *Service) SetTwoFactor(ctx context.Context, in TwoFactorChange) error {
	a, err := s.activeAccount(ctx, in.Caller.AccountID)
	if err != nil {
		return err
	}
	// The state is checked first: a request that cannot succeed spends no password guess or code.
	switch {
	case in.Enable && a.TwoFactorEnabled:
		return ErrTwoFactorEnabled
	case !in.Enable && !a.TwoFactorEnabled:
		return ErrTwoFactorDisabled
	case in.Enable && !a.HasVerifiedChannel():
		return ErrTwoFactorNeedsChannel
	}
	// Step-up: the body's password or code, or a step-up token; turning 2FA off needs a code.
	if err := s.requireFresh(ctx, a, in.Caller, StepUpProof{Token: in.Caller.StepUpToken, Proof: in.Proof}, !in.Enable); err != nil {
		return err
	}
	var revoke *account.Revocation
	if in.RevokeOthers {
		revoke = s.revocation(in.Caller.SessionID, account.ReasonTwoFactorChanged)
	}
	ok, err := s.Accounts.SetTwoFactor(ctx, a.ID, in.Enable, revoke)
	if err != nil {
		return fmt.Errorf("store 2FA state: %w", err)
	}
	if !ok { // switched concurrently
		if in.Enable {
			return ErrTwoFactorEnabled
		}
		return ErrTwoFactorDisabled
	}
	s.publishSnapshotOrLog(ctx, a.ID)
	s.revokeOrLog(ctx, a.ID, revoke)
	kind := events.AlertTwoFactorDisabled
	if in.Enable {
		kind = events.AlertTwoFactorEnabled
	} else {
		s.FactorRemoved(ctx, a.ID)
	}
	s.alertOrLog(ctx, a, kind, map[string]string{"ipAddress": in.Caller.IP})
	return nil
}

// Deactivate soft-deactivates the caller's account after re-authentication: it can no longer sign
// in, every session ends, other services learn the status from the account.updated snapshot (and
// hide the account from public lookups); nothing is deleted.
func (s *Service) Deactivate(ctx context.Context, c Caller, p Proof, reason string) error {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	if err := s.reauthenticate(ctx, a, p, c.IP); err != nil {
		return err
	}
	revoke := s.revocation("", account.ReasonAccountDeactivated)
	revoke.APIKeys = true
	ok, err := s.Accounts.Deactivate(ctx, a.ID, reason, s.now().UTC(), *revoke)
	if err != nil {
		return fmt.Errorf("deactivate account: %w", err)
	}
	if !ok {
		return ErrAccountGone
	}
	s.publishSnapshotOrLog(ctx, a.ID)
	s.revokeOrLog(ctx, a.ID, revoke)
	// The alert goes out although the account is now deactivated: its owner should know.
	s.alertOrLog(ctx, a, events.AlertAccountDeactivated, map[string]string{"ipAddress": c.IP})
	return nil
}
