package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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

func TestFactorMethodsStrongestFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    auth.Factors
		want []string
	}{
		{"nothing", auth.Factors{CodeChannels: []string{"email"}}, nil},
		{"recovery codes alone are no factor", auth.Factors{RecoveryCodesRemaining: 5, RecoveryCodesOffered: true}, nil},
		{"codes", auth.Factors{Codes: true, CodeChannels: []string{"email", "sms", "whatsapp"}}, []string{"email", "sms", "whatsapp"}},
		{"codes without a verified channel", auth.Factors{Codes: true}, nil},
		{"everything", auth.Factors{Codes: true, CodeChannels: []string{"sms", "whatsapp"}, TOTP: true, Passkeys: 2, RecoveryCodesRemaining: 1},
			[]string{"webauthn", "totp", "recovery_code", "sms", "whatsapp"}},
		{"totp, codes used up", auth.Factors{TOTP: true, RecoveryCodesOffered: true}, []string{"totp"}},
		{"channels verified, codes off", auth.Factors{TOTP: true, CodeChannels: []string{"email"}}, []string{"totp"}},
	} {
		if got := tc.f.Methods(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Methods() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeAuthenticators is an auth.Authenticators accepting code "111111" once per account.
type fakeAuthenticators struct {
	mu       sync.Mutex
	enrolled map[string]bool
	used     map[string]bool
}

func (f *fakeAuthenticators) Enrolled(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enrolled[id], nil
}

func (f *fakeAuthenticators) Verify(_ context.Context, id, code string, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.enrolled[id] || code != "111111" || f.used[id] {
		return false, nil
	}
	f.used[id] = true
	return true, nil
}

// fakePasskeyFactor is an auth.Passkeys whose assertion is the binding it was begun with.
type fakePasskeyFactor struct {
	mu      sync.Mutex
	count   int
	binding string
	amr     []string
}

func (f *fakePasskeyFactor) Count(context.Context, string) (int, error) { return f.count, nil }

func (f *fakePasskeyFactor) BeginAssertion(_ context.Context, _, binding string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.binding = binding
	return json.RawMessage(`{"publicKey":{"challenge":"c"}}`), nil
}

func (f *fakePasskeyFactor) FinishAssertion(_ context.Context, _, binding string, assertion json.RawMessage) ([]string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if binding != f.binding || string(assertion) != `"`+binding+`"` {
		return nil, false, nil
	}
	f.binding = ""
	return f.amr, true, nil
}

// recordingSessions remembers the session requests.
type recordingSessions struct {
	mu   sync.Mutex
	reqs []auth.SessionRequest
}

func (r *recordingSessions) Start(_ context.Context, req auth.SessionRequest) (auth.Tokens, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return auth.Tokens{SessionID: "s", AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", ExpiresIn: 900}, nil
}

func (r *recordingSessions) Revoke(context.Context, string, string, string) (int, error) {
	return 0, nil
}

func (r *recordingSessions) last() auth.SessionRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

type factorSetup struct {
	svc      *auth.Service
	ob       *outbox
	sessions *recordingSessions
	accounts *store.Accounts
}

func newFactorService(t *testing.T, d auth.Deps) factorSetup {
	t.Helper()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ob := &outbox{}
	limiter := throttle.New(store.NewCounters(db))
	ss := &recordingSessions{}
	d.Accounts, d.Devices, d.Hasher, d.Limiter, d.Sessions, d.Outbox, d.StepUps = store.NewAccounts(db), store.NewDevices(db), hasher, limiter, ss, ob, store.NewStepUps(db)
	d.Codes = otp.NewService(otp.DefaultConfig, otp.Pepper("pepper-for-tests-0123456789abcdef"), store.NewChallenges(db), limiter, ob)
	return factorSetup{svc: auth.NewService(auth.Config{}, d), ob: ob, sessions: ss, accounts: store.NewAccounts(db)}
}

func TestTwoFactorChallengeWithFakes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	authn := &fakeAuthenticators{enrolled: map[string]bool{}, used: map[string]bool{}}
	pk := &fakePasskeyFactor{amr: []string{auth.AMRHardwareKey, auth.AMRUser}}
	f := newFactorService(t, auth.Deps{Authenticators: authn, Passkeys: pk})
	ada := register(t, f.svc, f.ob, "ada@example.com")
	authn.enrolled[ada.Account.ID] = true
	login := auth.Login{Identifier: "ada@example.com", Password: "Tr4vel-Lamp-Orbit", Device: device.Info{DeviceID: "laptop"}}

	t.Run("totp: a trusted device still answers the second factor", func(t *testing.T) {
		res, err := f.svc.Login(ctx, login)
		if err != nil || res.TwoFactor == nil || !slices.Equal(res.TwoFactor.Methods, []string{"totp"}) || res.TwoFactor.MaskedValue != "" {
			t.Fatalf("Login = %+v, %v; want a two-factor challenge offering totp", res, err)
		}
		in := auth.TwoFactorVerification{Token: res.TwoFactor.Token, Method: auth.FactorTOTP, Code: "222222"}
		if _, err := f.svc.VerifyTwoFactor(ctx, in); !errors.Is(err, auth.ErrInvalidCode) {
			t.Fatalf("wrong code: %v", err)
		}
		in.Code = "111111"
		if _, err := f.svc.VerifyTwoFactor(ctx, in); err != nil {
			t.Fatal(err)
		}
		as := f.sessions.last().Assurance
		if !slices.Equal(as.AMR, []string{"pwd", "otp", "mfa"}) || as.ACR != auth.ACRMultiFactor {
			t.Errorf("assurance = %+v, want pwd otp mfa at aal2", as)
		}
		if _, err := f.svc.VerifyTwoFactor(ctx, in); !errors.Is(err, auth.ErrInvalidCode) {
			t.Errorf("the answered challenge answered again: %v", err)
		}
	})

	t.Run("passkey first, with request options; its amr reaches the session", func(t *testing.T) {
		pk.count = 1
		res, err := f.svc.Login(ctx, login)
		if err != nil || !slices.Equal(res.TwoFactor.Methods, []string{"webauthn", "totp"}) || len(res.TwoFactor.WebAuthn) == 0 {
			t.Fatalf("Login = %+v, %v", res.TwoFactor, err)
		}
		bad := auth.TwoFactorVerification{Token: res.TwoFactor.Token, Method: auth.FactorWebAuthn, Assertion: json.RawMessage(`"2fa:forged"`)}
		if _, err := f.svc.VerifyTwoFactor(ctx, bad); !errors.Is(err, auth.ErrInvalidCode) {
			t.Fatalf("forged assertion: %v", err)
		}
		good := bad
		good.Assertion = json.RawMessage(`"` + pk.binding + `"`)
		if _, err := f.svc.VerifyTwoFactor(ctx, good); err != nil {
			t.Fatal(err)
		}
		as := f.sessions.last().Assurance
		if !slices.Equal(as.AMR, []string{"pwd", "hwk", "user", "mfa"}) || as.ACR != auth.ACRHardwareKey {
			t.Errorf("assurance = %+v, want pwd hwk user mfa at aal3", as)
		}
		pk.count = 0
	})

	t.Run("a method the challenge does not list is refused, and takes a try", func(t *testing.T) {
		res, err := f.svc.Login(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{auth.FactorRecoveryCode, auth.FactorEmail, ""} {
			if _, err := f.svc.VerifyTwoFactor(ctx, auth.TwoFactorVerification{Token: res.TwoFactor.Token, Method: m, Code: "111111"}); !errors.Is(err, auth.ErrInvalidCode) {
				t.Errorf("method %q: %v, want ErrInvalidCode", m, err)
			}
		}
	})
}

func TestTwoFactorFailsClosedWithFakes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFactorService(t, auth.Deps{Authenticators: &fakeAuthenticators{enrolled: map[string]bool{}, used: map[string]bool{}}})
	now := time.Now().UTC()
	hash, _ := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
	h, err := hash.Hash("Tr4vel-Lamp-Orbit")
	if err != nil {
		t.Fatal(err)
	}
	// Codes on, but the only address is unverified, and nothing else: refused after the password.
	a := account.Account{ID: "acc-1", Email: "nobody@example.com", PasswordHash: h, TwoFactorEnabled: true,
		Status: account.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := f.accounts.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Login(ctx, auth.Login{Identifier: a.Email, Password: "Tr4vel-Lamp-Orbit", Device: device.Info{DeviceID: "d"}})
	if !errors.Is(err, auth.ErrNoSecondFactor) {
		t.Fatalf("Login = %v, want ErrNoSecondFactor", err)
	}
	if n := len(f.ob.queued); n != 0 && f.ob.queued[n-1].Type == events.TypeOTPDispatch {
		t.Error("a code was sent to an unverified address")
	}
}
