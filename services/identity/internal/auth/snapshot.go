package auth

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// snapshotEventNamespace derives an account.updated event id from the account id and version, so a
// snapshot queued twice (by the request and by the republisher) carries one id and consumers drop the
// duplicate.
var snapshotEventNamespace = uuid.MustParse("2b7e51c4-9d3f-4f0e-8a61-5c0d7e9b3a24")

// SnapshotEventID is the event id of the account.updated event of an account at a version.
func SnapshotEventID(accountID string, version int64) string {
	return uuid.NewSHA1(snapshotEventNamespace, []byte(accountID+":"+strconv.FormatInt(version, 10))).String()
}

// Snapshot is the account.updated payload of a: the identity-owned facts other services project.
func Snapshot(a account.Account) events.AccountSnapshot {
	status := events.AccountStatusActive
	switch a.Status {
	case account.StatusDeactivated:
		status = events.AccountStatusDeactivated
	case account.StatusLocked:
		status = events.AccountStatusLocked
	}
	phone, verified := shownPhone(a)
	return events.AccountSnapshot{
		Version: a.Version, Email: a.Email, EmailVerified: a.EmailVerified, PhoneNumber: phone,
		PhoneVerified: verified, Username: a.Username, Status: status,
		TwoFactorEnabled: a.TwoFactorEnabled, UpdatedAt: a.UpdatedAt.UTC(), PendingPhoneNumber: a.PendingPhone,
	}
}

// shownPhone is the phone other services show for a: the verified one while there is one (a pending
// number never hides or un-verifies it), else the pending one, else an unverified one.
func shownPhone(a account.Account) (string, bool) {
	switch {
	case a.IsPhoneVerified():
		return a.Phone, true
	case a.PendingPhone != "":
		return a.PendingPhone, false
	}
	return a.Phone, false
}

// PublishSnapshot queues the account.updated event of the account's current state. Call it after
// every store.Accounts.UpdateProjected that matched; if it fails, the republisher queues the snapshot
// later (the store marked it pending in the same write as the change), so callers may log and go on.
func (s *Service) PublishSnapshot(ctx context.Context, accountID string) error {
	a, err := s.Accounts.ByID(ctx, accountID)
	if err != nil {
		return fmt.Errorf("read account for snapshot: %w", err)
	}
	return s.publishSnapshot(ctx, a)
}

func (s *Service) publishSnapshot(ctx context.Context, a account.Account) error {
	ev, err := events.New(events.TypeAccountUpdated, a.ID, Snapshot(a))
	if err != nil {
		return err
	}
	ev.EventID = SnapshotEventID(a.ID, a.Version)
	ev.OccurredAt = a.UpdatedAt.UTC()
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return fmt.Errorf("queue account.updated: %w", err)
	}
	s.deliverNow(ctx, ev)
	return s.Accounts.MarkSnapshotPublished(ctx, a.ID, a.Version)
}

// publishSnapshotOrLog is PublishSnapshot for request paths: the change is already stored and marked
// pending, so a failure here only delays the event until the republisher runs.
func (s *Service) publishSnapshotOrLog(ctx context.Context, accountID string) {
	if err := s.PublishSnapshot(ctx, accountID); err != nil {
		s.Logger.WarnContext(ctx, "queue account.updated failed; the republisher will retry", "account_id", accountID, "err", err)
	}
}
