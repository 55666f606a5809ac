package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// StartPasswordReset sends a reset code to email when it is the verified e-mail of an active
// account. Otherwise it does the same work without sending anything (otp.Request.Silent), so the
// answer — content, throttling and timing — says nothing about whether the account exists. It
// returns how long a code is valid.
func (s *Service) StartPasswordReset(ctx context.Context, email, ip string) (time.Duration, error) {
	email = account.NormalizeEmail(email)
	if err := s.hitIP(ctx, ScopeCodeSendIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return 0, err
	}
	req := otp.Request{Purpose: events.PurposePasswordReset, Channel: events.ChannelEmail, Destination: email, Silent: true}
	a, err := s.Accounts.ByEmail(ctx, email)
	switch {
	case err == nil:
		if a.CanSignIn() && a.IsEmailVerified() {
			req.AccountID, req.Silent = a.ID, false
		}
	case !errors.Is(err, account.ErrNotFound):
		return 0, fmt.Errorf("look up email: %w", err)
	}
	if _, err := s.Codes.Send(ctx, req); err != nil {
		return 0, err
	}
	return s.Codes.TTL(), nil
}

// PasswordReset completes a reset.
type PasswordReset struct {
	Email string
	Code  string
	New   string
	IP    string
}

// CompletePasswordReset checks the reset code, stores the new password and ends every session of
// the account. An unknown address answers ErrInvalidCode like a wrong code. The policy is checked
// before the code, so a typo does not spend it.
func (s *Service) CompletePasswordReset(ctx context.Context, in PasswordReset) error {
	email := account.NormalizeEmail(in.Email)
	a, err := s.Accounts.ByEmail(ctx, email)
	found := err == nil
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("look up email: %w", err)
	}
	if !found {
		a = account.Account{ID: "unknown:" + email, Email: email}
	}
	if err := password.Check(in.New, owner(a)); err != nil {
		return err
	}
	// Wrong codes count against the account only while a reset is pending for its address: without
	// one there is nothing to guess, and counting would let anybody lock the owner's codes.
	accountKey := ""
	if pending, err := s.Codes.Pending(ctx, events.PurposePasswordReset, email); err != nil {
		return err
	} else if pending {
		accountKey = codeClient(a.ID, in.IP)
	}
	err = s.verifyCode(ctx, accountKey, in.IP, func() error {
		// The breach API is asked only once the code matched (not for anybody who posts a form), and
		// a refused password leaves the code live.
		c, err := s.Codes.VerifyThen(ctx, events.PurposePasswordReset, email, in.Code, func(c otp.Challenge) error {
			if !found || c.AccountID != a.ID || !a.CanSignIn() {
				return nil // refused below, as a wrong code
			}
			return s.checkBreached(ctx, in.New)
		})
		if err != nil {
			return err
		}
		if !found || c.AccountID != a.ID || !a.CanSignIn() {
			return ErrInvalidCode
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.storePassword(ctx, a, in.New, Caller{AccountID: a.ID, IP: in.IP}, true, true, events.AlertPasswordReset, "reset"); err != nil {
		if errors.Is(err, ErrWrongPassword) { // changed concurrently: this code was for the old one
			return ErrInvalidCode
		}
		return err
	}
	// The owner proved control of the mailbox: the failed-login lock has done its job.
	if err := s.Limiter.Reset(ctx, ScopeLoginAccount, a.ID, s.cfg.LoginFailuresPerAccount); err != nil {
		s.Logger.WarnContext(ctx, "reset login failures", "account_id", a.ID, "err", err)
	}
	return nil
}
