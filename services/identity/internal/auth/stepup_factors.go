package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// ErrNoPasskeys: a passkey step-up was asked by an account without passkeys (or passkeys are not
// offered).
var ErrNoPasskeys = errors.New("the account has no passkeys")

// possessionMethod reports whether a step-up token's method proves a factor the owner has (a code,
// an authenticator code or a passkey), which is what changes like disabling 2FA ask for.
func possessionMethod(method string) bool {
	return slices.Contains([]string{MethodOTP, AMRSMS, AMRHardwareKey, AMRSoftwareKey}, method)
}

// reauthenticateStepUp checks the proof of a step-up and returns the method the token records (an amr
// value): pwd for a password, otp for a code or an authenticator code, hwk or swk for a passkey.
func (s *Service) reauthenticateStepUp(ctx context.Context, a account.Account, c Caller, p Proof) (string, error) {
	switch {
	case p.Password != "" || p.OTP != "":
		if err := s.reauthenticate(ctx, a, p, c.IP); err != nil {
			return "", err
		}
		if p.Password == "" {
			return MethodOTP, nil
		}
		return MethodPassword, nil
	case p.TOTP != "":
		err := s.verifyAccountCode(ctx, a, c.IP, func() error {
			if s.Authenticators == nil {
				return ErrInvalidCode
			}
			ok, err := s.Authenticators.Verify(ctx, a.ID, p.TOTP, s.now().UTC())
			if err != nil || !ok {
				return orInvalid(err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		return MethodOTP, nil
	case len(p.Assertion) > 0:
		var amr []string
		err := s.verifyAccountCode(ctx, a, c.IP, func() error {
			if s.Passkeys == nil {
				return ErrInvalidCode
			}
			var ok bool
			var err error
			amr, ok, err = s.Passkeys.FinishAssertion(ctx, a.ID, stepUpBinding(a.ID, c.SessionID), p.Assertion)
			if err != nil || !ok || len(amr) == 0 {
				return orInvalid(err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		for _, m := range amr {
			if m == AMRHardwareKey || m == AMRSoftwareKey {
				return m, nil
			}
		}
		return amr[0], nil
	}
	return "", ErrWrongPassword
}

// BeginStepUpPasskey starts a passkey assertion for a step-up of the caller's session (POST
// /api/v1/auth/reauth/passkey/begin) and returns the request options. Errors: ErrNoPasskeys,
// ErrAccountGone.
func (s *Service) BeginStepUpPasskey(ctx context.Context, c Caller) (json.RawMessage, error) {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return nil, err
	}
	if s.Passkeys == nil {
		return nil, ErrNoPasskeys
	}
	n, err := s.Passkeys.Count(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("count passkeys: %w", err)
	}
	if n == 0 {
		return nil, ErrNoPasskeys
	}
	return s.Passkeys.BeginAssertion(ctx, a.ID, stepUpBinding(a.ID, c.SessionID))
}
