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
	// 10:05 in a 15-minute window that started at 10:00.
	l, clk := newLimiter(t, time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC))
	lim := throttle.Limit{Max: 3, Window: 15 * time.Minute}
	for i := 1; i <= 3; i++ {
		if err := l.Hit(ctx, "login_ip", "203.0.113.1", lim); err != nil {
			t.Fatalf("hit %d: %v, want allowed", i, err)
		}
	}
	err := l.Hit(ctx, "login_ip", "203.0.113.1", lim)
	retry, limited := retryAfter(err)
	if !limited || retry != 10*time.Minute {
		t.Fatalf("4th hit = %v, want ExceededError with RetryAfter 10m (end of window)", err)
	}
	tests := []struct {
		name    string
		key     string
		advance time.Duration
		want    bool // allowed
	}{
		{"other key has its own budget", "203.0.113.2", 0, true},
		{"same key, same window", "203.0.113.1", 9 * time.Minute, false},
		{"same key, next window", "203.0.113.1", time.Minute, true},
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
	l, _ := newLimiter(t, time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC))
	lim := throttle.Limit{Max: 2, Window: time.Minute}
	steps := []struct {
		name        string
		do          func() error
		wantLimited bool
	}{
		{"check with no failures", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false},
		{"first failure", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false},
		{"check after one failure", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false},
		{"second failure", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false},
		{"check at the limit", func() error { return l.Check(ctx, "login_account", "acc", lim) }, true},
		{"failure beyond the limit is not an error", func() error { return l.Fail(ctx, "login_account", "acc", lim) }, false},
		{"reset", func() error { return l.Reset(ctx, "login_account", "acc", lim) }, false},
		{"check after reset", func() error { return l.Check(ctx, "login_account", "acc", lim) }, false},
	}
	for _, st := range steps {
		err := st.do()
		retry, limited := retryAfter(err)
		if limited != st.wantLimited || (!limited && err != nil) {
			t.Fatalf("%s: %v, want limited=%v", st.name, err, st.wantLimited)
		}
		if limited && retry != 30*time.Second {
			t.Errorf("%s: RetryAfter = %s, want 30s", st.name, retry)
		}
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
