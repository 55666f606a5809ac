package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Proof is what a signed-in owner gives to re-authenticate before a sensitive change: the current
// password, or a code of purpose reauthentication (POST /api/v1/auth/reauth/send-otp). Exactly one
// is expected; Password wins when both are set.
type Proof struct {
	Password string
	OTP      string
	// TOTP (an authenticator code) and Assertion (a passkey's PublicKeyCredential, of a ceremony begun
	// with BeginStepUpPasskey) prove the owner to POST /api/v1/auth/reauth only (stepup_factors.go).
	TOTP      string
	Assertion json.RawMessage
}

// CodeSent describes a code on its way.
type CodeSent struct {
	Token       string // temp token, for flows that use one
	MaskedValue string
	ExpiresIn   time.Duration
}

// activeAccount loads the signed-in account; ErrAccountGone when it does not exist or may not act.
func (s *Service) activeAccount(ctx context.Context, id string) (account.Account, error) {
	a, err := s.Accounts.ByID(ctx, id)
	if errors.Is(err, account.ErrNotFound) {
		return account.Account{}, ErrAccountGone
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("load account: %w", err)
	}
	if !a.CanSignIn() {
		return account.Account{}, ErrAccountGone
	}
	return a, nil
}

// Reauthenticate is the re-authentication gate of POST /internal/v1/accounts/{id}/reauthenticate:
// nil when p proves the owner. Errors: ErrAccountGone, ErrWrongPassword, ErrInvalidCode,
// *throttle.ExceededError.
func (s *Service) Reauthenticate(ctx context.Context, accountID string, p Proof, ip string) error {
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	return s.reauthenticate(ctx, a, p, ip)
}

// reauthenticate checks p for a. Password guesses share the login's per-account failure limit, so
// the gate adds no way around it; code guesses are limited per IP and per account.
func (s *Service) reauthenticate(ctx context.Context, a account.Account, p Proof, ip string) error {
	if p.Password == "" && p.OTP == "" {
		return ErrWrongPassword
	}
	if p.Password == "" {
		return s.verifyAccountCode(ctx, a, ip, func() error {
			for _, dest := range verifiedDestinations(a) {
				_, err := s.Codes.Verify(ctx, events.PurposeReauthentication, dest, p.OTP)
				if err == nil || !errors.Is(err, otp.ErrInvalidCode) {
					return err
				}
			}
			return ErrInvalidCode
		})
	}
	return s.checkPassword(ctx, a, p.Password)
}

// checkPassword verifies plain against a's password under the per-account login failure limit.
func (s *Service) checkPassword(ctx context.Context, a account.Account, plain string) error {
	// Only a signed-in caller gets here: its failures slow down re-authentication of this account,
	// and the failed logins of anybody else cannot lock the owner out of it.
	if err := s.Limiter.CheckBackoff(ctx, ScopeReauthAccount, a.ID, s.cfg.LoginBackoff); err != nil {
		return err
	}
	ok := false
	if a.HasPassword() {
		var err error
		ok, _, err = s.Hasher.Verify(plain, a.PasswordHash)
		if hashingBusy(err) {
			return err
		}
		if err != nil {
			s.Logger.ErrorContext(ctx, "stored password hash unreadable", "account_id", a.ID, "err", err)
			ok = false
		}
	} else {
		if err := s.Hasher.VerifyDummy(plain); err != nil {
			return err
		}
	}
	if !ok {
		if err := s.Limiter.FailBackoff(ctx, ScopeReauthAccount, a.ID, s.cfg.LoginBackoff); err != nil {
			return err
		}
		return ErrWrongPassword
	}
	return nil
}

// verifyAccountCode runs check (which answers a code of a) under the code limits: wrong answers
// count against the IP (when known) and against a from that IP (see verifyCode).
func (s *Service) verifyAccountCode(ctx context.Context, a account.Account, ip string, check func() error) error {
	// ip is empty for calls through the internal API (the caller is a service, not the client).
	return s.verifyCode(ctx, codeClient(a.ID, ip), ip, check)
}

// verifiedDestinations lists where codes may go for a: its verified e-mail, then its verified phone.
func verifiedDestinations(a account.Account) []string {
	var out []string
	if a.IsEmailVerified() {
		out = append(out, a.Email)
	}
	if a.IsPhoneVerified() {
		out = append(out, a.Phone)
	}
	return out
}

// Channels a signed-in owner may pick, as the account API names them.
var Channels = []string{events.ChannelSMS, events.ChannelWhatsApp, events.ChannelEmail, events.ChannelSMSAndWhatsApp}

// destinationFor returns a's verified destination for channel: codes never go to an unverified one.
func destinationFor(a account.Account, channel string) (string, error) {
	switch channel {
	case events.ChannelEmail:
		if a.IsEmailVerified() {
			return a.Email, nil
		}
	case events.ChannelSMS, events.ChannelWhatsApp, events.ChannelSMSAndWhatsApp:
		if a.IsPhoneVerified() {
			return a.Phone, nil
		}
	}
	return "", ErrNoVerifiedDestination
}

// sendAccountCode sends a code of purpose to a's verified destination for channel, throttled per IP
// on top of the per-destination and per-account send limits. tokenPrefix, when set, binds a temp token.
func (s *Service) sendAccountCode(ctx context.Context, a account.Account, purpose, channel, tokenPrefix, ip string) (CodeSent, error) {
	dest, err := destinationFor(a, channel)
	if err != nil {
		return CodeSent{}, err
	}
	if err := s.hitIP(ctx, ScopeCodeSendIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return CodeSent{}, err
	}
	sent, err := s.Codes.Send(ctx, otp.Request{
		Purpose: purpose, Channel: channel, Destination: dest, AccountID: a.ID, WithToken: tokenPrefix,
	})
	if err != nil {
		return CodeSent{}, err
	}
	return CodeSent{Token: sent.Token, MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// SendReauthCode sends a re-authentication code (POST /api/v1/auth/reauth/send-otp) to the signed-in
// account's verified destination for channel.
func (s *Service) SendReauthCode(ctx context.Context, accountID, channel, ip string) (CodeSent, error) {
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return CodeSent{}, err
	}
	return s.sendAccountCode(ctx, a, events.PurposeReauthentication, channel, "", ip)
}

// Locked reports whether a's sign-in from new devices is temporarily held back: the account's
// ceiling of failed logins is reached (its trusted devices still sign in). It lifts as the failures age.
func (s *Service) Locked(ctx context.Context, a account.Account) (bool, error) {
	for _, l := range []struct {
		scope string
		limit throttle.Limit
	}{{ScopeLoginAccount, s.cfg.LoginFailuresPerAccount}} {
		err := s.Limiter.Check(ctx, l.scope, a.ID, l.limit)
		var exceeded *throttle.ExceededError
		switch {
		case errors.As(err, &exceeded):
			return true, nil
		case err != nil:
			return false, err
		}
	}
	return false, nil
}
