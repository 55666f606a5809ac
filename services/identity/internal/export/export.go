// Package export is the owner's copy of everything Latchkey holds about their account. A request
// (POST /api/v1/account/export) creates a pending export with identity's own part and asks every other
// service for its part (account.export_requested on account.events.v1); each answers with one
// events.ExportPart on account.exports.v1, which Collect stores into the export. When the session,
// profile and notification parts are in, the export is complete: it can be read for a day
// (ACCOUNT_EXPORT_TTL) and the owner is alerted (export_ready, no data in the alert). Expired exports
// are never returned and are deleted in batches by RunCleanup.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Statuses of an export.
const (
	StatusPending  = "pending"
	StatusComplete = "complete"
)

// ServiceIdentity names identity's own part.
const ServiceIdentity = "identity"

// ScopeExportAccount is the throttle scope of export requests per account.
const ScopeExportAccount = "account_export"

// ErrNotFound is an export that does not exist, is another account's, or has expired.
var ErrNotFound = errors.New("export not found")

// Export is one export of an account's data. Parts maps a service ("identity", "session", "profile",
// "notification") to the JSON object of its part.
type Export struct {
	ID          string
	AccountID   string
	RequestedAt time.Time
	Status      string
	Parts       map[string]json.RawMessage
	CompletedAt time.Time // zero while pending
	// ExpiresAt is when the export is gone: CompletedAt + TTL once complete; while pending,
	// RequestedAt + TTL, so an export whose parts never all arrive is not kept forever.
	ExpiresAt time.Time
}

// Store keeps exports. Every query filters expiresAt itself (the local server has no TTL index).
type Store interface {
	Create(ctx context.Context, e Export) error
	// Get returns the account's export id unless it has expired at now; ErrNotFound otherwise.
	Get(ctx context.Context, accountID, id string, now time.Time) (Export, error)
	// AddPart sets service's part of the account's pending, unexpired export id in one update that
	// never inserts; false when no such export matched (unknown, another account's, complete, expired
	// or erased).
	AddPart(ctx context.Context, accountID, id, service string, data json.RawMessage, now time.Time) (bool, error)
	// Complete marks the pending export complete when it has every part of services, in one
	// conditional update; false when it did not match (a part is missing, or it is complete already).
	Complete(ctx context.Context, id string, services []string, completedAt, expiresAt time.Time) (bool, error)
	// DeleteExpired deletes at most limit exports expired at now and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Limiter admits one export per account per interval, across replicas (throttle.Limiter).
type Limiter interface {
	Hit(ctx context.Context, scope, key string, lim throttle.Limit) error
}

// Outbox queues events (kafkax.Outbox).
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Activity records an activity log entry ((*auth.Service).RecordActivity).
type Activity interface {
	RecordActivity(ctx context.Context, accountID string, act events.Activity)
}

// Accounts reads accounts (store.Accounts).
type Accounts interface {
	ByID(ctx context.Context, id string) (account.Account, error)
}

// Config are the export settings (ACCOUNT_EXPORT_TTL, ACCOUNT_EXPORT_INTERVAL).
type Config struct {
	TTL      time.Duration
	Interval time.Duration
}

// Deps are what the Service works with. Sources may leave any source nil (that part is omitted).
type Deps struct {
	Store    Store
	Limiter  Limiter
	Outbox   Outbox
	Activity Activity
	Accounts Accounts
	Sources  Sources
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service runs exports.
type Service struct {
	cfg Config
	Deps
}

// NewService returns a Service.
func NewService(cfg Config, d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{cfg: cfg, Deps: d}
}

// Requester is who asks for an export: the signed-in owner, from a session and a client.
type Requester struct {
	AccountID string
	SessionID string
	Client    auth.Client
}

// Request starts an export of the requester's account: at most one per Config.Interval (a
// *throttle.ExceededError with the wait otherwise). It stores the pending export with identity's part,
// queues account.export_requested for the other services and records the activity.
func (s *Service) Request(ctx context.Context, r Requester) (Export, error) {
	// Identity's part first: a read that fails (MongoDB away) must not spend the account's export.
	identity, err := s.IdentityPart(ctx, r.AccountID)
	if err != nil {
		return Export{}, err
	}
	if err := s.Limiter.Hit(ctx, ScopeExportAccount, r.AccountID, throttle.Limit{Max: 1, Window: s.cfg.Interval}); err != nil {
		return Export{}, err
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	e := Export{
		ID: events.NewID(), AccountID: r.AccountID, RequestedAt: now, Status: StatusPending,
		Parts: map[string]json.RawMessage{ServiceIdentity: identity}, ExpiresAt: now.Add(s.cfg.TTL),
	}
	if err := s.Store.Create(ctx, e); err != nil {
		return Export{}, fmt.Errorf("store export: %w", err)
	}
	ev, err := events.New(events.TypeExportRequested, r.AccountID, events.ExportRequested{ExportID: e.ID, RequestedAt: now})
	if err != nil {
		return Export{}, err
	}
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return Export{}, fmt.Errorf("queue export request: %w", err)
	}
	act := auth.ActivityFrom(events.ActivityExportRequested, device.Info{}, r.Client)
	act.SessionID, act.Details = r.SessionID, map[string]string{"exportId": e.ID}
	s.Activity.RecordActivity(ctx, r.AccountID, act)
	s.Logger.InfoContext(ctx, "export requested", "account_id", r.AccountID, "export_id", e.ID)
	return e, nil
}

// Get returns the account's export id, or ErrNotFound (unknown, another account's or expired).
func (s *Service) Get(ctx context.Context, accountID, id string) (Export, error) {
	return s.Store.Get(ctx, accountID, id, s.Now())
}

// Collect is the handler of account.exports.v1: it stores a service's part into its export and
// completes the export once every part is in. A part for an unknown, expired, complete or erased
// export is dropped; a malformed one is logged and skipped; store errors are returned (retried).
func (s *Service) Collect(ctx context.Context, env events.Envelope) error {
	if env.Type != events.TypeExportPart {
		return nil
	}
	var p events.ExportPart
	if err := env.Decode(&p); err != nil || env.AccountID == "" || p.ExportID == "" ||
		!slices.Contains(events.ExportPartServices, p.Service) || !json.Valid(p.Data) || len(p.Data) == 0 || p.Data[0] != '{' {
		s.Logger.ErrorContext(ctx, "skipping malformed export part", "event_id", env.EventID, "err", err)
		return nil
	}
	if len(p.Data) > events.MaxExportPartBytes {
		s.Logger.ErrorContext(ctx, "skipping oversized export part", "event_id", env.EventID, "export_id", p.ExportID, "service", p.Service, "bytes", len(p.Data))
		return nil
	}
	now := s.Now().UTC()
	stored, err := s.Store.AddPart(ctx, env.AccountID, p.ExportID, p.Service, p.Data, now)
	if err != nil {
		return fmt.Errorf("store export part %s/%s: %w", p.ExportID, p.Service, err)
	}
	if !stored {
		s.Logger.InfoContext(ctx, "export part dropped: no pending export", "export_id", p.ExportID, "service", p.Service, "account_id", env.AccountID)
		return nil
	}
	return s.complete(ctx, env.AccountID, p.ExportID)
}

// complete marks the export complete if every part is in, and alerts the owner. The alert's event id
// derives from the export id, so two replicas completing the same export at once queue one alert.
func (s *Service) complete(ctx context.Context, accountID, id string) error {
	now := s.Now().UTC().Truncate(time.Millisecond)
	done, err := s.Store.Complete(ctx, id, events.ExportPartServices, now, now.Add(s.cfg.TTL))
	if err != nil {
		return fmt.Errorf("complete export %s: %w", id, err)
	}
	if !done {
		return nil
	}
	s.Logger.InfoContext(ctx, "export complete", "account_id", accountID, "export_id", id)
	return s.alertReady(ctx, accountID, id)
}

func (s *Service) alertReady(ctx context.Context, accountID, id string) error {
	a, err := s.Accounts.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read account for export alert: %w", err)
	}
	channel, dest, ok := auth.AlertDestination(a)
	if !ok {
		return nil
	}
	ev, err := events.New(events.TypeSecurityAlert, accountID, events.SecurityAlert{
		Kind: events.AlertExportReady, Channel: channel, Destination: dest, Details: map[string]string{"exportId": id},
	})
	if err != nil {
		return err
	}
	ev.EventID = events.ExportDerivedID(id, "ready")
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return fmt.Errorf("queue export alert: %w", err)
	}
	return nil
}

// Cleanup timing: expired exports are deleted every cleanupInterval, cleanupBatch at a time.
const (
	cleanupInterval = 10 * time.Minute
	cleanupBatch    = 500
)

// RunCleanup deletes expired exports until ctx ends: every 10 minutes, in batches of 500 until none
// is left. Failures are logged; reads never depend on it (they filter expiresAt).
func (s *Service) RunCleanup(ctx context.Context) {
	t := time.NewTicker(cleanupInterval)
	defer t.Stop()
	for {
		s.CleanupOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CleanupOnce deletes every export expired now, in batches.
func (s *Service) CleanupOnce(ctx context.Context) int {
	total := 0
	for ctx.Err() == nil {
		n, err := s.Store.DeleteExpired(ctx, s.Now().UTC(), cleanupBatch)
		if err != nil {
			s.Logger.WarnContext(ctx, "delete expired exports", "err", err)
			return total
		}
		total += n
		if n < cleanupBatch {
			break
		}
	}
	if total > 0 {
		s.Logger.InfoContext(ctx, "expired exports deleted", "count", total)
	}
	return total
}
