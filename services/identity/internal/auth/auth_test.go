package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// outbox records events; while failing is set it refuses account events, as a MongoDB hiccup between
// the account insert and the outbox insert would.
type outbox struct {
	mu      sync.Mutex
	failing bool
	queued  []events.Envelope
}

func (o *outbox) Add(_ context.Context, topic string, ev events.Envelope) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing && topic == events.TopicAccountEvents {
		return errors.New("outbox unavailable")
	}
	o.queued = append(o.queued, ev)
	return nil
}

func (o *outbox) ofType(typ string) []events.Envelope {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.Envelope
	for _, ev := range o.queued {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// sessions hands out tokens without a session service; the flows only need Start's contract here.
type sessions struct{}

func (sessions) Start(_ context.Context, r auth.SessionRequest) (auth.Tokens, error) {
	return auth.Tokens{SessionID: "s-" + r.AccountID, AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", ExpiresIn: 900}, nil
}

func (sessions) Revoke(context.Context, string, string, string) (int, error) { return 0, nil }

func newService(t *testing.T, ob *outbox) *auth.Service {
	t.Helper()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	limiter := throttle.New(store.NewCounters(db))
	codes := otp.NewService(otp.DefaultConfig, otp.Pepper("pepper-for-tests-0123456789abcdef"), store.NewChallenges(db), limiter, ob)
	return auth.NewService(auth.Config{}, auth.Deps{
		Accounts: store.NewAccounts(db), Devices: store.NewDevices(db), Codes: codes, Hasher: hasher,
		Limiter: limiter, Sessions: sessions{}, Outbox: ob,
	})
}

func register(t *testing.T, svc *auth.Service, ob *outbox, email string) auth.SignedIn {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.StartRegistration(ctx, email); err != nil {
		t.Fatal(err)
	}
	d := ob.ofType(events.TypeOTPDispatch)
	var p events.OTPDispatch
	if err := d[len(d)-1].Decode(&p); err != nil {
		t.Fatal(err)
	}
	signed, err := svc.CompleteRegistration(ctx, auth.Registration{
		Email: email, Code: p.Code, Password: "Tr4vel-Lamp-Orbit", Device: device.Info{DeviceID: "laptop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestAccountCreatedEventIsDeterministic(t *testing.T) {
	t.Parallel()
	ob := &outbox{}
	svc := newService(t, ob)
	signed := register(t, svc, ob, "ada@example.com")
	created := ob.ofType(events.TypeAccountCreated)
	if len(created) != 1 || created[0].EventID != auth.CreatedEventID(signed.Account.ID) {
		t.Fatalf("account.created = %+v, want one event with id %s", created, auth.CreatedEventID(signed.Account.ID))
	}
	if n, err := svc.RepublishPending(context.Background(), 0); err != nil || n != 0 {
		t.Errorf("RepublishPending() = %d, %v; want nothing to do once the event is queued", n, err)
	}
}

func TestRepublishPendingAfterOutboxFailure(t *testing.T) {
	t.Parallel()
	ob := &outbox{failing: true}
	svc := newService(t, ob)
	signed := register(t, svc, ob, "ada@example.com")
	if signed.Tokens.SessionID == "" {
		t.Fatal("registration did not finish while the outbox was failing")
	}
	if n := len(ob.ofType(events.TypeAccountCreated)); n != 0 {
		t.Fatalf("%d account.created queued while failing", n)
	}

	ctx := context.Background()
	ob.mu.Lock()
	ob.failing = false
	ob.mu.Unlock()
	if n, err := svc.RepublishPending(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("RepublishPending(grace 1h) = %d, %v; want the fresh registration left alone", n, err)
	}
	later := svc.WithClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if n, err := later.RepublishPending(ctx, time.Minute); err != nil || n != 2 {
		t.Fatalf("RepublishPending() = %d, %v; want 2 (account.created and the first snapshot)", n, err)
	}
	snaps := ob.ofType(events.TypeAccountUpdated)
	if len(snaps) != 1 || snaps[0].EventID != auth.SnapshotEventID(signed.Account.ID, 1) {
		t.Fatalf("account.updated = %+v, want the version-1 snapshot with its deterministic id", snaps)
	}
	created := ob.ofType(events.TypeAccountCreated)
	if len(created) != 1 || created[0].AccountID != signed.Account.ID || created[0].EventID != auth.CreatedEventID(signed.Account.ID) {
		t.Fatalf("account.created = %+v, want the account's event with its deterministic id", created)
	}
	var p events.AccountCreated
	if err := created[0].Decode(&p); err != nil || p.Email != "ada@example.com" || !p.EmailVerified {
		t.Errorf("payload = %+v, %v", p, err)
	}
	if n, _ := later.RepublishPending(ctx, time.Minute); n != 0 {
		t.Errorf("second RepublishPending() = %d, want 0", n)
	}
}

func TestAlertGoesToTheVerifiedDestination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		a           account.Account
		wantChannel string
		wantDest    string
	}{
		{"verified email", account.Account{ID: "a1", Email: "ada@example.com", EmailVerified: true, Phone: "+15550001", PhoneVerified: true}, events.ChannelEmail, "ada@example.com"},
		{"verified phone only", account.Account{ID: "a2", Email: "bob@example.com", Phone: "+15550002", PhoneVerified: true}, events.ChannelSMS, "+15550002"},
		{"nothing verified", account.Account{ID: "a3", Email: "eve@example.com", Phone: "+15550003"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ob := &outbox{}
			svc := newService(t, ob)
			if err := svc.Alert(context.Background(), tc.a, events.AlertPasswordChanged, map[string]string{"ipAddress": "203.0.113.9"}); err != nil {
				t.Fatal(err)
			}
			got := ob.ofType(events.TypeSecurityAlert)
			if tc.wantDest == "" {
				if len(got) != 0 {
					t.Fatalf("alerts = %+v, want none for an account without a verified destination", got)
				}
				return
			}
			if len(got) != 1 || got[0].AccountID != tc.a.ID {
				t.Fatalf("alerts = %+v, want one for %s", got, tc.a.ID)
			}
			var p events.SecurityAlert
			if err := got[0].Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Kind != events.AlertPasswordChanged || p.Channel != tc.wantChannel || p.Destination != tc.wantDest || p.Details["ipAddress"] != "203.0.113.9" {
				t.Errorf("alert = %+v, want %s to %s on %s", p, events.AlertPasswordChanged, tc.wantDest, tc.wantChannel)
			}
		})
	}
}
