package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// checkRegistrationCode answers the registration code of email and, once it matched, runs
// registrable before the code is spent. Wrong codes (and an address registered meanwhile) are
// counted per IP as failures only, so a household or office registering behind one address is not
// throttled by its own successes, while guessing codes or probing from one address is.
func (s *Service) checkRegistrationCode(ctx context.Context, ip, email, code string, registrable func() error) error {
	if err := s.Limiter.Check(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
		return err
	}
	_, err := s.Codes.VerifyThen(ctx, events.PurposeRegistration, email, code, func(otp.Challenge) error {
		return registrable()
	})
	if errors.Is(err, otp.ErrInvalidCode) || errors.Is(err, ErrInvalidCode) {
		if ferr := s.Limiter.Fail(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); ferr != nil {
			return ferr
		}
		return ErrInvalidCode
	}
	return err
}

// registrable says whether an account with email and username may be created now: ErrInvalidCode
// when the address was registered meanwhile (the answer a wrong code gets), ErrUsernameTaken when the
// username belongs to an account or is reserved for its previous owner.
func (s *Service) registrable(ctx context.Context, email, username string) error {
	if _, err := s.Accounts.ByEmail(ctx, email); err == nil {
		return ErrInvalidCode
	} else if !errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("look up email: %w", err)
	}
	if username == "" {
		return nil
	}
	if _, err := s.Accounts.ByUsername(ctx, username); err == nil {
		return ErrUsernameTaken
	} else if !errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("look up username: %w", err)
	}
	if s.Reservations != nil {
		if holder, err := s.Reservations.ReservedFor(ctx, username, s.now().UTC()); err != nil {
			return fmt.Errorf("look up username reservation: %w", err)
		} else if holder != "" {
			return ErrUsernameTaken
		}
	}
	return nil
}
