package password

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Concurrency bounds the argon2id derivations a Hasher runs at once. Each derivation holds an m KiB
// workspace (19 MiB at the default parameters) for its whole run, from a pool of MaxHashes kept
// between derivations, so the bound on concurrent derivations is the bound on the memory hashing
// takes: MaxHashes × m, allocated once. Requests beyond it wait
// in a bounded queue for a bounded time, and are refused with a *BusyError beyond that — a burst
// of logins then answers 503 with Retry-After instead of pushing the process past its memory limit.
type Concurrency struct {
	MaxHashes int           // derivations at once; zero: GOMAXPROCS (one per core: more would only wait for CPU)
	MaxQueue  int           // callers waiting for a slot; zero: 32 per slot
	MaxWait   time.Duration // longest wait for a slot; zero: 3 s
}

// DefaultMaxWait is the longest a hash waits for a free slot when Concurrency.MaxWait is zero.
const DefaultMaxWait = 3 * time.Second

// withDefaults fills the zero fields.
func (c Concurrency) withDefaults() Concurrency {
	if c.MaxHashes <= 0 {
		c.MaxHashes = runtime.GOMAXPROCS(0)
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 32 * c.MaxHashes
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	return c
}

// BusyError says that every hashing slot was taken and the wait queue was full or the wait too
// long: the caller should answer 503 with a Retry-After of RetryAfter.
type BusyError struct {
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("password hashing busy, retry after %s", e.RetryAfter)
}

// ErrBusy matches every *BusyError with errors.Is.
var ErrBusy = errors.New("password hashing busy")

// Is makes errors.Is(err, ErrBusy) true for a *BusyError.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// busyRetryAfter is the Retry-After of a refused hash: a slot frees within one derivation (tens of
// milliseconds), so a second is enough for the queue to have moved on.
const busyRetryAfter = time.Second

// gate is a counting semaphore with a bounded queue.
type gate struct {
	cfg     Concurrency
	slots   chan struct{}
	waiting atomic.Int64
	running atomic.Int64
	peak    atomic.Int64
}

func newGate(c Concurrency) *gate {
	c = c.withDefaults()
	return &gate{cfg: c, slots: make(chan struct{}, c.MaxHashes)}
}

// acquire takes a slot, waiting in the queue when none is free; *BusyError when the queue is full or
// the wait exceeds MaxWait.
func (g *gate) acquire() error {
	select {
	case g.slots <- struct{}{}:
		g.enter()
		return nil
	default:
	}
	if g.waiting.Add(1) > int64(g.cfg.MaxQueue) {
		g.waiting.Add(-1)
		return &BusyError{RetryAfter: busyRetryAfter}
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.cfg.MaxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		g.enter()
		return nil
	case <-t.C:
		return &BusyError{RetryAfter: busyRetryAfter}
	}
}

func (g *gate) enter() {
	n := g.running.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gate) release() {
	g.running.Add(-1)
	<-g.slots
}
