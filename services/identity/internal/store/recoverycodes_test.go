package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

var recoveryKey = recovery.KeyFrom("pepper-for-tests-0123456789abcdef")

// TestRecoveryCodesRedeemOnce: a code works once, in any accepted spelling, only for its account;
// its use is recorded with the time; Remaining counts the unused ones.
func TestRecoveryCodesRedeemOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	svc := recovery.New(recoveryKey, store.NewRecoveryCodes(db))
	codes, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != recovery.SetSize {
		t.Fatalf("codes = %v, want %d", codes, recovery.SetSize)
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 10 {
		t.Fatalf("Remaining = %d, %v, want 10", n, err)
	}
	if ok, err := svc.Redeem(ctx, "bob", codes[0], time.Now()); err != nil || ok {
		t.Errorf("another account redeemed Ada's code: %v, %v", ok, err)
	}
	if ok, err := svc.Redeem(ctx, "ada", "00000-00000", time.Now()); err != nil || ok {
		t.Errorf("a made-up code = %v, %v", ok, err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	typed := " " + strings.ToUpper(strings.ReplaceAll(codes[0], "-", " ")) + " "
	if ok, err := svc.Redeem(ctx, "ada", typed, at); err != nil || !ok {
		t.Fatalf("Redeem(%q) = %v, %v, want true", typed, ok, err)
	}
	if ok, err := svc.Redeem(ctx, "ada", codes[0], time.Now()); err != nil || ok {
		t.Errorf("second use of a code = %v, %v, want false", ok, err)
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 9 {
		t.Errorf("Remaining after one use = %d, %v, want 9", n, err)
	}
	if n, err := svc.Remaining(ctx, "bob"); err != nil || n != 0 {
		t.Errorf("Remaining of an account without codes = %d, %v, want 0", n, err)
	}
	var use struct {
		AccountID string    `bson:"accountId"`
		UsedAt    time.Time `bson:"usedAt"`
	}
	if err := db.Collection(store.CollRecoveryCodeUses).FindOne(ctx, bson.D{}).Decode(&use); err != nil || use.AccountID != "ada" || !use.UsedAt.Equal(at) {
		t.Errorf("use = %+v, %v, want Ada's at %v", use, err, at)
	}
	// Only hashes are stored.
	raw, err := db.Collection(store.CollRecoveryCodeSets).FindOne(ctx, bson.D{}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		n, _ := recovery.Normalize(c)
		if strings.Contains(raw.String(), n) || strings.Contains(raw.String(), c) {
			t.Errorf("the stored set holds the code %s in clear: %s", c, raw)
		}
	}
}

// TestRecoveryCodesConcurrentRedeem: of parallel redemptions of one code exactly one wins; parallel
// redemptions of different codes all win.
func TestRecoveryCodesConcurrentRedeem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := recovery.New(recoveryKey, store.NewRecoveryCodes(newDB(t)))
	codes, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const racers = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  = map[string]int{}
		errs []error
	)
	for _, code := range codes[:4] {
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := svc.Redeem(ctx, "ada", code, time.Now())
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					won[code]++
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for _, code := range codes[:4] {
		if won[code] != 1 {
			t.Errorf("%s was redeemed %d times by %d parallel calls, want exactly once", code, won[code], racers)
		}
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 6 {
		t.Errorf("Remaining = %d, %v, want 6", n, err)
	}
}

// TestRecoveryCodesRegenerateInvalidatesOld: after a regeneration no old code works, used or not,
// every new one does, and the old set is gone from the database.
func TestRecoveryCodesRegenerateInvalidatesOld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	svc := recovery.New(recoveryKey, store.NewRecoveryCodes(db))
	old, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.Redeem(ctx, "ada", old[0], time.Now()); err != nil || !ok {
		t.Fatalf("Redeem = %v, %v", ok, err)
	}
	fresh, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 10 {
		t.Errorf("Remaining after regenerating = %d, %v, want 10", n, err)
	}
	for _, c := range old {
		if ok, err := svc.Redeem(ctx, "ada", c, time.Now()); err != nil || ok {
			t.Errorf("old code %s after regenerating = %v, %v, want false", c, ok, err)
		}
	}
	for _, c := range fresh {
		if ok, err := svc.Redeem(ctx, "ada", c, time.Now()); err != nil || !ok {
			t.Errorf("new code %s = %v, %v, want true", c, ok, err)
		}
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 0 {
		t.Errorf("Remaining after using all = %d, %v, want 0", n, err)
	}
	if n, err := db.Collection(store.CollRecoveryCodeSets).CountDocuments(ctx, bson.D{{Key: "accountId", Value: "ada"}}); err != nil || n != 1 {
		t.Errorf("%d sets stored (%v), want only the live one", n, err)
	}
}

// regeneratingStore regenerates the account's codes between a redemption's read of the set and its
// claim: the worst moment for a redemption racing a regeneration.
type regeneratingStore struct {
	*store.RecoveryCodes
	svc   *recovery.Service
	fresh []string
}

func (s *regeneratingStore) Claim(ctx context.Context, set recovery.Set, hash string, at time.Time) (bool, error) {
	if s.fresh == nil {
		codes, err := s.svc.Replace(ctx, set.AccountID, at)
		if err != nil {
			return false, err
		}
		s.fresh = codes
	}
	return s.RecoveryCodes.Claim(ctx, set, hash, at)
}

// TestRecoveryCodesRedeemRacingRegeneration: an old code whose redemption read the set before a
// regeneration stored the new one is refused, even though its claim is made after.
func TestRecoveryCodesRedeemRacingRegeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	plain := recovery.New(recoveryKey, store.NewRecoveryCodes(db))
	old, err := plain.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	racing := &regeneratingStore{RecoveryCodes: store.NewRecoveryCodes(db)}
	racing.svc = plain
	if ok, err := recovery.New(recoveryKey, racing).Redeem(ctx, "ada", old[1], time.Now()); err != nil || ok {
		t.Errorf("old code redeemed across a regeneration: %v, %v", ok, err)
	}
	if len(racing.fresh) != recovery.SetSize {
		t.Fatalf("the regeneration did not run: %v", racing.fresh)
	}
	if ok, err := plain.Redeem(ctx, "ada", racing.fresh[0], time.Now()); err != nil || !ok {
		t.Errorf("new code = %v, %v, want true", ok, err)
	}
}

// TestRecoveryCodesConcurrentRegenerations: of parallel regenerations each returns a set, and the
// codes of exactly one of them work.
func TestRecoveryCodesConcurrentRegenerations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := recovery.New(recoveryKey, store.NewRecoveryCodes(newDB(t)))
	const n = 4
	sets := make([][]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sets[i], errs[i] = svc.Replace(ctx, "ada", time.Now())
		}()
	}
	wg.Wait()
	working := 0
	for i, codes := range sets {
		if errs[i] != nil {
			t.Fatalf("Replace %d: %v", i, errs[i])
		}
		ok, err := svc.Redeem(ctx, "ada", codes[0], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			working++
		}
	}
	if working != 1 {
		t.Errorf("codes of %d sets work, want exactly one", working)
	}
}

// TestRecoveryCodesClear: cleared codes no longer work, and a new set can be generated after.
func TestRecoveryCodesClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := recovery.New(recoveryKey, store.NewRecoveryCodes(newDB(t)))
	old, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.Redeem(ctx, "ada", old[0], time.Now()); err != nil || !ok {
		t.Fatalf("Redeem = %v, %v", ok, err)
	}
	if err := svc.Clear(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 0 {
		t.Errorf("Remaining after Clear = %d, %v, want 0", n, err)
	}
	if ok, err := svc.Redeem(ctx, "ada", old[1], time.Now()); err != nil || ok {
		t.Errorf("a cleared code = %v, %v, want false", ok, err)
	}
	fresh, err := svc.Replace(ctx, "ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Remaining(ctx, "ada"); err != nil || n != 10 {
		t.Errorf("Remaining of a set after Clear = %d, %v, want 10", n, err)
	}
	if ok, err := svc.Redeem(ctx, "ada", fresh[0], time.Now()); err != nil || !ok {
		t.Errorf("a new code after Clear = %v, %v, want true", ok, err)
	}
}
