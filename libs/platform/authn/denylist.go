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
type DenyList struct {
	mu        sync.RWMutex
	until     map[string]time.Time
	lastSweep time.Time
}

// NewDenyList returns an empty deny-list.
func NewDenyList() *DenyList {
	return &DenyList{until: make(map[string]time.Time), lastSweep: time.Now()}
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
	if now.Sub(d.lastSweep) >= sweepEvery {
		d.lastSweep = now
		for id, u := range d.until {
			if !u.After(now) {
				delete(d.until, id)
			}
		}
	}
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

// Follow keeps the deny-list up to date from session.events.v1 until ctx is done: it reads every
// partition without a consumer group (every replica of every service needs every revocation), starting
// lookback ago so that a service starting up learns the revocations still in force, and applies each
// session.revoked event. When the broker fails it retries with a growing delay; it returns nil once ctx
// is done. Run it in a goroutine.
func (d *DenyList) Follow(ctx context.Context, brokers []string, topicPrefix string, lookback time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	topic := kafkax.Topic(topicPrefix, events.TopicSessionEvents)
	handle := func(ctx context.Context, ev events.Envelope) error {
		d.Apply(ctx, ev, log)
		return nil
	}
	delay := 500 * time.Millisecond
	for {
		// Restarting from lookback ago after a failure is safe: Deny is idempotent.
		err := kafkax.RunBroadcast(ctx, brokers, topic, time.Now().Add(-lookback), handle)
		if ctx.Err() != nil {
			return nil
		}
		log.WarnContext(ctx, "deny-list follower stopped; retrying", "topic", topic, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// Apply applies one event of session.events.v1: a session.revoked denies its session; other types are
// ignored. A malformed event is logged and skipped, since it can never become readable.
func (d *DenyList) Apply(ctx context.Context, ev events.Envelope, log *slog.Logger) {
	if ev.Type != events.TypeSessionRevoked {
		return
	}
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
