package totp_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func randKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func keyring(t *testing.T, spec, current string) *totp.Keyring {
	t.Helper()
	k, err := totp.ParseKeys(spec, current)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

func newService(t *testing.T, k *totp.Keyring) (*totp.Service, *store.Authenticators) {
	t.Helper()
	db := testenv.New(t).Database("identity")
	st := store.NewAuthenticators(db)
	if err := st.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	return totp.New(st, k, ""), st
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCodeCustom(secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k1, k2 := randKey(t), randKey(t)
	tests := []struct {
		name, spec, current, wantErr string
	}{
		{"empty", "", "", "TOTP_ENCRYPTION_KEYS is required"},
		{"no kid", k1, "", "TOTP_ENCRYPTION_KEYS: entry 1"},
		{"short key", "a:" + base64.StdEncoding.EncodeToString([]byte("short")), "", `key "a": want 32 bytes`},
		{"duplicate", "a:" + k1 + ",a:" + k2, "a", "given twice"},
		{"several without id", "a:" + k1 + ",b:" + k2, "", "TOTP_ENCRYPTION_KEY_ID is required"},
		{"unknown id", "a:" + k1, "zz", `TOTP_ENCRYPTION_KEY_ID="zz"`},
		{"one key", "a:" + k1, "", ""},
		{"two keys", "a:" + k1 + ", b:" + k2, "b", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := totp.ParseKeys(tc.spec, tc.current)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			case err != nil && (strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2)):
				t.Fatalf("error %q reveals a key", err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k1, k2 := randKey(t), randKey(t)
	old := keyring(t, "k1:"+k1, "")
	sealed, err := old.Seal("acc-1", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed.KeyID != "k1" || strings.Contains(string(sealed.Ciphertext), "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed = %q/%x", sealed.KeyID, sealed.Ciphertext)
	}
	// Round trip, and after a rotation (k2 current) the old secret still opens.
	rotated := keyring(t, "k1:"+k1+",k2:"+k2, "k2")
	for name, k := range map[string]*totp.Keyring{"same ring": old, "rotated": rotated} {
		got, err := k.Open("acc-1", sealed)
		if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Errorf("%s: Open = %q, %v", name, got, err)
		}
	}
	if s2, _ := rotated.Seal("acc-1", []byte("x")); s2.KeyID != "k2" {
		t.Errorf("rotated ring seals with %q, want k2", s2.KeyID)
	}
	// The key id is gone from the ring.
	if _, err := keyring(t, "k2:"+k2, "").Open("acc-1", sealed); !errors.Is(err, totp.ErrUnknownKey) {
		t.Errorf("unknown key id: err = %v", err)
	}
	// Same id, other key material.
	if _, err := keyring(t, "k1:"+k2, "").Open("acc-1", sealed); !errors.Is(err, totp.ErrDecrypt) {
		t.Errorf("wrong key: err = %v", err)
	}
	// AAD: the ciphertext copied to another account does not open.
	if _, err := old.Open("acc-2", sealed); !errors.Is(err, totp.ErrDecrypt) {
		t.Errorf("other account: err = %v", err)
	}
	// Tampered.
	bad := totp.Sealed{KeyID: "k1", Ciphertext: append([]byte(nil), sealed.Ciphertext...)}
	bad.Ciphertext[len(bad.Ciphertext)-1] ^= 1
	if _, err := old.Open("acc-1", bad); !errors.Is(err, totp.ErrDecrypt) {
		t.Errorf("tampered: err = %v", err)
	}
}

func TestEnrolConfirmVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st := newService(t, keyring(t, "k1:"+randKey(t), ""))
	at := time.Date(2026, 12, 3, 9, 0, 10, 0, time.UTC)

	if ok, err := svc.Enrolled(ctx, "acc"); ok || err != nil {
		t.Fatalf("Enrolled before setup = %v, %v", ok, err)
	}
	if _, err := svc.Confirm(ctx, "acc", "123456", at); !errors.Is(err, totp.ErrNotPending) {
		t.Fatalf("Confirm without setup: %v", err)
	}
	e, err := svc.Setup(ctx, "acc", "ada@example.com", at)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/Latchkey:ada@example.com?") || !strings.Contains(e.URI, "secret="+e.Secret) ||
		!strings.HasPrefix(e.QRCodePNG, "data:image/png;base64,iVBORw0KGgo") {
		t.Fatalf("enrolment = %+v", e)
	}
	// Stored encrypted, never in clear.
	r, err := st.Get(ctx, "acc")
	if err != nil || r.Confirmed || strings.Contains(string(r.Secret.Ciphertext), e.Secret) {
		t.Fatalf("stored = %+v, %v", r, err)
	}
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, at), at); ok {
		t.Fatal("a pending authenticator verified a sign-in code")
	}
	wrong := code(t, e.Secret, at.Add(time.Hour))
	if wrong != code(t, e.Secret, at) {
		if ok, err := svc.Confirm(ctx, "acc", wrong, at); ok || err != nil {
			t.Fatalf("Confirm(wrong) = %v, %v", ok, err)
		}
	}
	if ok, err := svc.Confirm(ctx, "acc", code(t, e.Secret, at), at); !ok || err != nil {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	if ok, _ := svc.Enrolled(ctx, "acc"); !ok {
		t.Fatal("not enrolled after confirm")
	}
	if _, err := svc.Setup(ctx, "acc", "ada@example.com", at); !errors.Is(err, totp.ErrAlreadyEnrolled) {
		t.Fatalf("Setup while enrolled: %v", err)
	}
	// The confirmation's code (same step) is spent; the next step's code works once, within ±1 step.
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, at), at); ok {
		t.Fatal("the confirmation code signed in again")
	}
	next := at.Add(30 * time.Second)
	if ok, err := svc.Verify(ctx, "acc", code(t, e.Secret, next), at); !ok || err != nil {
		t.Fatalf("Verify(next step, skew +1) = %v, %v", ok, err)
	}
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, next), next); ok {
		t.Fatal("replayed code accepted")
	}
	// Out of the ±1 window.
	far := next.Add(5 * time.Minute)
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, far.Add(2*time.Minute)), far); ok {
		t.Fatal("a code two steps ahead accepted")
	}
	// An older step than the last accepted one is refused even if never used.
	later := far.Add(time.Minute)
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, later), later); !ok {
		t.Fatal("fresh code refused")
	}
	if ok, _ := svc.Verify(ctx, "acc", code(t, e.Secret, later.Add(-30*time.Second)), later); ok {
		t.Fatal("a code of an earlier step accepted after a later one")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if ok, err := svc.Verify(ctx, "acc", bad, later); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", bad, ok, err)
		}
	}
	if removed, err := svc.Remove(ctx, "acc"); !removed || err != nil {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if ok, _ := svc.Enrolled(ctx, "acc"); ok {
		t.Fatal("enrolled after remove")
	}
	if removed, _ := svc.Remove(ctx, "acc"); removed {
		t.Fatal("second Remove reported a removal")
	}
}

func TestSetupAgainReplacesPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, keyring(t, "k1:"+randKey(t), ""))
	at := time.Now()
	first, err := svc.Setup(ctx, "acc", "ada", at)
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Setup(ctx, "acc", "ada", at)
	if err != nil {
		t.Fatal(err)
	}
	if c1, c2 := code(t, first.Secret, at), code(t, second.Secret, at); c1 != c2 {
		if ok, _ := svc.Confirm(ctx, "acc", c1, at); ok {
			t.Fatal("the replaced secret confirmed")
		}
	}
	if ok, err := svc.Confirm(ctx, "acc", code(t, second.Secret, at), at); !ok || err != nil {
		t.Fatalf("Confirm(second) = %v, %v", ok, err)
	}
}

func TestVerifyConcurrentOneWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, keyring(t, "k1:"+randKey(t), ""))
	at := time.Now()
	e, err := svc.Setup(ctx, "acc", "ada", at)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.Confirm(ctx, "acc", code(t, e.Secret, at.Add(-30*time.Second)), at); !ok || err != nil {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	c := code(t, e.Secret, at)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := svc.Verify(ctx, "acc", c, at)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent answers with one code won, want exactly 1", n)
	}
}

func TestWrongKeyIDFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.New(t).Database("identity")
	st := store.NewAuthenticators(db)
	at := time.Now()
	enrol := totp.New(st, keyring(t, "old:"+randKey(t), ""), "")
	e, err := enrol.Setup(ctx, "acc", "ada", at)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := enrol.Confirm(ctx, "acc", code(t, e.Secret, at.Add(-30*time.Second)), at); !ok || err != nil {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	// A deployment that dropped the key the secret was sealed with: an error, never a pass.
	other := totp.New(st, keyring(t, "new:"+randKey(t), ""), "")
	if ok, err := other.Verify(ctx, "acc", code(t, e.Secret, at), at); ok || !errors.Is(err, totp.ErrUnknownKey) {
		t.Fatalf("Verify with the key gone = %v, %v", ok, err)
	}
}
