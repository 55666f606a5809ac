package throttle_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newLimiter(t *testing.T, start time.Time) (*throttle.Limiter, *clock) {
	t.Helper()
	db := testenv.New(t).Database("identity")
	clk := &clock{now: start}
	return throttle.New(store.NewCounters(db)).WithClock(clk.Now), clk
}

func retryAfter(err error) (time.Duration, bool) {
	var ex *throttle.ExceededError
	if errors.As(err, &ex) {
		return ex.RetryAfter, true
	}
	return 0, false
}

func TestHit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clk := newLimiter(t, time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC))
	// A burst of 3, refilled at 3 per 15 minutes: one every 5 minutes.
	lim := throttle.Limit{Max: 3, Window: 15 * time.Minute}
	for i := 1; i <= 3; i++ {
		st, err := l.Take(ctx, "login_ip", "203.0.113.1", lim)
		if err != nil {
			t.Fatalf("hit %d: %v, want allowed", i, err)
		}
		if st.Limit != 3 || st.Remaining != 3-i || st.Reset != time.Duration(i)*5*time.Minute {
			t.Errorf("hit %d: status %+v, want limit 3, remaining %d, reset %s", i, st, 3-i, time.Duration(i)*5*time.Minute)
		}
	}
	err := l.Hit(ctx, "login_ip", "203.0.113.1", lim)
	retry, limited := retryAfter(err)
	if !limited || retry != 5*time.Minute {
		t.Fatalf("4th hit = %v, want ExceededError with RetryAfter 5m (one event's refill)", err)
	}
	var ex *throttle.ExceededError
	if errors.As(err, &ex); ex.Limit != 3 || ex.Remaining != 0 || ex.Reset != 15*time.Minute {
		t.Errorf("4th hit status = %+v, want limit 3, remaining 0, reset 15m", ex.Status)
	}
	tests := []struct {
		name    string
		key     string
		advance time.Duration
		want    bool // allowed
	}{
		{"other key has its own budget", "203.0.113.2", 0, true},
		{"same key before one event refilled", "203.0.113.1", 4*time.Minute + 59*time.Second, false},
		{"same key once one event refilled", "203.0.113.1", time.Second, true},
		{"and only one", "203.0.113.1", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.advance)
			err := l.Hit(ctx, "login_ip", tc.key, lim)
			if (err == nil) != tc.want {
				t.Errorf("Hit() = %v, want allowed=%v", err, tc.want)
			}
		})
	}
}

// A fixed window aligned to the clock lets a client spend the limit just before the edge and again
// just after it. The limits here have no edge: wherever the burst falls, the next events only come
// at the refill rate.
func TestNoBurstAtAWindowEdge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := throttle.Limit{Max: 10, Window: time.Hour}
	for _, start := range []time.Time{
		time.Date(2026, 3, 1, 10, 59, 59, 0, time.UTC), // one second before a clock hour
		time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),   // on it
		time.Date(2026, 3, 1, 10, 29, 0, 0, time.UTC),
	} {
		l, clk := newLimiter(t, start)
		allowed := 0
		for range 10 {
			if l.Hit(ctx, "s", "k", lim) == nil {
				allowed++
			}
		}
		clk.Add(2 * time.Second) // across the edge
		for range 10 {
			if l.Hit(ctx, "s", "k", lim) == nil {
				allowed++
			}
		}
		if allowed != 10 {
			t.Errorf("from %s: %d events allowed within 2 s, want 10 (no second burst across a window edge)", start.Format(time.TimeOnly), allowed)
		}
		// Over the next hour the allowance refills at 10 per hour, no faster.
		for range 60 {
			clk.Add(time.Minute)
			if l.Hit(ctx, "s", "k", lim) == nil {
				allowed++
			}
		}
		if allowed != 20 {
			t.Errorf("from %s: %d events in 1 h 2 s, want 20 (burst 10, then 10 per hour)", start.Format(time.TimeOnly), allowed)
		}
	}
}

func TestHitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := newLimiter(t, time.Now())
	lim := throttle.Limit{Max: 5, Window: time.Hour}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			err := l.Hit(ctx, "otp_destination", "a@example.com", lim)
			if err == nil {
				allowed.Add(1)
			} else if _, ok := retryAfter(err); !ok {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 5 {
		t.Errorf("%d of 25 concurrent hits allowed, want exactly 5 (limits hold across replicas and goroutines)", got)
	}
}

func TestCheckFailReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clk := newLimiter(t, time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC))
	lim := throttle.Limit{Max: 2, Window: time.Minute}
	steps := []struct {
		name        string
		do          func() error
		wantLimited bool
		wantRetry   time.Duration
	}{
		{"check with no failures", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false, 0},
		{"first failure", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false, 0},
		{"check after one failure", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false, 0},
		{"second failure", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false, 0},
		{"check at the limit", func() error { return l.Check(ctx, "login_account", "acc", lim) }, true, 30 * time.Second},
		{"failure beyond the limit is not an error", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false, 0},
		{"failures past the limit do not push recovery beyond one window", func() error {
			for range 10 {
				if err := l.Fail(ctx, "login_account", "acc", lim); err != nil {
					return err
				}
			}
			return l.Check(ctx, "login_account", "acc", lim)
		}, true, 30 * time.Second},
		{"half a window later one failure is allowed again", func() error {
			clk.Add(30 * time.Second)
			return l.Check(ctx, "login_account", "acc", lim)
		}, false, 0},
		{"fail again", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false, 0},
		{"reset", func() error { return l.Reset(ctx, "login_account", "acc", lim) }, false, 0},
		{"check after reset", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false, 0},
	}
	for _, st := range steps {
		err := st.do()
		retry, limited := retryAfter(err)
		if limited != st.wantLimited || (!limited && err != nil) {
			t.Fatalf("%s: %v, want limited=%v", st.name, err, st.wantLimited)
		}
		if limited && retry != st.wantRetry {
			t.Errorf("%s: RetryAfter = %s, want %s", st.name, retry, st.wantRetry)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clk := newLimiter(t, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	b := throttle.Backoff{Free: 3, Base: time.Second, Max: 8 * time.Second, Forget: time.Hour}
	fail := func() {
		t.Helper()
		if err := l.FailBackoff(ctx, "login_client", "acc|ip", b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := l.CheckBackoff(ctx, "login_client", "acc|ip", b); err != nil {
			t.Fatalf("check before free failure %d: %v", i+1, err)
		}
		fail()
	}
	if err := l.CheckBackoff(ctx, "login_client", "acc|ip", b); err != nil {
		t.Fatalf("after the free failures: %v, want allowed", err)
	}
	// Each failure past the free ones doubles the wait, up to Max.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		fail()
		retry, limited := retryAfter(l.CheckBackoff(ctx, "login_client", "acc|ip", b))
		if !limited || retry != want {
			t.Fatalf("failure %d past the free ones: wait %s (limited %v), want %s", i+1, retry, limited, want)
		}
		if err := l.CheckBackoff(ctx, "login_client", "acc|other-ip", b); err != nil {
			t.Fatalf("another client of the account: %v, want allowed", err)
		}
		clk.Add(want)
		if err := l.CheckBackoff(ctx, "login_client", "acc|ip", b); err != nil {
			t.Fatalf("after waiting %s: %v, want allowed", want, err)
		}
	}
	clk.Add(time.Hour + time.Second)
	fail()
	if err := l.CheckBackoff(ctx, "login_client", "acc|ip", b); err != nil {
		t.Fatalf("a failure after an hour of quiet: %v, want it free again", err)
	}
	if err := l.ResetBackoff(ctx, "login_client", "acc|ip", b); err != nil {
		t.Fatal(err)
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	a, err := throttle.ParseAllowList([]string{"203.0.113.7", " 198.51.100.0/24", "2001:db8::/32", ""})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"203.0.113.7": true, "203.0.113.8": false, "198.51.100.200": true, "198.51.101.1": false,
		"2001:db8::1": true, "2001:db9::1": false, "::ffff:203.0.113.7": true, "not-an-ip": false, "": false,
	} {
		if got := a.Contains(ip); got != want {
			t.Errorf("Contains(%q) = %v, want %v", ip, got, want)
		}
	}
	if _, err := throttle.ParseAllowList([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseAllowList(10.0.0.0/33) = nil error, want one")
	}
}

func TestZeroLimitMeansUnlimited(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, time.Now())
	for range 3 {
		if err := l.Hit(context.Background(), "s", "k", throttle.Limit{}); err != nil {
			t.Fatalf("Hit() with zero limit = %v, want nil", err)
		}
	}
}
