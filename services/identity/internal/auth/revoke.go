package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// revocation orders the end of every session of an account but exceptSessionID ("" : all).
func (s *Service) revocation(exceptSessionID, reason string) *account.Revocation {
	return &account.Revocation{ID: events.NewID(), ExceptSessionID: exceptSessionID, Reason: reason, OrderedAt: s.now().UTC()}
}

// APIKeyRevoker ends every API key of an account (apikey.Service).
type APIKeyRevoker interface {
	RevokeAll(ctx context.Context, accountID, reason string) (int, error)
}

// revoke carries out r — the account's API keys first when r asks for it, then the sessions
// through the session service — and clears it once done. Both steps are idempotent, so an order
// retried after a failure in between is safe.
func (s *Service) revoke(ctx context.Context, accountID string, r account.Revocation) error {
	switch {
	case r.APIKeys && s.APIKeys == nil:
		// A wiring bug: the sessions must still end.
		s.Logger.ErrorContext(ctx, "no API-key service to revoke the account's keys", "account_id", accountID, "reason", r.Reason)
	case r.APIKeys:
		if _, err := s.APIKeys.RevokeAll(ctx, accountID, r.Reason); err != nil {
			return fmt.Errorf("revoke api keys: %w", err)
		}
	}
	if r.SessionsKept {
		return s.Accounts.ClearRevocation(ctx, accountID, r.ID)
	}
	n, err := s.Sessions.Revoke(ctx, accountID, r.ExceptSessionID, r.Reason)
	if errors.Is(err, ErrRevocationRejected) {
		// A bug, not an outage: retrying for ever would not help. Drop the order loudly.
		s.Logger.ErrorContext(ctx, "session revocation rejected; dropped", "account_id", accountID, "reason", r.Reason, "err", err)
		return s.Accounts.ClearRevocation(ctx, accountID, r.ID)
	}
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.Logger.InfoContext(ctx, "sessions revoked", "account_id", accountID, "reason", r.Reason, "count", n)
	return s.Accounts.ClearRevocation(ctx, accountID, r.ID)
}

// revokeOrLog is revoke for request paths. The revocation was stored with the change that ordered
// it, so when the session service cannot be reached now the republisher carries it out later; the
// request does not fail for it.
func (s *Service) revokeOrLog(ctx context.Context, accountID string, r *account.Revocation) {
	if r == nil {
		return
	}
	if err := s.revoke(ctx, accountID, *r); err != nil {
		s.Logger.WarnContext(ctx, "session revocation deferred; will retry", "account_id", accountID, "reason", r.Reason, "err", err)
	}
}

// RetryRevocations carries out the revocations ordered before grace ago and still pending. It
// returns how many it completed.
func (s *Service) RetryRevocations(ctx context.Context, grace time.Duration) (int, error) {
	pending, err := s.Accounts.RevocationsPending(ctx, s.now().UTC().Add(-grace), 100)
	if err != nil {
		return 0, fmt.Errorf("list pending revocations: %w", err)
	}
	n := 0
	for _, a := range pending {
		if a.PendingRevocation == nil {
			continue
		}
		if err := s.revoke(ctx, a.ID, *a.PendingRevocation); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
