package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Account deletion (issue 17): the owner (or an operator) schedules it; the account keeps working
// through a grace period in which signing in and cancelling stops it; when the period has ended the
// deletion worker publishes account.deleted — every service erases what it holds — and erases
// identity's own data.

// Errors of deletion.
var (
	// ErrDeletionScheduled: the account's deletion is already scheduled (the deleteAt returned with it
	// is the scheduled one).
	ErrDeletionScheduled = errors.New("account deletion already scheduled")
	// ErrNoDeletionScheduled: there is no deletion to cancel (none was scheduled, or it is under way).
	ErrNoDeletionScheduled = errors.New("no account deletion scheduled")
)

// Revocation reasons of deletion, sent to the session service's revoke API.
const (
	ReasonDeletionScheduled = "account_deletion_scheduled"
	ReasonAccountDeleted    = "account_deleted"
)

// DefaultDeletionGrace is the grace period when Deletion.Grace is zero.
const DefaultDeletionGrace = 30 * 24 * time.Hour

// deletionBatch is how many due accounts one round of the worker erases at most.
const deletionBatch = 50

// Deletions is the store of scheduled deletions and of identity's erasure (store.Deletions).
type Deletions interface {
	// Schedule marks the account for deletion at deleteAt with revoke pending, in one conditional
	// write; false when it is missing, already scheduled or being erased.
	Schedule(ctx context.Context, id string, at, deleteAt time.Time, revoke account.Revocation) (bool, error)
	// Scheduled returns the scheduled deletion (zero times: none); account.ErrNotFound.
	Scheduled(ctx context.Context, id string) (scheduledAt, deleteAt time.Time, err error)
	// Cancel forgets a deletion not yet due at now; false when there is none.
	Cancel(ctx context.Context, id string, now time.Time) (bool, error)
	// Due lists accounts whose deletion is due at now.
	Due(ctx context.Context, now time.Time, limit int) ([]string, error)
	// BeginErasure stops a due account from signing in or changing; false when it is not due.
	BeginErasure(ctx context.Context, id string, now time.Time) (bool, error)
	// Contacts returns every e-mail address and phone number identity has for the account.
	Contacts(ctx context.Context, id string) (emails, phones []string, err error)
	// Erase removes identity's data of the account but the account document, keeping its usernames
	// reserved for nobody for reservation. Idempotent.
	Erase(ctx context.Context, id string, contacts []string, reservation time.Duration, now time.Time) error
	// DeleteAccount removes the account document (last).
	DeleteAccount(ctx context.Context, id string) error
}

// AccountEraser erases what one more store of identity holds about an account (the activity log
// folds it into anonymous counts; exports and "not me" links are deleted). Idempotent.
type AccountEraser interface {
	EraseAccount(ctx context.Context, accountID string) error
}

// ErasedMarker records, under a hash of the id, that an account was erased, so that consumers of
// late events can drop them (erasure.Tombstones).
type ErasedMarker interface {
	Mark(ctx context.Context, accountID string, at time.Time) error
}

// Deletion are the collaborators and settings of account deletion. Without Store, deletion is off.
type Deletion struct {
	Store Deletions
	// Grace is the time between scheduling and erasure (ACCOUNT_DELETION_GRACE); zero: 30 days.
	Grace time.Duration
	// UsernameReservation is how long an erased account's usernames stay reserved for nobody
	// (USERNAME_RESERVATION_PERIOD).
	UsernameReservation time.Duration
	// Erasers are identity's other stores keyed by account (activity log, exports, "not me" links).
	Erasers []AccountEraser
	// Tombstones, when set, records each erased account for identity's own consumers.
	Tombstones ErasedMarker
}

// DeletedEventID is the event id of an account's account.deleted event: derived from the account id
// (a name-based UUID, which does not contain it), so that two workers, or one resuming after a
// crash, queue one event.
func DeletedEventID(accountID string) string {
	return uuid.NewSHA1(deletedEventNamespace, []byte(events.TypeAccountDeleted+":"+accountID)).String()
}

var deletedEventNamespace = uuid.MustParse("8c0f6a51-3e27-4d9b-b1a4-70e2c95d1f36")

func (s *Service) deletionGrace() time.Duration {
	if s.Deletion.Grace > 0 {
		return s.Deletion.Grace
	}
	return DefaultDeletionGrace
}

// ScheduleDeletion schedules the deletion of an account at now + the grace period, by the owner or
// an operator (by). In the same write it orders the end of every session and API key; then it alerts
// the owner and records the activity. Signing in stays possible during the grace period, so the owner
// can cancel. ErrDeletionScheduled (with the scheduled time) when it already is; ErrAccountGone when
// there is no such account.
func (s *Service) ScheduleDeletion(ctx context.Context, accountID string, by events.Actor) (deleteAt time.Time, err error) {
	if s.Deletion.Store == nil {
		return time.Time{}, errors.New("account deletion is not configured")
	}
	a, err := s.Accounts.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return time.Time{}, ErrAccountGone
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load account: %w", err)
	}
	now := s.now().UTC()
	deleteAt = now.Add(s.deletionGrace()).Truncate(time.Second)
	revoke := s.revocation("", ReasonDeletionScheduled)
	revoke.APIKeys = true
	ok, err := s.Deletion.Store.Schedule(ctx, a.ID, now, deleteAt, *revoke)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule deletion: %w", err)
	}
	if !ok {
		_, scheduled, err := s.Deletion.Store.Scheduled(ctx, a.ID)
		switch {
		case errors.Is(err, account.ErrNotFound):
			return time.Time{}, ErrAccountGone
		case err != nil:
			return time.Time{}, fmt.Errorf("read deletion: %w", err)
		case scheduled.IsZero(): // being erased: the deletion is past its point of no return
			return time.Time{}, ErrAccountGone
		}
		return scheduled.UTC(), ErrDeletionScheduled
	}
	s.revokeOrLog(ctx, a.ID, revoke)
	when := deleteAt.Format(time.RFC3339)
	s.alertOrLog(ctx, a, events.AlertAccountDeletionScheduled, map[string]string{"deleteAt": when})
	if by.Type == "" {
		by.Type = events.ActorOwner
	}
	s.RecordActivity(ctx, a.ID, events.Activity{Kind: events.ActivityDeletionScheduled, Actor: by, Details: map[string]string{"deleteAt": when}})
	return deleteAt, nil
}

// DeletionStatus is an account's scheduled deletion.
type DeletionStatus struct {
	Scheduled   bool
	ScheduledAt time.Time
	DeleteAt    time.Time
}

// Deletion returns the caller's scheduled deletion, if any.
func (s *Service) DeletionOf(ctx context.Context, accountID string) (DeletionStatus, error) {
	if s.Deletion.Store == nil {
		return DeletionStatus{}, nil
	}
	at, deleteAt, err := s.Deletion.Store.Scheduled(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return DeletionStatus{}, ErrAccountGone
	}
	if err != nil {
		return DeletionStatus{}, fmt.Errorf("read deletion: %w", err)
	}
	return DeletionStatus{Scheduled: !deleteAt.IsZero(), ScheduledAt: at.UTC(), DeleteAt: deleteAt.UTC()}, nil
}

// CancelDeletion cancels the signed-in owner's scheduled deletion (the "signing in and confirming"
// of the grace period). No step-up: cancelling only keeps the account as it is, and the sessions and
// keys the scheduling ended stay ended. ErrNoDeletionScheduled when there is nothing to cancel.
func (s *Service) CancelDeletion(ctx context.Context, c Caller) error {
	if s.Deletion.Store == nil {
		return ErrNoDeletionScheduled
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	ok, err := s.Deletion.Store.Cancel(ctx, a.ID, s.now().UTC())
	if err != nil {
		return fmt.Errorf("cancel deletion: %w", err)
	}
	if !ok {
		return ErrNoDeletionScheduled
	}
	s.alertOrLog(ctx, a, events.AlertAccountDeletionCancelled, map[string]string{"ipAddress": c.IP})
	act := events.Activity{Kind: events.ActivityDeletionCancelled, SessionID: c.SessionID, IPAddress: c.IP}
	s.RecordActivity(ctx, a.ID, act)
	return nil
}

// RunDeletions erases the accounts whose deletion is due, every interval, until ctx is done.
func (s *Service) RunDeletions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.EraseDue(ctx); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "account deletion round failed; will retry", "err", err)
		} else if n > 0 {
			s.Logger.InfoContext(ctx, "accounts deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EraseDue erases every account whose deletion is due and returns how many it erased. Several
// replicas may run it at once: each step is idempotent and the account.deleted event has an id
// derived from the account, so an account erased twice is published once.
func (s *Service) EraseDue(ctx context.Context) (int, error) {
	if s.Deletion.Store == nil {
		return 0, nil
	}
	ids, err := s.Deletion.Store.Due(ctx, s.now().UTC(), deletionBatch)
	if err != nil {
		return 0, fmt.Errorf("list due deletions: %w", err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		done, err := s.eraseAccount(ctx, id)
		if err != nil {
			// Logged by id only; the next round tries again.
			errs = append(errs, fmt.Errorf("erase account %s: %w", id, err))
			continue
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// eraseAccount runs one account's deletion: stop it (no sign-in from here on), end its sessions and
// keys, queue account.deleted with every address and number it had, erase identity's data and the
// other stores', and remove the account document last (until then the account stays due, and a
// failed run is resumed).
func (s *Service) eraseAccount(ctx context.Context, id string) (bool, error) {
	now := s.now().UTC()
	due, err := s.Deletion.Store.BeginErasure(ctx, id, now)
	if err != nil || !due {
		return false, err
	}
	emails, phones, err := s.Deletion.Store.Contacts(ctx, id)
	if err != nil {
		return false, err
	}
	// Keys and sessions made during the grace period end now; revocations reach every service's
	// deny-list before the account's data is gone.
	if s.APIKeys != nil {
		if _, err := s.APIKeys.RevokeAll(ctx, id, ReasonAccountDeleted); err != nil {
			return false, fmt.Errorf("revoke api keys: %w", err)
		}
	}
	if _, err := s.Sessions.Revoke(ctx, id, "", ReasonAccountDeleted); err != nil && !errors.Is(err, ErrRevocationRejected) {
		return false, fmt.Errorf("revoke sessions: %w", err)
	}
	ev, err := events.New(events.TypeAccountDeleted, id, events.AccountDeleted{DeletedAt: now, Emails: emails, PhoneNumbers: phones})
	if err != nil {
		return false, err
	}
	ev.EventID = DeletedEventID(id)
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return false, fmt.Errorf("queue account.deleted: %w", err)
	}
	if s.Deletion.Tombstones != nil {
		if err := s.Deletion.Tombstones.Mark(ctx, id, now); err != nil {
			return false, err
		}
	}
	contacts := append(append([]string{}, emails...), phones...)
	if err := s.Deletion.Store.Erase(ctx, id, contacts, s.Deletion.UsernameReservation, now); err != nil {
		return false, err
	}
	for _, e := range s.Deletion.Erasers {
		if err := e.EraseAccount(ctx, id); err != nil {
			return false, fmt.Errorf("erase account data: %w", err)
		}
	}
	if err := s.Deletion.Store.DeleteAccount(ctx, id); err != nil {
		return false, err
	}
	return true, nil
}
