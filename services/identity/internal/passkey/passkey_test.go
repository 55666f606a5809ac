package passkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/devinfra/webauthntest"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const origin = "https://accounts.example.com"

var rp = passkey.Config{RPID: "example.com", RPDisplayName: "Latchkey", RPOrigins: []string{origin}}

// the interface the sign-in and step-up flows use, and the passwordless one.
var (
	_ auth.Passkeys       = (*passkey.Service)(nil)
	_ auth.PasskeySignIns = (*passkey.Service)(nil)
)

type fixture struct {
	svc      *passkey.Service
	store    *store.Passkeys
	accounts *store.Accounts
}

func newFixture(t *testing.T, cfg passkey.Config) fixture {
	t.Helper()
	db := testenv.New(t).Database("identity")
	ctx := context.Background()
	if err := store.EnsureIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	st := store.NewPasskeys(db)
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := passkey.NewService(cfg, st, store.NewAccounts(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc: svc, store: st, accounts: store.NewAccounts(db)}
}

func (f fixture) account(t *testing.T, id string) account.Account {
	t.Helper()
	now := time.Now().UTC()
	a := account.Account{ID: id, Email: id + "@example.com", EmailVerified: true, Status: account.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := f.accounts.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

// register runs a registration ceremony of a's session sid with the authenticator.
func (f fixture) register(t *testing.T, a account.Account, sid string, key *webauthntest.Authenticator) passkey.Credential {
	t.Helper()
	ctx := context.Background()
	opts, err := f.svc.BeginRegistration(ctx, a.ID, sid)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := key.Create(opts, webauthntest.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.FinishRegistration(ctx, a.ID, sid, passkey.Registration{Response: resp, Name: "  Laptop  "})
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return c
}

func TestRegistrationOptionsAndStoredCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	a := f.account(t, "acc-reg")
	key := webauthntest.New()
	key.BackupEligible, key.BackedUp = true, true
	first := f.register(t, a, "s1", key)
	if first.Name != "Laptop" || !first.BackupEligible || !first.BackupState || !first.UserVerified || first.AttestationFormat != "none" {
		t.Fatalf("stored passkey = %+v", first)
	}
	if !slices.Contains(first.Transports, "internal") || len(first.AAGUID) != 16 {
		t.Fatalf("transports %v, aaguid %x", first.Transports, first.AAGUID)
	}

	opts, err := f.svc.BeginRegistration(ctx, a.ID, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		PublicKey struct {
			RP                     struct{ ID string }   `json:"rp"`
			User                   struct{ ID string }   `json:"user"`
			Exclude                []struct{ ID string } `json:"excludeCredentials"`
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &got); err != nil {
		t.Fatal(err)
	}
	pk := got.PublicKey
	if pk.RP.ID != "example.com" || pk.AuthenticatorSelection.ResidentKey != "required" || pk.AuthenticatorSelection.UserVerification != "preferred" {
		t.Fatalf("creation options = %s", opts)
	}
	if len(pk.Exclude) != 1 {
		t.Fatalf("excludeCredentials = %v, want the registered passkey", pk.Exclude)
	}
	// The user handle is random and stable: neither the account id nor the e-mail, same every time.
	handle := key.Credentials()[0].UserHandle
	if string(handle) == a.ID || string(handle) == a.Email || len(handle) != 32 {
		t.Fatalf("user handle %q", handle)
	}
	if pk.User.ID == "" {
		t.Fatal("no user id")
	}
	// The authenticator refuses to make a second credential for the account (exclude list).
	if _, _, err := key.Create(opts, webauthntest.Options{Origin: origin}); err == nil {
		t.Fatal("authenticator created an excluded credential")
	}
}

func TestRegistrationRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	a := f.account(t, "acc-refuse")
	tests := []struct {
		name string
		opts webauthntest.Options
	}{
		{"wrong origin", webauthntest.Options{Origin: "https://evil.example.net"}},
		{"wrong RP ID", webauthntest.Options{Origin: origin, RPID: "evil.example.net"}},
		{"wrong challenge", webauthntest.Options{Origin: origin, Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{"wrong type", webauthntest.Options{Origin: origin, Type: "webauthn.get"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := f.svc.BeginRegistration(ctx, a.ID, "s-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			resp, _, err := webauthntest.New().Create(opts, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishRegistration(ctx, a.ID, "s-"+tc.name, passkey.Registration{Response: resp})
			if !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("FinishRegistration = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("ceremony of another session", func(t *testing.T) {
		opts, err := f.svc.BeginRegistration(ctx, a.ID, "mine")
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := webauthntest.New().Create(opts, webauthntest.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.FinishRegistration(ctx, a.ID, "other", passkey.Registration{Response: resp}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("finish from another session = %v", err)
		}
		// used once: a second finish of the same ceremony is refused too.
		if _, err := f.svc.FinishRegistration(ctx, a.ID, "mine", passkey.Registration{Response: resp}); err != nil {
			t.Fatalf("finish = %v", err)
		}
		if _, err := f.svc.FinishRegistration(ctx, a.ID, "mine", passkey.Registration{Response: resp}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("second finish = %v, want ErrInvalid", err)
		}
	})
	t.Run("expired ceremony", func(t *testing.T) {
		opts, err := f.svc.BeginRegistration(ctx, a.ID, "late")
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := webauthntest.New().Create(opts, webauthntest.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		later := f.svc.WithClock(func() time.Time { return time.Now().Add(passkey.DefaultCeremonyTTL + time.Second) })
		if _, err := later.FinishRegistration(ctx, a.ID, "late", passkey.Registration{Response: resp}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("finish after expiry = %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		if _, err := f.svc.FinishRegistration(ctx, a.ID, "x", passkey.Registration{Response: json.RawMessage(`{"id":1}`)}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("garbage = %v", err)
		}
	})
}

func TestPasskeyCap(t *testing.T) {
	t.Parallel()
	cfg := rp
	cfg.MaxPerAccount = 2
	f := newFixture(t, cfg)
	a := f.account(t, "acc-cap")
	f.register(t, a, "s", webauthntest.New())
	f.register(t, a, "s", webauthntest.New())
	if _, err := f.svc.BeginRegistration(context.Background(), a.ID, "s"); !errors.Is(err, passkey.ErrTooMany) {
		t.Fatalf("third begin = %v, want ErrTooMany", err)
	}
}

func TestPasswordlessSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	a := f.account(t, "acc-login")
	key := webauthntest.New()
	c := f.register(t, a, "s", key)

	signIn := func(t *testing.T, o webauthntest.Options) (string, []string, error) {
		t.Helper()
		opts, token, ttl, err := f.svc.BeginSignIn(ctx)
		if err != nil || ttl <= 0 {
			t.Fatalf("BeginSignIn: %v %v", err, ttl)
		}
		resp, err := key.Get(opts, o)
		if err != nil {
			t.Fatal(err)
		}
		return f.svc.FinishSignIn(ctx, token, resp)
	}

	id, amr, err := signIn(t, webauthntest.Options{Origin: origin})
	if err != nil || id != a.ID || !slices.Equal(amr, []string{auth.AMRHardwareKey, auth.AMRUser}) {
		t.Fatalf("sign-in = %q %v %v", id, amr, err)
	}
	list, _ := f.svc.List(ctx, a.ID)
	if len(list) != 1 || list[0].SignCount != 1 || list[0].LastUsedAt.IsZero() {
		t.Fatalf("after use: %+v", list)
	}

	for _, tc := range []struct {
		name string
		o    webauthntest.Options
	}{
		{"user not verified", webauthntest.Options{Origin: origin, NoUserVerification: true}},
		{"wrong RP ID", webauthntest.Options{Origin: origin, RPID: "evil.example.net"}},
		{"wrong origin", webauthntest.Options{Origin: "https://accounts.example.net"}},
		{"wrong challenge", webauthntest.Options{Origin: origin, Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := signIn(t, tc.o); !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("sign-in = %v, want ErrInvalid", err)
			}
		})
	}

	t.Run("ceremony used twice", func(t *testing.T) {
		opts, token, _, err := f.svc.BeginSignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := key.Get(opts, webauthntest.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Go(func() {
				if _, _, err := f.svc.FinishSignIn(ctx, token, resp); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d finishes of one ceremony succeeded, want 1", wins)
		}
	})

	t.Run("unknown token", func(t *testing.T) {
		opts, _, _, err := f.svc.BeginSignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := key.Get(opts, webauthntest.Options{Origin: origin})
		if _, _, err := f.svc.FinishSignIn(ctx, "pkl_made-up", resp); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("made-up token = %v", err)
		}
	})

	t.Run("cloned credential", func(t *testing.T) {
		// A copy of the key answers with a counter the relying party has seen already.
		cred := key.Credentials()[0]
		cred.SignCount -= 2
		if _, _, err := signIn(t, webauthntest.Options{Origin: origin}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("replayed counter = %v, want ErrInvalid", err)
		}
		list, _ := f.svc.List(ctx, a.ID)
		if list[0].CloneDetectedAt.IsZero() {
			t.Fatal("cloned credential not flagged")
		}
		if n, _ := f.svc.Count(ctx, a.ID); n != 0 {
			t.Fatalf("Count = %d, want a flagged passkey not counted", n)
		}
		// Flagged: refused even with a counter ahead of the stored one.
		cred.SignCount += 100
		if _, _, err := signIn(t, webauthntest.Options{Origin: origin}); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("flagged credential = %v, want ErrInvalid", err)
		}
		if _, err := f.svc.Delete(ctx, a.ID, c.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSyncedPasskeyWithoutCounter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	a := f.account(t, "acc-synced")
	key := webauthntest.New()
	key.BackupEligible, key.ZeroCounter = true, true
	f.register(t, a, "s", key)
	for range 2 { // a zero counter that stays zero is no clone
		opts, token, _, err := f.svc.BeginSignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := key.Get(opts, webauthntest.Options{Origin: origin})
		_, amr, err := f.svc.FinishSignIn(ctx, token, resp)
		if err != nil || !slices.Equal(amr, []string{auth.AMRSoftwareKey, auth.AMRUser}) {
			t.Fatalf("synced sign-in = %v %v", amr, err)
		}
	}
}

func TestAssertionInterface(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	ada, bob := f.account(t, "acc-ada"), f.account(t, "acc-bob")
	adaKey, bobKey := webauthntest.New(), webauthntest.New()
	f.register(t, ada, "s", adaKey)
	f.register(t, bob, "s", bobKey)

	if n, err := f.svc.Count(ctx, ada.ID); err != nil || n != 1 {
		t.Fatalf("Count = %d %v", n, err)
	}
	if _, err := f.svc.BeginAssertion(ctx, f.account(t, "acc-none").ID, "tfa"); !errors.Is(err, passkey.ErrNoPasskeys) {
		t.Fatalf("BeginAssertion without passkeys = %v", err)
	}

	opts, err := f.svc.BeginAssertion(ctx, ada.ID, "tfa-1")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Allow []struct{ ID string } `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || len(o.PublicKey.Allow) != 1 {
		t.Fatalf("assertion options = %s", opts)
	}
	resp, err := adaKey.Get(opts, webauthntest.Options{Origin: origin, NoUserVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	// Another binding, or another account, does not take the ceremony.
	if _, ok, err := f.svc.FinishAssertion(ctx, ada.ID, "tfa-2", resp); ok || err != nil {
		t.Fatalf("other binding = %v %v", ok, err)
	}
	if _, ok, err := f.svc.FinishAssertion(ctx, bob.ID, "tfa-1", resp); ok || err != nil {
		t.Fatalf("other account = %v %v", ok, err)
	}
	amr, ok, err := f.svc.FinishAssertion(ctx, ada.ID, "tfa-1", resp)
	if err != nil || !ok || !slices.Equal(amr, []string{auth.AMRHardwareKey}) {
		t.Fatalf("FinishAssertion = %v %v %v (no UV: no user amr)", amr, ok, err)
	}
	if _, ok, _ := f.svc.FinishAssertion(ctx, ada.ID, "tfa-1", resp); ok {
		t.Fatal("a consumed ceremony verified again")
	}

	// Bob's passkey cannot answer Ada's ceremony.
	opts, err = f.svc.BeginAssertion(ctx, ada.ID, "tfa-3")
	if err != nil {
		t.Fatal(err)
	}
	bobCred := bobKey.Credentials()[0]
	bobCred.RPID = "example.com"
	resp, err = bobKey.Get(opts, webauthntest.Options{Origin: origin, Credential: bobCred.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.svc.FinishAssertion(ctx, ada.ID, "tfa-3", resp); ok || err != nil {
		t.Fatalf("foreign credential = %v %v", ok, err)
	}

	// With user verification: user amr.
	opts, _ = f.svc.BeginAssertion(ctx, ada.ID, "tfa-4")
	resp, _ = adaKey.Get(opts, webauthntest.Options{Origin: origin})
	if amr, ok, err := f.svc.FinishAssertion(ctx, ada.ID, "tfa-4", resp); !ok || err != nil || !slices.Equal(amr, []string{auth.AMRHardwareKey, auth.AMRUser}) {
		t.Fatalf("with UV = %v %v %v", amr, ok, err)
	}
	// Wrong RP ID.
	opts, _ = f.svc.BeginAssertion(ctx, ada.ID, "tfa-5")
	resp, _ = adaKey.Get(opts, webauthntest.Options{Origin: origin, RPID: "evil.example.net"})
	if _, ok, err := f.svc.FinishAssertion(ctx, ada.ID, "tfa-5", resp); ok || err != nil {
		t.Fatalf("wrong RP ID = %v %v", ok, err)
	}
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	f := newFixture(t, rp)
	ctx := context.Background()
	ada, bob := f.account(t, "own-ada"), f.account(t, "own-bob")
	c := f.register(t, ada, "s", webauthntest.New())
	if _, err := f.svc.Rename(ctx, bob.ID, c.ID, "mine now"); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("rename by another = %v", err)
	}
	if _, err := f.svc.Delete(ctx, bob.ID, c.ID); !errors.Is(err, passkey.ErrNotFound) {
		t.Fatalf("delete by another = %v", err)
	}
	if got, err := f.svc.Rename(ctx, ada.ID, c.ID, " Phone "); err != nil || got.Name != "Phone" {
		t.Fatalf("rename = %+v %v", got, err)
	}
	if _, err := f.svc.Delete(ctx, ada.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.svc.Count(ctx, ada.ID); n != 0 {
		t.Fatalf("count after delete = %d", n)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  passkey.Config
		ok   bool
	}{
		{"off", passkey.Config{}, true},
		{"https", passkey.Config{RPID: "example.com", RPDisplayName: "L", RPOrigins: []string{"https://example.com", "https://accounts.example.com:8443"}}, true},
		{"localhost http", passkey.Config{RPID: "localhost", RPDisplayName: "L", RPOrigins: []string{"http://localhost:8080"}}, true},
		{"http elsewhere", passkey.Config{RPID: "example.com", RPDisplayName: "L", RPOrigins: []string{"http://example.com"}}, false},
		{"ip rp id", passkey.Config{RPID: "127.0.0.1", RPDisplayName: "L", RPOrigins: []string{"http://127.0.0.1:8080"}}, false},
		{"origin off the rp id", passkey.Config{RPID: "example.com", RPDisplayName: "L", RPOrigins: []string{"https://example.net"}}, false},
		{"rp id with scheme", passkey.Config{RPID: "https://example.com", RPDisplayName: "L", RPOrigins: []string{"https://example.com"}}, false},
		{"no origins", passkey.Config{RPID: "example.com", RPDisplayName: "L"}, false},
		{"no name", passkey.Config{RPID: "example.com", RPOrigins: []string{"https://example.com"}}, false},
		{"origin with path", passkey.Config{RPID: "example.com", RPDisplayName: "L", RPOrigins: []string{"https://example.com/app"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
