// Package throttle limits how often something may happen — login attempts per IP, failed logins per
// account, codes sent per destination — by counting in fixed time windows.
//
// The counters live in a shared store (MongoDB in production), not in process memory, so a limit holds
// across every replica of the service. A window of a limit has Max numbered slots; counting an event
// claims the next free one. The store makes each claim an insert into a unique key — the one write
// that is atomic on MongoDB and FerretDB alike — so concurrent requests can never be admitted beyond
// the limit. Reads always name the window, so correctness never depends on the store deleting old
// windows (FerretDB has no TTL indexes).
package throttle

import (
	"context"
	"fmt"
	"time"
)

// Limit allows Max events per Window. A Max of zero or less means no limit.
type Limit struct {
	Max    int
	Window time.Duration
}

// ExceededError is returned when a limit is reached. RetryAfter is when the current window ends.
type ExceededError struct {
	Scope      string
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("%s limit exceeded, retry after %s", e.Scope, e.RetryAfter)
}

// Store keeps the counters.
type Store interface {
	// Claim takes a free slot among the max slots of (scope, key) for the window starting at start
	// and reports whether there was one. Of any number of concurrent claims at most max succeed. The
	// slots may be forgotten after expires.
	Claim(ctx context.Context, scope, key string, start, expires time.Time, max int) (bool, error)
	// Count returns how many slots of (scope, key) for the window starting at start are taken.
	Count(ctx context.Context, scope, key string, start time.Time) (int, error)
	// Reset frees every slot of (scope, key) for the window starting at start.
	Reset(ctx context.Context, scope, key string, start time.Time) error
}

// Limiter applies limits to counters in a Store.
type Limiter struct {
	store Store
	now   func() time.Time
}

// New returns a Limiter over store using the wall clock.
func New(store Store) *Limiter { return &Limiter{store: store, now: time.Now} }

// WithClock returns a copy of l that reads the time from now (tests move time forward with it).
func (l *Limiter) WithClock(now func() time.Time) *Limiter {
	return &Limiter{store: l.store, now: now}
}

func (l *Limiter) window(lim Limit) (start time.Time, retry time.Duration) {
	now := l.now().UTC()
	start = now.Truncate(lim.Window)
	retry = start.Add(lim.Window).Sub(now)
	if retry < time.Second {
		retry = time.Second
	}
	return start, retry
}

// Hit counts one event, or returns an *ExceededError when the window's limit is already reached.
func (l *Limiter) Hit(ctx context.Context, scope, key string, lim Limit) error {
	if lim.Max <= 0 || lim.Window <= 0 {
		return nil
	}
	start, retry := l.window(lim)
	ok, err := l.store.Claim(ctx, scope, key, start, start.Add(lim.Window), lim.Max)
	if err != nil {
		return fmt.Errorf("count %s: %w", scope, err)
	}
	if !ok {
		return &ExceededError{Scope: scope, RetryAfter: retry}
	}
	return nil
}

// Check returns an *ExceededError when the limit is already reached, without counting an event. It
// goes with Fail: check before the attempt, count only the failures.
func (l *Limiter) Check(ctx context.Context, scope, key string, lim Limit) error {
	if lim.Max <= 0 || lim.Window <= 0 {
		return nil
	}
	start, retry := l.window(lim)
	n, err := l.store.Count(ctx, scope, key, start)
	if err != nil {
		return fmt.Errorf("read %s counter: %w", scope, err)
	}
	if n >= lim.Max {
		return &ExceededError{Scope: scope, RetryAfter: retry}
	}
	return nil
}

// Fail counts one failure (see Check). Failures beyond the limit need no slot: the window is closed.
func (l *Limiter) Fail(ctx context.Context, scope, key string, lim Limit) error {
	if lim.Max <= 0 || lim.Window <= 0 {
		return nil
	}
	start, _ := l.window(lim)
	if _, err := l.store.Claim(ctx, scope, key, start, start.Add(lim.Window), lim.Max); err != nil {
		return fmt.Errorf("count %s: %w", scope, err)
	}
	return nil
}

// Reset forgets the current window's counter, e.g. the failed logins of an account that just signed in.
func (l *Limiter) Reset(ctx context.Context, scope, key string, lim Limit) error {
	if lim.Max <= 0 || lim.Window <= 0 {
		return nil
	}
	start, _ := l.window(lim)
	if err := l.store.Reset(ctx, scope, key, start); err != nil {
		return fmt.Errorf("reset %s: %w", scope, err)
	}
	return nil
}
