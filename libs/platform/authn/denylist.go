package authn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// DefaultLookback is how far back Follow reads session.events.v1 when it starts: the longest lifetime
// of an access token (ACCESS_TOKEN_TTL's default) plus the verifier's leeway. Any revocation older
// than that concerns only tokens that have expired anyway.
const DefaultLookback = 15*time.Minute + Leeway

// sweepEvery bounds how often Deny walks the map to drop expired entries.
const sweepEvery = time.Minute

// DenyList holds the sessions whose access tokens must be refused although they have not expired:
// each entry lasts until the latest exp of any token issued for the session. It is safe for
// concurrent use.
//
// It also holds revoked API keys and the accounts whose keys must be refused (deactivated or locked),
// each for APIKeyDenyWindow after the event: long enough to outlive every cached answer identity gave
// before the change, after which identity itself refuses the key.
type DenyList struct {
	mu        sync.RWMutex
	until     map[string]time.Time
	lastSweep time.Time

	keys     map[string]time.Time   // API key id → refused until
	accounts map[string]accountDeny // account id → its keys refused until
}

// accountDeny refuses every API key of an account: revoked until an api_key.revoked for all keys
// (only the keys created at or before revokedAt, the event's time, so that a key created after a
// recovery works at once),
// inactive until a snapshot with a status other than ACTIVE (version is that snapshot's, so that an
// older ACTIVE snapshot read later does not lift it).
type accountDeny struct {
	revoked   time.Time
	revokedAt time.Time
	inactive  time.Time
	version   int64
}

func (a accountDeny) until() time.Time {
	if a.revoked.After(a.inactive) {
		return a.revoked
	}
	return a.inactive
}

// APIKeyDenyWindow is how long a revoked key or a deactivated account's keys stay on the deny-list.
// It must exceed the API-key cache TTL (at most two minutes) plus a request's timeout.
const APIKeyDenyWindow = 10 * time.Minute

// NewDenyList returns an empty deny-list.
func NewDenyList() *DenyList {
	return &DenyList{
		until: make(map[string]time.Time), lastSweep: time.Now(),
		keys: make(map[string]time.Time), accounts: make(map[string]accountDeny),
	}
}

// Deny refuses the session's tokens until the given time. A later time extends an entry; an earlier
// one never shortens it (events may arrive out of order).
func (d *DenyList) Deny(sessionID string, until time.Time) {
	if sessionID == "" {
		return
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.until[sessionID]; !ok || until.After(cur) {
		d.until[sessionID] = until
	}
	d.sweepLocked(now)
}

// sweepLocked drops expired entries, at most once per sweepEvery.
func (d *DenyList) sweepLocked(now time.Time) {
	if now.Sub(d.lastSweep) < sweepEvery {
		return
	}
	d.lastSweep = now
	for id, u := range d.until {
		if !u.After(now) {
			delete(d.until, id)
		}
	}
	for id, u := range d.keys {
		if !u.After(now) {
			delete(d.keys, id)
		}
	}
	for id, a := range d.accounts {
		if !a.until().After(now) {
			delete(d.accounts, id)
		}
	}
}

// DenyAPIKey refuses the API key until the given time (never shortening an entry).
func (d *DenyList) DenyAPIKey(keyID string, until time.Time) {
	if keyID == "" {
		return
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.keys[keyID]; !ok || until.After(cur) {
		d.keys[keyID] = until
	}
	d.sweepLocked(now)
}

// RevokeAccountAPIKeys refuses every API key of the account created at or before at, until the
// given time.
func (d *DenyList) RevokeAccountAPIKeys(accountID string, at, until time.Time) {
	d.updateAccount(accountID, func(a *accountDeny) {
		if until.After(a.revoked) {
			a.revoked = until
		}
		if at.After(a.revokedAt) {
			a.revokedAt = at
		}
	})
}

// DenyInactiveAccount refuses every API key of an account that may no longer sign in, until the
// given time or until AllowActiveAccount with a newer version; version is the AccountSnapshot's.
func (d *DenyList) DenyInactiveAccount(accountID string, version int64, until time.Time) {
	d.updateAccount(accountID, func(a *accountDeny) {
		if version < a.version {
			return
		}
		a.version = version
		if until.After(a.inactive) {
			a.inactive = until
		}
	})
}

// AllowActiveAccount lifts DenyInactiveAccount when version is newer than the snapshot that caused
// it (the account was reactivated).
func (d *DenyList) AllowActiveAccount(accountID string, version int64) {
	d.updateAccount(accountID, func(a *accountDeny) {
		if version > a.version {
			a.version, a.inactive = version, time.Time{}
		}
	})
}

func (d *DenyList) updateAccount(accountID string, change func(*accountDeny)) {
	if accountID == "" {
		return
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.accounts[accountID]
	change(&a)
	if a.until().After(now) {
		d.accounts[accountID] = a
	} else {
		// Nothing to refuse: forget it (one account's events keep their order on one partition).
		delete(d.accounts, accountID)
	}
	d.sweepLocked(now)
}

// APIKeyDenied reports whether the key, created at createdAt (zero: unknown), must be refused now:
// revoked itself, its account inactive, or all of the account's keys revoked after it was created.
func (d *DenyList) APIKeyDenied(keyID, accountID string, createdAt time.Time) bool {
	now := time.Now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if u, ok := d.keys[keyID]; ok && now.Before(u) {
		return true
	}
	a, ok := d.accounts[accountID]
	if !ok {
		return false
	}
	if now.Before(a.inactive) {
		return true
	}
	return now.Before(a.revoked) && !createdAt.After(a.revokedAt)
}

// Denied reports whether the session's tokens must be refused now.
func (d *DenyList) Denied(sessionID string) bool {
	d.mu.RLock()
	until, ok := d.until[sessionID]
	d.mu.RUnlock()
	return ok && time.Now().Before(until)
}

// Len returns the number of entries, expired ones not yet swept included (for metrics and tests).
func (d *DenyList) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.until)
}

// Follow keeps the deny-list up to date until ctx is done, from two topics: session.events.v1
// (session.revoked) and account.events.v1 (api_key.revoked, and account.updated snapshots whose status
// is not ACTIVE). It reads every partition without a consumer group (every replica of every service
// needs every revocation) of cluster, starting lookback ago (at least APIKeyDenyWindow for account events) so
// that a service starting up learns the revocations still in force. When the broker fails it retries
// with a growing delay; it returns nil once ctx is done. Run it in a goroutine.
func (d *DenyList) Follow(ctx context.Context, cluster kafkax.Cluster, topicPrefix string, lookback time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		d.follow(ctx, cluster, kafkax.Topic(topicPrefix, events.TopicAccountEvents), max(lookback, APIKeyDenyWindow), log)
	})
	d.follow(ctx, cluster, kafkax.Topic(topicPrefix, events.TopicSessionEvents), lookback, log)
	wg.Wait()
	return nil
}

func (d *DenyList) follow(ctx context.Context, cluster kafkax.Cluster, topic string, lookback time.Duration, log *slog.Logger) {
	since := time.Now()
	handle := func(ctx context.Context, ev events.Envelope) error {
		d.Apply(ctx, ev, log)
		observeRevocation(ev, since)
		return nil
	}
	delay := 500 * time.Millisecond
	for {
		// Restarting from lookback ago after a failure is safe: Deny is idempotent.
		err := kafkax.RunBroadcast(ctx, cluster, topic, time.Now().Add(-lookback), handle)
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "deny-list follower stopped; retrying", "topic", topic, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// Apply applies one event: a session.revoked denies its session; an api_key.revoked denies the key
// (or every key of the account) for APIKeyDenyWindow from the event's time; an account.updated whose
// status is not ACTIVE denies the account's keys likewise, and a newer ACTIVE one lifts that. Other
// types are ignored. A malformed event is logged and skipped, since it can never become readable.
func (d *DenyList) Apply(ctx context.Context, ev events.Envelope, log *slog.Logger) {
	switch ev.Type {
	case events.TypeSessionRevoked:
		d.applySessionRevoked(ctx, ev, log)
	case events.TypeAPIKeyRevoked:
		var p events.APIKeyRevoked
		if err := ev.Decode(&p); err != nil || (p.KeyID == "" && !p.AllKeys) {
			log.ErrorContext(ctx, "skipping malformed api_key.revoked event", "event_id", ev.EventID, "err", err)
			return
		}
		until := ev.OccurredAt.Add(APIKeyDenyWindow)
		if p.AllKeys {
			d.RevokeAccountAPIKeys(ev.AccountID, ev.OccurredAt, until)
		} else {
			d.DenyAPIKey(p.KeyID, until)
		}
	case events.TypeAccountUpdated:
		var p events.AccountSnapshot
		if err := ev.Decode(&p); err != nil {
			log.ErrorContext(ctx, "skipping malformed account.updated event", "event_id", ev.EventID, "err", err)
			return
		}
		if p.Status == events.AccountStatusActive || p.Status == "" {
			d.AllowActiveAccount(ev.AccountID, p.Version)
			return
		}
		d.DenyInactiveAccount(ev.AccountID, p.Version, ev.OccurredAt.Add(APIKeyDenyWindow))
	}
}

func (d *DenyList) applySessionRevoked(ctx context.Context, ev events.Envelope, log *slog.Logger) {
	var p events.SessionRevoked
	if err := ev.Decode(&p); err != nil || p.SessionID == "" {
		if err == nil {
			err = fmt.Errorf("event %s has no sessionId", ev.EventID)
		}
		log.ErrorContext(ctx, "skipping malformed session.revoked event", "event_id", ev.EventID, "err", err)
		return
	}
	d.Deny(p.SessionID, p.DenyUntil)
}
