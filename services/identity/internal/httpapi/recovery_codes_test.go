package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

const recoveryCodesPath = "/api/v1/account/2fa/recovery-codes"

var recoveryCodeShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

// recoveryCodes reads the codes of a 200 answer of POST /api/v1/account/2fa/recovery-codes and checks
// their shape: ten distinct codes "abcde-fghij" and the time of generation.
func recoveryCodes(t *testing.T, r response) []string {
	t.Helper()
	r.wantStatus(t, http.StatusOK, "generate recovery codes")
	raw, _ := r.at("data.codes").([]any)
	var codes []string
	seen := map[string]bool{}
	for _, c := range raw {
		s, _ := c.(string)
		if !recoveryCodeShape.MatchString(s) || seen[s] {
			t.Errorf("code %v is malformed or repeated in %s", c, r.raw)
		}
		seen[s] = true
		codes = append(codes, s)
	}
	if len(codes) != 10 || r.str("data.generatedAt") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer = %s (Cache-Control %q), want 10 codes, generatedAt, no-store", r.raw, r.header.Get("Cache-Control"))
	}
	return codes
}

// TestRecoveryCodesEndpoint: generating needs a step-up and a second factor, is closed to API keys,
// returns ten codes once and alerts the owner; generating again replaces the set, so only the new
// codes can be redeemed.
func TestRecoveryCodesEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).
		wantStatus(t, http.StatusOK, "enable 2fa")
	generatedAlerts := func() (n int) {
		for _, al := range h.securityAlerts(t, ada.id) {
			if al.Kind == events.AlertRecoveryCodesGenerated {
				n++
			}
		}
		return n
	}

	t.Run("step-up required", func(t *testing.T) {
		wantReauthRequired(t, h.stepUp(t, "POST", recoveryCodesPath, ada.token, "", nil), recoveryCodesPath)
		wantReauthRequired(t, h.stepUp(t, "POST", recoveryCodesPath, ada.token, "rat_made-up", nil), recoveryCodesPath)
	})
	t.Run("no access token", func(t *testing.T) {
		if r := h.do(t, request{path: recoveryCodesPath}); r.status != http.StatusUnauthorized {
			t.Errorf("without a token = %d %s, want 401", r.status, r.raw)
		}
	})
	t.Run("API key refused", func(t *testing.T) {
		key, _ := h.issueKey(t, ada.id)
		r := h.do(t, request{path: recoveryCodesPath, token: key})
		if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "API keys cannot") {
			t.Errorf("with an API key = %d %s, want 403", r.status, r.raw)
		}
	})
	if n, _ := h.svc.RecoveryCodes.Remaining(ctx, ada.id); n != 0 || generatedAlerts() != 0 {
		t.Fatalf("refused requests generated codes (%d) or alerts (%d)", n, generatedAlerts())
	}

	first := recoveryCodes(t, h.stepUp(t, "POST", recoveryCodesPath, ada.token, h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, time.Minute), nil))
	if al := h.alertOf(t, ada.id, events.AlertRecoveryCodesGenerated); al.Destination != ada.email || al.Details["count"] != "10" {
		t.Errorf("alert = %+v, want recovery_codes_generated with count 10 at the owner's address", al)
	}
	if ok, err := h.svc.RecoveryCodes.Redeem(ctx, ada.id, first[0], time.Now()); err != nil || !ok {
		t.Fatalf("Redeem(first code) = %v, %v", ok, err)
	}
	if n, _ := h.svc.RecoveryCodes.Remaining(ctx, ada.id); n != 9 {
		t.Errorf("Remaining = %d, want 9", n)
	}

	second := recoveryCodes(t, h.stepUp(t, "POST", recoveryCodesPath, ada.token, h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, time.Minute), nil))
	for _, c := range second {
		for _, old := range first {
			if c == old {
				t.Fatalf("regenerating returned an old code %s", c)
			}
		}
	}
	if n, _ := h.svc.RecoveryCodes.Remaining(ctx, ada.id); n != 10 {
		t.Errorf("Remaining after regenerating = %d, want 10", n)
	}
	if ok, err := h.svc.RecoveryCodes.Redeem(ctx, ada.id, first[1], time.Now()); err != nil || ok {
		t.Errorf("an old code after regenerating = %v, %v, want false", ok, err)
	}
	if ok, err := h.svc.RecoveryCodes.Redeem(ctx, ada.id, strings.ToUpper(second[1]), time.Now()); err != nil || !ok {
		t.Errorf("a new code = %v, %v, want true", ok, err)
	}
}

// TestRecoveryCodesNeedSecondFactor: an account without a second factor gets a 400 and no codes.
func TestRecoveryCodesNeedSecondFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bob := h.signUp(t, "bob@example.com")
	r := h.stepUp(t, "POST", recoveryCodesPath, bob.token, h.mintStepUp(t, bob.id, bob.sid, auth.MethodOTP, time.Minute), nil)
	if r.status != http.StatusBadRequest || r.str("message") != "Turn on two-factor authentication before generating recovery codes" {
		t.Errorf("without a second factor = %d %s, want 400", r.status, r.raw)
	}
	if n, _ := h.svc.RecoveryCodes.Remaining(context.Background(), bob.id); n != 0 {
		t.Errorf("Remaining = %d, want 0", n)
	}
}

// TestAlertRecoveryCodeUsed: the alert tells the owner how many codes are left, marked low at three
// or fewer.
func TestAlertRecoveryCodeUsed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	a, err := store.NewAccounts(h.db).ByID(context.Background(), ada.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remaining int
		low       string
	}{{7, ""}, {3, "true"}, {0, "true"}} {
		h.svc.AlertRecoveryCodeUsed(context.Background(), a, tc.remaining, auth.Client{IP: "203.0.113.9", UserAgent: "Firefox"})
		al := h.alertOf(t, ada.id, events.AlertRecoveryCodeUsed)
		if al.Destination != ada.email || al.Details["remaining"] != strconv.Itoa(tc.remaining) || al.Details["low"] != tc.low || al.Details["ipAddress"] != "203.0.113.9" {
			t.Errorf("remaining %d: alert = %+v", tc.remaining, al)
		}
	}
}

// enrolledFactors stands in for the authenticator apps and passkeys (packages of their own, wired in
// main) with a fixed answer: the accounts in enrolled have one.
type enrolledFactors struct{ enrolled map[string]bool }

func (f enrolledFactors) Enrolled(_ context.Context, accountID string) (bool, error) {
	return f.enrolled[accountID], nil
}

func (f enrolledFactors) Verify(context.Context, string, string, time.Time) (bool, error) {
	return false, nil
}

// TestRecoveryCodesWithAuthenticatorApp: an authenticator app is a second factor too, without 2FA by
// code.
func TestRecoveryCodesWithAuthenticatorApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cy := h.signUp(t, "cy@example.com")
	dee := h.signUp(t, "dee@example.com")
	h.svc.Authenticators = enrolledFactors{enrolled: map[string]bool{cy.id: true}}
	recoveryCodes(t, h.stepUp(t, "POST", recoveryCodesPath, cy.token, h.mintStepUp(t, cy.id, cy.sid, auth.MethodOTP, time.Minute), nil))
	if r := h.stepUp(t, "POST", recoveryCodesPath, dee.token, h.mintStepUp(t, dee.id, dee.sid, auth.MethodOTP, time.Minute), nil); r.status != http.StatusBadRequest {
		t.Errorf("without any factor = %d %s, want 400", r.status, r.raw)
	}
}

// TestRecoveryCodesForgottenWithTheLastFactor: turning off the only second factor forgets the
// recovery codes, so that turning one on later does not revive codes printed long ago; while another
// factor stays on, they stay.
func TestRecoveryCodesForgottenWithTheLastFactor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	ada := h.signUp(t, "forget-codes-ada@example.com")
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).
		wantStatus(t, http.StatusOK, "enable 2fa")
	codes := recoveryCodes(t, h.stepUp(t, "POST", recoveryCodesPath, ada.token, h.mintStepUp(t, ada.id, ada.sid, auth.MethodOTP, time.Minute), nil))

	h.authed(t, "POST", "/api/v1/account/2fa/disable", ada.token, map[string]any{"otp": h.reauthCode(t, ada.token, ada.email)}).
		wantStatus(t, http.StatusOK, "disable 2fa")
	if n, err := h.svc.RecoveryCodes.Remaining(ctx, ada.id); err != nil || n != 0 {
		t.Fatalf("Remaining after the last factor went = %d, %v; want 0", n, err)
	}
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).
		wantStatus(t, http.StatusOK, "enable 2fa again")
	if ok, err := h.svc.RecoveryCodes.Redeem(ctx, ada.id, codes[0], time.Now()); err != nil || ok {
		t.Fatalf("Redeem(an old code) after 2FA came back = %v, %v; want refused", ok, err)
	}
}
