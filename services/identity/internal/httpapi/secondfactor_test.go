package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// testTOTPKeyring seals the harness's authenticator secrets with a public test key.
func testTOTPKeyring(t testing.TB) *totp.Keyring {
	t.Helper()
	k, err := totp.ParseKeys("test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// totpCode is the authenticator code of secret for the step of at.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCodeCustom(secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awayFromStepEnd waits, when the current 30-second step ends within 8 seconds, for the next one, so
// that the steps a test computes codes for (the previous, current and next one) stay in the ±1 window
// while it runs. It returns the time to compute codes from.
func awayFromStepEnd() time.Time {
	now := time.Now()
	if rem := 30 - now.Unix()%30; rem <= 8 {
		time.Sleep(time.Duration(rem)*time.Second + 100*time.Millisecond)
	}
	return time.Now()
}

// enrolTOTP sets up and confirms an authenticator for o (with a step-up), confirming with the code of
// the step before at so the current and next steps stay free for sign-ins. It returns the secret.
func (h *harness) enrolTOTP(t *testing.T, o owner, at time.Time) string {
	t.Helper()
	rat := h.mintStepUp(t, o.id, o.sid, auth.MethodPassword, time.Minute)
	r := h.stepUp(t, "POST", "/api/v1/account/2fa/totp/setup", o.token, rat, nil).wantStatus(t, http.StatusOK, "totp setup")
	secret := r.str("data.secret")
	h.stepUp(t, "POST", "/api/v1/account/2fa/totp/confirm", o.token, rat, map[string]any{"code": totpCode(t, secret, at.Add(-30*time.Second))}).
		wantStatus(t, http.StatusOK, "totp confirm")
	return secret
}

func methodsOf(r response) []string {
	var out []string
	list, _ := r.at("methods").([]any)
	for _, m := range list {
		s, _ := m.(string)
		out = append(out, s)
	}
	return out
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	at := awayFromStepEnd()

	t.Run("every change needs a step-up", func(t *testing.T) {
		for _, rt := range []struct{ method, path string }{
			{"POST", "/api/v1/account/2fa/totp/setup"}, {"POST", "/api/v1/account/2fa/totp/confirm"}, {"DELETE", "/api/v1/account/2fa/totp"},
		} {
			wantReauthRequired(t, h.authed(t, rt.method, rt.path, ada.token, map[string]any{"code": "123456"}), rt.path)
			wantReauthRequired(t, h.stepUp(t, rt.method, rt.path, ada.token, "rat_made-up", map[string]any{"code": "123456"}), rt.path+" (made-up token)")
		}
		if n, err := store.NewAuthenticators(h.db).Get(context.Background(), ada.id); err == nil {
			t.Fatalf("refused setup stored an authenticator: %+v", n)
		}
	})

	rat := h.mintStepUp(t, ada.id, ada.sid, auth.MethodPassword, time.Minute)
	var secret string
	t.Run("setup shows the secret, URI and QR code; confirm with a first code", func(t *testing.T) {
		wantEnvelopeError(t, h.stepUp(t, "POST", "/api/v1/account/2fa/totp/confirm", ada.token, rat, map[string]any{"code": "123456"}), http.StatusConflict, "No authenticator app is awaiting confirmation; set one up first")
		r := h.stepUp(t, "POST", "/api/v1/account/2fa/totp/setup", ada.token, rat, nil).wantStatus(t, http.StatusOK, "setup")
		secret = r.str("data.secret")
		if len(secret) < 16 || !strings.HasPrefix(r.str("data.otpauthUri"), "otpauth://totp/Latchkey:ada@example.com?") ||
			!strings.Contains(r.str("data.otpauthUri"), "secret="+secret) || !strings.HasPrefix(r.str("data.qrCodePng"), "data:image/png;base64,") {
			t.Fatalf("setup = %s", r.raw)
		}
		wantEnvelopeError(t, h.stepUp(t, "POST", "/api/v1/account/2fa/totp/confirm", ada.token, rat, map[string]any{"code": "12ab56"}), http.StatusUnprocessableEntity, "")
		wrong := totpCode(t, secret, at.Add(10*time.Minute))
		wantEnvelopeError(t, h.stepUp(t, "POST", "/api/v1/account/2fa/totp/confirm", ada.token, rat, map[string]any{"code": wrong}), http.StatusBadRequest, "Invalid or expired code")
		if h.hasAlert(t, ada.id, events.AlertAuthenticatorAdded) {
			t.Fatal("alert before confirmation")
		}
		h.stepUp(t, "POST", "/api/v1/account/2fa/totp/confirm", ada.token, rat, map[string]any{"code": totpCode(t, secret, at.Add(-30*time.Second))}).
			wantStatus(t, http.StatusOK, "confirm")
		if !h.hasAlert(t, ada.id, events.AlertAuthenticatorAdded) {
			t.Error("no authenticator_added alert")
		}
		wantEnvelopeError(t, h.stepUp(t, "POST", "/api/v1/account/2fa/totp/setup", ada.token, rat, nil), http.StatusConflict, "An authenticator app is already set up; remove it first")
	})

	t.Run("security-info shows it", func(t *testing.T) {
		r := h.authed(t, "GET", "/api/v1/account/security-info", ada.token, nil).wantStatus(t, http.StatusOK, "security-info")
		if r.at("data.isTwoFactorEnabled") != true || r.at("data.totpEnrolled") != true {
			t.Errorf("security-info = %s, want 2FA on with TOTP", r.raw)
		}
	})

	t.Run("removal needs a step-up, then works once", func(t *testing.T) {
		wantReauthRequired(t, h.authed(t, "DELETE", "/api/v1/account/2fa/totp", ada.token, nil), "delete without step-up")
		if ok, _ := totp.New(store.NewAuthenticators(h.db), testTOTPKeyring(t), "").Enrolled(context.Background(), ada.id); !ok {
			t.Fatal("refused removal removed the authenticator")
		}
		h.stepUp(t, "DELETE", "/api/v1/account/2fa/totp", ada.token, rat, nil).wantStatus(t, http.StatusOK, "delete")
		if !h.hasAlert(t, ada.id, events.AlertAuthenticatorRemoved) {
			t.Error("no authenticator_removed alert")
		}
		wantEnvelopeError(t, h.stepUp(t, "DELETE", "/api/v1/account/2fa/totp", ada.token, rat, nil), http.StatusNotFound, "No authenticator app is set up")
		if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.str("access_token") == "" {
			t.Errorf("login after removing the only factor = %s, want tokens", r.raw)
		}
	})
}

func TestSignInWithTOTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	at := awayFromStepEnd()
	secret := h.enrolTOTP(t, ada, at)
	sentBefore := len(h.dispatches(t, ada.email))

	r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	if r.status != http.StatusOK || r.str("challenge") != "two_factor" || !slices.Equal(methodsOf(r), []string{"totp"}) ||
		r.str("masked_value") != "" || r.at("webauthn") != nil || !strings.HasPrefix(r.str("two_factor_token"), "tfa_") {
		t.Fatalf("login = %d %s, want a two_factor challenge offering totp", r.status, r.raw)
	}
	if n := len(h.dispatches(t, ada.email)) - sentBefore; n != 0 {
		t.Errorf("%d codes sent with an authenticator on, want none", n)
	}
	token := r.str("two_factor_token")
	code := totpCode(t, secret, at)

	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa/send-code", map[string]any{"two_factor_token": token, "method": "email"}), http.StatusBadRequest, "This method is not available for this sign-in")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "totp", "otp_code": "12345"}), http.StatusUnprocessableEntity, "otp_code")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "carrier-pigeon", "otp_code": code}), http.StatusUnprocessableEntity, "method")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "totp", "otp_code": otherCode(code)}), http.StatusBadRequest, "Invalid or expired code")
	// The old body means the code that was sent: none was.
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": code}), http.StatusBadRequest, "Invalid or expired code")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "email", "otp_code": code}), http.StatusBadRequest, "Invalid or expired code")

	before := len(h.sessions.requests())
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "totp", "otp_code": code, "device_name": "Pixel"})
	if ok.status != http.StatusOK || ok.str("access_token") == "" || ok.str("user.id") != ada.id {
		t.Fatalf("verify-2fa = %d %s, want tokens", ok.status, ok.raw)
	}
	reqs := h.sessions.requests()
	if len(reqs) != before+1 || reqs[len(reqs)-1]["amr"] != "pwd otp mfa" {
		t.Errorf("session request amr = %q, want pwd otp mfa", reqs[len(reqs)-1]["amr"])
	}
	if _, err := store.NewDevices(h.db).Find(context.Background(), ada.id, "phone"); err != nil {
		t.Errorf("phone not trusted after TOTP: %v", err)
	}
	// The token is spent, and the code's step too: a new sign-in cannot replay it.
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "method": "totp", "otp_code": code}), http.StatusBadRequest, "Invalid or expired code")
	again := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": again.str("two_factor_token"), "method": "totp", "otp_code": code}), http.StatusBadRequest, "Invalid or expired code")
	next := totpCode(t, secret, at.Add(30*time.Second))
	h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": again.str("two_factor_token"), "method": "totp", "otp_code": next}).
		wantStatus(t, http.StatusOK, "the next step's code")
}

func TestTwoFactorCodesBesideTOTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.otp.ResendCooldown = 0 }) // two sign-in codes to one address
	ada := h.signUp(t, "ada@example.com")
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).wantStatus(t, http.StatusOK, "enable codes")
	token, sid := h.signInWithCode(t, ada.email, "laptop")
	ada.token, ada.sid = token, sid
	h.enrolTOTP(t, ada, awayFromStepEnd())
	sentBefore := len(h.dispatches(t, ada.email))

	r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "tablet"))
	if !slices.Equal(methodsOf(r), []string{"totp", "email"}) || r.str("masked_value") != "" {
		t.Fatalf("login = %s, want totp then email, no code sent", r.raw)
	}
	if n := len(h.dispatches(t, ada.email)) - sentBefore; n != 0 {
		t.Fatalf("%d codes sent before asked", n)
	}
	tfa := r.str("two_factor_token")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa/send-code", map[string]any{"two_factor_token": tfa, "method": "sms"}), http.StatusBadRequest, "This method is not available for this sign-in")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa/send-code", map[string]any{"two_factor_token": "tfa_unknown", "method": "email"}), http.StatusBadRequest, "Invalid or expired code")
	sent := h.post(t, "/api/v1/auth/verify-2fa/send-code", map[string]any{"two_factor_token": tfa, "method": "email"}).wantStatus(t, http.StatusOK, "send-code")
	if sent.str("masked_value") != "ad***@example.com" || sent.at("expires_in") != float64(600) {
		t.Fatalf("send-code = %s", sent.raw)
	}
	code := h.lastCode(t, ada.email)
	if d := h.dispatches(t, ada.email); d[len(d)-1].Purpose != events.PurposeTwoFactor {
		t.Errorf("purpose = %s", d[len(d)-1].Purpose)
	}
	// The body without method answers the code that was sent.
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "otp_code": code})
	if ok.status != http.StatusOK || ok.str("access_token") == "" {
		t.Fatalf("verify-2fa (old body) = %d %s", ok.status, ok.raw)
	}
	reqs := h.sessions.requests()
	if got := reqs[len(reqs)-1]["amr"]; got != "pwd otp mfa" {
		t.Errorf("amr = %q, want pwd otp mfa", got)
	}
}

// signInWithCode signs in with the password and the two-factor code sent by e-mail (code 2FA only).
func (h *harness) signInWithCode(t *testing.T, email, deviceID string) (token, sid string) {
	t.Helper()
	r := h.post(t, "/api/v1/auth/login", login(email, goodPassword, deviceID))
	if !slices.Equal(methodsOf(r), []string{"email"}) || r.str("masked_value") == "" {
		t.Fatalf("login = %s, want a code sent at once with email the only method", r.raw)
	}
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": r.str("two_factor_token"), "otp_code": h.lastCode(t, email)}).wantStatus(t, http.StatusOK, "verify-2fa")
	return ok.str("access_token"), ok.str("session_id")
}

// fakeRecovery is a small in-memory auth.RecoveryCodes (package recovery is the real one).
type fakeRecovery struct {
	mu       sync.Mutex
	codes    map[string][]string
	lastUsed map[string]time.Time
}

// LastUsed makes it an auth.RecoveryCodeUsage too.
func (f *fakeRecovery) LastUsed(_ context.Context, accountID string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastUsed[accountID], nil
}

func (f *fakeRecovery) Remaining(_ context.Context, accountID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.codes[accountID]), nil
}

func (f *fakeRecovery) Redeem(_ context.Context, accountID, code string, at time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.codes[accountID], code)
	if i < 0 {
		return false, nil
	}
	f.lastUsed[accountID] = at
	f.codes[accountID] = slices.Delete(f.codes[accountID], i, i+1)
	return true, nil
}

func TestSignInWithRecoveryCode(t *testing.T) {
	t.Parallel()
	rec := &fakeRecovery{codes: map[string][]string{}, lastUsed: map[string]time.Time{}}
	h := newHarness(t, func(s *setup) { s.recoveryCodes = rec })
	ada := h.signUp(t, "ada@example.com")
	h.enrolTOTP(t, ada, awayFromStepEnd())

	// No codes left: not offered.
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone")); !slices.Equal(methodsOf(r), []string{"totp"}) {
		t.Fatalf("methods = %v, want totp only", methodsOf(r))
	}
	rec.mu.Lock()
	rec.codes[ada.id] = []string{"ABCD-EFGH-1234", "WXYZ-0000-9876"}
	rec.mu.Unlock()
	r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	if !slices.Equal(methodsOf(r), []string{"totp", "recovery_code"}) {
		t.Fatalf("methods = %v, want totp, recovery_code", methodsOf(r))
	}
	tfa := r.str("two_factor_token")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "recovery_code", "otp_code": "12"}), http.StatusUnprocessableEntity, "otp_code")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "recovery_code", "otp_code": "ABCD-EFGH-0000"}), http.StatusBadRequest, "Invalid or expired code")
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "recovery_code", "otp_code": "ABCD-EFGH-1234"}).wantStatus(t, http.StatusOK, "recovery code")
	if ok.str("access_token") == "" {
		t.Fatal("no tokens")
	}
	if !h.hasAlert(t, ada.id, events.AlertRecoveryCodeUsed) {
		t.Error("no recovery_code_used alert")
	}
	info := h.authed(t, "GET", "/api/v1/account/security-info", ok.str("access_token"), nil).wantStatus(t, http.StatusOK, "security-info")
	if info.at("data.recoveryCodesRemaining") != float64(1) || info.at("data.recoveryCodesLow") != true || info.str("data.recoveryCodeLastUsedAt") == "" ||
		mustJSON(info.at("data.secondFactors")) != `[{"type":"totp"}]` {
		t.Errorf("security-info = %s, want 1 recovery code left (low), its last use, and totp", info.raw)
	}
	again := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": again.str("two_factor_token"), "method": "recovery_code", "otp_code": "ABCD-EFGH-1234"}), http.StatusBadRequest, "Invalid or expired code")
}

// fakePasskeys is a small in-memory auth.Passkeys: an assertion {"binding": b} verifies when b is the
// ceremony begun last for the account (package passkey is the real one).
type fakePasskeys struct {
	mu      sync.Mutex
	count   map[string]int
	pending map[string]string // account → binding
}

func (f *fakePasskeys) Count(_ context.Context, accountID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[accountID], nil
}

func (f *fakePasskeys) BeginAssertion(_ context.Context, accountID, binding string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending[accountID] = binding
	return json.Marshal(map[string]any{"publicKey": map[string]any{"challenge": binding, "rpId": "localhost"}})
}

func (f *fakePasskeys) FinishAssertion(_ context.Context, accountID, binding string, assertion json.RawMessage) ([]string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var a struct {
		Binding string `json:"binding"`
	}
	if json.Unmarshal(assertion, &a) != nil || a.Binding != binding || f.pending[accountID] != binding {
		return nil, false, nil
	}
	delete(f.pending, accountID)
	return []string{auth.AMRHardwareKey, auth.AMRUser}, true, nil
}

func TestSignInWithPasskeyAsSecondFactor(t *testing.T) {
	t.Parallel()
	pk := &fakePasskeys{count: map[string]int{}, pending: map[string]string{}}
	h := newHarness(t, func(s *setup) { s.passkeys = pk })
	ada := h.signUp(t, "ada@example.com")
	pk.mu.Lock()
	pk.count[ada.id] = 1
	pk.mu.Unlock()

	r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	if !slices.Equal(methodsOf(r), []string{"webauthn"}) || r.str("webauthn.publicKey.challenge") == "" {
		t.Fatalf("login = %s, want webauthn with request options", r.raw)
	}
	binding := r.str("webauthn.publicKey.challenge")
	tfa := r.str("two_factor_token")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "webauthn"}), http.StatusUnprocessableEntity, "assertion")
	wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "webauthn", "assertion": map[string]any{"binding": "2fa:other"}}), http.StatusBadRequest, "Invalid or expired code")
	// A failed assertion consumed nothing the fake keeps; begin again by signing in again.
	r = h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "phone"))
	binding, tfa = r.str("webauthn.publicKey.challenge"), r.str("two_factor_token")
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "method": "webauthn", "assertion": map[string]any{"binding": binding}}).
		wantStatus(t, http.StatusOK, "passkey")
	if ok.str("access_token") == "" {
		t.Fatal("no tokens")
	}
	reqs := h.sessions.requests()
	if got := reqs[len(reqs)-1]["amr"]; got != "pwd hwk user mfa" {
		t.Errorf("amr = %q, want pwd hwk user mfa", got)
	}
}

func TestStepUpWithTOTPAndPasskey(t *testing.T) {
	t.Parallel()
	pk := &fakePasskeys{count: map[string]int{}, pending: map[string]string{}}
	h := newHarness(t, func(s *setup) { s.passkeys = pk })
	ada := h.signUp(t, "ada@example.com")
	at := awayFromStepEnd()

	t.Run("totp", func(t *testing.T) {
		// No authenticator yet: a code cannot prove anything.
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"totp": "123456"}), http.StatusBadRequest, "Invalid or expired code")
		secret := h.enrolTOTP(t, ada, at)
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"totp": "12"}), http.StatusUnprocessableEntity, "totp")
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"totp": totpCode(t, secret, at.Add(time.Hour))}), http.StatusBadRequest, "Invalid or expired code")
		code := totpCode(t, secret, at)
		r := h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"totp": code}).wantStatus(t, http.StatusOK, "reauth totp")
		if r.str("method") != "otp" || !strings.HasPrefix(r.str("reauth_token"), "rat_") {
			t.Fatalf("reauth = %s", r.raw)
		}
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"totp": code}), http.StatusBadRequest, "Invalid or expired code")
		// The token opens the step-up routes: remove the authenticator with it.
		h.stepUp(t, "DELETE", "/api/v1/account/2fa/totp", ada.token, r.str("reauth_token"), nil).wantStatus(t, http.StatusOK, "remove with a TOTP step-up")
	})

	t.Run("passkey", func(t *testing.T) {
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth/passkey/begin", ada.token, nil), http.StatusNotFound, "No passkeys are registered")
		pk.mu.Lock()
		pk.count[ada.id] = 2
		pk.mu.Unlock()
		b := h.authed(t, "POST", "/api/v1/auth/reauth/passkey/begin", ada.token, nil).wantStatus(t, http.StatusOK, "begin")
		binding := b.str("publicKey.challenge")
		if binding != "stepup:"+ada.id+":"+ada.sid {
			t.Fatalf("binding = %q, want one of the caller's session", binding)
		}
		wantPlainError(t, h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"assertion": map[string]any{"binding": "2fa:x"}}), http.StatusBadRequest, "Invalid or expired code")
		h.authed(t, "POST", "/api/v1/auth/reauth/passkey/begin", ada.token, nil).wantStatus(t, http.StatusOK, "begin again")
		r := h.authed(t, "POST", "/api/v1/auth/reauth", ada.token, map[string]any{"assertion": map[string]any{"binding": binding}}).wantStatus(t, http.StatusOK, "reauth passkey")
		if r.str("method") != "hwk" {
			t.Errorf("method = %q, want hwk", r.str("method"))
		}
	})
}

// TestTOTPCodeConcurrentSignIns: two sign-ins (two challenges) answered at once with one
// authenticator code — exactly one gets tokens.
func TestTOTPCodeConcurrentSignIns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	at := awayFromStepEnd()
	secret := h.enrolTOTP(t, ada, at)
	var tokens []string
	for range 4 {
		tokens = append(tokens, h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")).str("two_factor_token"))
	}
	code := totpCode(t, secret, at)
	statuses := make([]int, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tok, "method": "totp", "otp_code": code}).status
		}()
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(slices.Clone(statuses), func(s int) bool { return s != http.StatusOK })); n != 1 {
		t.Fatalf("statuses = %v, want exactly one 200", statuses)
	}
}
