// Package throttle limits how often something may happen — failed logins per IP, codes sent per
// destination, registrations per e-mail domain — and slows down repeated failures of one client.
//
// Two kinds of limit share one store:
//
//   - Limit is a rate limit by the generic cell rate algorithm (GCRA, a token bucket kept as a
//     single timestamp): Max events may come at once, and the allowance refills continuously at Max
//     per Window. There are no windows aligned to the clock, so there is no edge where a client gets
//     the limit twice in a row: in any span of length d at most Max + d·Max/Window events pass.
//   - Backoff slows down the failures of one key (an account seen from one client): the first Free
//     failures cost nothing, then each one makes the key wait Base, 2·Base, 4·Base … up to Max before
//     its next attempt. A key is forgotten after Forget without failures.
//
// The state lives in a shared store (MongoDB in production), one small document per key, not in
// process memory, so a limit holds across every replica of the service. Every change is a
// compare-and-swap on the document's version (a single-document conditional write), so concurrent
// requests can never be admitted beyond the limit. Stale documents read as empty, so correctness never
// depends on the store deleting old ones (FerretDB has no TTL indexes).
package throttle

import (
	"context"
	"fmt"
	"time"
)

// Limit allows a burst of Max events, refilled at Max per Window. A Max of zero or less means no limit.
type Limit struct {
	Max    int
	Window time.Duration
}

func (l Limit) off() bool { return l.Max <= 0 || l.Window <= 0 }

// interval is the time one event's allowance takes to refill.
func (l Limit) interval() time.Duration {
	iv := l.Window / time.Duration(l.Max)
	if iv <= 0 {
		iv = 1
	}
	return iv
}

// Backoff grows the wait after repeated failures of one key. The first Free failures are free; the
// n-th failure after them makes the key wait Base·2^(n-1), at most Max. Forget without a failure
// clears the key. A zero Base means no backoff.
type Backoff struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

func (b Backoff) off() bool { return b.Base <= 0 }

// delay is the wait after n failures.
func (b Backoff) delay(n int64) time.Duration {
	over := n - int64(b.Free)
	if over <= 0 {
		return 0
	}
	d := b.Base
	for i := int64(1); i < over && d < b.Max; i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// Status is where a key stands against its limit, as the X-RateLimit-* headers report it.
type Status struct {
	Limit     int           // X-RateLimit-Limit: the burst allowed (Max, or Free for a backoff)
	Remaining int           // X-RateLimit-Remaining: events still allowed right now
	Reset     time.Duration // X-RateLimit-Reset: until the whole allowance is back
}

// ExceededError is returned when a limit is reached. RetryAfter is when the next event is allowed;
// Status is for the X-RateLimit-* headers (Remaining is 0).
type ExceededError struct {
	Scope      string
	RetryAfter time.Duration
	Status
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("%s limit exceeded, retry after %s", e.Scope, e.RetryAfter)
}

// State is the stored state of one key: At is a time in Unix nanoseconds (the theoretical arrival
// time of a Limit; the last failure of a Backoff), N a failure count (Backoff only). Version is
// managed by the Store: it changes with every successful Swap.
type State struct {
	At      int64
	N       int64
	Version int64
}

// Store keeps the state of the keys.
type Store interface {
	// Load returns the state of (scope, key) and whether there is one.
	Load(ctx context.Context, scope, key string) (State, bool, error)
	// Swap stores next in place of old (found: whether Load found old) and reports false, storing
	// nothing, when the stored state is no longer old — a concurrent Swap won. The state may be
	// forgotten after expires.
	Swap(ctx context.Context, scope, key string, old State, found bool, next State, expires time.Time) (bool, error)
	// Delete forgets (scope, key).
	Delete(ctx context.Context, scope, key string) error
}

// maxSwaps bounds the compare-and-swap retries of one call; a key so contended that every try loses
// is answered as exceeded (fail closed) rather than looping.
const maxSwaps = 64

// Limiter applies limits to state in a Store.
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

// update runs one compare-and-swap cycle on (scope, key): next returns the new state (and true) or
// false to store nothing; it is called again when a concurrent change won.
func (l *Limiter) update(ctx context.Context, scope, key string, next func(now int64, cur State, found bool) (State, time.Time, bool, error)) error {
	for range maxSwaps {
		cur, found, err := l.store.Load(ctx, scope, key)
		if err != nil {
			return fmt.Errorf("read %s: %w", scope, err)
		}
		st, expires, write, err := next(l.now().UnixNano(), cur, found)
		if err != nil || !write {
			return err
		}
		ok, err := l.store.Swap(ctx, scope, key, cur, found, st, expires)
		if err != nil {
			return fmt.Errorf("count %s: %w", scope, err)
		}
		if ok {
			return nil
		}
	}
	return &ExceededError{Scope: scope, RetryAfter: time.Second, Status: Status{Reset: time.Second}}
}

// gcra computes, for a key whose theoretical arrival time is tat, the new one after an event at now
// and whether the event fits in the limit.
func gcra(lim Limit, now, tat int64) (next int64, allowed bool, st Status, retry time.Duration) {
	iv := int64(lim.interval())
	window := int64(lim.Window)
	base := max(tat, now)
	next = base + iv
	allowed = next-now <= window
	if !allowed {
		retry = time.Duration(next - window - now)
		return tat, false, Status{Limit: lim.Max, Remaining: 0, Reset: time.Duration(base - now)}, ceilSecond(retry)
	}
	return next, true, Status{Limit: lim.Max, Remaining: int((window - (next - now)) / iv), Reset: time.Duration(next - now)}, 0
}

// ceilSecond keeps a wait at one second at least (Retry-After counts whole seconds).
func ceilSecond(d time.Duration) time.Duration { return max(d, time.Second) }

// Take counts one event and returns the key's status, or an *ExceededError (counting nothing) when
// the limit is reached.
func (l *Limiter) Take(ctx context.Context, scope, key string, lim Limit) (Status, error) {
	if lim.off() {
		return Status{}, nil
	}
	var st Status
	err := l.update(ctx, scope, key, func(now int64, cur State, found bool) (State, time.Time, bool, error) {
		next, allowed, s, retry := gcra(lim, now, cur.At)
		st = s
		if !allowed {
			return State{}, time.Time{}, false, &ExceededError{Scope: scope, RetryAfter: retry, Status: s}
		}
		return State{At: next}, time.Unix(0, next), true, nil
	})
	return st, err
}

// Hit counts one event, or returns an *ExceededError when the limit is already reached.
func (l *Limiter) Hit(ctx context.Context, scope, key string, lim Limit) error {
	_, err := l.Take(ctx, scope, key, lim)
	return err
}

// Check returns an *ExceededError when one more event would exceed the limit, without counting one.
// It goes with Fail: check before the attempt, count only the failures.
func (l *Limiter) Check(ctx context.Context, scope, key string, lim Limit) error {
	if lim.off() {
		return nil
	}
	cur, _, err := l.store.Load(ctx, scope, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", scope, err)
	}
	if _, allowed, st, retry := gcra(lim, l.now().UnixNano(), cur.At); !allowed {
		return &ExceededError{Scope: scope, RetryAfter: retry, Status: st}
	}
	return nil
}

// Fail counts one failure (see Check). A failure past the limit keeps the allowance empty for a
// whole Window but no longer, so failures cannot push the key's recovery ever further away.
func (l *Limiter) Fail(ctx context.Context, scope, key string, lim Limit) error {
	if lim.off() {
		return nil
	}
	return l.update(ctx, scope, key, func(now int64, cur State, _ bool) (State, time.Time, bool, error) {
		next := min(max(cur.At, now)+int64(lim.interval()), now+int64(lim.Window))
		return State{At: next}, time.Unix(0, next), true, nil
	})
}

// Reset forgets the key's events, e.g. the failed logins of an account whose owner just proved
// control of its mailbox.
func (l *Limiter) Reset(ctx context.Context, scope, key string, lim Limit) error {
	if lim.off() {
		return nil
	}
	return l.forget(ctx, scope, key)
}

func (l *Limiter) forget(ctx context.Context, scope, key string) error {
	if err := l.store.Delete(ctx, scope, key); err != nil {
		return fmt.Errorf("reset %s: %w", scope, err)
	}
	return nil
}

// failures returns the failures of a backoff key that still count at now.
func (b Backoff) failures(now int64, cur State) int64 {
	if b.Forget > 0 && now-cur.At > int64(b.Forget) {
		return 0
	}
	return cur.N
}

// CheckBackoff returns an *ExceededError while the key must wait after its failures.
func (l *Limiter) CheckBackoff(ctx context.Context, scope, key string, b Backoff) error {
	if b.off() {
		return nil
	}
	cur, _, err := l.store.Load(ctx, scope, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", scope, err)
	}
	now := l.now().UnixNano()
	n := b.failures(now, cur)
	if until := cur.At + int64(b.delay(n)); n > int64(b.Free) && until > now {
		wait := time.Duration(until - now)
		return &ExceededError{Scope: scope, RetryAfter: ceilSecond(wait), Status: Status{Limit: b.Free, Reset: wait}}
	}
	return nil
}

// FailBackoff counts one failure of the key.
func (l *Limiter) FailBackoff(ctx context.Context, scope, key string, b Backoff) error {
	if b.off() {
		return nil
	}
	return l.update(ctx, scope, key, func(now int64, cur State, _ bool) (State, time.Time, bool, error) {
		next := State{At: now, N: b.failures(now, cur) + 1}
		expires := time.Unix(0, now).Add(max(b.Forget, b.delay(next.N)))
		return next, expires, true, nil
	})
}

// ResetBackoff forgets the key's failures (its owner just succeeded).
func (l *Limiter) ResetBackoff(ctx context.Context, scope, key string, b Backoff) error {
	if b.off() {
		return nil
	}
	return l.forget(ctx, scope, key)
}
