package password_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// The attack: many parallel logins each allocating argon2id's block, with nothing bounding them,
// pushed identity past its memory limit. Now at most MaxHashes derivations run at once, however
// many callers there are.
func TestHashingNeverExceedsTheBound(t *testing.T) {
	t.Parallel()
	h, err := password.NewBoundedHasher(password.Params{MemoryKiB: 256, Iterations: 1, Parallelism: 1},
		password.Concurrency{MaxHashes: 2, MaxQueue: 100, MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.Hash("mauve lantern quietly hums")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = h.Hash("mauve lantern quietly hums")
				return
			}
			ok, _, err := h.Verify("mauve lantern quietly hums", encoded)
			if err == nil && !ok {
				err = errors.New("verify: no match")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("hashes within the queue failed: %v", err)
	}
	if peak := h.PeakConcurrent(); peak < 1 || peak > 2 {
		t.Errorf("peak concurrent derivations = %d, want 1..2 (the bound)", peak)
	}
	if got := h.Work().Derivations; got != 41 { // 40 and the first Hash
		t.Errorf("derivations = %d, want 41", got)
	}
}

// Past the queue, callers are refused at once with a *BusyError carrying a Retry-After, and no
// derivation is started for them.
func TestHashingOverflowIsBusy(t *testing.T) {
	t.Parallel()
	// The real cost (19 MiB, t=2) keeps the one slot busy while the others arrive.
	h, err := password.NewBoundedHasher(password.DefaultParams, password.Concurrency{MaxHashes: 1, MaxQueue: 1, MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() { _, errs[i] = h.Hash("mauve lantern quietly hums") })
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		var be *password.BusyError
		switch {
		case err == nil:
		case errors.As(err, &be) && errors.Is(err, password.ErrBusy) && be.RetryAfter >= time.Second:
			busy++
		default:
			t.Fatalf("error = %v, want nil or a *BusyError with a Retry-After", err)
		}
	}
	if busy == 0 {
		t.Error("12 concurrent hashes with 1 slot and a queue of 1: none refused, want the overflow refused")
	}
	if done := int(h.Work().Derivations); done+busy != len(errs) || h.PeakConcurrent() != 1 {
		t.Errorf("derivations %d + refused %d, peak %d; want %d in all and peak 1", done, busy, h.PeakConcurrent(), len(errs))
	}
}

// A wait longer than MaxWait is refused too.
func TestHashingWaitIsBounded(t *testing.T) {
	t.Parallel()
	h, err := password.NewBoundedHasher(password.DefaultParams, password.Concurrency{MaxHashes: 1, MaxQueue: 100, MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = h.Hash("mauve lantern quietly hums") })
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		if errors.Is(err, password.ErrBusy) {
			busy++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if busy == 0 {
		t.Error("no hash refused after waiting 1ms behind a 19 MiB derivation, want some")
	}
}

// Passwords are compared in their NFKC form, so the same passphrase typed as precomposed or
// decomposed characters signs in; hashes stored before normalisation (of the raw form) still verify
// and ask to be re-hashed.
func TestVerifyNormalisesUnicode(t *testing.T) {
	t.Parallel()
	h, err := password.NewHasher(fast)
	if err != nil {
		t.Fatal(err)
	}
	composed, decomposed := "caf\u00e9-lantern-42", "cafe\u0301-lantern-42"
	encoded, err := h.Hash(decomposed)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{composed, decomposed} {
		if ok, rehash, err := h.Verify(pw, encoded); err != nil || !ok || rehash {
			t.Errorf("Verify(%q) = %v, rehash %v, err %v; want a match without rehash", pw, ok, rehash, err)
		}
	}
	if ok, _, _ := h.Verify("cafe-lantern-42", encoded); ok {
		t.Error("a different password matched")
	}

	// A legacy hash of the raw, non-normalised form (as stored before this change).
	legacy, err := password.HashRawForTest(h, "\uff21\uff22\uff23-lantern-42") // full-width ABC
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := h.Verify("\uff21\uff22\uff23-lantern-42", legacy)
	if err != nil || !ok || !rehash {
		t.Errorf("legacy raw hash: ok %v rehash %v err %v, want a match that asks for a rehash", ok, rehash, err)
	}
	if ok, _, _ := h.Verify("ABC-lantern-42x", legacy); ok {
		t.Error("a different password matched the legacy hash")
	}
}

// The minimum length is a setting: 8 with a second factor, a stricter one without (NIST's 15).
func TestPolicyMinimumLengthDependsOnSecondFactor(t *testing.T) {
	// Not parallel: it changes the package's policy.
	t.Cleanup(func() { _ = password.SetPolicy(password.DefaultPolicy) })
	if err := password.SetPolicy(password.Policy{MinLength: 8, MinLengthWithoutSecondFactor: 15}); err != nil {
		t.Fatal(err)
	}
	pw := "zq7vbn3k-lamp" // 13 characters
	var pe *password.PolicyError
	if err := password.Check(pw, password.Owner{}); !errors.As(err, &pe) || pe.Rule != password.RuleTooShort || pe.Message != "Password must be at least 15 characters" {
		t.Errorf("13 characters without 2FA: %v, want too short (15)", err)
	}
	if err := password.Check(pw, password.Owner{SecondFactor: true}); err != nil {
		t.Errorf("13 characters with 2FA: %v, want accepted", err)
	}
	if err := password.SetPolicy(password.Policy{MinLength: 6, MinLengthWithoutSecondFactor: 8}); err == nil {
		t.Error("SetPolicy with a minimum of 6 accepted, want an error (NIST floor is 8)")
	}
}
