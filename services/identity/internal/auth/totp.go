package auth

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// Errors of the authenticator app flows.
var (
	// ErrTOTPNotOffered: the deployment has no authenticator apps (Deps.Authenticators nil or not
	// an AuthenticatorEnrolment).
	ErrTOTPNotOffered = errors.New("authenticator apps are not offered")
	// ErrTOTPEnrolled: the account already has a confirmed authenticator; remove it first.
	ErrTOTPEnrolled = totp.ErrAlreadyEnrolled
	// ErrTOTPNotPending: confirm without a pending setup.
	ErrTOTPNotPending = totp.ErrNotPending
	// ErrTOTPNotEnrolled: remove without an authenticator.
	ErrTOTPNotEnrolled = errors.New("no authenticator app is enrolled")
)

// AuthenticatorEnrolment is the enrolment side of Authenticators (package totp implements both).
type AuthenticatorEnrolment interface {
	Setup(ctx context.Context, accountID, accountName string, at time.Time) (totp.Enrolment, error)
	Confirm(ctx context.Context, accountID, code string, at time.Time) (bool, error)
	Remove(ctx context.Context, accountID string) (bool, error)
}

func (s *Service) authenticatorEnrolment() (AuthenticatorEnrolment, error) {
	e, ok := s.Authenticators.(AuthenticatorEnrolment)
	if !ok {
		return nil, ErrTOTPNotOffered
	}
	return e, nil
}

// SetupTOTP draws a new authenticator secret for the caller (stored pending until ConfirmTOTP) and
// returns it with its otpauth:// URI and QR code. The step-up gate runs before (httpapi). Errors:
// ErrTOTPNotOffered, ErrTOTPEnrolled (one authenticator per account: remove it first), ErrAccountGone.
func (s *Service) SetupTOTP(ctx context.Context, c Caller) (totp.Enrolment, error) {
	e, err := s.authenticatorEnrolment()
	if err != nil {
		return totp.Enrolment{}, err
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return totp.Enrolment{}, err
	}
	name := a.Email
	if name == "" {
		name = a.Username
	}
	return e.Setup(ctx, a.ID, name, s.now())
}

// ConfirmTOTP checks a first code of the pending authenticator, which then becomes the account's
// (alerting the owner). Wrong codes go through the code limits. Errors: ErrInvalidCode,
// ErrTOTPNotPending, ErrTOTPNotOffered, *throttle.ExceededError.
func (s *Service) ConfirmTOTP(ctx context.Context, c Caller, code string) error {
	e, err := s.authenticatorEnrolment()
	if err != nil {
		return err
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	err = s.verifyAccountCode(ctx, a, c.IP, func() error {
		ok, err := e.Confirm(ctx, a.ID, code, s.now())
		if err != nil || !ok {
			return orInvalid(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.alertOrLog(ctx, a, events.AlertAuthenticatorAdded, nil)
	return nil
}

// RemoveTOTP removes the caller's authenticator (after step-up) and alerts the owner. Errors:
// ErrTOTPNotEnrolled, ErrTOTPNotOffered, ErrAccountGone.
func (s *Service) RemoveTOTP(ctx context.Context, c Caller) error {
	e, err := s.authenticatorEnrolment()
	if err != nil {
		return err
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	removed, err := e.Remove(ctx, a.ID)
	if err != nil {
		return err
	}
	if !removed {
		return ErrTOTPNotEnrolled
	}
	s.alertOrLog(ctx, a, events.AlertAuthenticatorRemoved, nil)
	s.FactorRemoved(ctx, a.ID)
	return nil
}
