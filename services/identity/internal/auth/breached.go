package auth

import (
	"context"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// BreachedPasswords refuses passwords that have appeared in a data breach (password.BreachChecker):
// Check returns a *password.PolicyError for such a password, nil otherwise, and never fails for want
// of the breach API (it falls back to the offline list).
type BreachedPasswords interface {
	Check(ctx context.Context, pw string) error
}

// checkNewPassword applies the password policy and then the breached-password check to a password
// a signed-in owner chooses (change, first password). Registration and reset, which anybody can
// post, apply the policy first and the breach check only once their code matched (checkBreached).
// Both run before anything is hashed, so a refused password costs no argon2id work; their failures
// are *password.PolicyError, the same 422 as the policy's.
func (s *Service) checkNewPassword(ctx context.Context, pw string, o password.Owner) error {
	if err := password.Check(pw, o); err != nil {
		return err
	}
	return s.checkBreached(ctx, pw)
}

// checkBreached is the breached-password check alone (nil without BreachedPasswords).
func (s *Service) checkBreached(ctx context.Context, pw string) error {
	if s.BreachedPasswords == nil {
		return nil
	}
	return s.BreachedPasswords.Check(ctx, pw)
}
