package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newDB(t *testing.T) *mongo.Database {
	t.Helper()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(context.Background(), db); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return db
}

func newAccount(id, email, username string) account.Account {
	now := time.Now().UTC()
	return account.Account{ID: id, Email: email, EmailVerified: true, Username: username, FirstName: "Ada",
		PasswordHash: "$argon2id$x", Status: account.StatusActive, CreatedAt: now, UpdatedAt: now}
}

func TestAccountsCreateAndFind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	if err := s.Create(ctx, newAccount("a1", "ada@example.com", "ada")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, newAccount("a2", "bob@example.com", "")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		account account.Account
		wantErr error
	}{
		{"same email", newAccount("a3", "ada@example.com", "other"), account.ErrEmailTaken},
		{"same username", newAccount("a4", "other@example.com", "ada"), account.ErrUsernameTaken},
		{"second account without username", newAccount("a5", "carol@example.com", ""), nil},
		{"same id", newAccount("a1", "dave@example.com", ""), account.ErrEmailTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Create(ctx, tc.account); !errors.Is(err, tc.wantErr) {
				t.Errorf("Create() error = %v, want %v", err, tc.wantErr)
			}
		})
	}

	lookups := []struct {
		name   string
		find   func() (account.Account, error)
		wantID string
	}{
		{"by id", func() (account.Account, error) { return s.ByID(ctx, "a1") }, "a1"},
		{"by email", func() (account.Account, error) { return s.ByEmail(ctx, "bob@example.com") }, "a2"},
		{"by username", func() (account.Account, error) { return s.ByUsername(ctx, "ada") }, "a1"},
		{"unknown email", func() (account.Account, error) { return s.ByEmail(ctx, "nobody@example.com") }, ""},
		{"empty username never matches", func() (account.Account, error) { return s.ByUsername(ctx, "") }, ""},
	}
	for _, tc := range lookups {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.find()
			if tc.wantID == "" {
				if !errors.Is(err, account.ErrNotFound) {
					t.Errorf("error = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || a.ID != tc.wantID {
				t.Fatalf("got %q, %v; want %q", a.ID, err, tc.wantID)
			}
			if a.Status != account.StatusActive || !a.EmailVerified || a.FirstName != "Ada" {
				t.Errorf("account fields lost in the round trip: %+v", a)
			}
		})
	}
}

func TestAccountsCreatedEventBookkeeping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	for _, id := range []string{"p1", "p2"} {
		if err := s.Create(ctx, newAccount(id, id+"@example.com", "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkCreatedPublished(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.CreatedUnpublished(ctx, time.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "p2" {
		t.Errorf("CreatedUnpublished = %v, want only p2", got)
	}
	if got, _ := s.CreatedUnpublished(ctx, time.Now().Add(-time.Minute), 10); len(got) != 0 {
		t.Errorf("CreatedUnpublished(before creation) = %v, want none (grace period)", got)
	}
}

func TestAccountsSnapshotBookkeeping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	if err := s.Create(ctx, newAccount("s1", "s1@example.com", "")); err != nil {
		t.Fatal(err)
	}
	created, err := s.ByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if created.Version != 1 {
		t.Fatalf("new account version = %d, want 1", created.Version)
	}
	pending := func() []account.Account {
		t.Helper()
		got, err := s.SnapshotUnpublished(ctx, time.Now().Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := pending(); len(got) != 1 || got[0].Version != 1 {
		t.Fatalf("pending after create = %+v, want s1 at version 1", got)
	}

	// A change made after the snapshot was read keeps its own snapshot pending.
	if ok, err := s.UpdateProjected(ctx, "s1", nil, bson.D{{Key: "twoFactorEnabled", Value: true}}); err != nil || !ok {
		t.Fatalf("UpdateProjected = %v, %v", ok, err)
	}
	if err := s.MarkSnapshotPublished(ctx, "s1", 1); err != nil {
		t.Fatal(err)
	}
	got := pending()
	if len(got) != 1 || got[0].Version != 2 || !got[0].TwoFactorEnabled {
		t.Fatalf("pending after a newer change = %+v, want s1 at version 2 with 2FA on", got)
	}
	if err := s.MarkSnapshotPublished(ctx, "s1", 2); err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Errorf("pending after publishing the latest version = %+v, want none", got)
	}

	// The filter guards the change; unset removes fields.
	if ok, err := s.UpdateProjected(ctx, "s1", bson.D{{Key: "twoFactorEnabled", Value: false}}, bson.D{{Key: "status", Value: "LOCKED"}}); err != nil || ok {
		t.Errorf("UpdateProjected with a failing filter = %v, %v, want no match", ok, err)
	}
	if ok, err := s.UpdateProjected(ctx, "s1", nil, nil, "email"); err != nil || !ok {
		t.Fatalf("UpdateProjected unset = %v, %v", ok, err)
	}
	a, err := s.ByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "" || a.Status != account.StatusActive || a.Version != 3 {
		t.Errorf("after unset = %+v, want no email, still active, version 3", a)
	}
}

func TestAccountsSetPasswordHashIsConditional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	_ = s.Create(ctx, newAccount("h1", "h1@example.com", ""))
	if err := s.SetPasswordHash(ctx, "h1", "stale", "new-1"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.ByID(ctx, "h1"); a.PasswordHash != "$argon2id$x" {
		t.Errorf("hash = %q after a stale update, want it unchanged", a.PasswordHash)
	}
	_ = s.SetPasswordHash(ctx, "h1", "$argon2id$x", "new-2")
	if a, _ := s.ByID(ctx, "h1"); a.PasswordHash != "new-2" {
		t.Errorf("hash = %q, want new-2", a.PasswordHash)
	}
}

func TestDevicesTrust(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewDevices(newDB(t))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first, err := s.Trust(ctx, device.TrustedDevice{ID: "k1", AccountID: "a", DeviceID: "d", DeviceName: "Pixel", Platform: "ANDROID", CreatedAt: t0, LastUsedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Hour)
	again, err := s.Trust(ctx, device.TrustedDevice{ID: "k2", AccountID: "a", DeviceID: "d", CreatedAt: t1, LastUsedAt: t1})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.CreatedAt.Equal(t0) || !again.LastUsedAt.Equal(t1) || again.DeviceName != "Pixel" {
		t.Errorf("second Trust = %+v; want id k1, createdAt kept, lastUsedAt moved, name kept", again)
	}
	if _, err := s.Trust(ctx, device.TrustedDevice{ID: "k3", AccountID: "b", DeviceID: "d", CreatedAt: t0, LastUsedAt: t0}); err != nil {
		t.Fatalf("another account trusting the same device id: %v", err)
	}
	tests := []struct {
		name, account, device string
		wantID                string
	}{
		{"trusted", "a", "d", "k1"},
		{"other account's device", "b", "d", "k3"},
		{"unknown device", "a", "x", ""},
		{"empty device id", "a", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, tc.account, tc.device)
			if tc.wantID == "" {
				if !errors.Is(err, device.ErrNotFound) {
					t.Errorf("Find() error = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || got.ID != tc.wantID {
				t.Errorf("Find() = %q, %v; want %q", got.ID, err, tc.wantID)
			}
		})
	}
	t2 := t1.Add(time.Hour)
	if err := s.Touch(ctx, "a", "d", t2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Find(ctx, "a", "d"); !got.LastUsedAt.Equal(t2) {
		t.Errorf("lastUsedAt = %v after Touch, want %v", got.LastUsedAt, t2)
	}
}

// Of concurrent swaps from one state, exactly one wins, whether the key is new (insert) or not
// (conditional update).
func TestCountersSwapIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewCounters(newDB(t))
	exp := time.Now().Add(time.Hour)
	swapAll := func(old throttle.State, found bool) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 20 {
			wg.Go(func() {
				ok, err := s.Swap(ctx, "scope", "key", old, found, throttle.State{At: int64(i), N: int64(i)}, exp)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return won
	}
	if won := swapAll(throttle.State{}, false); won != 1 {
		t.Fatalf("%d of 20 concurrent first writes won, want exactly 1", won)
	}
	cur, found, err := s.Load(ctx, "scope", "key")
	if err != nil || !found || cur.Version != 1 {
		t.Fatalf("Load() = %+v, %v, %v; want version 1", cur, found, err)
	}
	if won := swapAll(cur, true); won != 1 {
		t.Fatalf("%d of 20 concurrent updates of one version won, want exactly 1", won)
	}
	if _, found, _ := s.Load(ctx, "scope", "other"); found {
		t.Error("another key has a state")
	}
	if err := s.Delete(ctx, "scope", "key"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Load(ctx, "scope", "key"); found {
		t.Error("state after Delete")
	}
}

func TestChallengesPutHonoursCooldown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewChallenges(newDB(t))
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := otp.Challenge{Key: "registration:a@example.com", ID: "c1", Purpose: "registration", Channel: "EMAIL",
		Destination: "a@example.com", CodeHash: "h1", SentAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := s.Put(ctx, c, t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	c2 := c
	c2.ID, c2.CodeHash, c2.SentAt = "c2", "h2", t0.Add(30*time.Second)
	if err := s.Put(ctx, c2, c2.SentAt.Add(-time.Minute)); !errors.Is(err, otp.ErrCooldown) {
		t.Fatalf("Put within cooldown = %v, want ErrCooldown", err)
	}
	c2.SentAt = t0.Add(2 * time.Minute)
	if err := s.Put(ctx, c2, c2.SentAt.Add(-time.Minute)); err != nil {
		t.Fatalf("Put after cooldown = %v", err)
	}
	got, err := s.Get(ctx, c.Key)
	if err != nil || got.ID != "c2" || got.CodeHash != "h2" || got.Attempts != 0 {
		t.Errorf("Get() = %+v, %v; want the replacement c2 with no attempts", got, err)
	}
}

func TestChallengesFindClaimConsume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewChallenges(newDB(t))
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := otp.Challenge{Key: "device_verification:a@example.com", ID: "c1", Purpose: "device_verification",
		Channel: "EMAIL", Destination: "a@example.com", AccountID: "acc", DeviceID: "dev", CodeHash: "h",
		TokenHash: "tok", SentAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := s.Put(ctx, c, t0); err != nil {
		t.Fatal(err)
	}
	byToken := otp.Filter{TokenHash: "tok", Purpose: "device_verification"}
	finds := []struct {
		name  string
		f     otp.Filter
		now   time.Time
		found bool
	}{
		{"by token", byToken, t0, true},
		{"by key", otp.Filter{Key: c.Key, Purpose: "device_verification"}, t0, true},
		{"other purpose", otp.Filter{TokenHash: "tok", Purpose: "registration"}, t0, false},
		{"unknown token", otp.Filter{TokenHash: "nope", Purpose: "device_verification"}, t0, false},
		{"empty filter", otp.Filter{Purpose: "device_verification"}, t0, false},
		{"expired", byToken, t0.Add(10 * time.Minute), false},
	}
	for _, tc := range finds {
		t.Run("find "+tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, tc.f, tc.now)
			if !tc.found {
				if !errors.Is(err, otp.ErrNotFound) {
					t.Errorf("Find() error = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || got.ID != "c1" || got.AccountID != "acc" || got.DeviceID != "dev" || got.CodeHash != "h" {
				t.Errorf("Find() = %+v, %v; want challenge c1", got, err)
			}
		})
	}

	var wg sync.WaitGroup
	tries := make(chan int, 10)
	for range 10 {
		wg.Go(func() {
			n, err := s.ClaimTry(ctx, c, 3)
			if err != nil {
				t.Error(err)
			}
			tries <- n
		})
	}
	wg.Wait()
	close(tries)
	granted := map[int]bool{}
	for n := range tries {
		if n != 0 {
			granted[n] = true
		}
	}
	if len(granted) != 3 || !granted[1] || !granted[2] || !granted[3] {
		t.Errorf("concurrent tries granted %v, want exactly tries 1, 2 and 3", granted)
	}

	results := make(chan bool, 5)
	for range 5 {
		wg.Go(func() {
			ok, err := s.Consume(ctx, c, t0)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for ok := range results {
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d of 5 concurrent Consume calls won, want exactly 1", wins)
	}
	if _, err := s.Find(ctx, byToken, t0); !errors.Is(err, otp.ErrNotFound) {
		t.Errorf("Find() after Consume error = %v, want ErrNotFound", err)
	}
	expired := c
	expired.ID = "c-expired"
	if ok, _ := s.Consume(ctx, expired, t0.Add(time.Hour)); ok {
		t.Error("Consume() of an expired challenge = true, want false")
	}
}

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	<-ctx.Done()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"deadline", ctx.Err(), true},
		{"disconnected", mongo.ErrClientDisconnected, true},
		{"tagged", store.ErrUnavailable, true},
		{"not found", account.ErrNotFound, false},
		{"other", errors.New("boom"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.IsUnavailable(tc.err); got != tc.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
