package otp_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// outbox records the events a service queues.
type outbox struct {
	mu     sync.Mutex
	events []events.Envelope
	topics []string
}

func (o *outbox) Add(_ context.Context, topic string, ev events.Envelope) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, ev)
	o.topics = append(o.topics, topic)
	return nil
}

// last returns the last dispatch queued.
func (o *outbox) last(t *testing.T) events.OTPDispatch {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.events) == 0 {
		t.Fatal("no event queued")
	}
	ev := o.events[len(o.events)-1]
	if ev.Type != events.TypeOTPDispatch || o.topics[len(o.topics)-1] != events.TopicOTPDispatch {
		t.Fatalf("queued %s on %s, want %s on %s", ev.Type, o.topics[len(o.topics)-1], events.TypeOTPDispatch, events.TopicOTPDispatch)
	}
	var p events.OTPDispatch
	if err := ev.Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (o *outbox) count() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.events) }

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.now.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.now.Store(t.UnixNano()); return c }
func pepper() otp.Pepper             { return otp.Pepper("test-pepper-0123456789abcdef0123456789") }
func isLimited(err error) (bool, string) {
	ex := new(throttle.ExceededError)
	ok := errors.As(err, &ex)
	return ok, scope(ex)
}
func scope(ex *throttle.ExceededError) string {
	if ex == nil {
		return ""
	}
	return ex.Scope
}

type fixture struct {
	svc    *otp.Service
	outbox *outbox
	clock  *clock
}

func newFixture(t *testing.T, cfg otp.Config) fixture {
	t.Helper()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	clk := newClock(time.Date(2026, 5, 19, 10, 0, 0, 0, time.UTC))
	ob := &outbox{}
	limiter := throttle.New(store.NewCounters(db)).WithClock(clk.Now)
	svc := otp.NewService(cfg, pepper(), store.NewChallenges(db), limiter, ob).WithClock(clk.Now)
	return fixture{svc: svc, outbox: ob, clock: clk}
}

func registration(email string) otp.Request {
	return otp.Request{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: email}
}

func TestSendQueuesDispatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, otp.DefaultConfig)
	sent, err := f.svc.Send(context.Background(), registration("ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	got := f.outbox.last(t)
	if got.Purpose != events.PurposeRegistration || got.Channel != events.ChannelEmail || got.Destination != "ada@example.com" ||
		!otp.ValidCodeFormat(got.Code) || !got.ExpiresAt.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Errorf("dispatch = %+v, want a registration code to ada@example.com expiring in 10m", got)
	}
	if sent.MaskedValue != "ad***@example.com" || sent.Token != "" || !sent.ExpiresAt.Equal(got.ExpiresAt) {
		t.Errorf("Send() = %+v", sent)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(f fixture, code string) string // returns the code to submit
		wantOK  bool
	}{
		{"right code", func(f fixture, code string) string { return code }, true},
		{"wrong code", func(f fixture, code string) string { return otherCode(code) }, false},
		{"malformed code", func(f fixture, code string) string { return "12a456" }, false},
		{"expired", func(f fixture, code string) string { f.clock.Add(10 * time.Minute); return code }, false},
		{"just before expiry", func(f fixture, code string) string { f.clock.Add(10*time.Minute - time.Second); return code }, true},
		{"right code after four wrong tries", func(f fixture, code string) string {
			for range 4 {
				_, _ = f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", otherCode(code))
			}
			return code
		}, true},
		{"right code after five wrong tries", func(f fixture, code string) string {
			for range 5 {
				_, _ = f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", otherCode(code))
			}
			return code
		}, false},
		{"replaced by a resend", func(f fixture, code string) string {
			f.clock.Add(time.Minute)
			if _, err := f.svc.Send(ctx, registration("ada@example.com")); err != nil {
				t.Fatal(err)
			}
			if fresh := f.outbox.last(t).Code; fresh == code {
				return otherCode(code) // vanishingly unlikely; keep the case meaningful
			}
			return code
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, otp.DefaultConfig)
			if _, err := f.svc.Send(ctx, registration("ada@example.com")); err != nil {
				t.Fatal(err)
			}
			submit := tc.prepare(f, f.outbox.last(t).Code)
			c, err := f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", submit)
			if tc.wantOK {
				if err != nil || c.Destination != "ada@example.com" {
					t.Fatalf("Verify() = %+v, %v; want success", c, err)
				}
				if _, err := f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", submit); !errors.Is(err, otp.ErrInvalidCode) {
					t.Errorf("second Verify() with the same code = %v, want ErrInvalidCode (single use)", err)
				}
				return
			}
			if !errors.Is(err, otp.ErrInvalidCode) {
				t.Errorf("Verify() error = %v, want ErrInvalidCode", err)
			}
		})
	}
}

func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestVerifyParallelGuessesRespectAttemptLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, otp.DefaultConfig)
	if _, err := f.svc.Send(ctx, registration("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	code := f.outbox.last(t).Code
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() { _, _ = f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", otherCode(code)) })
	}
	wg.Wait()
	if _, err := f.svc.Verify(ctx, events.PurposeRegistration, "ada@example.com", code); !errors.Is(err, otp.ErrInvalidCode) {
		t.Errorf("right code after 12 parallel wrong guesses = %v, want ErrInvalidCode (at most 5 tries)", err)
	}
}

func TestSendThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := otp.Config{TTL: 10 * time.Minute, MaxAttempts: 5, ResendCooldown: time.Minute, MaxPerDestinationPerHour: 3, MaxPerAccountPerHour: 4}
	device := func(dest string) otp.Request {
		return otp.Request{Purpose: events.PurposeDeviceVerification, Channel: events.ChannelEmail, Destination: dest, AccountID: "acc-1", WithToken: "dvt_"}
	}
	t.Run("cooldown", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, cfg)
		if _, err := f.svc.Send(ctx, registration("a@example.com")); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(20 * time.Second)
		_, err := f.svc.Send(ctx, registration("a@example.com"))
		var ex *throttle.ExceededError
		if !errors.As(err, &ex) || ex.RetryAfter != 40*time.Second {
			t.Fatalf("resend after 20s = %v, want ExceededError with RetryAfter 40s", err)
		}
		if _, err := f.svc.Send(ctx, registration("b@example.com")); err != nil {
			t.Errorf("another destination during the cooldown = %v, want sent", err)
		}
		f.clock.Add(40 * time.Second)
		if _, err := f.svc.Send(ctx, registration("a@example.com")); err != nil {
			t.Errorf("resend after the cooldown = %v, want sent", err)
		}
		if n := f.outbox.count(); n != 3 {
			t.Errorf("%d dispatches queued, want 3 (the refused send queues nothing)", n)
		}
	})
	t.Run("per destination per hour", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, cfg)
		for i := range 3 {
			if _, err := f.svc.Send(ctx, registration("a@example.com")); err != nil {
				t.Fatalf("send %d: %v", i+1, err)
			}
			f.clock.Add(time.Minute)
		}
		if limited, sc := isLimited(must(f.svc.Send(ctx, registration("a@example.com")))); !limited || sc != otp.ScopeDestination {
			t.Errorf("4th send in the hour: limited %v scope %q, want the destination limit", limited, sc)
		}
	})
	t.Run("per account per hour", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, cfg)
		for i, dest := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
			if _, err := f.svc.Send(ctx, device(dest)); err != nil {
				t.Fatalf("send %d: %v", i+1, err)
			}
		}
		if limited, sc := isLimited(must(f.svc.Send(ctx, device("e@example.com")))); !limited || sc != otp.ScopeAccount {
			t.Errorf("5th send for the account: limited %v scope %q, want the account limit", limited, sc)
		}
	})
	t.Run("notice and code share cooldown and limits", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, cfg)
		notice := otp.Request{Purpose: events.PurposeRegistrationExisting, Channel: events.ChannelEmail, Destination: "a@example.com", AccountID: "acc-1", Notice: true}
		if _, err := f.svc.Send(ctx, notice); err != nil {
			t.Fatal(err)
		}
		if got := f.outbox.last(t); got.Code != "" || got.Purpose != events.PurposeRegistrationExisting || !got.ExpiresAt.IsZero() {
			t.Errorf("notice dispatch = %+v, want no code and no expiry", got)
		}
		if limited, _ := isLimited(must(f.svc.Send(ctx, registration("a@example.com")))); !limited {
			t.Error("registration code right after a notice was sent, want the shared cooldown to refuse it")
		}
		if _, err := f.svc.Verify(ctx, events.PurposeRegistration, "a@example.com", "000000"); !errors.Is(err, otp.ErrInvalidCode) {
			t.Errorf("Verify against a notice = %v, want ErrInvalidCode", err)
		}
	})
}

func must(_ otp.Sent, err error) error { return err }

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		submit func(token string) (string, string) // token and device id to answer with
		wantOK bool
	}{
		{"right token and device", func(tok string) (string, string) { return tok, "dev-1" }, true},
		{"other device", func(tok string) (string, string) { return tok, "dev-2" }, false},
		{"unknown token", func(tok string) (string, string) { return "dvt_forged", "dev-1" }, false},
		{"empty token", func(tok string) (string, string) { return "", "dev-1" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, otp.DefaultConfig)
			sent, err := f.svc.Send(ctx, otp.Request{Purpose: events.PurposeDeviceVerification, Channel: events.ChannelEmail,
				Destination: "ada@example.com", AccountID: "acc-1", DeviceID: "dev-1", WithToken: "dvt_"})
			if err != nil {
				t.Fatal(err)
			}
			code := f.outbox.last(t).Code
			token, dev := tc.submit(sent.Token)
			c, err := f.svc.VerifyToken(ctx, events.PurposeDeviceVerification, token, dev, code)
			if !tc.wantOK {
				if !errors.Is(err, otp.ErrInvalidCode) {
					t.Errorf("VerifyToken() = %v, want ErrInvalidCode", err)
				}
				return
			}
			if err != nil || c.AccountID != "acc-1" || c.DeviceID != "dev-1" {
				t.Fatalf("VerifyToken() = %+v, %v; want the challenge of acc-1 on dev-1", c, err)
			}
			if _, err := f.svc.VerifyToken(ctx, events.PurposeDeviceVerification, token, dev, code); !errors.Is(err, otp.ErrInvalidCode) {
				t.Errorf("token reused = %v, want ErrInvalidCode (single use)", err)
			}
			if _, err := f.svc.VerifyToken(ctx, events.PurposeTwoFactor, token, dev, code); !errors.Is(err, otp.ErrInvalidCode) {
				t.Errorf("token for another purpose = %v, want ErrInvalidCode", err)
			}
		})
	}
}
