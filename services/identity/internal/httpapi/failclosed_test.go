package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

const (
	wantNoSecondFactor = "Two-factor authentication is on but no verified email or phone can receive a code; " +
		"recover the account (reset the password by email or contact support)"
	wantNoDeviceVerification = "This device is new and no verified email or phone can receive a verification code; " +
		"recover the account (reset the password by email or contact support)"
)

// phoneAPI is identity's internal phone API (what the profile service calls for PATCH /api/v1/me and
// PATCH /api/v1/auth/me) on the harness's database, with the given limits.
type phoneAPI struct{ app *fiber.App }

// newPhoneAPI mounts the internal phone API over the harness's stores.
func (h *harness) newPhoneAPI(t *testing.T, perAccount, perIP throttle.Limit) *phoneAPI {
	t.Helper()
	app, err := httpx.NewInternalApp(httpx.Options{Service: "identity", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	limiter := throttle.New(store.NewCounters(h.db)).WithClock(func() time.Time { return frozen })
	phones := phone.NewService(store.NewAccounts(h.db), h.svc).WithLimits(phone.Limits{Limiter: limiter, PerAccount: perAccount, PerIP: perIP})
	httpapi.RegisterPhoneInternal(app, httpx.RequireToken(internalToken), phones)
	return &phoneAPI{app: app}
}

// set hands phone over for the account, as the profile service does for a caller at ip. Safe to call
// from other goroutines (it never stops the test).
func (p *phoneAPI) set(t *testing.T, accountID, number, ip string) response {
	t.Helper()
	body := jsonBody(t, map[string]any{"phoneNumber": number, "clientIp": ip})
	req := httptest.NewRequest(http.MethodPut, "/internal/v1/accounts/"+accountID+"/phone", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+internalToken.Value())
	resp, err := p.app.Test(req, 10_000)
	if err != nil {
		t.Error(err)
		return response{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// createAccount stores a, with the harness's password, and returns it.
func (h *harness) createAccount(t *testing.T, a account.Account) account.Account {
	t.Helper()
	a.PasswordHash = mustHash(t, h)
	if err := store.NewAccounts(h.db).Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (h *harness) trustDevice(t *testing.T, accountID, deviceID string) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := store.NewDevices(h.db).Trust(context.Background(), device.TrustedDevice{
		ID: events.NewID(), AccountID: accountID, DeviceID: deviceID, CreatedAt: now, LastUsedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) account(t *testing.T, id string) account.Account {
	t.Helper()
	a, err := store.NewAccounts(h.db).ByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Fail closed: an account whose second factor (or new-device code) has nowhere to go is refused with
// a pointer to recovery — never signed in on the password or the provider alone.
func TestSignInFailsClosedWithoutAVerifiedContact(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss))
	ctx := context.Background()

	// Neither account has a verified e-mail or phone (the state the review reached by unlinking the
	// e-mail and replacing the phone through PATCH /api/v1/me).
	tfa := accountFor("tfa@example.com", "tfa")
	tfa.EmailVerified, tfa.TwoFactorEnabled, tfa.Phone = false, true, "+447700900555"
	tfa = h.createAccount(t, tfa)
	h.trustDevice(t, tfa.ID, "laptop")
	if err := store.NewProviders(h.db).Link(ctx, oauth.Link{ID: events.NewID(), AccountID: tfa.ID, Provider: oauth.Google, Subject: "g-tfa", LinkedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	plain := accountFor("plain@example.com", "plain")
	plain.EmailVerified = false
	plain = h.createAccount(t, plain)
	h.trustDevice(t, plain.ID, "laptop")

	tests := []struct {
		name   string
		path   string
		body   map[string]any
		status int
		detail string
	}{
		{"2FA on, new device", "/api/v1/auth/login", login("tfa", goodPassword, "attacker-pc"), http.StatusForbidden, wantNoSecondFactor},
		{"2FA on, trusted device", "/api/v1/auth/login", login("tfa@example.com", goodPassword, "laptop"), http.StatusForbidden, wantNoSecondFactor},
		{"2FA on, provider sign-in", "/api/v1/auth/oauth/google", map[string]any{"id_token": idToken(t, iss, "g-tfa", ""), "device_id": "attacker-pc"}, http.StatusForbidden, wantNoSecondFactor},
		{"2FA off, new device", "/api/v1/auth/login", login("plain", goodPassword, "attacker-pc"), http.StatusForbidden, wantNoDeviceVerification},
		// A device the owner verified earlier is still the proof it was.
		{"2FA off, trusted device", "/api/v1/auth/login", login("plain", goodPassword, "laptop"), http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.sessions.requests())
			r := h.post(t, tc.path, tc.body)
			if tc.status == http.StatusOK {
				if r.status != http.StatusOK || r.str("access_token") == "" {
					t.Fatalf("answer = %d %s, want tokens", r.status, r.raw)
				}
				return
			}
			wantPlainError(t, r, tc.status, tc.detail)
			if r.at("access_token") != nil || r.at("two_factor_token") != nil || r.at("device_verification_token") != nil {
				t.Errorf("answer = %s, want neither tokens nor a challenge", r.raw)
			}
			if n := len(h.sessions.requests()) - before; n != 0 {
				t.Errorf("%d sessions started, want none", n)
			}
			if d := h.dispatches(t, "+447700900555"); len(d) != 0 {
				t.Errorf("a code went to the unverified phone: %+v", d)
			}
		})
	}
	// A wrong password still answers as any wrong password: the refusal tells nothing to a guesser.
	if r := h.post(t, "/api/v1/auth/login", login("tfa", "Wrong-password-1", "attacker-pc")); r.status != http.StatusUnauthorized {
		t.Errorf("wrong password = %d %s, want 401", r.status, r.raw)
	}
}

// The review's reproduction: 2FA on, e-mail unlinked, phone replaced through the profile path (what
// PATCH /api/v1/me does with nothing but an access token or key) — a password sign-in from a new
// device then got tokens. Now the verified phone stays, and the sign-in gets its challenge there.
func TestPhoneReplacedThroughProfileCannotDisableTwoFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	ctx := context.Background()
	const ownerPhone, attackerPhone = "+447700900123", "+447700900666"
	id, token := h.signedUp(t, "ada@example.com", "ada", "laptop")
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", token, map[string]any{"phone_number": ownerPhone}).wantStatus(t, http.StatusOK, "send phone code")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", token, map[string]any{"phone_number": ownerPhone, "otp_code": h.lastCode(t, ownerPhone)}).wantStatus(t, http.StatusOK, "verify phone")
	if ok, err := store.NewAccounts(h.db).SetTwoFactor(ctx, id, true, nil); err != nil || !ok {
		t.Fatalf("enable 2FA: %v %v", ok, err)
	}
	if err := h.svc.UnlinkEmail(ctx, id); err != nil {
		t.Fatalf("unlink e-mail: %v", err)
	}

	api := h.newPhoneAPI(t, throttle.Limit{}, throttle.Limit{})
	r := api.set(t, id, attackerPhone, "203.0.113.66")
	if r.status != http.StatusOK || r.str("phoneNumber") != ownerPhone || r.at("phoneVerified") != true || r.str("pendingPhoneNumber") != attackerPhone {
		t.Fatalf("phone change = %d %s, want the verified phone kept and the new one pending", r.status, r.raw)
	}
	if a := h.account(t, id); a.Phone != ownerPhone || !a.PhoneVerified || a.PendingPhone != attackerPhone {
		t.Fatalf("account = %+v, want the verified phone kept", a)
	}

	before := len(h.sessions.requests())
	r = h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "attacker-pc"))
	if r.status != http.StatusOK || r.str("challenge") != "two_factor" || r.at("access_token") != nil || r.str("masked_value") != "+447***0123" {
		t.Fatalf("sign-in from a new device = %d %s, want a two_factor challenge at the owner's phone", r.status, r.raw)
	}
	if n := len(h.sessions.requests()) - before; n != 0 {
		t.Errorf("%d sessions started before the second factor, want none", n)
	}
	if d := h.dispatches(t, attackerPhone); len(d) != 0 {
		t.Errorf("codes went to the pending number: %+v", d)
	}
	if d := h.dispatches(t, ownerPhone); d[len(d)-1].Purpose != events.PurposeTwoFactor {
		t.Errorf("last code to the owner's phone = %+v, want the two_factor code", d[len(d)-1])
	}

	// The owner's own change of number goes through once the new number's code is answered.
	const newPhone = "+447700900777"
	if r := api.set(t, id, newPhone, "198.51.100.7"); r.str("phoneNumber") != ownerPhone || r.str("pendingPhoneNumber") != newPhone {
		t.Fatalf("owner's change = %s", r.raw)
	}
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", token, map[string]any{"phone_number": newPhone}).wantStatus(t, http.StatusOK, "send new phone code")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", token, map[string]any{"phone_number": newPhone, "otp_code": h.lastCode(t, newPhone)}).wantStatus(t, http.StatusOK, "verify new phone")
	if a := h.account(t, id); a.Phone != newPhone || !a.PhoneVerified || a.PendingPhone != "" {
		t.Fatalf("account = %+v, want the new number verified and nothing pending", a)
	}
	if s := h.lastSnapshot(t, id); s.PhoneNumber != newPhone || !s.PhoneVerified || s.PendingPhoneNumber != "" {
		t.Errorf("snapshot = %+v, want the new verified phone", s)
	}
}

// The last verified contact stays, also when removals race: the e-mail goes only in one write that
// also requires the verified phone, and no profile-path change can take the phone's verification.
func TestLastVerifiedContactSurvivesParallelRemovals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	api := h.newPhoneAPI(t, throttle.Limit{}, throttle.Limit{})

	// Only the e-mail is verified: it cannot go (2FA on or not).
	solo := accountFor("solo@example.com", "solo")
	solo.TwoFactorEnabled = true
	solo = h.createAccount(t, solo)
	if err := h.svc.UnlinkEmail(ctx, solo.ID); !errors.Is(err, auth.ErrLastVerifiedContact) {
		t.Fatalf("unlink the only verified contact: %v, want ErrLastVerifiedContact", err)
	}
	soloToken := h.sessions.keys.Token(t, solo.ID, events.NewID(), nil)
	r := h.callAs(t, "DELETE", "/api/v1/account/link/email", soloToken, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.str("message"), "only verified contact") {
		t.Errorf("unlink over HTTP = %d %s, want the 400 naming the last verified contact", r.status, r.raw)
	}

	for round := range 6 {
		a := accountFor("racer"+string(rune('a'+round))+"@example.com", "racer"+string(rune('a'+round)))
		a.Phone, a.PhoneVerified, a.TwoFactorEnabled = "+44770090080"+string(rune('0'+round)), true, true
		a = h.createAccount(t, a)

		var wg sync.WaitGroup
		unlinked := make([]error, 2)
		changed := make([]response, 2)
		for i := range 2 {
			wg.Add(2)
			go func() { defer wg.Done(); unlinked[i] = h.svc.UnlinkEmail(ctx, a.ID) }()
			go func() {
				defer wg.Done()
				changed[i] = api.set(t, a.ID, "+44770090090"+string(rune('0'+i)), "203.0.113.9")
			}()
		}
		wg.Wait()
		for _, r := range changed {
			if r.status != http.StatusOK {
				t.Errorf("round %d: phone change = %d %s, want 200", round, r.status, r.raw)
			}
		}
		ok := 0
		for _, err := range unlinked {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, auth.ErrNoEmail):
				t.Errorf("round %d: unlink: %v", round, err)
			}
		}
		if ok != 1 {
			t.Errorf("round %d: %d unlinks succeeded, want 1", round, ok)
		}
		got := h.account(t, a.ID)
		if !got.HasVerifiedChannel() || got.Phone != a.Phone || !got.PhoneVerified {
			t.Fatalf("round %d: account = %+v, want the verified phone kept", round, got)
		}
		// And 2FA still asks for its code there.
		r := h.post(t, "/api/v1/auth/login", login(a.Username, goodPassword, "attacker-pc"))
		if r.status != http.StatusOK || r.str("challenge") != "two_factor" || r.at("access_token") != nil {
			t.Fatalf("round %d: sign-in = %d %s, want a two_factor challenge", round, r.status, r.raw)
		}
	}
}

// PATCH /api/v1/me with a number another account verified answers exactly like an unused number: the
// number only becomes pending, and the clash shows to whoever answers its code. Changes are limited
// per account and per client IP.
func TestPhoneChangeDoesNotEnumerate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	const taken, unused = "+447700900100", "+447700900200"
	bob := accountFor("bob@example.com", "bob")
	bob.Phone, bob.PhoneVerified = taken, true
	bob = h.createAccount(t, bob)
	carol := h.createAccount(t, accountFor("carol@example.com", "carol"))
	dave := h.createAccount(t, accountFor("dave@example.com", "dave"))
	api := h.newPhoneAPI(t, throttle.Limit{Max: 3, Window: time.Hour}, throttle.Limit{Max: 8, Window: time.Hour})

	onTaken := api.set(t, carol.ID, taken, "203.0.113.1")
	onUnused := api.set(t, dave.ID, unused, "203.0.113.2")
	if onTaken.status != http.StatusOK || onUnused.status != http.StatusOK {
		t.Fatalf("taken = %d %s, unused = %d %s; want the same 200", onTaken.status, onTaken.raw, onUnused.status, onUnused.raw)
	}
	// The same body but for the caller's own facts.
	norm := func(r response, email, username, number string) map[string]any {
		out := map[string]any{}
		for k, v := range r.body {
			switch {
			case k == "updatedAt":
			case v == email || v == username:
				out[k] = "<own>"
			case v == number:
				out[k] = "<number>"
			default:
				out[k] = v
			}
		}
		return out
	}
	if a, b := norm(onTaken, carol.Email, carol.Username, taken), norm(onUnused, dave.Email, dave.Username, unused); !reflect.DeepEqual(a, b) {
		t.Errorf("answers differ:\n taken:  %v\n unused: %v", a, b)
	}
	if got := h.account(t, bob.ID); got.Phone != taken || !got.PhoneVerified {
		t.Errorf("bob = %+v, want his verified phone untouched", got)
	}
	// The clash shows only after the code sent to the number is answered — to its holder.
	carolToken := h.sessions.keys.Token(t, carol.ID, events.NewID(), nil)
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", carolToken, map[string]any{"phone_number": taken}).wantStatus(t, http.StatusOK, "send")
	if r := h.callAs(t, "POST", "/api/v1/auth/verify-phone", carolToken, map[string]any{"phone_number": taken, "otp_code": h.lastCode(t, taken)}); r.status != http.StatusConflict {
		t.Errorf("verify taken = %d %s, want 409 to the code's holder", r.status, r.raw)
	}
	if got := h.account(t, bob.ID); got.Phone != taken || !got.PhoneVerified {
		t.Errorf("bob = %+v, want his verified phone untouched", got)
	}

	// Per account: carol has used 1 of 3.
	for i := range 2 {
		api.set(t, carol.ID, "+44770090030"+string(rune('0'+i)), "203.0.113.1").wantStatus(t, http.StatusOK, "carol's changes")
	}
	r := api.set(t, carol.ID, "+447700900399", "203.0.113.3")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("4th change of one account = %d %s (Retry-After %q), want 429 with Retry-After", r.status, r.raw, r.header.Get("Retry-After"))
	}
	// Per IP: one address spraying many accounts (dave has used 1 at .2; fresh accounts fill .9).
	for i := range 8 {
		a := h.createAccount(t, accountFor("spray"+string(rune('a'+i))+"@example.com", "spray"+string(rune('a'+i))))
		api.set(t, a.ID, "+44770090040"+string(rune('0'+i)), "203.0.113.9").wantStatus(t, http.StatusOK, "spray")
	}
	if r := api.set(t, dave.ID, "+447700900499", "203.0.113.9"); r.status != http.StatusTooManyRequests {
		t.Errorf("9th change from one address = %d %s, want 429", r.status, r.raw)
	}
}

// An unverified number stored before profile paths kept numbers pending blocks nobody: the account
// that answers the number's code gets it, and the old claim is dropped.
func TestVerifyPhoneTakesALegacyUnverifiedClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	const number = "+447700900321"
	old := accountFor("old@example.com", "old")
	old.Phone = number // unverified
	old = h.createAccount(t, old)
	id, token := h.signedUp(t, "ada@example.com", "ada", "laptop")

	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", token, map[string]any{"phone_number": number}).wantStatus(t, http.StatusOK, "send")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", token, map[string]any{"phone_number": number, "otp_code": h.lastCode(t, number)}).wantStatus(t, http.StatusOK, "verify")
	if a := h.account(t, id); a.Phone != number || !a.PhoneVerified {
		t.Errorf("ada = %+v, want the verified number", a)
	}
	if a := h.account(t, old.ID); a.Phone != "" {
		t.Errorf("old claim = %+v, want it dropped", a)
	}
	if s := h.lastSnapshot(t, old.ID); s.PhoneNumber != "" {
		t.Errorf("old account's snapshot = %+v, want no phone", s)
	}
}
