// Package account is the session service's read-only view of the accounts whose sessions it keeps:
// the few facts GET /api/v1/auth/session/validate shows (email, its verification, full name). identity
// and profile own these facts; the session service keeps a projection of their events
// (account.events.v1, profile.events.v1) and never asks them per request.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// ErrNotFound is an account the projection has not heard of (yet).
var ErrNotFound = errors.New("account not in projection")

// Facts is what the session service knows about an account.
type Facts struct {
	Email         string
	EmailVerified bool
	FullName      string
}

// Versions of the projection's two parts. Snapshots (account.updated, profile.updated) carry their
// own increasing Version from 0 up; account.created comes before any of them.
const (
	// VersionCreated is the version account.created writes: older than every snapshot.
	VersionCreated int64 = -1
	// VersionNone is a part nothing has been written to yet.
	VersionNone int64 = -2
)

// Store keeps the projection. Each Apply writes its part only when version is newer than the stored
// one, in one conditional write, so events may arrive late, twice or out of order.
type Store interface {
	ApplyIdentity(ctx context.Context, accountID string, version int64, email string, verified bool) error
	ApplyName(ctx context.Context, accountID string, version int64, fullName string) error
	// Get returns ErrNotFound for an unknown account.
	Get(ctx context.Context, accountID string) (Facts, error)
}

// Directory answers what the session service knows of an account and applies the events that
// change it.
type Directory struct {
	store Store
	log   *slog.Logger
}

// NewDirectory returns a Directory.
func NewDirectory(store Store, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.Default()
	}
	return &Directory{store: store, log: log}
}

// Account returns the account's facts; ok is false when they are unknown or cannot be read now
// (validate then shows them as null rather than failing).
func (d *Directory) Account(ctx context.Context, accountID string) (Facts, bool) {
	f, err := d.store.Get(ctx, accountID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			d.log.WarnContext(ctx, "read account projection", "account_id", accountID, "err", err)
		}
		return Facts{}, false
	}
	return f, true
}

// Apply is the Kafka handler of account.events.v1 and profile.events.v1. Types it does not know are
// skipped; so are malformed payloads (retrying them would fail forever and hold up the partition).
// Store errors are returned, so the consumer retries and does not commit.
func (d *Directory) Apply(ctx context.Context, ev events.Envelope) error {
	var err error
	switch ev.Type {
	case events.TypeAccountCreated:
		var p events.AccountCreated
		if err = ev.Decode(&p); err == nil && ev.AccountID != "" {
			if err = d.store.ApplyIdentity(ctx, ev.AccountID, VersionCreated, p.Email, p.EmailVerified); err == nil {
				err = d.store.ApplyName(ctx, ev.AccountID, VersionCreated, fullName(p.FirstName, p.LastName, ""))
			}
			return wrap(ev, err)
		}
	case events.TypeAccountUpdated:
		var p events.AccountSnapshot
		if err = ev.Decode(&p); err == nil && ev.AccountID != "" {
			return wrap(ev, d.store.ApplyIdentity(ctx, ev.AccountID, p.Version, p.Email, p.EmailVerified))
		}
	case events.TypeProfileUpdated:
		var p events.ProfileSnapshot
		if err = ev.Decode(&p); err == nil && ev.AccountID != "" {
			return wrap(ev, d.store.ApplyName(ctx, ev.AccountID, p.Version, fullName(p.FirstName, p.LastName, p.DisplayName)))
		}
	default:
		return nil
	}
	d.log.ErrorContext(ctx, "skipping malformed account event", "event_id", ev.EventID, "type", ev.Type, "err", err)
	return nil
}

func wrap(ev events.Envelope, err error) error {
	if err != nil {
		return fmt.Errorf("apply %s %s for %s: %w", ev.Type, ev.EventID, ev.AccountID, err)
	}
	return nil
}

// fullName is "First Last", or the display name when neither is set.
func fullName(first, last, display string) string {
	if name := strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last)); name != "" {
		return name
	}
	return strings.TrimSpace(display)
}
