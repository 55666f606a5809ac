package auth

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// ErrAccountLocked: the account was locked by an operator; every sign-in path refuses it (423) once
// the caller proved the credential it signs in with, so the lock tells nothing to whoever does not
// know it.
var ErrAccountLocked = errors.New("account is locked")

// Reasons of the session revocations the admin API orders.
const (
	ReasonAccountLocked  = "account_locked"
	ReasonAdminSignOut   = "admin_sign_out"
	ReasonTwoFactorReset = "two_factor_reset"
)

// NewRevocation orders the end of every session of an account for reason, to be stored with the
// change that causes it and carried out by CarryOutRevocation (or, after an outage, the republisher).
func (s *Service) NewRevocation(reason string) *account.Revocation {
	return s.revocation("", reason)
}

// CarryOutRevocation asks the session service to end the sessions r names and forgets r once done;
// when the session service cannot be reached the republisher retries, so the caller goes on.
func (s *Service) CarryOutRevocation(ctx context.Context, accountID string, r *account.Revocation) {
	s.revokeOrLog(ctx, accountID, r)
}

// PublishSnapshotOrLog is PublishSnapshot for request paths (see publishSnapshotOrLog).
func (s *Service) PublishSnapshotOrLog(ctx context.Context, accountID string) {
	s.publishSnapshotOrLog(ctx, accountID)
}

// AlertOrLog is Alert for request paths: a failure is logged, the change stands.
func (s *Service) AlertOrLog(ctx context.Context, a account.Account, kind string, details map[string]string) {
	s.alertOrLog(ctx, a, kind, details)
}
